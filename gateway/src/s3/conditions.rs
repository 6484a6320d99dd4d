//! Conditional requests: `If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since` on reads (and their `x-amz-copy-source-` forms on copies),
//! evaluated in RFC 7232 order, as S3 does; and the write preconditions
//! (`If-None-Match: *`, `If-Match`) that the store checks atomically at commit.

use crate::s3::error::{S3Error, S3Result};
use crate::timefmt::parse_http_date;
use http::HeaderMap;
use strata_blockstore::Precondition;

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    NotModified,
    Failed,
}

/// Does an `If-Match`-style list (`"a", "b"`, `*`, weak tags) name this ETag?
fn etag_listed(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

/// Evaluates the conditions whose header names start with `prefix` ("" for the plain
/// `If-*` headers, `x-amz-copy-source-` for a copy's source).
pub fn evaluate(h: &HeaderMap, prefix: &str, etag: &str, last_modified_ms: u64) -> Verdict {
    let get = |name: &str| h.get(format!("{prefix}{name}")).and_then(|v| v.to_str().ok());
    let modified_secs = (last_modified_ms / 1000) as i64;
    if let Some(m) = get("if-match") {
        if !etag_listed(m, etag) {
            return Verdict::Failed;
        }
    } else if let Some(t) = get("if-unmodified-since").and_then(parse_http_date) {
        if modified_secs > t {
            return Verdict::Failed;
        }
    }
    if let Some(m) = get("if-none-match") {
        if etag_listed(m, etag) {
            return Verdict::NotModified;
        }
    } else if let Some(t) = get("if-modified-since").and_then(parse_http_date) {
        if modified_secs <= t {
            return Verdict::NotModified;
        }
    }
    Verdict::Proceed
}

/// The precondition a PUT, copy or CompleteMultipartUpload asks for.
pub fn write_precondition(h: &HeaderMap) -> S3Result<Precondition> {
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    match (get("if-none-match"), get("if-match")) {
        (Some("*"), _) => Ok(Precondition::Absent),
        (Some(_), _) => Err(S3Error::NotImplemented(
            "If-None-Match on writes supports only *".into(),
        )),
        (None, Some(etag)) => Ok(Precondition::ETag(etag.trim_matches('"').to_owned())),
        (None, None) => Ok(Precondition::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn s3_precedence() {
        let t = 1_714_566_600_000; // Wed, 01 May 2024 12:30:00 GMT
        let before = "Wed, 01 May 2024 12:00:00 GMT";
        let after = "Wed, 01 May 2024 13:00:00 GMT";
        let ev = |p: &[(&str, &str)]| evaluate(&headers(p), "", "abc", t);
        assert_eq!(ev(&[]), Verdict::Proceed);
        assert_eq!(ev(&[("if-match", "\"abc\"")]), Verdict::Proceed);
        assert_eq!(ev(&[("if-match", "\"x\", \"abc\"")]), Verdict::Proceed);
        assert_eq!(ev(&[("if-match", "\"x\"")]), Verdict::Failed);
        assert_eq!(ev(&[("if-none-match", "\"abc\"")]), Verdict::NotModified);
        assert_eq!(ev(&[("if-none-match", "*")]), Verdict::NotModified);
        assert_eq!(ev(&[("if-modified-since", after)]), Verdict::NotModified);
        assert_eq!(ev(&[("if-modified-since", before)]), Verdict::Proceed);
        assert_eq!(ev(&[("if-unmodified-since", before)]), Verdict::Failed);
        // If-Match true wins over If-Unmodified-Since false.
        assert_eq!(
            ev(&[("if-match", "abc"), ("if-unmodified-since", before)]),
            Verdict::Proceed
        );
        // If-None-Match false with If-Modified-Since true: 304.
        assert_eq!(
            ev(&[("if-none-match", "abc"), ("if-modified-since", before)]),
            Verdict::NotModified
        );
        let copy = headers(&[("x-amz-copy-source-if-match", "nope")]);
        assert_eq!(evaluate(&copy, "x-amz-copy-source-", "abc", t), Verdict::Failed);
        assert_eq!(evaluate(&copy, "", "abc", t), Verdict::Proceed);
    }

    #[test]
    fn write_preconditions() {
        assert_eq!(write_precondition(&headers(&[])).unwrap(), Precondition::None);
        assert_eq!(
            write_precondition(&headers(&[("if-none-match", "*")])).unwrap(),
            Precondition::Absent
        );
        assert_eq!(
            write_precondition(&headers(&[("if-match", "\"e\"")])).unwrap(),
            Precondition::ETag("e".into())
        );
        assert!(write_precondition(&headers(&[("if-none-match", "\"e\"")])).is_err());
    }
}
