//! What replication needs from the engine: changes from other sites applied by
//! last-writer-wins, blocks received from them, the change log read and trimmed, and
//! small persistent records (settings, cursors, dirty keys) kept for the `repl` crate.

use crate::blocks::{hash_block, Caching};
use crate::buckets::{shard_contents, BucketContents};
use crate::engine::{Tree, TxResult};
use crate::error::{Error, Result};
use crate::hlc::now_millis;
use crate::keys::{bucket_key, object_key, user_key};
use crate::meta::{abort, be_u64, decode, LogEntry, Tx, CLOSED};
use crate::object_lock::{is_locked, may_remove, Remover};
use crate::records::{BlockHash, Bucket, Change, Manifest, RetiredKey, SiteId};
use crate::store::Store;

/// What applying a batch of remote changes did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Changes that won last-writer-wins and are now the local state.
    pub applied: u64,
    /// Changes older than what the site holds (or already applied): ignored.
    pub stale: u64,
    /// Object changes not applied: no bucket here, no room, or blocks missing.
    pub skipped: u64,
    /// The keys of the skipped changes, for the source to remember as dirty.
    pub skipped_keys: Vec<String>,
    /// Deletes of versions Object Lock keeps here: refused (and counted as stale).
    pub refused_locked: u64,
}

impl Applied {
    fn add(&mut self, o: Applied) {
        self.applied += o.applied;
        self.stale += o.stale;
        self.skipped += o.skipped;
        self.skipped_keys.extend(o.skipped_keys);
        self.refused_locked += o.refused_locked;
    }
}

/// How long a block reported present to a source is kept for the manifest that needs
/// it: far longer than a batch takes; a batch retried later asks again.
const HOLD_FOR_MANIFEST: std::time::Duration = std::time::Duration::from_secs(600);

/// Entries removed per commit while a remote bucket delete empties a bucket.
const DELETE_BATCH: usize = 1000;

const APPLIED: Applied = Applied {
    applied: 1,
    stale: 0,
    skipped: 0,
    skipped_keys: Vec::new(),
    refused_locked: 0,
};
const STALE: Applied = Applied {
    applied: 0,
    stale: 1,
    skipped: 0,
    skipped_keys: Vec::new(),
    refused_locked: 0,
};

impl Tx<'_> {
    /// Applies one user, bucket or object change if it is newer than what is stored.
    /// Without `room` (the disk at its reserve), or without all its blocks here
    /// (`blocks_here`), a new object version is skipped, to be sent again as a dirty
    /// key; deletes and users and buckets still apply.
    /// `bucket_here`: an object's bucket exists (read in the root before the commit).
    fn apply_record(&self, c: &Change, room: bool, blocks_here: bool, bucket_here: bool) -> TxResult<Applied> {
        let incoming = c.version();
        match c {
            // The tree's version covers graves: a user or bucket deleted here after
            // the incoming change was made stays deleted.
            Change::User(u) => {
                if self.synced_version(&user_key(&u.name))?.is_some_and(|v| v >= incoming) {
                    return Ok(STALE);
                }
                self.put(Tree::Users, u.access_key.as_bytes(), u)?;
                self.index_user(u)?;
            }
            Change::Bucket(b) => {
                if self
                    .synced_version(&bucket_key(&b.name))?
                    .is_some_and(|v| v >= incoming)
                {
                    return Ok(STALE);
                }
                self.put(Tree::Buckets, b.name.as_bytes(), b)?;
                self.register_bucket(&b.name)?;
                self.index_bucket(b)?;
            }
            Change::Object(m) => {
                // A delete needs neither room nor the bucket: its grave is kept anyway.
                let unplaced = !m.is_gone() && (!room || !bucket_here || self.is_closed()?);
                if unplaced || !blocks_here {
                    return Ok(Applied {
                        skipped: 1,
                        skipped_keys: vec![c.key()],
                        ..Applied::default()
                    });
                }
                if self.synced_version(&m.sync_key())?.is_some_and(|v| v >= incoming) {
                    return Ok(STALE);
                }
                if m.is_gone() {
                    let here = self.version(&m.bucket, &m.key, Some(&m.version_id))?;
                    if let Some(Err(e)) = here.map(|h| may_remove(&h, now_millis(), Remover::Replica)) {
                        tracing::warn!(key = %c.key(), why = %e, "a replicated delete of a version locked here is refused");
                        return Ok(Applied {
                            stale: 1,
                            refused_locked: 1,
                            ..Applied::default()
                        });
                    }
                }
                // Logs the change itself, so it travels on to this site's own sinks.
                self.install(m)?;
                return Ok(APPLIED);
            }
            Change::UserDeleted { .. } | Change::BucketDeleted { .. } | Change::UserKeyRetired { .. } => {
                unreachable!("deletes and retired keys are applied by Store::apply_alone")
            }
        }
        self.log(c)?;
        Ok(APPLIED)
    }
}

impl Store {
    /// Applies changes received from another site, in order, durably: each wins or
    /// loses against the local record by (HLC, site id), so applying a change twice, or
    /// an old one after a newer, changes nothing. Applied changes enter this site's
    /// change log with their original timestamp and site.
    pub fn apply_changes(&self, changes: &[Change]) -> Result<Applied> {
        self.apply_changes_via(changes, &[], false)
    }

    /// [`Store::apply_changes`], each change logged with the path it came by
    /// (`via[i]`: the sites it passed through, the sender last; see `LogEntry::via`), so
    /// this site's senders never send it to any of them. With `with_blocks` (the source
    /// sent the batch's blocks first), a live object whose blocks are not all here is
    /// skipped rather than stored, so this site never holds an object it cannot read
    /// (a block refused for want of room, or gone at the source); without it (a
    /// metadata-only sink) reads of such objects go through proxy-get.
    pub fn apply_changes_via(&self, changes: &[Change], via: &[Vec<SiteId>], with_blocks: bool) -> Result<Applied> {
        let path = |i: usize| via.get(i).map_or(&[][..], Vec::as_slice);
        let mut total = Applied::default();
        let room = self.has_room();
        // Held since the source asked (see `missing_blocks`), so still here at commit.
        let blocks_here: Vec<bool> = changes
            .iter()
            .map(|c| match c {
                Change::Object(m) if with_blocks && m.is_live() => m.blocks.iter().all(|b| self.blocks.exists(&b.hash)),
                _ => true,
            })
            .collect();
        if let Some(newest) = changes.iter().map(|c| c.version().0).max() {
            self.meta.clock.observe(newest);
        }
        // Runs of object and bucket changes commit together; a user change or a delete
        // needs a scan under the lock first, so it commits on its own.
        let mut at = 0;
        while at < changes.len() {
            let n = changes[at..]
                .iter()
                .position(|c| {
                    matches!(
                        c,
                        Change::User(_)
                            | Change::UserDeleted { .. }
                            | Change::BucketDeleted { .. }
                            | Change::UserKeyRetired { .. }
                    )
                })
                .unwrap_or(changes.len() - at);
            if n == 0 {
                total.add(self.apply_alone(&changes[at], path(at))?);
                at += 1;
                continue;
            }
            total.add(self.apply_run(&changes[at..at + n], at, &path, room, &blocks_here)?);
            at += n;
        }
        Ok(total)
    }

    /// A run of bucket and object changes (the `changes` from index `first`): the
    /// buckets in one root commit, then the objects in one commit per index shard,
    /// each shard's in the run's order (one key's changes are in one shard).
    fn apply_run<'p>(
        &self,
        run: &[Change],
        first: usize,
        path: &(dyn Fn(usize) -> &'p [SiteId] + Sync),
        room: bool,
        blocks_here: &[bool],
    ) -> Result<Applied> {
        let mut total = Applied::default();
        let mut roots = Vec::new();
        let mut shards: std::collections::BTreeMap<(&str, u16), Vec<usize>> = Default::default();
        for (i, c) in run.iter().enumerate() {
            match c {
                Change::Object(m) => shards
                    .entry((&m.bucket, self.meta.shard_index(&m.key)))
                    .or_default()
                    .push(i),
                _ => roots.push(i),
            }
        }
        if !roots.is_empty() {
            total.add(self.meta.commit(now_millis(), |tx| {
                let mut a = Applied::default();
                for &i in &roots {
                    tx.set_via(path(first + i));
                    a.add(tx.apply_record(&run[i], room, true, true)?);
                }
                Ok(a)
            })?);
        }
        for ((bucket, _), members) in shards {
            let bucket_here = self.meta.contains(Tree::Buckets, bucket.as_bytes())?;
            let Change::Object(m) = &run[members[0]] else {
                unreachable!("grouped as objects")
            };
            total.add(self.meta.commit_in(bucket, &m.key, now_millis(), |tx| {
                let mut a = Applied::default();
                for &i in &members {
                    tx.set_via(path(first + i));
                    a.add(tx.apply_record(&run[i], room, blocks_here[first + i], bucket_here)?);
                }
                Ok(a)
            })?);
        }
        Ok(total)
    }

    /// A change that reads more than its own record first, under the commit lock.
    fn apply_alone(&self, c: &Change, via: &[SiteId]) -> Result<Applied> {
        let incoming = c.version();
        match c {
            // A user is one record, named by its name: the record it replaces may be
            // under another access key (rotated, or the user deleted and made again),
            // and that key must stop working here too. Users are few: found by a scan.
            Change::User(u) => self.meta.scan_then_commit(|guard| {
                let retired = self.access_keys_of(&u.name)?;
                self.meta.commit_locked(guard, now_millis(), |tx| {
                    tx.set_via(via);
                    let a = tx.apply_record(c, true, true, true)?;
                    if a.applied > 0 {
                        for k in retired.iter().filter(|k| **k != u.access_key) {
                            tx.remove(Tree::Users, k.as_bytes())?;
                        }
                    }
                    Ok(a)
                })
            }),
            // Kept while its grace lasts (and passed on to this site's sinks).
            Change::UserKeyRetired {
                name,
                access_key,
                secret_key,
                until_ms,
                ..
            } => self.meta.commit(now_millis(), |tx| {
                tx.set_via(via);
                let retired = RetiredKey {
                    name: name.clone(),
                    secret_key: secret_key.clone(),
                    until_ms: *until_ms,
                };
                tx.put(Tree::RetiredKeys, access_key.as_bytes(), &retired)?;
                tx.log(c)?;
                Ok(APPLIED)
            }),
            Change::UserDeleted { name, .. } => self.meta.scan_then_commit(|guard| {
                let keys = self.access_keys_of(name)?;
                self.meta.commit_locked(guard, now_millis(), |tx| {
                    tx.set_via(via);
                    if tx.synced_version(&user_key(name))?.is_some_and(|v| v >= incoming) {
                        return Ok(STALE);
                    }
                    for k in &keys {
                        tx.remove(Tree::Users, k.as_bytes())?;
                    }
                    // Kept even for a user this site never had: an older create that
                    // arrives later loses to it.
                    tx.index_grave(user_key(name), incoming.0, incoming.1)?;
                    tx.log(c)?;
                    Ok(APPLIED)
                })
            }),
            Change::BucketDeleted { name, .. } => self.apply_bucket_delete(name, c, via),
            _ => unreachable!("object and bucket changes apply in runs"),
        }
    }

    /// Every access key stored for the user `name` (one, unless a store from before
    /// users were one record kept a replaced key).
    fn access_keys_of(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .list_users()?
            .into_iter()
            .filter(|u| u.name == name)
            .map(|u| u.access_key)
            .collect())
    }

    /// A bucket deleted at another site. The bucket may hold many entries here (older
    /// objects, tombstones, uploads), so it is emptied in bounded batches, each its own
    /// commit: other writes on the site wait for one batch at a time, never for the
    /// whole bucket. The delete loses, and the bucket stays, if the bucket record or a
    /// live object here is newer than it; a write racing with the emptying is newer
    /// (the clock has observed the delete), so it also keeps the bucket, and what was
    /// removed by then was older than the delete anyway.
    fn apply_bucket_delete(&self, name: &str, c: &Change, via: &[SiteId]) -> Result<Applied> {
        let incoming = c.version();
        // A newer version, or one Object Lock keeps, keeps the bucket.
        let now = now_millis();
        let newer = |m: &Manifest| !m.is_gone() && ((m.hlc, m.site) > incoming || is_locked(m, now));
        // Decide before removing anything, reading without the lock.
        for tree in [Tree::Objects, Tree::Versions] {
            for r in self.meta.bucket_scan(name, tree, &object_key(name, ""))? {
                if newer(&decode::<Manifest>(&r?.1)?) {
                    return Ok(STALE);
                }
            }
        }
        let bucket_newer = |b: Option<Bucket>| b.is_some_and(|b| (b.hlc, b.site) >= incoming);
        let token = match self.meta.begin_closing(name) {
            // Not here (never was, or deleted): the grave still records the delete.
            Err(Error::NoSuchBucket) => {
                return self.meta.commit(now_millis(), |tx| {
                    tx.set_via(via);
                    if tx.synced_version(&bucket_key(name))?.is_some_and(|v| v >= incoming) {
                        return Ok(STALE);
                    }
                    tx.index_grave(bucket_key(name), incoming.0, incoming.1)?;
                    tx.log(c)?;
                    Ok(APPLIED)
                })
            }
            Err(e) => return Err(e),
            Ok(token) if bucket_newer(self.bucket(name)?) => {
                self.meta.abandon_closing(name, &token, &[])?;
                return Ok(STALE);
            }
            Ok(token) => token,
        };
        let shards = self.meta.shards_of(name)?;
        let mut closed = Vec::new();
        let done = (|| {
            for shard in &shards {
                // Emptied in batches, then closed; a newer live object keeps the bucket.
                loop {
                    let step = shard.scan_then_commit(|guard| {
                        let batch = shard_contents(&self.meta, shard, name, DELETE_BATCH)?;
                        if batch.all_versions().any(newer) {
                            return Ok(Some(false));
                        }
                        let empty = batch.is_empty();
                        shard.commit_locked(guard, now_millis(), |tx| match empty {
                            true => tx.put_raw(Tree::Meta, CLOSED, b""),
                            false => tx.remove_contents(&batch),
                        })?;
                        Ok(empty.then_some(true))
                    })?;
                    match step {
                        Some(true) => break,
                        Some(false) => return Ok(STALE),
                        None => {}
                    }
                }
                closed.push(shard.clone());
            }
            for shard in &shards {
                self.meta.merge(shard)?;
            }
            self.meta.commit(now_millis(), |tx| {
                if !self.meta.end_closing(tx, name, &token)? {
                    return abort(Error::OperationAborted);
                }
                if bucket_newer(tx.get::<Bucket>(Tree::Buckets, name.as_bytes())?) {
                    return Ok(STALE);
                }
                tx.set_via(via);
                tx.remove_bucket(name, &BucketContents::default(), c)?;
                Ok(APPLIED)
            })
        })();
        if !matches!(done, Ok(Applied { applied: 1, .. })) {
            self.meta.abandon_closing(name, &token, &closed)?;
        }
        done
    }

    pub fn has_block(&self, hash: &BlockHash) -> bool {
        self.blocks.exists(hash)
    }

    /// Which of `hashes` have no block here, in their order. Each check is a system
    /// call of a few microseconds and a 4 GiB object has 4096 blocks, so many are
    /// checked on a few threads at once (the caller is on a blocking thread).
    pub fn absent_blocks(&self, hashes: &[BlockHash]) -> Vec<BlockHash> {
        const PER_THREAD: usize = 512;
        if hashes.len() <= PER_THREAD {
            return hashes.iter().filter(|h| !self.has_block(h)).copied().collect();
        }
        let per = hashes.len().div_ceil(4).max(PER_THREAD);
        std::thread::scope(|scope| {
            let parts: Vec<_> = hashes
                .chunks(per)
                .map(|part| {
                    scope.spawn(move || part.iter().filter(|h| !self.has_block(h)).copied().collect::<Vec<_>>())
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|p| p.join().expect("a block check panicked"))
                .collect()
        })
    }

    /// A source asks which of a batch's blocks this site lacks: the answer, with every
    /// block it has held from garbage collection for `HOLD_FOR_MANIFEST`, so the
    /// manifest that follows finds them all (a block only a GC candidate would
    /// otherwise be reported present, then removed).
    pub fn missing_blocks(&self, hashes: &[BlockHash]) -> Vec<BlockHash> {
        self.blocks.hold_present(hashes, HOLD_FOR_MANIFEST)
    }

    /// Stores a block received from another site, after checking its bytes hash to its
    /// name. Durable on return. Until a manifest references it, it is a GC candidate
    /// like any unreferenced block (the grace period covers the wait for the manifest).
    pub fn store_block(&self, hash: &BlockHash, data: &[u8]) -> Result<()> {
        if hash_block(data) != *hash {
            return Err(Error::BlockCorrupt(hash.to_hex()));
        }
        self.store_verified_block(hash, data)
    }

    /// [`Store::store_block`] for data the caller has just checked hashes to `hash`
    /// (the replication port verifies every body against its signed SHA-256).
    pub fn store_verified_block(&self, hash: &BlockHash, data: &[u8]) -> Result<()> {
        self.blocks.pin(*hash);
        let written = self.blocks.write(hash, data, Caching::Drop).map(drop);
        self.blocks.unpin(hash);
        written?;
        self.meta.queue_unreferenced(&[hash.0], now_millis())
    }

    /// Sequence number of the newest committed change.
    pub fn last_seq(&self) -> u64 {
        self.settle_log();
        self.meta.last_seq()
    }

    /// Merges what this process committed to index shards and has not yet moved to
    /// the site's log, so a reader of the log sees every write answered here.
    fn settle_log(&self) {
        if let Err(e) = self.meta.settle() {
            tracing::warn!(error = %e, "merging the index shards' logs into the site's failed; it is retried");
        }
    }

    /// Bytes ever logged: the log position of the newest change.
    pub fn log_bytes(&self) -> u64 {
        self.meta.log_bytes()
    }

    /// Committed changes after `after`, in commit order: at most `limit` entries and,
    /// past the first, about `max_bytes` bytes.
    pub fn changes_after(&self, after: u64, limit: usize, max_bytes: u64) -> Result<Vec<LogEntry>> {
        self.settle_log();
        self.meta.changes_after(after, limit, max_bytes)
    }

    /// The log position of entry `seq`, if the log still holds it.
    pub fn log_position(&self, seq: u64) -> Result<Option<u64>> {
        self.meta.log_position(seq)
    }

    /// The oldest entry the log still holds.
    pub fn first_change(&self) -> Result<Option<LogEntry>> {
        self.meta.first_change()
    }

    /// Forgets change-log entries up to `upto` (every sink has them or gave them up).
    pub fn trim_changes(&self, upto: u64) -> Result<usize> {
        self.meta.trim_changes(upto)
    }

    /// Registers the one function called after each durable commit that logged changes,
    /// with the newest sequence number.
    pub fn set_commit_listener(&self, f: impl Fn(u64) + Send + Sync + 'static) {
        self.meta.set_commit_listener(Box::new(f));
    }

    /// Takes or renews a lease on a site-wide job for `holder` (one gateway of the
    /// site's many); true while it holds it. On a site of one process, always true.
    pub fn lease(&self, name: &str, holder: &str, secs: u32) -> Result<bool> {
        self.meta.lease(name, holder, secs)
    }

    /// Whether other gateways share this store (a site over Ceph RADOS): what they
    /// commit is seen only by reading the store again.
    pub fn shared(&self) -> bool {
        self.meta.shared()
    }

    /// A small record kept for replication (settings, cursors); durable on return.
    pub fn repl_put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.meta.put_soon(Tree::Repl, key.as_bytes(), value)?;
        self.meta.flush()
    }

    /// The same, made durable by the next flush of anything (every commit flushes)
    /// rather than now: for records whose loss in a crash only repeats work.
    pub fn repl_put_soon(&self, key: &str, value: &[u8]) -> Result<()> {
        self.meta.put_soon(Tree::Repl, key.as_bytes(), value)
    }

    pub fn repl_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.meta.get_raw(Tree::Repl, key.as_bytes())
    }

    /// Every replication record under a key prefix.
    pub fn repl_scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.meta
            .scan_raw(Tree::Repl, prefix.as_bytes())
            .map(|r| {
                let (k, v) = r?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v))
            })
            .collect()
    }

    /// Removes a replication record; durable on return.
    pub fn repl_remove(&self, key: &str) -> Result<()> {
        self.meta.remove_soon(Tree::Repl, key.as_bytes())?;
        self.meta.flush()
    }

    /// Remembers keys whose changes a sink will not get by realtime, each with the time
    /// it was (last) marked; durable on return. Returns how many keys the sink's dirty
    /// set holds now.
    pub fn add_dirty(&self, sink: &str, keys: &[String]) -> Result<u64> {
        let count_key = dirty_count_key(sink);
        let now = now_millis();
        // A commit without a log entry: ordered with the others and durable on return.
        self.meta.commit(now, |tx| {
            let mut n = tx.get_raw(Tree::Dirty, &count_key)?.map(|v| be_u64(&v)).unwrap_or(0);
            for k in keys {
                let key = dirty_key(sink, k);
                if !tx.contains(Tree::Dirty, &key)? {
                    n += 1;
                }
                tx.put_raw(Tree::Dirty, &key, &now.to_be_bytes())?;
            }
            tx.put_raw(Tree::Dirty, &count_key, &n.to_be_bytes())?;
            Ok(n)
        })
    }

    /// Forgets a sink's dirty keys last marked before `before_ms` (a fullsync that
    /// started then has compared them); returns how many the set still holds. A key
    /// marked again since stays, for the next run.
    pub fn clear_dirty_before(&self, sink: &str, before_ms: u64) -> Result<u64> {
        let prefix = dirty_key(sink, "");
        let count_key = dirty_count_key(sink);
        loop {
            let batch = self
                .meta
                .scan_raw(Tree::Dirty, &prefix)
                .filter(|r| r.as_ref().map_or(true, |(_, v)| be_u64(v) < before_ms))
                .take(1000)
                .map(|r| r.map(|(k, _)| k))
                .collect::<Result<Vec<_>>>()?;
            let left = self.meta.commit(now_millis(), |tx| {
                let mut n = tx.get_raw(Tree::Dirty, &count_key)?.map(|v| be_u64(&v)).unwrap_or(0);
                for k in &batch {
                    if tx.contains(Tree::Dirty, k)? {
                        tx.remove(Tree::Dirty, k)?;
                        n = n.saturating_sub(1);
                    }
                }
                tx.put_raw(Tree::Dirty, &count_key, &n.to_be_bytes())?;
                Ok(n)
            })?;
            if batch.len() < 1000 {
                return Ok(left);
            }
        }
    }

    pub fn dirty_count(&self, sink: &str) -> Result<u64> {
        Ok(self
            .meta
            .get_raw(Tree::Dirty, &dirty_count_key(sink))?
            .map(|v| be_u64(&v))
            .unwrap_or(0))
    }

    /// Up to `limit` of a sink's dirty keys, in key order.
    pub fn dirty_keys(&self, sink: &str, limit: usize) -> Result<Vec<String>> {
        Ok(self.dirty_marks(sink, limit)?.into_iter().map(|(k, _)| k).collect())
    }

    /// Up to `limit` of a sink's dirty keys, in key order, each with when it was last
    /// marked (what [`Store::clear_dirty_marks`] takes back).
    pub fn dirty_marks(&self, sink: &str, limit: usize) -> Result<Vec<(String, u64)>> {
        let prefix = dirty_key(sink, "");
        self.meta
            .scan_raw(Tree::Dirty, &prefix)
            .take(limit)
            .map(|r| {
                let (k, v) = r?;
                Ok((String::from_utf8_lossy(&k[prefix.len()..]).into_owned(), be_u64(&v)))
            })
            .collect()
    }

    /// Forgets the listed dirty keys of a sink that were not marked again since they
    /// were read (a key marked again meanwhile, say skipped once more, stays); returns
    /// how many it forgot.
    pub fn clear_dirty_marks(&self, sink: &str, marks: &[(String, u64)]) -> Result<u64> {
        let count_key = dirty_count_key(sink);
        self.meta.commit(now_millis(), |tx| {
            let mut n = tx.get_raw(Tree::Dirty, &count_key)?.map(|v| be_u64(&v)).unwrap_or(0);
            let mut forgot = 0;
            for (key, marked) in marks {
                let k = dirty_key(sink, key);
                if tx.get_raw(Tree::Dirty, &k)?.is_some_and(|v| be_u64(&v) == *marked) {
                    tx.remove(Tree::Dirty, &k)?;
                    n = n.saturating_sub(1);
                    forgot += 1;
                }
            }
            tx.put_raw(Tree::Dirty, &count_key, &n.to_be_bytes())?;
            Ok(forgot)
        })
    }

    /// Forgets a sink's dirty set (the sink was disconnected).
    pub fn clear_dirty(&self, sink: &str) -> Result<()> {
        for r in self.meta.scan_raw(Tree::Dirty, &sink_prefix(sink)) {
            self.meta.remove_soon(Tree::Dirty, &r?.0)?;
        }
        self.meta.flush()
    }
}

fn sink_prefix(sink: &str) -> Vec<u8> {
    let mut k = sink.as_bytes().to_vec();
    k.push(0);
    k
}

pub(crate) fn dirty_key(sink: &str, key: &str) -> Vec<u8> {
    let mut k = sink_prefix(sink);
    k.push(b'k');
    k.extend_from_slice(key.as_bytes());
    k
}

fn dirty_count_key(sink: &str) -> Vec<u8> {
    let mut k = sink_prefix(sink);
    k.push(b'n');
    k
}
