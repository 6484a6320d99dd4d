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
    /// live objects only. A tombstone needs no bucket (one deleted since keeps it).
    pub(crate) fn install_manifest(&self, m: &Manifest) -> TxResult<()> {
        if m.is_live() && !self.contains(Tree::Buckets, m.bucket.as_bytes())? {
            return abort(Error::NoSuchBucket);
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
        let m = self.meta.commit(m.last_modified_ms, |tx| {
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
        self.meta.commit(m.last_modified_ms, |tx| {
            match tx.get::<Manifest>(Tree::Objects, &object_key(&src.bucket, &src.key))? {
                Some(now) if now.version_id == src.version_id && now.is_live() => {}
                _ => return abort(Error::Conflict),
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
        self.meta.commit(now_millis(), |tx| {
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

    /// Deletes many keys in one commit (DeleteObjects). Missing keys are not errors.
    pub fn delete_objects(&self, bucket: &str, keys: &[String]) -> Result<()> {
        let site = self.site_id();
        let tombs: Vec<Manifest> = keys
            .iter()
            .map(|k| Manifest::tombstone(bucket, k, Hlc(0), site))
            .collect();
        self.meta.commit(now_millis(), |tx| {
            if !tx.contains(Tree::Buckets, bucket.as_bytes())? {
                return abort(Error::NoSuchBucket);
            }
            for t in &tombs {
                if tx
                    .get::<Manifest>(Tree::Objects, &object_key(bucket, &t.key))?
                    .is_some_and(|m| m.is_live())
                {
                    tx.install_local(t)?;
                }
            }
            Ok(())
        })
    }

    /// The live version of a key.
    pub fn object(&self, bucket: &str, key: &str) -> Result<Manifest> {
        if self.bucket(bucket)?.is_none() {
            return Err(Error::NoSuchBucket);
        }
        match self.meta.get::<Manifest>(Tree::Objects, &object_key(bucket, key))? {
            Some(m) if m.is_live() => Ok(m),
            _ => Err(Error::NoSuchKey),
        }
    }

    /// Deletes a key: its record goes, and a grave carries the delete to other sites.
    /// Deleting a missing key succeeds, as in S3.
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        let tomb = Manifest::tombstone(bucket, key, Hlc(0), self.site_id());
        self.meta.commit(now_millis(), |tx| {
            if !tx.contains(Tree::Buckets, bucket.as_bytes())? {
                return abort(Error::NoSuchBucket);
            }
            match tx.get::<Manifest>(Tree::Objects, &object_key(bucket, key))? {
                Some(m) if m.is_live() => tx.install_local(&tomb).map(drop),
                _ => Ok(()),
            }
        })
    }
}
