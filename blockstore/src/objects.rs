//! Objects: committing a written object as the key's current version, reading and
//! deleting it.

use crate::buckets::object_key;
use crate::error::{Error, Result};
use crate::hlc::now_millis;
use crate::meta::{abort, Tx, TxResult};
use crate::records::{Change, Manifest, ObjectHeaders, ObjectState};
use crate::store::Store;
use crate::writer::WrittenData;

impl Tx<'_> {
    /// Makes `m` the current version of its key: it takes references on its blocks, the
    /// version it replaces releases its own, and the change is logged.
    pub(crate) fn install_manifest(&self, m: &Manifest) -> TxResult<()> {
        if self.buckets.get(m.bucket.as_bytes())?.is_none() {
            return abort(Error::NoSuchBucket);
        }
        let k = object_key(&m.bucket, &m.key);
        if let Some(old) = self.get::<Manifest>(self.objects, &k)? {
            self.release_refs(&old.blocks)?;
        }
        self.add_refs(&m.blocks)?;
        self.put(self.objects, &k, m)?;
        self.log(&Change::Object(Box::new(m.clone())))
    }
}

impl Store {
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
            parts: Vec::new(),
            hlc: self.clock.now(),
            site: self.site_id(),
        }
    }

    /// Commits written data as the new version of `bucket/key`; durable on return.
    pub fn put_object(&self, bucket: &str, key: &str, headers: ObjectHeaders, data: WrittenData) -> Result<Manifest> {
        let mut m = self.new_manifest(bucket, key, headers);
        m.size = data.size;
        m.etag = data.etag();
        m.blocks = data.blocks.clone();
        self.meta.commit(m.last_modified_ms, |tx| tx.install_manifest(&m))?;
        data.mark_committed();
        Ok(m)
    }

    /// The live version of a key.
    pub fn object(&self, bucket: &str, key: &str) -> Result<Manifest> {
        if self.bucket(bucket)?.is_none() {
            return Err(Error::NoSuchBucket);
        }
        match self
            .meta
            .get::<Manifest>(&self.meta.t.objects, &object_key(bucket, key))?
        {
            Some(m) if m.is_live() => Ok(m),
            _ => Err(Error::NoSuchKey),
        }
    }

    /// Deletes a key by writing a tombstone. Deleting a missing key succeeds, as in S3.
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        let mut tomb = self.new_manifest(bucket, key, ObjectHeaders::default());
        tomb.state = ObjectState::Deleted;
        self.meta.commit(tomb.last_modified_ms, |tx| {
            if tx.buckets.get(bucket.as_bytes())?.is_none() {
                return abort(Error::NoSuchBucket);
            }
            match tx.get::<Manifest>(tx.objects, &object_key(bucket, key))? {
                Some(m) if m.is_live() => tx.install_manifest(&tomb),
                _ => Ok(()),
            }
        })
    }
}
