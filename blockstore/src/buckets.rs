//! Buckets: named, owned containers of objects.

use crate::engine::{Tree, TxResult};
use crate::error::{Error, Result};
use crate::hlc::{now_millis, Hlc};
use crate::keys::{bucket_key, object_key};
use crate::meta::{abort, decode, Meta, Tx, CLOSED};
use crate::records::{Bucket, Change, Manifest, Part, Upload};
use crate::store::Store;

/// What a bucket holds (all of it, or a bounded batch), scanned under the commit lock:
/// what deleting it removes.
#[derive(Default)]
pub(crate) struct BucketContents {
    /// Live objects (deletes are graves in the sync tree, which stay: see `graves`).
    pub objects: Vec<(Vec<u8>, Manifest)>,
    /// Versions (delete markers included) of keys that have versions (see
    /// `versions`), and those keys' version lists. Their objects records are copies.
    pub versions: Vec<(Vec<u8>, Manifest)>,
    pub version_lists: Vec<Vec<u8>>,
    pub uploads: Vec<(Vec<u8>, Upload)>,
    pub parts: Vec<(Vec<u8>, Part)>,
}

impl BucketContents {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.versions.is_empty() && self.uploads.is_empty()
    }

    /// Every version it holds: objects, and the versions of versioned keys.
    pub fn all_versions(&self) -> impl Iterator<Item = &Manifest> {
        self.objects.iter().chain(&self.versions).map(|(_, m)| m)
    }
}

impl Tx<'_> {
    /// Removes a bucket and all it holds, releasing their blocks, and logs `change`.
    /// The graves of its deleted objects stay until the purge, as on every other site
    /// (a write to a same-named bucket created later is stamped after them anyway).
    pub(crate) fn remove_bucket(&self, name: &str, contents: &BucketContents, change: &Change) -> TxResult<()> {
        self.remove_contents(contents)?;
        self.remove(Tree::Buckets, name.as_bytes())?;
        let (hlc, site) = change.version();
        self.index_grave(bucket_key(name), hlc, site)?;
        self.log(change)
    }

    /// Removes what a bucket holds (or a batch of it), releasing their blocks.
    pub(crate) fn remove_contents(&self, contents: &BucketContents) -> TxResult<()> {
        for (k, m) in &contents.objects {
            self.remove(Tree::Objects, k)?;
            // A versioned key's current copy: its version holds the references.
            if !self.contains(Tree::VersionLists, k)? {
                self.release_refs(&m.blocks)?;
                self.unindex_object(m)?;
            }
        }
        for (k, m) in &contents.versions {
            self.release_refs(&m.blocks)?;
            self.remove(Tree::Versions, k)?;
            self.unindex_object(m)?;
        }
        for k in &contents.version_lists {
            self.remove(Tree::VersionLists, k)?;
        }
        for (k, part) in &contents.parts {
            self.release_refs(&part.blocks)?;
            self.remove(Tree::Parts, k)?;
        }
        for (k, _) in &contents.uploads {
            self.remove(Tree::Uploads, k)?;
        }
        Ok(())
    }
}

/// What one index shard of a bucket holds: its first `limit` objects, then, if there
/// is room, its uploads with all their parts. Call holding the shard's commit lock, so
/// the answer stays true until the commit. Only the shard's own keys count: where
/// shards share one key space (sled), the others' keys are seen and skipped.
pub(crate) fn shard_contents(root: &Meta, shard: &Meta, name: &str, limit: usize) -> Result<BucketContents> {
    let index = shard.shard_id().map(|id| id.index);
    let own = |key: &str| index.is_none_or(|i| root.shard_index(key) == i);
    let prefix = object_key(name, "");
    let mut objects = Vec::new();
    for r in shard.scan_raw(Tree::Objects, &prefix) {
        let (k, v) = r?;
        let m: Manifest = decode(&v)?;
        if objects.len() == limit {
            break;
        }
        if own(&m.key) {
            objects.push((k, m));
        }
    }
    let mut versions = Vec::new();
    let mut version_lists = Vec::new();
    for r in shard.scan_raw(Tree::Versions, &prefix) {
        let (k, v) = r?;
        let m: Manifest = decode(&v)?;
        if objects.len() + versions.len() == limit {
            break;
        }
        if own(&m.key) {
            versions.push((k, m));
        }
    }
    // A key's list goes with its last version (a batch may end within a key's).
    for r in shard.scan_raw(Tree::VersionLists, &prefix) {
        let (k, _) = r?;
        let key = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
        let all_taken =
            versions.len() < limit.saturating_sub(objects.len()) || versions.last().is_some_and(|(_, m)| m.key > key);
        if own(&key) && all_taken {
            version_lists.push(k);
        }
    }
    let mut uploads = Vec::new();
    for r in shard.scan_raw(Tree::Uploads, &prefix) {
        let (k, v) = r?;
        let u: Upload = decode(&v)?;
        if objects.len() + versions.len() + uploads.len() == limit {
            break;
        }
        if own(&u.key) {
            uploads.push((k, u));
        }
    }
    let mut parts = Vec::new();
    for (_, u) in &uploads {
        parts.extend(shard.scan::<Part>(Tree::Parts, u.id.as_bytes())?);
    }
    Ok(BucketContents {
        objects,
        versions,
        version_lists,
        uploads,
        parts,
    })
}

impl Store {
    pub fn create_bucket(&self, name: &str, owner: &str) -> Result<Bucket> {
        self.create_bucket_with(name, owner, |_| {})
    }

    /// A new bucket's record before its settings and its stamp.
    pub fn bucket_template(&self, name: &str, owner: &str) -> Bucket {
        Bucket {
            name: name.to_owned(),
            owner: owner.to_owned(),
            created_ms: now_millis(),
            tags: Vec::new(),
            cors: None,
            ownership: None,
            grants: Vec::new(),
            policy: None,
            public_access_block: None,
            versioning: Default::default(),
            object_lock: None,
            lifecycle: Vec::new(),
            hlc: Hlc(0),
            site: self.site_id(),
        }
    }

    /// Whether a bucket holds no live object and no version (a missing one holds none).
    pub fn bucket_is_empty(&self, name: &str) -> Result<bool> {
        for tree in [Tree::Objects, Tree::Versions] {
            if self
                .meta
                .bucket_scan(name, tree, &object_key(name, ""))?
                .next()
                .transpose()?
                .is_some()
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Creates a bucket whose settings (ownership, ACL) `init` sets before it is stored.
    pub fn create_bucket_with(&self, name: &str, owner: &str, init: impl FnOnce(&mut Bucket)) -> Result<Bucket> {
        self.admit(0)?;
        let mut bucket = self.bucket_template(name, owner);
        let now = bucket.created_ms;
        init(&mut bucket);
        let created = self.meta.commit(now, |tx| {
            if let Some(existing) = tx.get::<Bucket>(Tree::Buckets, name.as_bytes())? {
                return abort(if existing.owner == owner {
                    Error::BucketAlreadyOwnedByYou
                } else {
                    Error::BucketAlreadyExists
                });
            }
            let mut bucket = bucket.clone();
            bucket.hlc = tx.stamp(&bucket_key(name))?;
            tx.put(Tree::Buckets, name.as_bytes(), &bucket)?;
            tx.register_bucket(name)?;
            tx.index_bucket(&bucket)?;
            tx.log(&Change::Bucket(bucket.clone()))?;
            Ok(bucket)
        })?;
        // The shards of a bucket of this name deleted before stay closed until now.
        self.meta.reopen(name, &self.meta.shards_of(name)?)?;
        Ok(created)
    }

    pub fn bucket(&self, name: &str) -> Result<Option<Bucket>> {
        self.meta.get(Tree::Buckets, name.as_bytes())
    }

    /// Changes a bucket's settings (tags, CORS, access) and logs the new record.
    pub fn update_bucket(&self, name: &str, change: impl Fn(&mut Bucket) + Sync) -> Result<Bucket> {
        let site = self.site_id();
        self.meta.commit(now_millis(), |tx| {
            let Some(mut b) = tx.get::<Bucket>(Tree::Buckets, name.as_bytes())? else {
                return abort(Error::NoSuchBucket);
            };
            change(&mut b);
            b.hlc = tx.stamp(&bucket_key(name))?;
            b.site = site;
            tx.put(Tree::Buckets, name.as_bytes(), &b)?;
            tx.index_bucket(&b)?;
            tx.log(&Change::Bucket(b.clone()))?;
            Ok(b)
        })
    }

    /// Buckets owned by `owner`, by name.
    pub fn list_buckets(&self, owner: &str) -> Result<Vec<Bucket>> {
        let all = self.meta.scan::<Bucket>(Tree::Buckets, b"")?;
        Ok(all.into_iter().map(|(_, b)| b).filter(|b| b.owner == owner).collect())
    }

    /// Deletes an empty bucket. Multipart uploads still in progress are aborted, as S3
    /// does. The steps (see `meta::shards`): mark it closing, close each index shard
    /// if it holds no object (removing its uploads), merge the shards' logs, remove
    /// the bucket; a refusal reopens what was closed.
    pub fn delete_bucket(&self, name: &str) -> Result<()> {
        let site = self.site_id();
        let token = self.meta.begin_closing(name)?;
        let shards = self.meta.shards_of(name)?;
        let mut closed = Vec::new();
        let done = (|| {
            for shard in &shards {
                shard.scan_then_commit(|guard| {
                    // One live object or version is enough to refuse: deletes left
                    // no record.
                    let contents = shard_contents(&self.meta, shard, name, usize::MAX)?;
                    if !contents.objects.is_empty() || !contents.versions.is_empty() {
                        return Err(Error::BucketNotEmpty);
                    }
                    shard.commit_locked(guard, now_millis(), |tx| {
                        tx.remove_contents(&contents)?;
                        tx.put_raw(Tree::Meta, CLOSED, b"")
                    })
                })?;
                closed.push(shard.clone());
            }
            for shard in &shards {
                self.meta.merge(shard)?;
            }
            self.meta.commit(now_millis(), |tx| {
                if !self.meta.end_closing(tx, name, &token)? {
                    return abort(Error::OperationAborted);
                }
                let change = Change::BucketDeleted {
                    name: name.to_owned(),
                    hlc: tx.stamp(&bucket_key(name))?,
                    site,
                };
                tx.remove_bucket(name, &BucketContents::default(), &change)
            })
        })();
        if done.is_err() {
            if let Err(e) = self.meta.abandon_closing(name, &token, &closed) {
                tracing::warn!(bucket = name, error = %e, "could not reopen the shards of a bucket whose delete was refused; the next write reopens them");
            }
        }
        done
    }
}
