//! The storage engine of one site. Its methods block (disk I/O, fsync): call them from
//! blocking threads, never from an async task directly.

use crate::block_writers::BlockWriters;
use crate::blocks::BlockFiles;
use crate::engine::{Engine, SledEngine};
use crate::error::Result;
use crate::hlc::now_millis;
use crate::meta::Meta;
use crate::records::{BlockHash, SiteId};
use crate::space::Space;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    /// Largest block an object is split into.
    pub block_size: u32,
    /// How long an unreferenced block is kept before GC removes it.
    pub gc_grace: Duration,
    /// The smallest a multipart part other than the last may be.
    pub min_part_size: u64,
    /// Memory the metadata engine may use for its page cache.
    pub meta_cache_bytes: u64,
    /// Threads that write the blocks of large objects, shared by all writes.
    pub block_writers: usize,
    /// The site's id, if configured; otherwise one is chosen at random on first start.
    /// Records are tagged with it, so a store refuses to open under a different id.
    pub site_id: Option<SiteId>,
    /// Free disk space kept for metadata: below it new data is refused (`space`).
    pub reserve_bytes: u64,
    /// Keep metadata and blocks in a Ceph cluster, shared with the site's other
    /// gateways, instead of on the data disk.
    pub rados: Option<RadosConfig>,
    /// Index shards per bucket (`meta::shards`): set when the site is made; a
    /// different value later is ignored (records are placed by it).
    pub index_shards: u16,
}

/// Where a site over Ceph RADOS keeps its data.
#[derive(Debug, Clone)]
pub struct RadosConfig {
    /// A ceph.conf naming the cluster's monitors.
    pub ceph_conf: PathBuf,
    /// The Ceph user (`client.<user>`) the gateway connects as.
    pub ceph_user: String,
    /// Blocks, one object each, named by their SHA-256.
    pub data_pool: String,
    /// The metadata's index object.
    pub meta_pool: String,
    /// The RADOS namespace the site's objects live in, in both pools: sites (test
    /// sites, say) may share pools. None: the pools' default namespace.
    pub namespace: Option<String>,
}

/// Enough that a bucket's writes spread over a few commit locks (objects) without
/// making a listing read many shards.
pub const DEFAULT_INDEX_SHARDS: u16 = 8;

impl StoreConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            block_size: 1 << 20,
            gc_grace: Duration::from_secs(3600),
            min_part_size: 5 << 20,
            meta_cache_bytes: 64 << 20,
            // Each block's fsync waits on the disk: two writers per core keep it busy.
            block_writers: 2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            site_id: None,
            reserve_bytes: 512 << 20,
            rados: None,
            index_shards: DEFAULT_INDEX_SHARDS,
        }
    }
}

pub struct Store {
    pub(crate) cfg: StoreConfig,
    pub(crate) meta: Meta,
    pub(crate) blocks: Arc<BlockFiles>,
    pub(crate) writers: BlockWriters,
    site: SiteId,
    /// Blocks of writes dropped before they committed, and when: GC candidates that
    /// the next GC run records (a crash loses nothing: the start-up scan finds them).
    abandoned: Mutex<Vec<([u8; 32], u64)>>,
    /// When this gateway last listed a shared data pool for blocks no write committed.
    orphans_scanned: Mutex<Option<std::time::Instant>>,
    /// When this gateway last merged every shard's log (see `reread_settings`).
    merged_all: Mutex<std::time::Instant>,
    /// The site refuses client writes (an old primary fenced during failover); what
    /// replication brings is still applied. Persisted.
    read_only: std::sync::atomic::AtomicBool,
}

impl Store {
    /// Opens (or creates) the store and cleans up what an interrupted run left behind:
    /// temporary block files are removed and block files no manifest or part references
    /// are queued for garbage collection.
    pub fn open(cfg: StoreConfig) -> Result<Arc<Store>> {
        std::fs::create_dir_all(&cfg.data_dir)?;
        if let Some(rados) = &cfg.rados {
            let (engine, blocks) = open_rados(rados, cfg.reserve_bytes)?;
            return Self::open_with(cfg, Box::new(engine), blocks);
        }
        // On a disk another process filled, the engine needs the ballast's room to open.
        crate::space::tend_ballast(&cfg.data_dir, cfg.reserve_bytes)?;
        let engine = SledEngine::open(&cfg.data_dir.join("meta"), cfg.meta_cache_bytes)?;
        Self::open_with_engine(cfg, Box::new(engine))
    }

    /// [`Store::open`] over a given metadata engine (the data directory still holds
    /// the block files).
    pub fn open_with_engine(cfg: StoreConfig, engine: Box<dyn Engine>) -> Result<Arc<Store>> {
        std::fs::create_dir_all(&cfg.data_dir)?;
        let blocks = BlockFiles::open(&cfg.data_dir, cfg.reserve_bytes)?;
        Self::open_with(cfg, engine, blocks)
    }

    fn open_with(cfg: StoreConfig, engine: Box<dyn Engine>, blocks: BlockFiles) -> Result<Arc<Store>> {
        let meta = Meta::open(engine)?;
        let blocks = Arc::new(blocks);
        let writers = BlockWriters::start(blocks.clone(), cfg.block_writers)?;
        check_format(&meta)?;
        let site = match (meta.meta_get("site_id")?, cfg.site_id) {
            (Some(v), configured) => {
                let stored = SiteId(crate::meta::be_u64(&v));
                if configured.is_some_and(|c| c != stored) {
                    return Err(crate::Error::InvalidArgument(format!(
                        "this data directory belongs to site id {stored}, not the configured {}",
                        configured.unwrap_or(stored)
                    )));
                }
                stored
            }
            (None, configured) => {
                let id = configured.unwrap_or_else(|| SiteId(uuid::Uuid::new_v4().as_u64_pair().0));
                // Gateways starting together agree on the first id stored.
                SiteId(crate::meta::be_u64(&meta.meta_init("site_id", &id.0.to_be_bytes())?))
            }
        };
        let read_only = stored_read_only(&meta)?;
        meta.init_index_shards(cfg.index_shards)?;
        meta.register_buckets()?;
        // What was committed in a shard and not yet merged when the site stopped.
        meta.merge_all()?;
        if let Some(high) = meta.meta_get("hlc_high")? {
            meta.clock.observe(crate::hlc::Hlc(crate::meta::be_u64(&high)));
        }
        let store = Store {
            cfg,
            meta,
            blocks,
            writers,
            site,
            abandoned: Mutex::new(Vec::new()),
            orphans_scanned: Mutex::new(None),
            merged_all: Mutex::new(std::time::Instant::now()),
            read_only: std::sync::atomic::AtomicBool::new(read_only),
        };
        store.build_sync_tree()?;
        store.move_tombstones()?;
        // Over RADOS the pool is listed by GC, off the start's path (see `gc`).
        let orphans = if store.blocks.shared() {
            0
        } else {
            store.queue_orphan_blocks()?
        };
        if orphans > 0 {
            tracing::info!(orphans, "queued unreferenced blocks left by an interrupted run for GC");
        }
        Ok(Arc::new(store))
    }

    /// Why the store stopped taking changes (a metadata flush failed), if it did: the
    /// site must then restart to recover its last durable state.
    pub fn failure(&self) -> Option<String> {
        self.meta.failure().map(str::to_owned)
    }

    /// The newest timestamp this site's clock has issued or taken from another site:
    /// far ahead of the wall clock only if a peer's clock was (see `max_clock_skew`).
    pub fn clock_high(&self) -> crate::hlc::Hlc {
        self.meta.clock.last()
    }

    /// Whether the site refuses client writes (see [`Store::set_read_only`]).
    pub fn read_only(&self) -> bool {
        self.read_only.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Makes the site refuse client writes, or take them again; durable on return.
    /// Replication still applies what sources send, so a fenced site keeps up.
    pub fn set_read_only(&self, on: bool) -> Result<()> {
        self.meta.meta_put("read_only", &[u8::from(on)])?;
        self.meta.flush()?;
        self.read_only.store(on, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Merges what writers left pending in index shards, and rereads what another
    /// gateway of a shared site may have changed (read-only). Called every second.
    pub fn reread_settings(&self) -> Result<()> {
        // Index shards' entries a writer left for another to merge (see `merge_soon`).
        self.meta.settle()?;
        if self.meta.shared() {
            let on = stored_read_only(&self.meta)?;
            self.read_only.store(on, std::sync::atomic::Ordering::SeqCst);
            // A gateway killed between a shard commit and its merge left entries only
            // a sweep finds (a later commit to the same shard would merge them too).
            let mut last = self.merged_all.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= MERGE_SWEEP {
                *last = std::time::Instant::now();
                drop(last);
                self.meta.merge_all()?;
            }
        }
        Ok(())
    }

    pub fn site_id(&self) -> SiteId {
        self.site
    }

    pub fn block_size(&self) -> u32 {
        self.cfg.block_size
    }

    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// Reads one block whole (a block is at most `block_size`).
    pub fn read_block(&self, hash: &BlockHash) -> Result<Vec<u8>> {
        self.blocks.read(hash)
    }

    /// Hands the blocks of an uncommitted write to GC. Touches no disk.
    pub(crate) fn abandon(&self, hashes: &[BlockHash]) {
        let now = now_millis();
        let mut a = self.abandoned.lock().unwrap_or_else(|e| e.into_inner());
        a.extend(hashes.iter().map(|h| (h.0, now)));
    }

    /// Removes, at once, block files a failed write created, so that it leaves nothing
    /// behind (a full disk stays no fuller). Blocks another write pinned, a record
    /// references, or replication queued for GC stay; GC decides those as ever. Runs
    /// on its own thread: a write may be dropped on an async thread.
    pub(crate) fn remove_created(self: &Arc<Self>, created: Vec<BlockHash>) {
        let store = self.clone();
        let spawned = std::thread::Builder::new().name("strata-reap".into()).spawn(move || {
            // After a failed flush nothing is known durable: the restart's scan decides.
            // Shared blocks may be another gateway's pending write's: GC decides.
            if store.meta.failure().is_some() || store.blocks.shared() {
                return;
            }
            for hash in created {
                let pending = store.blocks.pending_lock();
                let used = pending.contains_key(&hash)
                    || store.meta.is_referenced(&hash.0).unwrap_or(true)
                    || store.meta.is_gc_candidate(&hash.0).unwrap_or(true);
                if !used {
                    if let Err(e) = store.blocks.remove(&hash) {
                        tracing::warn!(block = %hash.to_hex(), error = %e, "could not remove a failed write's block; GC will");
                    }
                }
                drop(pending);
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start removing a failed write's blocks; GC will");
        }
    }

    /// Records abandoned blocks as GC candidates (those still unreferenced).
    pub(crate) fn record_abandoned(&self) -> Result<()> {
        let taken = std::mem::take(&mut *self.abandoned.lock().unwrap_or_else(|e| e.into_inner()));
        for (hash, when) in taken {
            self.meta.queue_unreferenced(&[hash], when)?;
        }
        Ok(())
    }

    /// Whether the data pool is due a listing for orphans: once per gateway start and
    /// then every grace (at least every ten minutes apart: a listing reads the pool).
    pub(crate) fn orphan_scan_due(&self) -> bool {
        let every = self.cfg.gc_grace.max(Duration::from_secs(600));
        let mut last = self.orphans_scanned.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < every) {
            return false;
        }
        *last = Some(std::time::Instant::now());
        true
    }

    pub(crate) fn queue_orphan_blocks(&self) -> Result<usize> {
        let mut orphans = Vec::new();
        for h in self.blocks.all()? {
            if !self.meta.is_referenced(&h.0)? && !self.meta.is_gc_candidate(&h.0)? {
                orphans.push(h.0);
            }
        }
        self.meta.queue_unreferenced(&orphans, now_millis())?;
        self.meta.flush()?;
        Ok(orphans.len())
    }
}

impl Store {
    /// The room for data (the data disk's, or the Ceph cluster's): free, total, the
    /// reserve and the ballast.
    pub fn space(&self) -> Result<Space> {
        self.blocks.space()
    }

    /// Refuses new data (an object, an upload, a bucket) when the disk is at its
    /// reserve. Deletes never ask.
    pub fn admit(&self, incoming: u64) -> Result<()> {
        self.space()?.admit(incoming)
    }

    /// Whether new data fits now, a block's worth at least (replication skips new
    /// objects when it does not).
    pub fn has_room(&self) -> bool {
        self.admit(u64::from(self.block_size())).is_ok()
    }

    /// Releases or takes back the ballast as the disk fills and empties.
    pub fn tend_space(&self) -> Result<()> {
        if self.blocks.shared() {
            // The cluster keeps its own full ratios; the data disk holds no metadata.
            return Ok(());
        }
        crate::space::tend_ballast(&self.cfg.data_dir, self.cfg.reserve_bytes)
    }
}

/// The layout of the records this build reads and writes. Records are bincode, which
/// has no room for fields it does not know: a store written by another layout is
/// refused with a clear error instead of being misread.
const FORMAT: u64 = 2;

/// How often a gateway of a shared site sweeps every shard's log into the site's.
const MERGE_SWEEP: Duration = Duration::from_secs(5);

fn check_format(meta: &Meta) -> Result<()> {
    match meta.meta_get("format")? {
        Some(v) if crate::meta::be_u64(&v) == FORMAT => Ok(()),
        Some(v) => Err(crate::Error::InvalidArgument(format!(
            "this data directory holds records of format {}; this build reads format {FORMAT}",
            crate::meta::be_u64(&v)
        ))),
        // Format 1 stores (before ACLs) carry a site id but no format.
        None if meta.meta_get("site_id")?.is_some() => Err(crate::Error::InvalidArgument(format!(
            "this data directory holds records of format 1; this build reads format {FORMAT}"
        ))),
        None => meta.meta_init("format", &FORMAT.to_be_bytes()).map(drop),
    }
}

/// Whether the store says the site is fenced (see [`Store::set_read_only`]).
fn stored_read_only(meta: &Meta) -> Result<bool> {
    Ok(meta.meta_get("read_only")?.is_some_and(|v| v == [1]))
}

/// Connects to the site's Ceph cluster: its metadata engine and its blocks. Pools are
/// created when missing (if the Ceph user may); an error says what is wrong.
fn open_rados(cfg: &RadosConfig, reserve: u64) -> Result<(crate::engine::rados::RadosEngine, BlockFiles)> {
    use crate::engine::rados::{Cluster, RadosEngine};
    let cluster = Cluster::connect(&cfg.ceph_conf, &cfg.ceph_user, 10)?;
    let pool = |name: &str| {
        let pool = cluster.pool(name, true)?;
        match &cfg.namespace {
            Some(ns) => pool.in_namespace(ns),
            None => Ok(pool),
        }
    };
    let meta = RadosEngine::open(pool(&cfg.meta_pool)?)?;
    let blocks = BlockFiles::open_rados(pool(&cfg.data_pool)?, reserve);
    Ok((meta, blocks))
}
