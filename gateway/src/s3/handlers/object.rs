//! Object operations: PutObject, GetObject (with Range), HeadObject, DeleteObject.

use crate::s3::blocks::open_read;
use crate::s3::body::ingest;
use crate::s3::conditions::{evaluate, write_precondition, Verdict};
use crate::s3::error::{S3Error, S3Result};
use crate::s3::handlers::acl;
use crate::s3::handlers::object_lock;
use crate::s3::handlers::tagging;
use crate::s3::meta_text;
use crate::s3::request::S3Request;
use crate::s3::response::{empty, object_body, object_headers, quoted, set, version_header, xml};
use crate::s3::state::S3State;
use crate::s3::xml::XmlWriter;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode};
use strata_blockstore::ObjectHeaders;

/// Standard headers stored with an object and returned on GET and HEAD.
const STORED_HEADERS: &[&str] = &[
    "content-encoding",
    "content-disposition",
    "cache-control",
    "expires",
    "content-language",
];
/// S3's limit on the total size of user metadata.
const MAX_USER_META: usize = 2048;

/// The headers of a PUT or CreateMultipartUpload that are kept with the object.
pub fn stored_headers(h: &HeaderMap) -> S3Result<ObjectHeaders> {
    let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    let mut out = ObjectHeaders {
        content_type: h.get("content-type").map(text),
        ..Default::default()
    };
    for name in STORED_HEADERS {
        if let Some(v) = h.get(*name) {
            let v = text(v);
            // aws-chunked is transfer framing, not how the object is encoded.
            let v = if *name == "content-encoding" {
                v.split(',')
                    .map(str::trim)
                    .filter(|e| *e != "aws-chunked")
                    .collect::<Vec<_>>()
                    .join(",")
            } else {
                v
            };
            if !v.is_empty() {
                out.standard.push((name.to_string(), v));
            }
        }
    }
    let mut meta_size = 0;
    for (name, v) in h {
        if let Some(m) = name.as_str().strip_prefix("x-amz-meta-") {
            let v = meta_text::decode(v.as_bytes());
            meta_size += m.len() + v.len();
            out.user_meta.push((m.to_owned(), v));
        }
    }
    if meta_size > MAX_USER_META {
        return Err(S3Error::MetadataTooLarge);
    }
    Ok(out)
}

pub async fn put_object(state: &S3State, req: S3Request) -> S3Result<Response> {
    let record = req.authorized_bucket()?.clone();
    let mut headers = stored_headers(&req.headers)?;
    headers.tags = tagging::from_header(&req)?;
    headers.lock = object_lock::lock_for_write(&req.headers, &record)?;
    let writer = req.user_name().map(str::to_owned);
    headers.acl = acl::for_new_object(state, &req.headers, writer.as_deref(), &record).await?;
    let cond = write_precondition(&req.headers)?;
    let ingested = ingest(
        state,
        writer.as_deref(),
        req.body,
        &req.headers,
        &req.payload,
        req.chunks,
        false,
    )
    .await?;
    headers.checksum = ingested.checksum.map(|(alg, v)| (alg.name().to_owned(), v));
    let checksum = headers.checksum.clone();
    let (bucket, key) = (req.bucket.unwrap_or_default(), req.key.unwrap_or_default());
    let m = state
        .run(move |s| s.put_object(&bucket, &key, headers, ingested.data, &cond))
        .await?;
    let mut r = empty(StatusCode::OK);
    set(&mut r, "etag", &quoted(&m.etag));
    version_header(&mut r, &record, &m);
    crate::s3::handlers::lifecycle::expiration_header(&mut r, state, &record, &m);
    if let Some((alg, v)) = checksum {
        set(&mut r, checksum_header(&alg), &v);
    }
    Ok(r)
}

fn checksum_header(alg: &str) -> &'static str {
    crate::s3::checksum::Algorithm::from_name(alg)
        .map(|a| a.header())
        .unwrap_or("x-amz-checksum-crc32")
}

/// A byte range request, resolved against the object size: `[start, end)`.
fn parse_range(header: &str, size: u64) -> S3Result<Option<(u64, u64)>> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // S3 serves the whole object when several ranges are asked for.
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(start), Ok(last)) if a.bytes().all(|c| c.is_ascii_digit()) && last >= start => {
            (start, last.saturating_add(1).min(size))
        }
        (Ok(start), Err(_)) if b.is_empty() => (start, size),
        (Err(_), Ok(n)) if a.is_empty() => {
            if n == 0 {
                return Err(S3Error::InvalidRange { size });
            }
            (size.saturating_sub(n), size)
        }
        _ => return Ok(None),
    };
    if range.0 >= size {
        return Err(S3Error::InvalidRange { size });
    }
    Ok(Some(range))
}

/// The query parameters a signed GET or HEAD may set answer headers with.
const RESPONSE_OVERRIDES: [(&str, &str); 6] = [
    ("response-content-type", "content-type"),
    ("response-content-language", "content-language"),
    ("response-expires", "expires"),
    ("response-cache-control", "cache-control"),
    ("response-content-disposition", "content-disposition"),
    ("response-content-encoding", "content-encoding"),
];

/// GET and HEAD. Response overrides (`response-content-type` and friends) apply to both.
pub async fn get_object(state: &S3State, mut req: S3Request, head: bool) -> S3Result<Response> {
    // As S3: overrides are for signed requests (a presigned link, say) only; an
    // anonymous reader of a public object may not make it answer as something else.
    if req.user.is_none() && RESPONSE_OVERRIDES.iter().any(|(p, _)| req.q(p).is_some()) {
        return Err(S3Error::InvalidRequest(
            "Request specific response headers cannot be used for anonymous GET requests.".into(),
        ));
    }
    let m = req.take_object()?;
    let bucket = req.authorized_bucket()?.clone();
    match evaluate(&req.headers, "", &m.etag, m.last_modified_ms) {
        Verdict::Proceed => {}
        Verdict::Failed => return Err(S3Error::PreconditionFailed),
        Verdict::NotModified => {
            let mut r = empty(StatusCode::NOT_MODIFIED);
            set(&mut r, "etag", &quoted(&m.etag));
            set(&mut r, "last-modified", &crate::timefmt::http_date(m.last_modified_ms));
            return Ok(r);
        }
    }
    let range = match (req.q("partNumber"), req.header("range")) {
        (Some(_), Some(_)) => {
            return Err(S3Error::InvalidRequest(
                "Cannot specify both Range header and partNumber query parameter".into(),
            ))
        }
        (Some(n), None) => Some(part_range(&m, n)?),
        (None, Some(h)) => parse_range(h, m.size)?,
        (None, None) => None,
    };
    let (start, end) = range.unwrap_or((0, m.size));
    let body = if head {
        axum::body::Body::empty()
    } else {
        object_body(open_read(state, &m, start, end).await?, &m, start, end)
    };
    let mut r = Response::new(body);
    object_headers(&mut r, &m);
    version_header(&mut r, &bucket, &m);
    object_lock::lock_headers(&mut r, &m);
    if req.q("versionId").is_none() {
        crate::s3::handlers::lifecycle::expiration_header(&mut r, state, &bucket, &m);
    }
    set(&mut r, "content-length", &(end - start).to_string());
    if !m.headers.tags.is_empty() {
        set(&mut r, "x-amz-tagging-count", &m.headers.tags.len().to_string());
    }
    if req.q("partNumber").is_some() {
        set(&mut r, "x-amz-mp-parts-count", &m.parts.len().max(1).to_string());
    }
    if range.is_some() && m.size > 0 {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        set(
            &mut r,
            "content-range",
            &format!("bytes {start}-{}/{}", end - 1, m.size),
        );
    } else if req
        .header("x-amz-checksum-mode")
        .is_some_and(|v| v.eq_ignore_ascii_case("enabled"))
    {
        if let Some((alg, v)) = &m.headers.checksum {
            set(&mut r, checksum_header(alg), v);
        }
    }
    for (param, header) in RESPONSE_OVERRIDES {
        if let Some(v) = req.q(param) {
            set(&mut r, header, v);
        }
    }
    Ok(r)
}

/// The byte range of part `n` (`partNumber`). An object uploaded in one piece is its
/// own part 1.
fn part_range(m: &strata_blockstore::Manifest, n: &str) -> S3Result<(u64, u64)> {
    let n: u32 = n.parse().ok().filter(|n| (1..=10_000).contains(n)).ok_or_else(|| {
        S3Error::InvalidArgument("Part number must be an integer between 1 and 10000, inclusive".into())
    })?;
    if m.parts.is_empty() {
        return if n == 1 {
            Ok((0, m.size))
        } else {
            Err(S3Error::InvalidPartNumber)
        };
    }
    let idx = (n - 1) as usize;
    let part = m.parts.get(idx).ok_or(S3Error::InvalidPartNumber)?;
    let start: u64 = m.parts[..idx].iter().map(|p| p.size).sum();
    Ok((start, start + part.size))
}

/// A header that holds a whole number (`default` when absent); anything else is
/// InvalidArgument, as S3 answers.
fn header_number(req: &S3Request, name: &str, default: u64) -> S3Result<u64> {
    match req.header(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| S3Error::InvalidArgument(format!("Provided {name} not an integer or within integer range"))),
    }
}

/// GetObjectAttributes: the attributes named in `x-amz-object-attributes`.
pub async fn get_object_attributes(_state: &S3State, mut req: S3Request) -> S3Result<Response> {
    // Clients send the list as one comma-separated value or as repeated headers.
    let wanted: Vec<String> = req
        .headers
        .get_all("x-amz-object-attributes")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    const KNOWN: &[&str] = &["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"];
    if wanted.is_empty() || wanted.iter().any(|a| !KNOWN.contains(&a.as_str())) {
        return Err(S3Error::InvalidArgument("Invalid attribute name specified.".into()));
    }
    let m = req.take_object()?;
    let bucket = req.authorized_bucket()?.clone();
    let has = |a: &str| wanted.iter().any(|w| w == a);
    let mut x = XmlWriter::new();
    x.root("GetObjectAttributesOutput");
    if has("ETag") {
        x.elem("ETag", &m.etag);
    }
    if let (true, Some((alg, v))) = (has("Checksum"), &m.headers.checksum) {
        x.open("Checksum");
        x.elem(&format!("Checksum{alg}"), v);
        x.close("Checksum");
    }
    if has("ObjectParts") && !m.parts.is_empty() {
        // Parts come a page at a time, as ListParts gives them.
        let max = header_number(&req, "x-amz-max-parts", 1000)?.min(1000) as usize;
        let marker = header_number(&req, "x-amz-part-number-marker", 0)?;
        let after: Vec<_> = m.parts.iter().filter(|p| u64::from(p.number) > marker).collect();
        let page = &after[..after.len().min(max)];
        x.open("ObjectParts");
        x.elem("PartsCount", &m.parts.len().to_string());
        x.elem("PartNumberMarker", &marker.to_string());
        if let Some(last) = page.last() {
            x.elem("NextPartNumberMarker", &last.number.to_string());
        }
        x.elem("MaxParts", &max.to_string());
        x.elem("IsTruncated", &(after.len() > max).to_string());
        for p in page {
            x.open("Part");
            x.elem("PartNumber", &p.number.to_string());
            x.elem("Size", &p.size.to_string());
            x.close("Part");
        }
        x.close("ObjectParts");
    }
    if has("StorageClass") {
        x.elem("StorageClass", "STANDARD");
    }
    if has("ObjectSize") {
        x.elem("ObjectSize", &m.size.to_string());
    }
    x.close("GetObjectAttributesOutput");
    let mut r = xml(StatusCode::OK, x.finish());
    set(&mut r, "last-modified", &crate::timefmt::http_date(m.last_modified_ms));
    version_header(&mut r, &bucket, &m);
    Ok(r)
}

/// DeleteObject: of one version (`versionId`), or a plain delete, which in a versioned
/// bucket adds a delete marker. `If-Match` must name the current version's ETag.
pub async fn delete_object(state: &S3State, req: S3Request) -> S3Result<Response> {
    let (bucket, key) = (req.bucket().to_owned(), req.key().to_owned());
    let if_match = req.header("if-match").map(str::to_owned);
    let mut r = empty(StatusCode::NO_CONTENT);
    if let Some(id) = req.q("versionId").map(str::to_owned) {
        let who = object_lock::remover_of(&req, req.authorized_bucket()?, &key);
        let gone = state
            .run(move |s| s.delete_version(&bucket, &key, &id, if_match.as_deref(), who))
            .await?;
        if let Some(v) = gone {
            set(&mut r, "x-amz-version-id", &v.version_id);
            if v.is_delete_marker() {
                set(&mut r, "x-amz-delete-marker", "true");
            }
        }
        return Ok(r);
    }
    let done = state
        .run(move |s| s.delete_object_if(&bucket, &key, if_match.as_deref()))
        .await?;
    if let Some(v) = done.marker_version {
        set(&mut r, "x-amz-delete-marker", "true");
        set(&mut r, "x-amz-version-id", &v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-200", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=95-", 100).unwrap(), Some((95, 100)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=-200", 100).unwrap(), Some((0, 100)));
        assert_eq!(parse_range("bytes=5-1", 100).unwrap(), None);
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None);
        assert!(matches!(
            parse_range("bytes=100-", 100),
            Err(S3Error::InvalidRange { size: 100 })
        ));
        assert!(matches!(parse_range("bytes=0-0", 0), Err(S3Error::InvalidRange { .. })));
    }
}
