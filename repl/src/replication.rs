//! The replication of one site: its peers, the operator's commands on them, the
//! background work (senders, the log keeper) and the status.

use crate::auth::{Credentials, Verifier};
use crate::authority::{AuthorityClaim, NamespaceOp, Refusal};
use crate::error::{ReplError, Result};
use crate::feeder::{self, Feeder};
use crate::link::Link;
use crate::locks::lock;
use crate::peer::{self, Cursor, Peer, PeerRecord, SinkSettings};
use crate::protocol::{SiteInfo, PROTOCOL_VERSION};
use crate::proxy_get::ProxyRead;
use crate::site::{Site, AUTHORITY_KEY};
use crate::status::{self, PeerStatus, SourceStatus};
use crate::verify_record::VerifyReport;
use crate::{fullsync, queue, repair, sender, server};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_blockstore::{blocking, now_millis, Change, PurgeRule, Store};
use tokio::sync::watch;

/// A site's replication settings (the `[repl]` section of its config).
#[derive(Debug, Clone)]
pub struct ReplConfig {
    pub site_name: String,
    /// The replication address peers reach this site at.
    pub advertise: String,
    pub access_key: String,
    pub secret_key: String,
    /// Bound on the change-log bytes kept for one sink.
    pub realtime_max_bytes: u64,
    /// How often fullsync runs for a sink that has it enabled (zero: only when
    /// triggered: on enable, after a broken link, on `start`).
    pub fullsync_interval: Duration,
    /// Cap on one fullsync's traffic in bytes per second (zero: none).
    pub fullsync_max_bytes_per_sec: u64,
    /// The most blocks one proxy-get read fetches ahead of its client.
    pub proxy_get_window: usize,
    /// The blocks all proxy-get reads together hold beyond their first 8 each.
    pub proxy_get_blocks_in_memory: usize,
    /// TLS for the links to peers (None: plain HTTP).
    pub tls: Option<crate::link::TlsClient>,
    /// zstd level for what this site sends (0: off, 1 to 19).
    pub compression_level: i32,
    /// How far ahead of this site's clock a source's timestamps may be.
    pub max_clock_skew: Duration,
    /// The site that decides the namespace (`[repl] authority`), if one does.
    pub authority: Option<String>,
    /// Per-peer secrets (peer name -> the pair's secret); empty: the shared credential.
    pub peer_secrets: BTreeMap<String, String>,
    /// Per source name, the kinds of change taken from it (`users`, `buckets`,
    /// `objects`); a source not named sends any.
    pub accept: BTreeMap<String, Vec<String>>,
}

/// An operator's command for one sink's realtime stream or fullsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkOp {
    Enable { blocks: bool },
    Disable,
    Start,
    Stop,
}

/// A site's replication: the operator's commands and the background work, over the
/// shared [`Site`].
pub struct Replication {
    site: Arc<Site>,
    /// Said at start and in status: the replication port is reachable beyond this
    /// machine without TLS.
    plain_text: Option<String>,
    /// Whether this gateway feeds the site's sinks (see `feeder`).
    feeder: Feeder,
}

impl Replication {
    /// Loads the persisted peers. Call [`Replication::start`] inside the runtime next.
    pub fn open(store: Arc<Store>, cfg: &ReplConfig) -> Result<Arc<Replication>> {
        let credentials = Credentials {
            me: cfg.site_name.clone(),
            shared: (cfg.access_key.clone(), cfg.secret_key.clone()),
            peers: cfg.peer_secrets.clone(),
        };
        let mut peers = BTreeMap::new();
        for (record, cursor) in peer::load_all(&store)? {
            let signer = credentials.signer_for(Some(&record.info.name));
            let link = Link::new(&record.addr, signer, cfg.tls.clone());
            let p = Peer::new(record, link, cursor);
            p.load_fullsync(&store)?;
            p.load_traffic(&store)?;
            peers.insert(p.name.clone(), Arc::new(p));
        }
        let (commits, _) = watch::channel(store.last_seq());
        let cascade = peer::load_cascade(&store)?;
        // A claim moved by `strata repl authority` (or learnt from a peer) outlives the
        // configuration's.
        let authority = peer::get_json::<AuthorityClaim>(&store, AUTHORITY_KEY)?
            .or_else(|| cfg.authority.clone().map(|site| AuthorityClaim { site, epoch: 0 }));
        let plain_text = plain_text_warning(cfg);
        if let Some(w) = &plain_text {
            tracing::warn!("{w}");
        }
        Ok(Arc::new(Replication {
            plain_text,
            feeder: Feeder::new(&cfg.advertise),
            site: Arc::new(Site {
                me: SiteInfo {
                    name: cfg.site_name.clone(),
                    id: store.site_id(),
                    repl_addr: cfg.advertise.clone(),
                    protocol: PROTOCOL_VERSION,
                    authority: None,
                },
                authority: Mutex::new(authority),
                refusals: Default::default(),
                accept: cfg.accept.clone(),
                store,
                credentials,
                max_bytes: cfg.realtime_max_bytes,
                fetches: Default::default(),
                proxy_window: cfg.proxy_get_window,
                proxy_room: Arc::new(tokio::sync::Semaphore::new(cfg.proxy_get_blocks_in_memory)),
                proxy_counters: Default::default(),
                fullsync_interval: cfg.fullsync_interval,
                fullsync_max_bytes_per_sec: cfg.fullsync_max_bytes_per_sec,
                peers: Mutex::new(peers),
                commits,
                cascade: std::sync::atomic::AtomicBool::new(cascade),
                tls: cfg.tls.clone(),
                compression: cfg.compression_level,
                max_clock_skew_ms: cfg.max_clock_skew.as_millis() as u64,
            }),
        }))
    }

    /// Starts the senders of started sinks and the log keeper: at once on a site of
    /// one process; on a gateway of a site over Ceph, whenever it holds the feeder
    /// lease (see `feeder`).
    pub fn start(self: &Arc<Self>) {
        let commits = self.site.commits.clone();
        self.site.store.set_commit_listener(move |seq| {
            commits.send_replace(seq);
        });
        if self.site.store.shared() {
            let weak = Arc::downgrade(self);
            tokio::spawn(async move {
                while let Some(repl) = weak.upgrade() {
                    repl.tend_feeding().await;
                    drop(repl);
                    tokio::time::sleep(feeder::TICK).await;
                }
            });
            self.spawn_commit_poll();
        } else {
            self.feeder.set_feeding(true);
            self.start_feeding();
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let Some(repl) = weak.upgrade() else { return };
                if !repl.feeder.feeding() {
                    continue;
                }
                let site = repl.site.clone();
                drop(repl);
                let kept = blocking(move || {
                    queue::keep(&site)?;
                    // Traffic counters survive a restart (at most half a second lost).
                    site.peers().iter().try_for_each(|p| p.save_traffic(&site.store))
                })
                .await;
                if let Err(e) = kept {
                    tracing::warn!(error = %e, "replication log keeping failed");
                }
            }
        });
    }

    pub fn store(&self) -> Arc<Store> {
        self.site.store.clone()
    }

    pub fn me(&self) -> &SiteInfo {
        &self.site.me
    }

    /// The replication port's service; `verifier` checks request signatures.
    pub fn router(self: &Arc<Self>, verifier: Arc<dyn Verifier>) -> axum::Router {
        server::router(self.site.clone(), verifier)
    }

    /// `strata repl connect`: handshakes with the site at `addr` and makes it a sink of
    /// this site (realtime still disabled).
    pub async fn connect(self: &Arc<Self>, addr: &str, peer: Option<&str>) -> Result<PeerRecord> {
        if self.site.credentials.per_peer() && peer.is_none_or(|p| !self.site.credentials.peers.contains_key(p)) {
            return Err(ReplError::Invalid(format!(
                "this site signs with per-peer secrets: name the peer at {addr} (--peer NAME), one with a secret in [repl] peer_secrets"
            )));
        }
        let link = Link::new(addr, self.site.credentials.signer_for(peer), self.site.tls.clone());
        let info = sender::say_hello(&link, &self.site).await?;
        self.site.check_identity(&info)?;
        let (peer, changed) = self.site.upsert_peer(&info, |r| {
            r.info = info.clone();
            r.addr = addr.to_owned();
            r.sink.get_or_insert_with(SinkSettings::default);
        });
        if changed {
            let p = peer.clone();
            self.site.store.run(move |s| p.save(s)).await?;
        }
        tracing::info!(peer = %info.name, id = %info.id, %addr, "connected to a sink site");
        Ok(peer.record())
    }

    /// `strata repl disconnect`: stops streaming to the peer and forgets it. A sink is
    /// told, so it forgets this site as a source; an unreachable one is not waited for
    /// long (it still lists this site as a source until told again or disconnected).
    pub async fn disconnect(self: &Arc<Self>, name: &str) -> Result<()> {
        let peer = self.site.peer(name)?;
        stop_feeding(&peer).await;
        if peer.sink_settings().is_some() {
            let body = serde_json::to_vec(&self.site.me).expect("site info serializes");
            let told = tokio::time::timeout(
                Duration::from_secs(3),
                peer.link().call("POST", crate::protocol::GOODBYE, body.into()),
            )
            .await;
            if !matches!(told, Ok(Ok(_))) {
                tracing::warn!(peer = %name, "could not tell the sink about the disconnect; it still lists this site as a source");
            }
        }
        lock(&self.site.peers).remove(name);
        let name = name.to_owned();
        self.site.store.run(move |s| peer::forget(s, &name)).await
    }

    /// `strata repl cascade on|off`: whether changes this site applied from a source
    /// travel on to its other sinks. Persisted.
    pub async fn set_cascade(&self, on: bool) -> Result<()> {
        self.site.store.run(move |s| peer::save_cascade(s, on)).await?;
        self.site.cascade.store(on, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(cascade = on, "cascading set");
        Ok(())
    }

    /// Whether this gateway feeds the site's sinks (always, on a site of one process).
    pub fn feeding(&self) -> bool {
        self.feeder.feeding()
    }

    /// The gateway feeding the site's sinks (its replication address and process), as
    /// the store names it; None on a site of one process.
    pub async fn feeder(&self) -> Result<Option<String>> {
        if !self.site.store.shared() {
            return Ok(None);
        }
        let site = self.site.clone();
        let holder = blocking(move || site.store.repl_get(feeder::HOLDER_KEY)).await?;
        Ok(holder.map(|h| String::from_utf8_lossy(&h).into_owned()))
    }

    pub fn cascade(&self) -> bool {
        self.site.cascade.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn connections(&self) -> Vec<PeerRecord> {
        self.site.peers().iter().map(|p| p.record()).collect()
    }

    /// `strata repl realtime enable|disable|start|stop <sink>`.
    /// A sink of this site and its settings. On a site of many gateways they are read
    /// from the store first: another gateway may have changed them a moment ago, and
    /// a reread of the peers that began before this gateway's own last change may
    /// have put back what it replaced.
    async fn sink(self: &Arc<Self>, name: &str) -> Result<(Arc<Peer>, SinkSettings)> {
        if self.site.store.shared() {
            let repl = self.clone();
            let all_cursors = !self.feeder.feeding();
            let gone = blocking(move || feeder::reload_peers(&repl.site, &repl.feeder, all_cursors)).await?;
            forget(gone).await;
        }
        let peer = self.site.peer(name)?;
        match peer.sink_settings() {
            Some(settings) => Ok((peer, settings)),
            None => Err(ReplError::Invalid(format!(
                "{name} is not a sink of this site: run `strata repl connect` to it first"
            ))),
        }
    }

    /// Makes `settings` the sink's and persists them.
    async fn save_settings(&self, peer: &Arc<Peer>, settings: SinkSettings) -> Result<()> {
        lock(&peer.record).sink = Some(settings);
        let p = peer.clone();
        self.site.store.run(move |s| p.save(s)).await
    }

    pub async fn realtime(self: &Arc<Self>, name: &str, op: SinkOp) -> Result<PeerRecord> {
        let (peer, mut settings) = self.sink(name).await?;
        match op {
            SinkOp::Enable { blocks } => {
                if !settings.enabled {
                    // Recording starts now; objects written before are fullsync's to
                    // send. Users and buckets are few, and objects written from now on
                    // need them: they are marked dirty, so the repair beside the
                    // sender brings them within seconds, fullsync or not.
                    let p = peer.clone();
                    self.site
                        .store
                        .run(move |s| {
                            let seq = s.last_seq();
                            let position = s.log_position(seq)?.unwrap_or_else(|| s.log_bytes());
                            p.reset_cursor(s, Cursor { seq, position })?;
                            s.add_dirty(&p.name, &s.sync_parent_keys()?)?;
                            Ok::<_, ReplError>(())
                        })
                        .await?;
                    settings.realtime_since = peer.cursor().seq;
                }
                settings.enabled = true;
                settings.blocks = blocks;
            }
            SinkOp::Disable => {
                stop_sender(&peer).await;
                settings.enabled = false;
                settings.started = false;
            }
            SinkOp::Start => {
                if !settings.enabled {
                    return Err(ReplError::Invalid(format!(
                        "realtime is not enabled for {name}: run `strata repl realtime enable {name}` first"
                    )));
                }
                settings.started = true;
            }
            SinkOp::Stop => {
                stop_sender(&peer).await;
                settings.started = false;
            }
        }
        self.save_settings(&peer, settings).await?;
        if settings.enabled && settings.started {
            self.spawn_sender(&peer);
        }
        tracing::info!(sink = %name, ?op, "realtime setting changed");
        Ok(peer.record())
    }

    /// `strata repl fullsync enable|disable|start|stop <sink>`.
    pub async fn fullsync(self: &Arc<Self>, name: &str, op: SinkOp) -> Result<PeerRecord> {
        let (peer, mut settings) = self.sink(name).await?;
        let not_enabled = || {
            ReplError::Invalid(format!(
                "fullsync is not enabled for {name}: run `strata repl fullsync enable {name}` first"
            ))
        };
        match op {
            SinkOp::Enable { blocks } => {
                settings.fullsync = true;
                settings.fullsync_blocks = blocks;
            }
            SinkOp::Disable => {
                stop_task(&peer.fullsync_task).await;
                peer.set_fullsync_state(crate::fullsync_record::FullsyncState::Idle);
                settings.fullsync = false;
            }
            SinkOp::Start if !settings.fullsync => return Err(not_enabled()),
            SinkOp::Stop if !settings.fullsync => return Err(not_enabled()),
            SinkOp::Start | SinkOp::Stop if !self.feeder.feeding() => {
                // The runner is the feeding gateway's: it takes the request within a tick.
                self.ask_feeder(name, op).await?;
                return Ok(peer.record());
            }
            SinkOp::Start => {
                run_fullsync(&peer);
                return Ok(peer.record());
            }
            SinkOp::Stop => {
                peer.fullsync_cancel.notify_waiters();
                return Ok(peer.record());
            }
        }
        self.save_settings(&peer, settings).await?;
        if settings.fullsync {
            self.spawn_fullsync(&peer);
            // Enabling runs one at once: the sink may hold nothing yet.
            peer.fullsync_wake.notify_one();
            if !self.feeder.feeding() {
                self.ask_feeder(name, SinkOp::Start).await?;
            }
        }
        tracing::info!(sink = %name, ?op, "fullsync setting changed");
        Ok(peer.record())
    }

    /// Leaves a fullsync start or stop for the gateway that feeds the site's sinks.
    async fn ask_feeder(&self, sink: &str, op: SinkOp) -> Result<()> {
        let request = if op == SinkOp::Stop {
            feeder::Request::Stop
        } else {
            feeder::Request::Start
        };
        let (site, sink) = (self.site.clone(), sink.to_owned());
        blocking(move || feeder::request_fullsync(&site, &sink, request)).await?;
        tracing::info!(?op, "fullsync asked of the gateway that feeds the sinks");
        Ok(())
    }

    /// `strata repl proxy-get enable|disable <sink>` (run on the source): whether the
    /// sink may fetch blocks it lacks from this site.
    pub async fn proxy_get(self: &Arc<Self>, name: &str, enable: bool) -> Result<PeerRecord> {
        let (peer, mut settings) = self.sink(name).await?;
        settings.proxy_get = enable;
        self.save_settings(&peer, settings).await?;
        tracing::info!(sink = %name, enable, "proxy-get setting changed");
        Ok(peer.record())
    }

    /// `strata repl verify <sink>`: compares this site's records with the sink's, and
    /// with `repair` sends this site's record for each difference (see `verify`).
    pub async fn verify(self: &Arc<Self>, name: &str, repair: bool, blocks: bool) -> Result<VerifyReport> {
        let (peer, _) = self.sink(name).await?;
        crate::verify::run(&self.site, &peer, repair, blocks).await
    }

    /// Makes the listed blocks of an object local, fetching missing ones from a source
    /// by proxy-get (the object's origin first). Fails if any cannot be had.
    pub async fn ensure_blocks(
        &self,
        hashes: Vec<strata_blockstore::BlockHash>,
        origin: strata_blockstore::SiteId,
    ) -> Result<()> {
        crate::proxy_get::ensure_blocks(&self.site, hashes, origin).await
    }

    /// Prepares a streamed read of an object's blocks (the range's, in order) written
    /// first at `origin`: None when all are here; else a [`ProxyRead`] that has checked
    /// the sources hold the missing ones and made the first block local. Err: the read
    /// cannot be served.
    pub async fn open_read(
        &self,
        blocks: Vec<strata_blockstore::BlockHash>,
        origin: strata_blockstore::SiteId,
    ) -> Result<Option<ProxyRead>> {
        ProxyRead::open(&self.site, blocks, origin).await
    }

    /// Scrub: replaces a damaged or missing block with a good copy from any peer (sink
    /// or source). Err names why no peer could give one.
    pub async fn repair_block(&self, hash: strata_blockstore::BlockHash) -> Result<()> {
        let peers = self.site.peers();
        if peers.is_empty() {
            return Err(ReplError::Invalid("this site has no peer to ask".into()));
        }
        let path = format!(
            "{}{}?from={}",
            crate::protocol::REPAIR_BLOCK,
            hash.to_hex(),
            self.site.me.id
        );
        // replace_block checks the copy against the block's name.
        crate::proxy_get::first_good_copy(&self.site, peers, &path, hash, Store::replace_block).await?;
        Ok(())
    }

    /// What the purge of graves may remove now: deletes older than `retention` that
    /// every sink has carried (see `Peer::carried`) and holds no dirty key for.
    pub fn purge_rule(&self, retention: Duration) -> PurgeRule {
        let sinks: Vec<Arc<Peer>> = self
            .site
            .peers()
            .into_iter()
            .filter(|p| p.sink_settings().is_some())
            .collect();
        PurgeRule {
            carried: sinks.iter().map(|p| p.carried()).min().unwrap_or(u64::MAX),
            deleted_before_ms: now_millis().saturating_sub(retention.as_millis() as u64),
            sinks: sinks.iter().map(|p| p.name.clone()).collect(),
        }
    }

    /// Replication credentials this site refused lately (a revoked peer, a wrong secret).
    pub fn refused_credentials(&self) -> Vec<crate::site::RefusedCredential> {
        self.site.refusals.view()
    }

    /// Why this site's replication is not safe to run across a network, if it is not.
    pub fn plain_text_warning(&self) -> Option<&str> {
        self.plain_text.as_deref()
    }

    /// The site that decides the namespace, if one is configured or was set.
    pub fn authority(&self) -> Option<AuthorityClaim> {
        self.site.authority()
    }

    /// `strata repl authority SITE`: makes SITE (this site or a peer) the namespace
    /// authority, with an epoch above any this site has seen, so peers adopt it at
    /// their next hello. For failover: run it on the sites that remain.
    pub async fn set_authority(&self, site: &str) -> Result<AuthorityClaim> {
        if site != self.site.me.name {
            self.site.peer(site)?;
        }
        let claim = AuthorityClaim {
            site: site.to_owned(),
            epoch: self.site.authority().map_or(1, |c| c.epoch + 1),
        };
        let c = claim.clone();
        self.site
            .store
            .run(move |s| peer::put_json(s, AUTHORITY_KEY, &c))
            .await?;
        *lock(&self.site.authority) = Some(claim.clone());
        tracing::info!(authority = %claim.site, epoch = claim.epoch, "namespace authority set");
        Ok(claim)
    }

    /// A namespace operation made here: None when this site decides it itself (it is
    /// the authority, or none is configured); otherwise the authority's changes, made
    /// there and already applied here (so the caller reads its own write), or why not:
    /// the authority's refusal as the store error it met, or `AuthorityUnreachable`.
    pub async fn forward(&self, op: NamespaceOp) -> Result<Option<Vec<Change>>> {
        let Some(claim) = self.site.authority().filter(|c| c.site != self.site.me.name) else {
            return Ok(None);
        };
        let unreachable = |why: String| {
            ReplError::AuthorityUnreachable(format!(
                "users and buckets are created and deleted by the namespace authority {}, which this site cannot reach ({why}); retry, or move the authority (strata repl authority)",
                claim.site
            ))
        };
        let peer = self
            .site
            .peer(&claim.site)
            .map_err(|_| unreachable("it is not a connected peer".into()))?;
        let body = serde_json::to_vec(&op).expect("operations serialize");
        let answer = peer
            .link()
            .call("POST", crate::protocol::NAMESPACE, body.into())
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let decided: std::result::Result<Vec<Change>, Refusal> =
            bincode::deserialize(&answer).map_err(|e| ReplError::Protocol(format!("bad namespace answer: {e}")))?;
        let changes = decided.map_err(|r| ReplError::Store(r.into()))?;
        let c = changes.clone();
        self.site.store.run(move |s| s.apply_changes(&c)).await?;
        Ok(Some(changes))
    }

    /// The sink whose purge watermark is furthest behind the log, if one is behind.
    pub fn furthest_behind(&self) -> Option<String> {
        let last = self.site.store.last_seq();
        self.site
            .peers()
            .into_iter()
            .filter(|p| p.carried() < last)
            .min_by_key(|p| p.carried())
            .map(|p| p.name.clone())
    }

    /// Proxy-get's counters on this site (as a sink).
    pub fn proxy_get_status(&self) -> crate::counters::ProxyGetStatus {
        self.site.proxy_counters.view()
    }

    /// Starts what feeds each sink, as its settings say.
    fn start_feeding(self: &Arc<Self>) {
        for p in self.site.peers() {
            if p.sink_settings().is_some_and(|s| s.enabled && s.started) {
                self.spawn_sender(&p);
            }
            if p.sink_settings().is_some_and(|s| s.fullsync) {
                self.spawn_fullsync(&p);
            }
        }
    }

    /// One tick of a gateway of a shared site: renews (or seeks) the feeder lease,
    /// rereads the peers other gateways may have changed, and starts or stops feeding.
    async fn tend_feeding(self: &Arc<Self>) {
        let repl = self.clone();
        let tended = blocking(move || {
            let (site, feeder) = (&repl.site, &repl.feeder);
            let held = site.store.lease(feeder::LEASE, &feeder.holder, feeder::LEASE_SECS)?;
            // A gateway that does not feed follows the feeder's cursors, for status.
            let gone = feeder::reload_peers(site, feeder, !(held && feeder.feeding()))?;
            Ok::<_, ReplError>((held, gone))
        })
        .await;
        let (held, gone) = match tended {
            Ok(t) => t,
            Err(e) => {
                // Unsure of the lease: stop sending rather than risk a second feeder.
                tracing::warn!(error = %e, "could not renew the feeder lease");
                (false, Vec::new())
            }
        };
        forget(gone).await;
        if held {
            if self.feeder.set_feeding(true) {
                let (site, holder) = (self.site.clone(), self.feeder.holder.clone());
                let _ = blocking(move || site.store.repl_put(feeder::HOLDER_KEY, holder.as_bytes())).await;
                tracing::info!(holder = %self.feeder.holder, "this gateway now feeds the site's sinks");
            }
            // Settings changed through other gateways take effect here.
            for p in self.site.peers() {
                let s = p.sink_settings();
                if !s.is_some_and(|s| s.enabled && s.started) {
                    stop_sender(&p).await;
                }
                if !s.is_some_and(|s| s.fullsync) {
                    stop_task(&p.fullsync_task).await;
                }
            }
            self.start_feeding();
            let site = self.site.clone();
            match blocking(move || feeder::take_fullsync_requests(&site)).await {
                Ok(requests) => {
                    for (sink, request) in requests {
                        let Ok(p) = self.site.peer(&sink) else { continue };
                        match request {
                            feeder::Request::Stop => p.fullsync_cancel.notify_waiters(),
                            feeder::Request::Start => run_fullsync(&p),
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read the fullsync requests of other gateways"),
            }
        } else if self.feeder.set_feeding(false) {
            tracing::warn!("this gateway no longer holds the feeder lease: it stops feeding the site's sinks");
            for p in self.site.peers() {
                stop_feeding(&p).await;
            }
        }
    }

    /// While this gateway feeds, wakes its senders for changes the site's other
    /// gateways commit (its own wake them directly).
    fn spawn_commit_poll(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(feeder::POLL).await;
                let Some(repl) = weak.upgrade() else { return };
                if !repl.feeder.feeding() {
                    continue;
                }
                let site = repl.site.clone();
                if let Ok(seq) = blocking(move || Ok::<_, ReplError>(site.store.last_seq())).await {
                    repl.site
                        .commits
                        .send_if_modified(|last| std::mem::replace(last, seq.max(*last)) != *last);
                }
            }
        });
    }

    fn spawn_fullsync(self: &Arc<Self>, peer: &Arc<Peer>) {
        if !self.feeder.feeding() {
            return;
        }
        let mut slot = lock(&peer.fullsync_task);
        if slot.as_ref().is_some_and(|(_, h)| !h.is_finished()) {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(fullsync::run(self.site.clone(), peer.clone(), stopped));
        *slot = Some((stop, task));
    }

    fn spawn_sender(self: &Arc<Self>, peer: &Arc<Peer>) {
        if !self.feeder.feeding() {
            return;
        }
        let mut slot = lock(&peer.sender);
        if slot.as_ref().is_some_and(|(_, h)| !h.is_finished()) {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let (site, peer) = (self.site.clone(), peer.clone());
        // The realtime stream and, beside it, the repair of the sink's dirty keys.
        let task = tokio::spawn(async move {
            tokio::join!(
                sender::run(site.clone(), peer.clone(), stopped.clone()),
                repair::run(site, peer, stopped)
            );
        });
        *slot = Some((stop, task));
    }

    /// Every peer's status.
    pub async fn status(self: &Arc<Self>) -> Result<Vec<PeerStatus>> {
        let peers = self.site.peers();
        self.site
            .store
            .run(move |store| {
                let now = now_millis();
                let mut out = Vec::new();
                for p in peers {
                    let record = p.record();
                    let sink = match record.sink {
                        Some(settings) => Some(status::sink_status(store, &p, settings, now)?),
                        None => None,
                    };
                    let role = match (record.sink.is_some(), record.source) {
                        (true, true) => "both",
                        (true, false) => "sink",
                        _ => "source",
                    };
                    out.push(PeerStatus {
                        site: record.info.name.clone(),
                        site_id: record.info.id.to_string(),
                        address: record.addr.clone(),
                        role: role.to_owned(),
                        sink,
                        source: record.source.then(|| SourceStatus {
                            received: p.received.view(),
                            held_back: lock(&p.held_back).clone(),
                            refused_changes: p.refused_changes.load(std::sync::atomic::Ordering::Relaxed),
                            latency: p.latency.view(),
                        }),
                    });
                }
                Ok::<_, ReplError>(out)
            })
            .await
    }

    pub async fn prometheus(self: &Arc<Self>) -> Result<String> {
        Ok(status::prometheus(&self.status().await?, &self.proxy_get_status()))
    }
}

/// Stops what fed peers another gateway forgot (`strata repl disconnect` there).
async fn forget(gone: Vec<Arc<Peer>>) {
    for p in gone {
        tracing::info!(peer = %p.name, "a peer was forgotten through another gateway");
        stop_feeding(&p).await;
    }
}

/// `fullsync start`: a run in progress goes on (and no second one is queued behind
/// it); otherwise one starts, or the stopped one resumes, now.
fn run_fullsync(peer: &Peer) {
    if *lock(&peer.fullsync_state) != crate::fullsync_record::FullsyncState::Running {
        peer.fullsync_wake.notify_one();
    }
}

/// Stops the sink's sender and fullsync runner, if they run.
async fn stop_feeding(peer: &Peer) {
    stop_sender(peer).await;
    stop_task(&peer.fullsync_task).await;
}

async fn stop_sender(peer: &Peer) {
    stop_task(&peer.sender).await;
}

async fn stop_task(slot: &Mutex<Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>>) {
    let running = lock(slot).take();
    if let Some((stop, task)) = running {
        let _ = stop.send(true);
        let _ = task.await;
    }
}

/// A replication port other machines can reach, without TLS: the replication secret
/// and every change (user records with their secret keys included) would cross the
/// network in the clear, and anyone on the path could replay or alter them.
fn plain_text_warning(cfg: &ReplConfig) -> Option<String> {
    let host = cfg
        .advertise
        .rsplit_once(':')
        .map_or(cfg.advertise.as_str(), |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    (cfg.tls.is_none() && !loopback).then(|| {
        format!(
            "replication listens at {} without TLS: its traffic (user records with their secret keys included) crosses the network in the clear; set tls_cert, tls_key and tls_ca in [repl]",
            cfg.advertise
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(advertise: &str) -> ReplConfig {
        ReplConfig {
            site_name: "a".into(),
            advertise: advertise.into(),
            access_key: "k".into(),
            secret_key: "s".into(),
            realtime_max_bytes: 1,
            fullsync_interval: Duration::ZERO,
            fullsync_max_bytes_per_sec: 0,
            proxy_get_window: 8,
            proxy_get_blocks_in_memory: 64,
            tls: None,
            compression_level: 0,
            max_clock_skew: Duration::ZERO,
            authority: None,
            peer_secrets: BTreeMap::new(),
            accept: BTreeMap::new(),
        }
    }

    /// A block replication brings while a proxy-get fetch of it is in flight waits for
    /// that fetch instead of writing it again; with none in flight, it writes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_block_that_arrives_while_its_fetch_is_in_flight_is_not_written_again() {
        use futures_util::FutureExt;
        use sha2::{Digest, Sha256};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(strata_blockstore::StoreConfig::new(dir.path())).unwrap();
        let r = Replication::open(store.clone(), &config("127.0.0.1:9")).unwrap();
        let data = bytes::Bytes::from(vec![5u8; 1000]);
        let hash = strata_blockstore::BlockHash(Sha256::digest(&data).into());

        // A fetch in flight that will say it stored the block (this one does not, so a
        // write by the arrival would show as a block file).
        let (release, fetched) = tokio::sync::oneshot::channel::<()>();
        let answer = data.clone();
        let fetch = async move {
            let _ = fetched.await;
            Ok(answer)
        };
        lock(&r.site.fetches).insert(hash, fetch.boxed().shared());
        let site = r.site.clone();
        let arriving = data.clone();
        let arrival = tokio::spawn(async move { crate::proxy_get::store_arrived(&site, hash, arriving, false).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!arrival.is_finished(), "the arrival waits for the fetch");
        release.send(()).unwrap();
        arrival.await.unwrap().unwrap();
        assert!(!store.has_block(&hash), "the arrival did not write the block again");

        // Nothing in flight: the arrival writes, and leaves nothing in the map.
        lock(&r.site.fetches).clear();
        crate::proxy_get::store_arrived(&r.site, hash, data, false)
            .await
            .unwrap();
        assert!(store.has_block(&hash));
        assert!(lock(&r.site.fetches).is_empty());
    }

    #[test]
    fn plain_text_beyond_this_machine_is_warned_about() {
        for own in ["127.0.0.1:9002", "[::1]:9002", "localhost:9002"] {
            assert_eq!(plain_text_warning(&config(own)), None, "{own}");
        }
        for network in [
            "10.0.0.2:9002",
            "0.0.0.0:9002",
            "site-b.example:9002",
            "[2001:db8::1]:9002",
        ] {
            let w = plain_text_warning(&config(network)).unwrap_or_default();
            assert!(w.contains("without TLS"), "{network}: {w:?}");
        }
    }
}
