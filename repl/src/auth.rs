//! Every replication request is signed with SigV4 under the replication credential,
//! with the SHA-256 of its body in `x-amz-content-sha256`, so a receiver knows both
//! who sent it and that the body arrived as sent.
//!
//! Signing uses the aws-sigv4 crate. Verification is the gateway's (it already checks
//! SigV4 for S3), handed in as a [`Verifier`] so there is one SigV4 checker in Strata.

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use sha2::{Digest, Sha256};
use std::time::SystemTime;

/// Region and service in the signature's scope. They only need to agree between sites.
pub const REGION: &str = "strata";
pub const SERVICE: &str = "strata-repl";

/// Checks a request's signature; returns the hex SHA-256 the body must have, or why the
/// request is refused.
pub trait Verifier: Send + Sync + 'static {
    fn verify(&self, parts: &http::request::Parts) -> std::result::Result<String, String>;
}

pub struct Signer {
    identity: Identity,
}

impl Signer {
    pub fn new(access_key: &str, secret_key: &str) -> Self {
        Signer {
            identity: AwsCredentials::new(access_key, secret_key, None, None, "strata-repl").into(),
        }
    }

    /// Adds the signature headers to `req`, whose body is `body`.
    pub fn sign(&self, req: &mut http::Request<impl Sized>, body: &[u8]) -> std::result::Result<(), String> {
        self.sign_hashed(req, hex::encode(Sha256::digest(body)))
    }

    /// [`Signer::sign`] for a body whose hex SHA-256 the caller knows (a block, whose
    /// name is its hash): a hash less over every block sent.
    pub fn sign_hashed(&self, req: &mut http::Request<impl Sized>, payload: String) -> std::result::Result<(), String> {
        req.headers_mut().insert(
            "x-amz-content-sha256",
            payload.parse().map_err(|_| "unreachable: hex is a header value")?,
        );
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(REGION)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let headers = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let host = req
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let uri = format!("http://{host}{}", req.uri());
        let signable = SignableRequest::new(req.method().as_str(), &uri, headers, SignableBody::Precomputed(payload))
            .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }
}

/// The secrets this site signs with. With per-peer secrets (`[repl] peer_secrets`),
/// a link to a peer signs as this site (the access key is its name) with the secret of
/// that pair, and the shared credential is not used: each pair has its own, and one
/// can be revoked without touching the others. Without them, every link signs with
/// the shared credential.
pub struct Credentials {
    /// This site's name: its access key under per-peer secrets.
    pub me: String,
    pub shared: (String, String),
    /// Peer name -> the secret this site and that peer share.
    pub peers: std::collections::BTreeMap<String, String>,
}

impl Credentials {
    pub fn per_peer(&self) -> bool {
        !self.peers.is_empty()
    }

    /// The signer for links to `peer` (None: a peer not named yet, as when connecting).
    pub fn signer_for(&self, peer: Option<&str>) -> std::sync::Arc<Signer> {
        let secret = peer.and_then(|p| self.peers.get(p));
        std::sync::Arc::new(match secret {
            Some(s) => Signer::new(&self.me, s),
            None => Signer::new(&self.shared.0, &self.shared.1),
        })
    }
}
