//! The one error type of replication.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReplError {
    #[error(transparent)]
    Store(#[from] strata_blockstore::Error),
    #[error("cannot reach {0}: {1}")]
    Connect(String, std::io::Error),
    /// The TLS handshake failed: an untrusted, expired or wrong-name certificate, a
    /// peer that speaks plain HTTP, a refused client certificate.
    #[error("TLS with {0} failed: {1}")]
    Tls(String, String),
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
    /// A source's changes are stamped too far ahead of this site's clock.
    #[error("{0}")]
    ClockSkew(String),
    /// A namespace operation needs the authority, which cannot be reached now.
    #[error("{0}")]
    AuthorityUnreachable(String),
}

pub type Result<T> = std::result::Result<T, ReplError>;

impl ReplError {
    /// The HTTP status this error answers with, on the replication port and on the
    /// admin API alike: the one mapping of replication errors to HTTP.
    pub fn http_status(&self) -> u16 {
        match self {
            ReplError::UnknownPeer(_) => 404,
            // The two sites (or the operator's command and this site's state) disagree.
            ReplError::Invalid(_) | ReplError::Protocol(_) | ReplError::ClockSkew(_) => 409,
            // The other site could not be reached or refused: this site is a gateway.
            ReplError::Connect(..)
            | ReplError::Tls(..)
            | ReplError::Http(..)
            | ReplError::Timeout(..)
            | ReplError::Refused { .. } => 502,
            // This site is full: it takes no new data until space is freed.
            ReplError::Store(strata_blockstore::Error::InsufficientStorage(_)) => 507,
            ReplError::Store(strata_blockstore::Error::Failed(_)) | ReplError::AuthorityUnreachable(_) => 503,
            ReplError::Store(_) => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_one_status() {
        assert_eq!(ReplError::UnknownPeer("b".into()).http_status(), 404);
        assert_eq!(ReplError::Protocol("v2".into()).http_status(), 409);
        assert_eq!(ReplError::Invalid("no".into()).http_status(), 409);
        assert_eq!(ReplError::Timeout("b".into(), 30).http_status(), 502);
        let refused = ReplError::Refused {
            peer: "b".into(),
            status: 403,
            reason: "credential".into(),
        };
        assert_eq!(refused.http_status(), 502);
        assert_eq!(ReplError::Store(strata_blockstore::Error::NoSuchKey).http_status(), 500);
        assert_eq!(ReplError::AuthorityUnreachable("a".into()).http_status(), 503);
    }
}
