//! Objects: committing a written object as the key's current version, reading and
//! deleting it.

use crate::engine::{Tree, TxResult};
use crate::error::{Error, Result};
use crate::hlc::{now_millis, Hlc};
use crate::keys::{object_key, object_sync_key};
use crate::meta::{abort, Tx};
use crate::records::{Change, Manifest, ObjectHeaders, ObjectState};
use crate::store::Store;
use crate::writer::WrittenData;
use std::sync::Arc;

/// A condition a write must meet when it commits, checked in the same transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Precondition {
    #[default]
    None,
    /// `If-None-Match: *`: the key must have no live object.
    Absent,
    /// `If-Match: <etag>`: the live object must have this ETag.
    ETag(String),
}

impl Tx<'_> {
    pub(crate) fn check(&self, bucket: &str, key: &str, cond: &Precondition) -> TxResult<()> {
        if *cond == Precondition::None {
            return Ok(());
        }
        let current = self
            .get::<Manifest>(Tree::Objects, &object_key(bucket, key))?
            .filter(|m| m.is_live());
        match (cond, current) {
            (Precondition::Absent, Some(_)) => abort(Error::PreconditionFailed),
            (Precondition::ETag(_), None) => abort(Error::NoSuchKey),
            (Precondition::ETag(e), Some(m)) if e.trim_matches('"') != m.etag && e != "*" => {
                abort(Error::PreconditionFailed)
            }
            _ => Ok(()),
        }
    }

    /// Makes a local write `m` (or tombstone) the current version of its key, stamped
    /// now (see [`Tx::stamp`]); returns it as committed.
    pub(crate) fn install_local(&self, m: &Manifest) -> TxResult<Manifest> {
        let mut m = m.clone();
        m.hlc = self.stamp(&object_sync_key(&m.bucket, &m.key))?;
        self.install_manifest(&m)?;
        Ok(m)
    }

    /// Makes `m` the current version of its key: it takes references on its blocks, the
    /// version it replaces releases its own, and the change is logged. A tombstone
    /// removes the record and leaves a grave in the sync tree: the objects tree holds
    /// live objects only. A tombstone needs no bucket (one deleted since keeps it); a
    /// live object needs its shard open (the bucket's existence is the root's, read
    /// before the commit: a delete closes the shard before it removes the bucket).
    pub(crate) fn install_manifest(&self, m: &Manifest) -> TxResult<()> {
        if m.is_live() {
            self.require_open()?;
        }
        let k = object_key(&m.bucket, &m.key);
        if let Some(old) = self.get::<Manifest>(Tree::Objects, &k)? {
            self.release_refs(&old.blocks)?;
        }
        if m.is_live() {
            self.add_refs(&m.blocks)?;
            self.put(Tree::Objects, &k, m)?;
        } else {
            self.remove(Tree::Objects, &k)?;
        }
        self.index_object(m)?;
        self.log(&Change::Object(Box::new(m.clone())))
    }
}

impl Store {
    /// A new version of `bucket/key`, to be stamped by [`Tx::install_local`] when it
    /// commits.
    pub(crate) fn new_manifest(&self, bucket: &str, key: &str, headers: ObjectHeaders) -> Manifest {
        Manifest {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: uuid::Uuid::new_v4().to_string(),
            state: ObjectState::Active,
            size: 0,
            etag: String::new(),
            last_modified_ms: now_millis(),
            headers,
            block_size: self.block_size(),
            blocks: Vec::new(),
            inline: None,
            parts: Vec::new(),
            upload_id: None,
            hlc: Hlc(0),
            site: self.site_id(),
        }
    }

    /// Commits written data as the new version of `bucket/key`; durable on return.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        headers: ObjectHeaders,
        data: WrittenData,
        cond: &Precondition,
    ) -> Result<Manifest> {
        self.admit(data.inline.as_ref().map_or(0, |i| i.len() as u64))?;
        let mut m = self.new_manifest(bucket, key, headers);
        m.size = data.size;
        m.etag = data.etag();
        m.blocks = data.blocks.clone();
        m.inline = data.inline.clone();
        self.require_bucket(bucket)?;
        let m = self.meta.commit_in(bucket, key, m.last_modified_ms, |tx| {
            tx.check(bucket, key, cond)?;
            tx.install_local(&m)
        })?;
        data.mark_committed();
        Ok(m)
    }

    /// Copies `src` (as read by the caller, who checked its conditions) to `bucket/key`.
    /// The copy shares the source's blocks: no data moves. `headers` replaces the
    /// source's headers when given. Fails with `Conflict` if the source changed since.
    pub fn copy_object(
        &self,
        src: &Manifest,
        bucket: &str,
        key: &str,
        headers: Option<ObjectHeaders>,
        cond: &Precondition,
    ) -> Result<Manifest> {
        self.admit(0)?;
        let mut m = self.new_manifest(bucket, key, headers.unwrap_or_else(|| src.headers.clone()));
        m.size = src.size;
        m.etag = src.etag.clone();
        m.block_size = src.block_size;
        m.blocks = src.blocks.clone();
        m.inline = src.inline.clone();
        m.parts = src.parts.clone();
        self.require_bucket(bucket)?;
        let unchanged =
            |now: Option<Manifest>| now.is_some_and(|now| now.version_id == src.version_id && now.is_live());
        let src_shard = self.meta.shard_of(&src.bucket, &src.key)?;
        let same_shard = !self.meta.partitioned() || Arc::ptr_eq(&src_shard, &self.meta.shard_of(bucket, key)?);
        // A source in another shard is checked just before the commit; the blocks it
        // shares stay meanwhile (GC keeps a block referenced within its grace).
        if !same_shard && !unchanged(src_shard.get(Tree::Objects, &object_key(&src.bucket, &src.key))?) {
            return Err(Error::Conflict);
        }
        self.meta.commit_in(bucket, key, m.last_modified_ms, |tx| {
            if same_shard && !unchanged(tx.get::<Manifest>(Tree::Objects, &object_key(&src.bucket, &src.key))?) {
                return abort(Error::Conflict);
            }
            tx.check(bucket, key, cond)?;
            tx.install_local(&m)
        })
    }

    /// Changes a live object's tags or ACL. The object keeps its version, ETag and
    /// modification time; the change is logged with a new timestamp. With `checked`,
    /// the version the caller's permission was judged on: if another write replaced it
    /// since, nothing changes (Conflict), so a permission on one object never changes
    /// another.
    pub fn update_object(
        &self,
        bucket: &str,
        key: &str,
        checked: Option<&str>,
        change: impl Fn(&mut Manifest) + Sync,
    ) -> Result<Manifest> {
        let site = self.site_id();
        self.meta.commit_in(bucket, key, now_millis(), |tx| {
            let k = object_key(bucket, key);
            let Some(mut m) = tx.get::<Manifest>(Tree::Objects, &k)?.filter(|m| m.is_live()) else {
                return abort(Error::NoSuchKey);
            };
            if checked.is_some_and(|v| v != m.version_id) {
                return abort(Error::Conflict);
            }
            change(&mut m);
            m.hlc = tx.stamp(&object_sync_key(bucket, key))?;
            m.site = site;
            tx.put(Tree::Objects, &k, &m)?;
            tx.index_object(&m)?;
            tx.log(&Change::Object(Box::new(m.clone())))?;
            Ok(m)
        })
    }

    /// Deletes many keys (DeleteObjects), one commit per index shard they fall in.
    /// Missing keys are not errors.
    pub fn delete_objects(&self, bucket: &str, keys: &[String]) -> Result<()> {
        self.require_bucket(bucket)?;
        let site = self.site_id();
        let mut by_shard: std::collections::BTreeMap<u16, Vec<Manifest>> = Default::default();
        for k in keys {
            let t = Manifest::tombstone(bucket, k, Hlc(0), site);
            by_shard.entry(self.meta.shard_index(k)).or_default().push(t);
        }
        for tombs in by_shard.values() {
            self.meta.commit_in(bucket, &tombs[0].key, now_millis(), |tx| {
                for t in tombs {
                    if tx
                        .get::<Manifest>(Tree::Objects, &object_key(bucket, &t.key))?
                        .is_some_and(|m| m.is_live())
                    {
                        tx.install_local(t)?;
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// NoSuchBucket unless the bucket exists.
    pub(crate) fn require_bucket(&self, bucket: &str) -> Result<()> {
        match self.meta.contains(Tree::Buckets, bucket.as_bytes())? {
            true => Ok(()),
            false => Err(Error::NoSuchBucket),
        }
    }

    /// The live version of a key.
    pub fn object(&self, bucket: &str, key: &str) -> Result<Manifest> {
        if self.bucket(bucket)?.is_none() {
            return Err(Error::NoSuchBucket);
        }
        match self
            .meta
            .shard_of(bucket, key)?
            .get::<Manifest>(Tree::Objects, &object_key(bucket, key))?
        {
            Some(m) if m.is_live() => Ok(m),
            _ => Err(Error::NoSuchKey),
        }
    }

    /// Deletes a key: its record goes, and a grave carries the delete to other sites.
    /// Deleting a missing key succeeds, as in S3.
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        let tomb = Manifest::tombstone(bucket, key, Hlc(0), self.site_id());
        self.require_bucket(bucket)?;
        self.meta.commit_in(bucket, key, now_millis(), |tx| {
            match tx.get::<Manifest>(Tree::Objects, &object_key(bucket, key))? {
                Some(m) if m.is_live() => tx.install_local(&tomb).map(drop),
                _ => Ok(()),
            }
        })
    }
}
