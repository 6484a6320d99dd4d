//! How records are named: their keys in the object tree, and their sync keys (the
//! names fullsync, dirty sets and the change log use), including each version's.

use crate::hlc::Hlc;
pub use crate::records::{parse_version_id, version_id, NULL_VERSION};
use crate::records::{Manifest, SiteId};

/// `bucket/key`: an object's key in the objects tree (and the prefix of its uploads).
pub fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1 + key.len());
    k.extend_from_slice(bucket.as_bytes());
    k.push(b'/');
    k.extend_from_slice(key.as_bytes());
    k
}

pub fn user_key(name: &str) -> String {
    format!("user/{name}")
}

pub fn bucket_key(name: &str) -> String {
    format!("bucket/{name}")
}

pub fn object_sync_key(bucket: &str, key: &str) -> String {
    format!("object/{bucket}/{key}")
}

/// The sync key of one version of an object: `object/bucket/key` for its null version
/// (the only one an unversioned key has), `object/bucket/key\0<id>` for the others.
/// Object keys hold no NUL (as in the uploads tree), so the split is unambiguous.
pub fn version_sync_key(bucket: &str, key: &str, version_id: &str) -> String {
    if version_id == NULL_VERSION {
        return object_sync_key(bucket, key);
    }
    format!("object/{bucket}/{key}\0{version_id}")
}

/// An object sync key's bucket, key and version id.
pub fn split_object_sync_key(sync_key: &str) -> Option<(&str, &str, &str)> {
    let (bucket, rest) = sync_key.strip_prefix("object/")?.split_once('/')?;
    Some(match rest.split_once('\0') {
        Some((key, version)) => (bucket, key, version),
        None => (bucket, rest, NULL_VERSION),
    })
}

impl Manifest {
    /// The name of this version in the sync tree, dirty sets and the change log.
    pub fn sync_key(&self) -> String {
        version_sync_key(&self.bucket, &self.key, &self.version_id)
    }
}

/// `bucket/key\0` then (MAX - hlc, MAX - site): a key's versions in the versions tree,
/// newest first under one prefix.
pub fn version_key(bucket: &str, key: &str, created: (Hlc, SiteId)) -> Vec<u8> {
    let mut k = versions_prefix(bucket, key);
    k.extend_from_slice(&(u64::MAX - created.0 .0).to_be_bytes());
    k.extend_from_slice(&(u64::MAX - created.1 .0).to_be_bytes());
    k
}

/// The prefix of every version of `bucket/key` in the versions tree.
pub fn versions_prefix(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(0);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_and_sync_keys_round_trip() {
        let created = (Hlc(0x1234_5678_9abc), SiteId(u64::MAX));
        let id = version_id(created);
        assert_eq!(parse_version_id(&id), Some(created));
        assert_eq!(parse_version_id(NULL_VERSION), None);
        assert_eq!(
            split_object_sync_key(&version_sync_key("b", "a/k", &id)),
            Some(("b", "a/k", id.as_str()))
        );
        assert_eq!(split_object_sync_key("object/b/a/k"), Some(("b", "a/k", NULL_VERSION)));
        // Newer versions sort first under the key's prefix.
        let older = version_key("b", "k", (Hlc(5), SiteId(9)));
        let newer = version_key("b", "k", (Hlc(6), SiteId(1)));
        assert!(newer < older && newer.starts_with(&versions_prefix("b", "k")));
    }
}
