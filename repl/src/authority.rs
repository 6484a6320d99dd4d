//! The namespace authority: the one site of a replication group that decides user and
//! bucket creation, deletion and ownership, as Ceph RGW's metadata master zone and Riak
//! CS's stanchion do. Object writes stay multi-master; the namespace does not, so two
//! users can never both be told a bucket name is theirs.
//!
//! Which site it is comes from `[repl] authority` and can be moved by
//! `strata repl authority SITE` (failover). A move takes a higher epoch; every hello
//! carries this site's claim both ways, and a site adopts a claim with a higher epoch
//! than its own, so an old authority that comes back follows the new one at its first
//! reconnect. A site with no authority configured decides its own namespace (a single
//! site, or a group that has not chosen one).

use serde::{Deserialize, Serialize};
use strata_blockstore::{bucket_key, user_key, Bucket, Change, Error as StoreError, Store};

/// Which site decides the namespace, and the epoch of that decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorityClaim {
    pub site: String,
    pub epoch: u64,
}

/// A namespace operation made at a site that is not the authority, forwarded to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum NamespaceOp {
    /// The bucket as the requesting site would create it (name, owner, settings).
    CreateBucket(Box<Bucket>),
    DeleteBucket {
        name: String,
    },
    CreateUser {
        name: String,
        access_key: Option<String>,
        secret_key: Option<String>,
    },
    DeleteUser {
        name: String,
    },
    RotateUserKey {
        name: String,
        /// Seconds the old key is still accepted.
        #[serde(default)]
        grace_secs: u64,
    },
}

/// Why the authority refused an operation: the store error it met, by name, so the
/// requesting site answers its client exactly as the authority would have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    NoSuchBucket,
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    UserExists,
    NoSuchUser,
    Invalid(String),
    Other(String),
}

impl From<&StoreError> for Refusal {
    fn from(e: &StoreError) -> Self {
        match e {
            StoreError::NoSuchBucket => Refusal::NoSuchBucket,
            StoreError::BucketAlreadyExists => Refusal::BucketAlreadyExists,
            StoreError::BucketAlreadyOwnedByYou => Refusal::BucketAlreadyOwnedByYou,
            StoreError::BucketNotEmpty => Refusal::BucketNotEmpty,
            StoreError::UserExists => Refusal::UserExists,
            StoreError::NoSuchUser => Refusal::NoSuchUser,
            StoreError::InvalidArgument(m) => Refusal::Invalid(m.clone()),
            other => Refusal::Other(other.to_string()),
        }
    }
}

impl From<Refusal> for StoreError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NoSuchBucket => StoreError::NoSuchBucket,
            Refusal::BucketAlreadyExists => StoreError::BucketAlreadyExists,
            Refusal::BucketAlreadyOwnedByYou => StoreError::BucketAlreadyOwnedByYou,
            Refusal::BucketNotEmpty => StoreError::BucketNotEmpty,
            Refusal::UserExists => StoreError::UserExists,
            Refusal::NoSuchUser => StoreError::NoSuchUser,
            Refusal::Invalid(m) => StoreError::InvalidArgument(m),
            Refusal::Other(m) => StoreError::InvalidArgument(format!("the namespace authority refused: {m}")),
        }
    }
}

/// Makes `op` on the authority's own store: the changes it committed (which also
/// replicate from here as any change does), or the refusal.
pub(crate) fn decide(store: &Store, op: NamespaceOp) -> Result<Vec<Change>, Refusal> {
    let refused = |e: StoreError| Refusal::from(&e);
    let now_of = |key: String| -> Result<Vec<Change>, Refusal> {
        Ok(store.current_change(&key).map_err(refused)?.into_iter().collect())
    };
    match op {
        NamespaceOp::CreateBucket(b) => {
            let made = store
                .create_bucket_with(&b.name, &b.owner, |nb| {
                    nb.ownership = b.ownership;
                    nb.grants = b.grants.clone();
                })
                .map_err(refused)?;
            Ok(vec![Change::Bucket(made)])
        }
        NamespaceOp::DeleteBucket { name } => {
            store.delete_bucket(&name).map_err(refused)?;
            now_of(bucket_key(&name))
        }
        NamespaceOp::CreateUser {
            name,
            access_key,
            secret_key,
        } => {
            let u = store
                .create_user(&name, access_key.as_deref(), secret_key.as_deref())
                .map_err(refused)?;
            Ok(vec![Change::User(u)])
        }
        NamespaceOp::DeleteUser { name } => {
            store.delete_user(&name).map_err(refused)?;
            now_of(user_key(&name))
        }
        NamespaceOp::RotateUserKey { name, grace_secs } => store
            .rotate_user_key_changes(&name, std::time::Duration::from_secs(grace_secs))
            .map_err(refused),
    }
}
