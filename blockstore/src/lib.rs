//! The storage engine of one Strata site: objects split into content-addressed blocks
//! (SHA-256) plus a manifest; users, buckets, manifests and multipart state in a
//! metadata engine behind one trait (`engine`); an ordered, durable change log written
//! in the same transaction as every change.
//! No HTTP here.

mod audit;
mod block_writers;
mod blocking;
mod blocks;
mod buckets;
pub mod engine;
mod error;
mod gc;
mod graves;
mod hlc;
mod keys;
mod lifecycle;
mod listing;
mod meta;
mod multipart;
mod object_lock;
mod objects;
mod records;
mod replica;
mod scrub;
mod space;
mod store;
mod sync_tree;
mod users;
mod versions;
mod writer;

pub use audit::RecordSummary;
pub use blocking::blocking;
pub use engine::{Engine, Entry, Scan, ShardId, SledEngine, Tree, TxError, TxResult, Txn};
pub use error::{Error, Result};
pub use gc::GcStats;
pub use graves::{PurgeReport, PurgeRule};
pub use hlc::{now_millis, Hlc};
pub use keys::{bucket_key, object_sync_key, user_key, version_sync_key};
pub use lifecycle::{next_expiry, LifecycleReport};
pub use listing::{ListEntry, ListPage, ListQuery};
pub use meta::LogEntry;
pub use multipart::UploadPage;
pub use object_lock::{may_change_retention, may_remove, Remover};
pub use objects::{Deleted, Precondition};
pub use records::*;
pub use replica::Applied;
pub use scrub::{BlockFault, ScrubStep};
pub use space::Space;
pub use store::{RadosConfig, Store, StoreConfig, DEFAULT_INDEX_SHARDS};
pub use sync_tree::{
    group_digests, partition_of, Digest16, PartitionDigest, SyncEntry, SyncPosition, GROUPS, GROUP_SIZE, PARTITIONS,
};
pub use versions::{check_version_id, VersionEntry, VersionPage};
pub use writer::{copy_range, ObjectWriter, WrittenData, INLINE_MAX};
