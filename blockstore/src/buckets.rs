//! Buckets: named, owned containers of objects.

use crate::error::{Error, Result};
use crate::hlc::now_millis;
use crate::meta::{abort, decode};
use crate::records::{Bucket, Change, Manifest, Part, Upload};
use crate::store::Store;

pub(crate) fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1 + key.len());
    k.extend_from_slice(bucket.as_bytes());
    k.push(b'/');
    k.extend_from_slice(key.as_bytes());
    k
}

impl Store {
    pub fn create_bucket(&self, name: &str, owner: &str) -> Result<Bucket> {
        let now = now_millis();
        let bucket = Bucket {
            name: name.to_owned(),
            owner: owner.to_owned(),
            created_ms: now,
            tags: Vec::new(),
            cors: None,
            hlc: self.clock.now(),
            site: self.site_id(),
        };
        self.meta.commit(now, |tx| {
            if let Some(existing) = tx.get::<Bucket>(tx.buckets, name.as_bytes())? {
                return abort(if existing.owner == owner {
                    Error::BucketAlreadyOwnedByYou
                } else {
                    Error::BucketAlreadyExists
                });
            }
            tx.put(tx.buckets, name.as_bytes(), &bucket)?;
            tx.log(&Change::Bucket(bucket.clone()))
        })?;
        Ok(bucket)
    }

    pub fn bucket(&self, name: &str) -> Result<Option<Bucket>> {
        self.meta.get(&self.meta.t.buckets, name.as_bytes())
    }

    /// Changes a bucket's settings (tags, CORS) and logs the new record.
    pub fn update_bucket(&self, name: &str, change: impl Fn(&mut Bucket)) -> Result<Bucket> {
        let hlc = self.clock.now();
        let site = self.site_id();
        self.meta.commit(now_millis(), |tx| {
            let Some(mut b) = tx.get::<Bucket>(tx.buckets, name.as_bytes())? else {
                return abort(Error::NoSuchBucket);
            };
            change(&mut b);
            b.hlc = hlc;
            b.site = site;
            tx.put(tx.buckets, name.as_bytes(), &b)?;
            tx.log(&Change::Bucket(b.clone()))?;
            Ok(b)
        })
    }

    /// Buckets owned by `owner`, by name.
    pub fn list_buckets(&self, owner: &str) -> Result<Vec<Bucket>> {
        let mut out = Vec::new();
        for r in self.meta.t.buckets.iter() {
            let b: Bucket = decode(&r?.1)?;
            if b.owner == owner {
                out.push(b);
            }
        }
        Ok(out)
    }

    /// Deletes an empty bucket. Multipart uploads still in progress are aborted, as S3 does.
    pub fn delete_bucket(&self, name: &str) -> Result<()> {
        let hlc = self.clock.now();
        let site = self.site_id();
        let guard = self.meta.lock();
        if self.bucket(name)?.is_none() {
            return Err(Error::NoSuchBucket);
        }
        let prefix = object_key(name, "");
        let objects = self.meta.scan::<Manifest>(&self.meta.t.objects, &prefix)?;
        if objects.iter().any(|(_, m)| m.is_live()) {
            return Err(Error::BucketNotEmpty);
        }
        let uploads = self.meta.scan::<Upload>(&self.meta.t.uploads, &prefix)?;
        let mut parts = Vec::new();
        for (_, u) in &uploads {
            parts.extend(self.meta.scan::<Part>(&self.meta.t.parts, u.id.as_bytes())?);
        }
        self.meta.commit_locked(guard, now_millis(), |tx| {
            // Tombstones of a deleted bucket must not shadow a same-named bucket later.
            for (k, _) in &objects {
                tx.objects.remove(k)?;
            }
            for (k, part) in &parts {
                tx.release_refs(&part.blocks)?;
                tx.parts.remove(k)?;
            }
            for (k, _) in &uploads {
                tx.uploads.remove(k)?;
            }
            tx.remove(tx.buckets, name.as_bytes())?;
            tx.log(&Change::BucketDeleted {
                name: name.to_owned(),
                hlc,
                site,
            })
        })
    }
}
