//! Objects: committing a written object as the key's current version, reading and
//! deleting it.

use crate::engine::{Tree, TxResult};
use crate::error::{Error, Result};
use crate::hlc::{now_millis, Hlc};
use crate::keys::{object_key, NULL_VERSION};
use crate::meta::{abort, Tx};
use crate::records::{Change, Manifest, ObjectHeaders, ObjectState, SiteId, Versioning};
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

    /// Makes `m` the only version of an unversioned key, for [`Tx::install`] (which
    /// has checked its shard is open): it takes references on its blocks, the version
    /// it replaces releases its own, and the change is logged. A tombstone removes the
    /// record and leaves a grave in the sync tree: the objects tree holds live objects
    /// only.
    pub(crate) fn install_manifest(&self, m: &Manifest) -> TxResult<()> {
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
    /// A new version of `bucket/key`, to be stamped by [`Tx::install_new`] when it
    /// commits: with an id of its own if the bucket's versioning is enabled, else the
    /// null version.
    /// NoSuchBucket if the bucket is missing: the one read of its record a write makes
    /// before its commit.
    pub(crate) fn new_manifest(&self, bucket: &str, key: &str, headers: ObjectHeaders) -> Result<Manifest> {
        let versioning = self.versioning_of(bucket)?;
        Ok(Manifest {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: match versioning {
                Versioning::Enabled => String::new(),
                _ => NULL_VERSION.to_owned(),
            },
            created: (Hlc(0), self.site_id()),
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
        })
    }

    /// The bucket's versioning state; NoSuchBucket if it is missing.
    pub(crate) fn versioning_of(&self, bucket: &str) -> Result<Versioning> {
        Ok(self.bucket(bucket)?.ok_or(Error::NoSuchBucket)?.versioning)
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
        let mut m = self.new_manifest(bucket, key, headers)?;
        m.size = data.size;
        m.etag = data.etag();
        m.blocks = data.blocks.clone();
        m.inline = data.inline.clone();
        let site = self.site_id();
        let m = self.meta.commit_in(bucket, key, m.last_modified_ms, |tx| {
            tx.check(bucket, key, cond)?;
            tx.install_new(&m, site)
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
        let mut m = self.new_manifest(bucket, key, headers.unwrap_or_else(|| src.headers.clone()))?;
        m.size = src.size;
        m.etag = src.etag.clone();
        m.block_size = src.block_size;
        m.blocks = src.blocks.clone();
        m.inline = src.inline.clone();
        m.parts = src.parts.clone();
        let site = self.site_id();
        // The source version read is still there (a version is never rewritten with
        // other data: the same `created` is the same bytes).
        let unchanged = |now: Option<Manifest>| now.is_some_and(|now| now.created == src.created && now.is_live());
        let src_shard = self.meta.shard_of(&src.bucket, &src.key)?;
        let same_shard = !self.meta.partitioned() || Arc::ptr_eq(&src_shard, &self.meta.shard_of(bucket, key)?);
        // A source in another shard is checked just before the commit; the blocks it
        // shares stay meanwhile (GC keeps a block referenced within its grace).
        if !same_shard && !unchanged(self.stored_version(&src.bucket, &src.key, Some(&src.version_id))?) {
            return Err(Error::Conflict);
        }
        self.meta.commit_in(bucket, key, m.last_modified_ms, |tx| {
            if same_shard && !unchanged(tx.version(&src.bucket, &src.key, Some(&src.version_id))?) {
                return abort(Error::Conflict);
            }
            tx.check(bucket, key, cond)?;
            tx.install_new(&m, site)
        })
    }

    /// Changes a version's tags or ACL (`version`: the one named, or the current one).
    /// The version keeps its id, ETag and modification time; the change is logged with
    /// a new timestamp. With `checked`, the version the caller's permission was judged
    /// on (its `created`): if another write replaced it since, nothing changes
    /// (Conflict), so a permission on one object never changes another.
    pub fn update_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        checked: Option<(Hlc, SiteId)>,
        change: impl Fn(&mut Manifest) + Sync,
    ) -> Result<Manifest> {
        if let Some(id) = version {
            crate::versions::check_version_id(id)?;
        }
        let site = self.site_id();
        self.meta.commit_in(bucket, key, now_millis(), |tx| {
            let Some(mut m) = tx.version(bucket, key, version)?.filter(|m| m.is_live()) else {
                return abort(match version {
                    Some(_) => Error::NoSuchVersion,
                    None => Error::NoSuchKey,
                });
            };
            if checked.is_some_and(|v| v != m.created) {
                return abort(Error::Conflict);
            }
            change(&mut m);
            tx.install_change(&m, site)
        })
    }

    /// Deletes many keys (DeleteObjects), one commit per index shard they fall in, as
    /// [`Store::delete_object`] deletes one. Missing keys are not errors.
    pub fn delete_objects(&self, bucket: &str, keys: &[String]) -> Result<Vec<Deleted>> {
        let site = self.site_id();
        let marker = self.delete_template(bucket)?;
        let mut by_shard: std::collections::BTreeMap<u16, Vec<&String>> = Default::default();
        for k in keys {
            by_shard.entry(self.meta.shard_index(k)).or_default().push(k);
        }
        let mut out = Vec::new();
        for shard_keys in by_shard.values() {
            out.extend(self.meta.commit_in(bucket, shard_keys[0], now_millis(), |tx| {
                shard_keys
                    .iter()
                    .map(|k| tx.delete_current(bucket, k, &marker, site))
                    .collect::<TxResult<Vec<_>>>()
            })?);
        }
        Ok(out)
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
        self.object_version(bucket, key, None)
    }

    /// Deletes a key: in a bucket never versioned its record goes, and a grave carries
    /// the delete to other sites; in a versioned bucket a delete marker becomes its
    /// current version (the null one when versioning is suspended). Deleting a missing
    /// key succeeds, as in S3.
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<Deleted> {
        self.delete_object_if(bucket, key, None)
    }

    /// [`Store::delete_object`], if the current version's ETag is `if_match` (`*`: any).
    pub fn delete_object_if(&self, bucket: &str, key: &str, if_match: Option<&str>) -> Result<Deleted> {
        let site = self.site_id();
        let marker = self.delete_template(bucket)?;
        let cond = if_match.map_or(Precondition::None, |e| Precondition::ETag(e.to_owned()));
        self.meta.commit_in(bucket, key, now_millis(), |tx| {
            tx.check(bucket, key, &cond)?;
            tx.delete_current(bucket, key, &marker, site)
        })
    }

    /// What a plain delete in `bucket` installs, its key and stamp still to set: a
    /// delete marker when the bucket is versioned, else the null version's delete.
    /// NoSuchBucket if the bucket is missing.
    fn delete_template(&self, bucket: &str) -> Result<Manifest> {
        let mut t = Manifest::tombstone(bucket, "", Hlc(0), self.site_id());
        match self.versioning_of(bucket)? {
            Versioning::Unversioned => {}
            Versioning::Enabled => {
                t.state = ObjectState::DeleteMarker;
                t.version_id = String::new();
            }
            Versioning::Suspended => t.state = ObjectState::DeleteMarker,
        }
        Ok(t)
    }
}

/// What a plain delete did: the delete marker it made, if it made one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    pub key: String,
    pub marker_version: Option<String>,
}

impl Tx<'_> {
    /// A plain delete of `key` (DeleteObject without a version id) with `template`
    /// (see `Store::delete_template`).
    fn delete_current(&self, bucket: &str, key: &str, template: &Manifest, site: SiteId) -> TxResult<Deleted> {
        let mut t = template.clone();
        t.key = key.to_owned();
        let mut done = Deleted {
            key: key.to_owned(),
            marker_version: None,
        };
        if t.is_gone() {
            // Unversioned: a missing key needs no grave.
            if self.get::<Manifest>(Tree::Objects, &object_key(bucket, key))?.is_some() {
                self.install_new(&t, site)?;
            }
            return Ok(done);
        }
        let m = self.install_new(&t, site)?;
        done.marker_version = Some(m.version_id);
        Ok(done)
    }
}
