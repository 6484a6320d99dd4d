//! An authenticated S3 request, addressed: which bucket and key it names (path-style or
//! virtual-host-style) and its query parameters.

use crate::s3::error::{S3Error, S3Result};
use crate::s3::signed::{query_pairs, Payload};
use crate::s3::sigv4::ChunkVerifier;
use axum::body::Body;
use http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;
use strata_blockstore::{Bucket, Manifest, User};

pub const MAX_KEY_BYTES: usize = 1024;
/// S3 allows 8 KiB of request headers; we allow twice that before refusing.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses requests whose headers together exceed [`MAX_HEADER_BYTES`].
pub fn check_header_size(h: &HeaderMap) -> S3Result<()> {
    let total: usize = h.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if total > MAX_HEADER_BYTES {
        return Err(S3Error::HeadersTooLarge {
            limit: MAX_HEADER_BYTES,
        });
    }
    Ok(())
}

pub struct S3Request {
    pub method: Method,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    /// The signed-in user; `None` for an anonymous (unsigned) request.
    pub user: Option<User>,
    /// Where the request came from, when the server knows.
    pub client_ip: Option<std::net::IpAddr>,
    /// It came over TLS.
    pub secure: bool,
    pub payload: Payload,
    pub chunks: Option<ChunkVerifier>,
    pub body: Body,
    /// The bucket the access check read, for the handler.
    pub bucket_record: Option<Bucket>,
    /// The object the access check read (object-scoped operations), for the handler.
    pub object: Option<Manifest>,
}

impl S3Request {
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The bucket the access check read and allowed.
    pub fn authorized_bucket(&self) -> S3Result<&Bucket> {
        self.bucket_record
            .as_ref()
            .ok_or(S3Error::Store(strata_blockstore::Error::NoSuchBucket))
    }

    /// The object the access check read and allowed.
    pub fn take_object(&mut self) -> S3Result<Manifest> {
        self.object
            .take()
            .ok_or(S3Error::Store(strata_blockstore::Error::NoSuchKey))
    }

    /// The signed-in user's name, the owner of what it creates; anonymous writers
    /// (allowed by a public-read-write grant) leave ownership to the bucket owner.
    pub fn user_name(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.name.as_str())
    }

    pub fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or_default()
    }

    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or_default()
    }

    /// Query parameters other than the ones an operation knows and the ones every
    /// request may carry; used to answer NotImplemented for subresources we lack.
    pub fn unknown_params(&self, known: &[&str]) -> Option<&str> {
        // x-id is the SDKs' operation hint; the rest are SigV2 query authentication.
        const ALWAYS: &[&str] = &["x-id", "AWSAccessKeyId", "Expires", "Signature"];
        self.query
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| !known.contains(k) && !ALWAYS.contains(k) && !k.starts_with("X-Amz-"))
    }
}

/// What a request addresses.
#[derive(Debug, PartialEq, Eq)]
pub struct Address {
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The bucket came from the Host header (virtual-host style).
    pub vhost: bool,
}

/// Works out the bucket and key of a request from its Host and path.
pub fn address(host: Option<&str>, raw_path: &str, root_domain: Option<&str>) -> S3Result<Address> {
    let path = percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| S3Error::InvalidArgument("the request path is not valid UTF-8".into()))?;
    let path = path.strip_prefix('/').unwrap_or(&path);
    let host = host.map(|h| {
        h.rsplit_once(':').map_or(h, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                h
            }
        })
    });
    let vhost_bucket = match (host, root_domain) {
        (Some(h), Some(root)) => h
            .strip_suffix(root)
            .and_then(|b| b.strip_suffix('.'))
            .filter(|b| !b.is_empty()),
        _ => None,
    };
    let (bucket, key) = match vhost_bucket {
        Some(b) => (Some(b.to_owned()), (!path.is_empty()).then(|| path.to_owned())),
        None => match path.split_once('/') {
            Some((b, k)) => (Some(b.to_owned()), (!k.is_empty()).then(|| k.to_owned())),
            None => ((!path.is_empty()).then(|| path.to_owned()), None),
        },
    };
    if let Some(k) = &key {
        if k.len() > MAX_KEY_BYTES {
            return Err(S3Error::KeyTooLong);
        }
        if k.contains('\0') {
            return Err(S3Error::InvalidArgument("object keys may not contain U+0000".into()));
        }
    }
    Ok(Address {
        bucket,
        key,
        vhost: vhost_bucket.is_some(),
    })
}

/// Decoded query parameters.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    query_pairs(raw)
}

/// S3's bucket naming rules (the ones for new general purpose buckets).
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && !name.starts_with("xn--")
        && !name.starts_with("sthree-")
        && !name.ends_with("-s3alias")
        && !name.ends_with("--ol-s3")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addressing() {
        let a = |h, p, r| {
            let a = address(h, p, r).unwrap();
            (a.bucket, a.key)
        };
        assert_eq!(a(None, "/", None), (None, None));
        assert_eq!(a(None, "/b", None), (Some("b".into()), None));
        assert_eq!(a(None, "/b/", None), (Some("b".into()), None));
        assert_eq!(a(None, "/b/a%20b/c", None), (Some("b".into()), Some("a b/c".into())));
        assert_eq!(
            a(Some("b.localhost:9000"), "/k", Some("localhost")),
            (Some("b".into()), Some("k".into()))
        );
        assert_eq!(
            a(Some("localhost:9000"), "/b/k", Some("localhost")),
            (Some("b".into()), Some("k".into()))
        );
        assert!(matches!(
            address(None, &format!("/b/{}", "k".repeat(1025)), None),
            Err(S3Error::KeyTooLong)
        ));
        assert!(address(None, "/b/a%00b", None).is_err());
    }

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket.1", "a1b"] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "ABC",
            "-abc",
            "abc-",
            "a..b",
            "192.168.1.1",
            "a_b",
            &"a".repeat(64),
            "xn--abc",
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}
