//! AWS Signature Version 4 verification: the Authorization header form and presigned
//! URLs, plus the per-chunk signatures of `aws-chunked` bodies.
//! Reference: the AWS SigV4 documentation for S3 ("Authenticating Requests").

use crate::s3::error::{S3Error, S3Result};
use crate::s3::signed::{percent_decode as decode, query_pairs, uri_encode, Payload, SignedRequest};
use crate::timefmt::{parse_amz_date, parse_http_date};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const MAX_SKEW_SECS: i64 = 15 * 60;
const MAX_PRESIGN_SECS: i64 = 7 * 24 * 3600;

/// A verified signature: whose key signed, and what the body must prove.
pub struct Verified {
    pub access_key: String,
    pub payload: Payload,
    /// Verifies chunk signatures; present for signed `aws-chunked` bodies.
    pub chunks: Option<ChunkVerifier>,
}

pub(crate) struct Credential<'a> {
    pub access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

pub(crate) fn parse_credential(s: &str) -> Option<Credential<'_>> {
    let mut it = s.split('/');
    let c = Credential {
        access_key: it.next()?,
        date: it.next()?,
        region: it.next()?,
        service: it.next()?,
    };
    (it.next()? == "aws4_request" && it.next().is_none()).then_some(c)
}

/// A signature counts only for the service it was made for, and only if it covers the
/// `host` it was sent to (SigV4 requires both): otherwise a signature for another
/// service, or a request replayed to another host, would be taken. The region is not
/// checked: clients sign with their configured region (often us-east-1 by default), and
/// it is part of the signing key either way.
fn check_scope(cred: &Credential, signed_headers: &str, service: &str) -> Result<(), String> {
    if cred.service != service {
        return Err(format!(
            "the credential's service is {:?}; this endpoint is {service:?}",
            cred.service
        ));
    }
    if !signed_headers.split(';').any(|h| h == "host") {
        return Err("the host header must be signed".into());
    }
    Ok(())
}

fn canonical_query(query: &str, skip_signature: bool) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .into_iter()
        .filter(|(k, _)| !(skip_signature && k == "X-Amz-Signature"))
        .map(|(k, v)| (uri_encode(&k, false), uri_encode(&v, false)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn canonical_headers(headers: &HeaderMap, signed: &str) -> S3Result<String> {
    let mut out = String::new();
    for name in signed.split(';') {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| {
                let v = String::from_utf8_lossy(v.as_bytes());
                v.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(S3Error::AccessDenied("a header listed in SignedHeaders is missing"));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    Ok(out)
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

fn signing_key(secret: &str, c: &Credential) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), c.date.as_bytes());
    let k = hmac(&k, c.region.as_bytes());
    let k = hmac(&k, c.service.as_bytes());
    hmac(&k, b"aws4_request")
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Constant-time comparison, so timing does not reveal how much of a signature matched.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn verify_header(
    req: &SignedRequest,
    auth: &str,
    now_secs: i64,
    secret_of: impl Fn(&str) -> Option<String>,
) -> S3Result<Verified> {
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(S3Error::AuthorizationHeaderMalformed(
            "unsupported authorization type".into(),
        ));
    };
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for field in rest.split(',') {
        match field.trim().split_once('=') {
            Some(("Credential", v)) => cred = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => sig = Some(v),
            _ => {}
        }
    }
    let malformed = || S3Error::AuthorizationHeaderMalformed("the authorization header is malformed".into());
    let cred = parse_credential(cred.ok_or_else(malformed)?).ok_or_else(malformed)?;
    let (signed, sig) = (signed.ok_or_else(malformed)?, sig.ok_or_else(malformed)?);
    check_scope(&cred, signed, req.service).map_err(S3Error::AuthorizationHeaderMalformed)?;
    let amz_date = header(req.headers, "x-amz-date")
        .map(str::to_owned)
        .or_else(|| {
            // Without x-amz-date the Date header dates the request.
            let secs = parse_http_date(header(req.headers, "date")?)?;
            Some(crate::timefmt::amz_date(secs))
        })
        .ok_or(S3Error::AccessDenied("the request has no x-amz-date or Date header"))?;
    let t = parse_amz_date(&amz_date).ok_or(S3Error::AccessDenied("x-amz-date is not a valid date"))?;
    if (now_secs - t).abs() > MAX_SKEW_SECS {
        return Err(S3Error::RequestTimeTooSkewed);
    }
    if !amz_date.starts_with(cred.date) {
        return Err(S3Error::AuthorizationHeaderMalformed(
            "the credential date does not match x-amz-date".into(),
        ));
    }
    let secret = secret_of(cred.access_key).ok_or(S3Error::InvalidAccessKeyId)?;
    let payload_text = header(req.headers, "x-amz-content-sha256").unwrap_or("UNSIGNED-PAYLOAD");
    let payload = match payload_text {
        "UNSIGNED-PAYLOAD" => Payload::Unsigned,
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Payload::Chunked {
            signed: true,
            trailer: false,
        },
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => Payload::Chunked {
            signed: true,
            trailer: true,
        },
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Payload::Chunked {
            signed: false,
            trailer: true,
        },
        h if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Payload::Sha256(h.to_ascii_lowercase()),
        _ => {
            return Err(S3Error::InvalidArgument(
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING- value or a SHA-256".into(),
            ))
        }
    };
    let signing = Signing {
        secret: &secret,
        cred: &cred,
        amz_date: &amz_date,
        signed_headers: signed,
        payload: payload_text,
    };
    let (expected, key, scope) = signing.check(req, false, sig)?;
    let chunks = matches!(payload, Payload::Chunked { signed: true, .. }).then(|| ChunkVerifier {
        key,
        amz_date,
        scope,
        previous: expected,
    });
    Ok(Verified {
        access_key: cred.access_key.to_owned(),
        payload,
        chunks,
    })
}

/// What a SigV4 signature covers besides the request itself.
struct Signing<'a> {
    secret: &'a str,
    cred: &'a Credential<'a>,
    amz_date: &'a str,
    signed_headers: &'a str,
    payload: &'a str,
}

impl Signing<'_> {
    /// Checks `sig` against the canonical request; returns it with the signing key and
    /// scope, which chunk signatures chain from. Clients sign the path exactly as they
    /// send it, so that is tried first; a client that encoded the path differently from
    /// SigV4's canonical form signed the canonical form instead. `presigned` leaves the
    /// signature itself out of the canonical query.
    fn check(&self, req: &SignedRequest, presigned: bool, sig: &str) -> S3Result<(String, [u8; 32], String)> {
        let key = signing_key(self.secret, self.cred);
        let c = self.cred;
        let scope = format!("{}/{}/{}/aws4_request", c.date, c.region, c.service);
        let rest = format!(
            "{}\n{}\n{}\n{}",
            canonical_query(req.query, presigned),
            canonical_headers(req.headers, self.signed_headers)?,
            self.signed_headers,
            self.payload
        );
        let normalized = uri_encode(&decode(req.path), true);
        let paths: &[&str] = if normalized == req.path {
            &[req.path]
        } else {
            &[req.path, &normalized]
        };
        for path in paths {
            let canonical = format!("{}\n{path}\n{rest}", req.method);
            let expected = hex::encode(hmac(&key, string_to_sign(self.amz_date, &scope, &canonical).as_bytes()));
            if same(&expected, sig) {
                return Ok((expected, key, scope));
            }
        }
        Err(S3Error::SignatureDoesNotMatch)
    }
}

fn string_to_sign(amz_date: &str, scope: &str, canonical: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    )
}

pub(crate) fn verify_presigned(
    req: &SignedRequest,
    now_secs: i64,
    secret_of: impl Fn(&str) -> Option<String>,
) -> S3Result<Verified> {
    let q: Vec<(String, String)> = query_pairs(req.query);
    let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let bad = |m: &str| S3Error::AuthorizationQueryParametersError(m.into());
    if get("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
        return Err(bad("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\""));
    }
    let cred = parse_credential(get("X-Amz-Credential").ok_or_else(|| bad("X-Amz-Credential is missing"))?)
        .ok_or_else(|| bad("X-Amz-Credential is malformed"))?;
    let amz_date = get("X-Amz-Date").ok_or_else(|| bad("X-Amz-Date is missing"))?;
    let t = parse_amz_date(amz_date).ok_or_else(|| bad("X-Amz-Date must be in the ISO8601 Long Format"))?;
    let expires: i64 = get("X-Amz-Expires")
        .ok_or_else(|| bad("X-Amz-Expires is missing"))?
        .parse()
        .map_err(|_| bad("X-Amz-Expires should be a number"))?;
    if expires < 0 {
        return Err(S3Error::PresignExpiresOutOfRange("X-Amz-Expires must be non-negative"));
    }
    if expires > MAX_PRESIGN_SECS {
        return Err(S3Error::PresignExpiresOutOfRange(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds",
        ));
    }
    if now_secs > t + expires {
        return Err(S3Error::AccessDenied("Request has expired"));
    }
    if t - now_secs > MAX_SKEW_SECS {
        return Err(S3Error::RequestTimeTooSkewed);
    }
    let signed = get("X-Amz-SignedHeaders").ok_or_else(|| bad("X-Amz-SignedHeaders is missing"))?;
    check_scope(&cred, signed, req.service).map_err(S3Error::AuthorizationQueryParametersError)?;
    let sig = get("X-Amz-Signature").unwrap_or_default();
    let secret = secret_of(cred.access_key).ok_or(S3Error::InvalidAccessKeyId)?;
    let payload_text = get("X-Amz-Content-Sha256").unwrap_or("UNSIGNED-PAYLOAD");
    let signing = Signing {
        secret: &secret,
        cred: &cred,
        amz_date,
        signed_headers: signed,
        payload: payload_text,
    };
    signing.check(req, true, sig)?;
    Ok(Verified {
        access_key: cred.access_key.to_owned(),
        payload: Payload::Unsigned,
        chunks: None,
    })
}

/// Checks the chain of chunk signatures of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body:
/// each chunk's signature covers its data and the previous signature, starting from the
/// request's own signature.
pub struct ChunkVerifier {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    previous: String,
}

impl ChunkVerifier {
    pub fn verify_chunk(&mut self, signature: &str, data_sha256: &[u8]) -> S3Result<()> {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex::encode(data_sha256)
        );
        self.check(signature, &sts)
    }

    /// The trailing headers, as `name:value\n` lines, are signed last.
    pub fn verify_trailer(&mut self, signature: &str, canonical_trailers: &str) -> S3Result<()> {
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sha256_hex(canonical_trailers.as_bytes())
        );
        self.check(signature, &sts)
    }

    fn check(&mut self, signature: &str, string_to_sign: &str) -> S3Result<()> {
        let expected = hex::encode(hmac(&self.key, string_to_sign.as_bytes()));
        if !same(&expected, signature) {
            return Err(S3Error::SignatureDoesNotMatch);
        }
        self.previous = expected;
        Ok(())
    }
}
