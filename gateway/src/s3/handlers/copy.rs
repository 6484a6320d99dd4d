//! CopyObject and UploadPartCopy. A whole-object copy shares the source's blocks (no
//! data moves); a part copied from a byte range is written anew.

use crate::s3::access::{readable_source, Facts};
use crate::s3::blocks::ensure_local;
use crate::s3::conditions::{evaluate, write_precondition, Verdict};
use crate::s3::error::{S3Error, S3Result};
use crate::s3::handlers::acl;
use crate::s3::handlers::multipart::require_upload;
use crate::s3::handlers::object::stored_headers;
use crate::s3::handlers::tagging;
use crate::s3::request::S3Request;
use crate::s3::response::{quoted, set, version_header, xml};
use crate::s3::state::S3State;
use crate::s3::xml::XmlWriter;
use crate::timefmt::iso8601;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use percent_encoding::percent_decode_str;
use strata_blockstore::Manifest;

/// The largest source CopyObject (and one part copy) may read, as in S3.
const MAX_COPY: u64 = 5 << 30;

/// The source named by `x-amz-copy-source`, read after checking the requester may read
/// it and the `x-amz-copy-source-if-*` conditions hold.
/// (Takes the headers, not the request: a request body is not `Sync`.)
async fn source(state: &S3State, facts: &Facts, headers: &HeaderMap) -> S3Result<Manifest> {
    let raw = headers
        .get("x-amz-copy-source")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (path, version) = match raw.split_once("?versionId=") {
        Some((p, v)) => (p, Some(v)),
        None => (raw, None),
    };
    let path = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| S3Error::InvalidArgument("Invalid copy source encoding".into()))?;
    let (bucket, key) = path
        .trim_start_matches('/')
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or_else(|| {
            S3Error::InvalidArgument(
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey".into(),
            )
        })?;
    if let Some(v) = version {
        strata_blockstore::check_version_id(v)?;
    }
    let m = match readable_source(state, facts, bucket, key, version.map(str::to_owned)).await {
        Err(S3Error::Store(strata_blockstore::Error::DeleteMarker { named: true, .. })) => {
            return Err(S3Error::InvalidRequest(
                "The source of a copy request may not specifically refer to a delete marker by version id.".into(),
            ))
        }
        other => other?,
    };
    if evaluate(headers, "x-amz-copy-source-", &m.etag, m.last_modified_ms) != Verdict::Proceed {
        return Err(S3Error::PreconditionFailed);
    }
    Ok(m)
}

fn directive(req: &S3Request, name: &str) -> S3Result<bool> {
    match req.header(name) {
        None | Some("COPY") => Ok(false),
        Some("REPLACE") => Ok(true),
        Some(other) => Err(S3Error::InvalidArgument(format!("Unknown {name}: {other}"))),
    }
}

fn copy_result(root: &str, m_etag: &str, modified_ms: u64) -> Response {
    let mut x = XmlWriter::new();
    x.root(root);
    x.elem("LastModified", &iso8601(modified_ms));
    x.elem("ETag", &quoted(m_etag));
    x.close(root);
    xml(StatusCode::OK, x.finish())
}

pub async fn copy_object(state: &S3State, req: S3Request) -> S3Result<Response> {
    let record = req.authorized_bucket()?.clone();
    let writer = req.user_name().map(str::to_owned);
    let acl = acl::for_new_object(state, &req.headers, writer.as_deref(), &record).await?;
    let facts = Facts::of(&req, true);
    let src = source(state, &facts, &req.headers).await?;
    if src.size > MAX_COPY {
        return Err(S3Error::InvalidRequest(
            "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120".into(),
        ));
    }
    let replace_meta = directive(&req, "x-amz-metadata-directive")?;
    let replace_tags = directive(&req, "x-amz-tagging-directive")?;
    if src.bucket == req.bucket() && src.key == req.key() && !replace_meta {
        return Err(S3Error::InvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.".into()));
    }
    let mut headers = if replace_meta {
        stored_headers(&req.headers)?
    } else {
        src.headers.clone()
    };
    headers.tags = if replace_tags {
        tagging::from_header(&req)?
    } else {
        src.headers.tags.clone()
    };
    if replace_meta {
        // A replaced header set keeps the data's checksum: the bytes did not change.
        headers.checksum = src.headers.checksum.clone();
    }
    // A copy is a new object: its ACL and lock are the request's (or the bucket's
    // default retention), never the source's.
    headers.acl = acl;
    headers.lock = crate::s3::handlers::object_lock::lock_for_write(&req.headers, &record)?;
    let cond = write_precondition(&req.headers)?;
    // The copy shares the source's blocks: they must all be here for it to be whole.
    ensure_local(state, &src, 0, src.size).await?;
    let (bucket, key) = (req.bucket().to_owned(), req.key().to_owned());
    let source_version = src.version_id.clone();
    let m = state
        .run(move |s| s.copy_object(&src, &bucket, &key, Some(headers), &cond))
        .await?;
    let mut r = copy_result("CopyObjectResult", &m.etag, m.last_modified_ms);
    set(&mut r, "x-amz-copy-source-version-id", &source_version);
    version_header(&mut r, &record, &m);
    Ok(r)
}

/// `bytes=first-last`, inclusive, within the source.
fn source_range(req: &S3Request, size: u64) -> S3Result<(u64, u64)> {
    let Some(spec) = req.header("x-amz-copy-source-range") else {
        return Ok((0, size));
    };
    let bad = || {
        S3Error::InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy".into(),
        )
    };
    let (a, b) = spec
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let (first, last): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if first > last || last >= size {
        return Err(S3Error::InvalidRange { size });
    }
    Ok((first, last + 1))
}

pub async fn upload_part_copy(state: &S3State, req: S3Request) -> S3Result<Response> {
    let number: u32 = req
        .q("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            S3Error::InvalidArgument("Part number must be an integer between 1 and 10000, inclusive".into())
        })?;
    let (bucket, key, id) = (
        req.bucket().to_owned(),
        req.key().to_owned(),
        req.q("uploadId").unwrap_or_default().to_owned(),
    );
    require_upload(state, &bucket, &key, &id).await?;
    let facts = Facts::of(&req, true);
    let src = source(state, &facts, &req.headers).await?;
    let (start, end) = source_range(&req, src.size)?;
    if end - start > MAX_COPY {
        return Err(S3Error::InvalidRequest("Part copies are limited to 5 GiB".into()));
    }
    ensure_local(state, &src, start, end).await?;
    let source_version = src.version_id.clone();
    let store = state.store.clone();
    let part = state
        .run(move |s| {
            let data = strata_blockstore::copy_range(store, &src, start, end)?;
            s.put_part(&bucket, &key, &id, number, data)
        })
        .await?;
    let mut r = copy_result("CopyPartResult", &part.etag, part.last_modified_ms);
    set(&mut r, "x-amz-copy-source-version-id", &source_version);
    Ok(r)
}
