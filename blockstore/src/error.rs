//! The one error type of the storage engine. The gateway maps each variant to an S3 code.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata database error: {0}")]
    Db(#[from] sled::Error),
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
}

pub type Result<T> = std::result::Result<T, Error>;

/// sled transactions report our own aborts through this wrapper.
impl From<sled::transaction::TransactionError<Error>> for Error {
    fn from(e: sled::transaction::TransactionError<Error>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => Error::Db(e),
        }
    }
}
