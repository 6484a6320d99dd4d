//! The one error type of the storage engine. The gateway maps each variant to an S3 code.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(std::io::Error),
    /// New data does not fit: the disk is full, or its free space is below the reserve
    /// kept for metadata. The reason says which.
    #[error("insufficient storage: {0}")]
    InsufficientStorage(String),
    /// A metadata flush failed: what was applied may not be durable, so the store takes
    /// no more changes and the site must restart (recovering its last durable state).
    #[error("the metadata store failed to persist a change and stopped: {0}")]
    Failed(String),
    /// The metadata engine failed (its own error inside).
    #[error("metadata database error: {0}")]
    Db(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A Ceph RADOS operation failed (librados' errno), or librados cannot be loaded.
    #[error("RADOS: {op}: {}", std::io::Error::from_raw_os_error(*errno))]
    Rados { op: String, errno: i32 },
    /// Another gateway committed between a scan and the commit that relied on it: the
    /// store reads again (`Meta::scan_then_commit`); it never reaches a client.
    #[error("the metadata changed while it was read; read again")]
    ReadAgain,
    /// A new object or upload met its index shard closed (`meta::shards`): the store
    /// answers NoSuchBucket or OperationAborted instead; it never reaches a client.
    #[error("the bucket's index shard is closed")]
    ShardClosed,
    /// Another operation on the bucket is under way (a delete): try again.
    #[error("a conflicting operation is in progress on this bucket; try again")]
    OperationAborted,
    #[error("metadata record could not be decoded: {0}")]
    Codec(#[from] bincode::Error),
    #[error("block {0} is missing or corrupt")]
    BlockCorrupt(String),
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("no such key")]
    NoSuchKey,
    #[error("no such upload")]
    NoSuchUpload,
    #[error("no such version")]
    NoSuchVersion,
    /// Object Lock keeps the version (its retention or legal hold, and why).
    #[error("the version is protected by Object Lock: {0}")]
    ObjectLocked(String),
    /// The version read is a delete marker: the key's current one (`named` false: the
    /// key reads as deleted, 404) or the one asked for by id (405), as S3 answers.
    #[error("the version is a delete marker")]
    DeleteMarker { version_id: String, named: bool },
    #[error("no such user")]
    NoSuchUser,
    #[error("user or access key already exists")]
    UserExists,
    #[error("bucket already exists")]
    BucketAlreadyExists,
    #[error("bucket already owned by you")]
    BucketAlreadyOwnedByYou,
    #[error("bucket is not empty")]
    BucketNotEmpty,
    #[error("part {0} was not uploaded or its ETag does not match")]
    InvalidPart(u32),
    #[error("part list is not in ascending order")]
    InvalidPartOrder,
    #[error("part {0} is smaller than the minimum part size")]
    EntityTooSmall(u32),
    #[error("a write precondition does not hold")]
    PreconditionFailed,
    #[error("the source object changed while it was being copied")]
    Conflict,
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A blocking task died (it panicked, or the runtime is shutting down).
    #[error("a storage task failed: {0}")]
    TaskFailed(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<std::io::Error> for Error {
    /// A full disk is a client-visible condition (507), not an internal error.
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::StorageFull {
            Error::InsufficientStorage(format!("the disk is full ({e})"))
        } else {
            Error::Io(e)
        }
    }
}
