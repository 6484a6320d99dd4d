//! The one error type of replication.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReplError {
    #[error(transparent)]
    Store(#[from] strata_blockstore::Error),
    #[error("cannot reach {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("link to {0} failed: {1}")]
    Http(String, hyper::Error),
    #[error("{0} did not answer within {1} s")]
    Timeout(String, u64),
    #[error("{peer} refused the request ({status}): {reason}")]
    Refused { peer: String, status: u16, reason: String },
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("no peer site named {0}")]
    UnknownPeer(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, ReplError>;
