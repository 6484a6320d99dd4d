//! Building S3 responses: XML documents, object headers and streamed object bodies.

use crate::s3::blocks::BlockReader;
use crate::s3::error::S3Error;
use crate::s3::meta_text;
use crate::s3::xml::XmlWriter;
use crate::timefmt::http_date;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use strata_blockstore::{BlockRef, Manifest};

pub fn xml(status: StatusCode, doc: String) -> Response {
    let mut r = Response::new(Body::from(doc));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

pub fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

pub fn set(r: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

pub fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// `x-amz-version-id`, as S3 sends it: for every version of a bucket that has had
/// versioning (its `null` version included), never for a bucket that has not.
pub fn version_header(r: &mut Response, bucket: &strata_blockstore::Bucket, m: &Manifest) {
    if bucket.versioning != strata_blockstore::Versioning::Unversioned || !m.is_null() {
        set(r, "x-amz-version-id", &m.version_id);
    }
}

/// The headers GET and HEAD return for an object.
pub fn object_headers(r: &mut Response, m: &Manifest) {
    set(r, "etag", &quoted(&m.etag));
    set(r, "last-modified", &http_date(m.last_modified_ms));
    set(r, "accept-ranges", "bytes");
    set(
        r,
        "content-type",
        m.headers.content_type.as_deref().unwrap_or("binary/octet-stream"),
    );
    for (name, value) in &m.headers.standard {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            r.headers_mut().insert(n, v);
        }
    }
    for (name, value) in &m.headers.user_meta {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(format!("x-amz-meta-{name}").as_bytes()),
            HeaderValue::from_str(&meta_text::encode(value)),
        ) {
            r.headers_mut().append(n, v);
        }
    }
}

/// Streams bytes `[start, end)` of an object, one block at a time, each read (or, on
/// a sink, fetched ahead by proxy-get) only as the client takes the ones before it.
/// Inline objects are answered from the manifest. A block that cannot be read ends the
/// stream with an error, which cuts the response short of its length.
pub fn object_body(reader: BlockReader, m: &Manifest, start: u64, end: u64) -> Body {
    if let Some(bytes) = &m.inline {
        return Body::from(Bytes::copy_from_slice(&bytes[start as usize..end as usize]));
    }
    let blocks: Vec<(u64, BlockRef)> = m.blocks_in(start, end).map(|(at, b)| (at, b.clone())).collect();
    let stream = futures_util::stream::unfold(
        (reader, blocks.into_iter()),
        move |(mut reader, mut blocks)| async move {
            let (at, block) = blocks.next()?;
            let bytes = match reader.read(block.hash).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::error!(error = %e, "object block unreadable; aborting the response");
                    // The stream ends here: nothing after a failed block.
                    return Some((Err(e), (reader, Vec::new().into_iter())));
                }
            };
            let from = start.saturating_sub(at) as usize;
            let to = ((end - at) as usize).min(bytes.len());
            Some((Ok(bytes.slice(from.min(to)..to)), (reader, blocks)))
        },
    );
    Body::from_stream(stream)
}

/// The XML error document S3 sends.
pub fn error_document(e: &S3Error, resource: &str, request_id: &str) -> String {
    let (code, _, message) = e.parts();
    let mut x = XmlWriter::new();
    x.open("Error");
    x.elem("Code", code);
    x.elem("Message", &message);
    x.elem("Resource", resource);
    x.elem("RequestId", request_id);
    x.close("Error");
    x.finish()
}
