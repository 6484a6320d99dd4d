//! Building S3 responses: XML documents, object headers and streamed object bodies.

use crate::s3::error::S3Error;
use crate::s3::meta_text;
use crate::s3::xml::XmlWriter;
use crate::timefmt::http_date;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use std::sync::Arc;
use strata_blockstore::{BlockRef, Manifest, Store};

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

/// Streams bytes `[start, end)` of an object, one block at a time, reading each block on
/// a blocking thread only when the client is ready for it. Inline objects are answered
/// from the manifest.
pub fn object_body(store: Arc<Store>, m: &Manifest, start: u64, end: u64) -> Body {
    if let Some(bytes) = &m.inline {
        return Body::from(Bytes::copy_from_slice(&bytes[start as usize..end as usize]));
    }
    let blocks = m.blocks.clone();
    // Find the first block the range touches.
    let mut offset = 0u64;
    let mut first = blocks.len();
    for (i, b) in blocks.iter().enumerate() {
        if offset + b.len as u64 > start {
            first = i;
            break;
        }
        offset += b.len as u64;
    }
    struct St {
        store: Arc<Store>,
        blocks: Vec<BlockRef>,
        next: usize,
        offset: u64,
        start: u64,
        end: u64,
    }
    let st = St {
        store,
        blocks,
        next: first,
        offset,
        start,
        end,
    };
    let stream = futures_util::stream::unfold(st, |mut st| async move {
        if st.next >= st.blocks.len() || st.offset >= st.end {
            return None;
        }
        let block = st.blocks[st.next].clone();
        let hash = block.hash;
        let data = match st.store.run(move |s| s.read_block(&hash)).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "object block unreadable; aborting the response");
                return Some((Err(S3Error::from(e)), st));
            }
        };
        let from = st.start.saturating_sub(st.offset) as usize;
        let to = ((st.end - st.offset) as usize).min(data.len());
        st.offset += block.len as u64;
        st.next += 1;
        let mut bytes = Bytes::from(data);
        bytes = bytes.slice(from.min(to)..to);
        Some((Ok(bytes), st))
    });
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
