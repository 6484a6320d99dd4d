//! How records are named: their keys in the object tree, and their sync keys (the
//! names fullsync, dirty sets and the change log use). A leaf.

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
