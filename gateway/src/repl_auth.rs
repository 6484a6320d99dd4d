//! Checks the signatures of replication requests with the S3 API's SigV4 verifier, so
//! Strata has one SigV4 implementation. Only a replication credential is accepted (the
//! shared one, or with per-peer secrets the pair's, named by the peer's site name), and
//! only header signatures that cover the body's SHA-256.

use crate::s3::authn;
use crate::s3::error::S3Error;
use crate::s3::signed::{Payload, SignedRequest};

pub struct ReplAuth {
    pub access_key: String,
    pub secret_key: String,
    /// Peer site name -> the pair's secret. When set, only these are accepted.
    pub peer_secrets: std::collections::BTreeMap<String, String>,
}

impl strata_repl::Verifier for ReplAuth {
    fn verify(&self, parts: &http::request::Parts) -> Result<String, String> {
        if !parts.headers.contains_key("authorization") {
            return Err("the request is not signed".into());
        }
        let req = SignedRequest {
            service: strata_repl::SERVICE,
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
        };
        let now = strata_blockstore::now_millis() as i64 / 1000;
        let per_peer = !self.peer_secrets.is_empty();
        let secret_of = |ak: &str| match per_peer {
            true => self.peer_secrets.get(ak).cloned(),
            false => (ak == self.access_key).then(|| self.secret_key.clone()),
        };
        match authn::verify(&req, now, None, secret_of) {
            Ok(v) => match v.payload {
                Payload::Sha256(h) => Ok(h),
                _ => Err("replication requests must sign their body's SHA-256".into()),
            },
            Err(S3Error::InvalidAccessKeyId) if per_peer => {
                Err("this site holds no secret for that peer (revoked, or never set in [repl] peer_secrets)".into())
            }
            Err(S3Error::InvalidAccessKeyId) => Err("unknown replication access key".into()),
            Err(S3Error::SignatureDoesNotMatch) => {
                Err("the signature does not match (wrong replication secret?)".into())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}
