//! What every signature check reads: the signed parts of a request, how its body is
//! protected, and the percent-encoding rules signatures are computed over. A leaf: the
//! signature versions (`sigv4`, `sigv2`) and the dispatcher (`authn`) import it.

use http::HeaderMap;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but the unreserved characters is encoded, as SigV4 specifies.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
const PATH: &AsciiSet = &STRICT.remove(b'/');

/// How the request body is protected, from `x-amz-content-sha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Unsigned,
    /// The hex SHA-256 the body must have.
    Sha256(String),
    /// `aws-chunked` framing, with or without chunk signatures and trailing headers.
    Chunked {
        signed: bool,
        trailer: bool,
    },
}

/// The parts of a request that are signed.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    /// The service a SigV4 signature must be scoped to on this port (`s3`, or the
    /// replication port's own): one made for another service is refused, never replayed.
    pub service: &'a str,
}

pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    utf8_percent_encode(s, if keep_slash { PATH } else { STRICT }).to_string()
}

/// Percent-decodes `s` (invalid UTF-8 replaced).
pub fn percent_decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The raw query as (decoded name, decoded value) pairs, in order.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}
