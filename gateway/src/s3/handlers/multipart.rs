//! Multipart uploads: Create, UploadPart, Complete, Abort, ListParts,
//! ListMultipartUploads.

use crate::s3::body::{ingest, read_small};
use crate::s3::conditions::write_precondition;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::handlers::acl;
use crate::s3::handlers::list::{encoder, max_param};
use crate::s3::handlers::object::stored_headers;
use crate::s3::handlers::tagging;
use crate::s3::request::S3Request;
use crate::s3::response::{empty, quoted, set, xml};
use crate::s3::state::S3State;
use crate::s3::xml::{parse_complete_upload, XmlWriter};
use crate::timefmt::iso8601;
use axum::response::Response;
use http::StatusCode;

const MAX_PART_NUMBER: u32 = 10_000;

fn upload_id(req: &S3Request) -> String {
    req.q("uploadId").unwrap_or_default().to_owned()
}

pub async fn create(state: &S3State, req: S3Request) -> S3Result<Response> {
    let record = req.authorized_bucket()?.clone();
    let mut headers = stored_headers(&req.headers)?;
    headers.tags = tagging::from_header(&req)?;
    headers.lock = crate::s3::handlers::object_lock::lock_for_write(&req.headers, &record)?;
    let writer = req.user_name().map(str::to_owned);
    headers.acl = acl::for_new_object(state, &req.headers, writer.as_deref(), &record).await?;
    let initiator = req.user_name().unwrap_or(&record.owner).to_owned();
    let (bucket, key, owner) = (req.bucket().to_owned(), req.key().to_owned(), initiator);
    let upload = state
        .run(move |s| s.create_upload(&bucket, &key, &owner, headers))
        .await?;
    let mut x = XmlWriter::new();
    x.root("InitiateMultipartUploadResult");
    x.elem("Bucket", &upload.bucket);
    x.elem("Key", &upload.key);
    x.elem("UploadId", &upload.id);
    x.close("InitiateMultipartUploadResult");
    Ok(xml(StatusCode::OK, x.finish()))
}

/// Refuses early, before reading a body that has nowhere to go, when the upload is
/// unknown (NoSuchUpload). The part's commit checks again.
pub async fn require_upload(state: &S3State, bucket: &str, key: &str, id: &str) -> S3Result<()> {
    let (b, k, i) = (bucket.to_owned(), key.to_owned(), id.to_owned());
    state.run(move |s| s.upload(&b, &k, &i)).await?;
    Ok(())
}

pub async fn upload_part(state: &S3State, req: S3Request) -> S3Result<Response> {
    let number: u32 = req
        .q("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            S3Error::InvalidArgument("Part number must be an integer between 1 and 10000, inclusive".into())
        })?;
    let (bucket, key, id) = (req.bucket().to_owned(), req.key().to_owned(), upload_id(&req));
    require_upload(state, &bucket, &key, &id).await?;
    let writer_name = req.user_name().map(str::to_owned);
    let ingested = ingest(
        state,
        writer_name.as_deref(),
        req.body,
        &req.headers,
        &req.payload,
        req.chunks,
        true,
    )
    .await?;
    let checksum = ingested.checksum;
    let part = state
        .run(move |s| s.put_part(&bucket, &key, &id, number, ingested.data))
        .await?;
    let mut r = empty(StatusCode::OK);
    set(&mut r, "etag", &quoted(&part.etag));
    if let Some((alg, v)) = checksum {
        set(&mut r, alg.header(), &v);
    }
    Ok(r)
}

pub async fn complete(state: &S3State, req: S3Request) -> S3Result<Response> {
    let cond = write_precondition(&req.headers)?;
    let record = req.authorized_bucket()?.clone();
    let body = read_small(req.body, 4 << 20).await?;
    let parts = parse_complete_upload(&body)?;
    if parts.is_empty() {
        return Err(S3Error::MalformedXml);
    }
    let (bucket, key, id) = (
        req.bucket.unwrap_or_default(),
        req.key.unwrap_or_default(),
        req.query
            .iter()
            .find(|(k, _)| k == "uploadId")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
    );
    let m = state
        .run(move |s| s.complete_upload(&bucket, &key, &id, &parts, &cond))
        .await?;
    let mut x = XmlWriter::new();
    x.root("CompleteMultipartUploadResult");
    x.elem("Location", &format!("/{}/{}", m.bucket, m.key));
    x.elem("Bucket", &m.bucket);
    x.elem("Key", &m.key);
    x.elem("ETag", &quoted(&m.etag));
    x.close("CompleteMultipartUploadResult");
    let mut r = xml(StatusCode::OK, x.finish());
    crate::s3::response::version_header(&mut r, &record, &m);
    Ok(r)
}

pub async fn abort(state: &S3State, req: S3Request) -> S3Result<Response> {
    let (bucket, key, id) = (req.bucket().to_owned(), req.key().to_owned(), upload_id(&req));
    state.run(move |s| s.abort_upload(&bucket, &key, &id)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn list_parts(state: &S3State, req: S3Request) -> S3Result<Response> {
    let max = max_param(&req, "max-parts")?;
    let marker: u32 = req
        .q("part-number-marker")
        .map(|m| {
            m.parse()
                .map_err(|_| S3Error::InvalidArgument("part-number-marker must be an integer".into()))
        })
        .transpose()?
        .unwrap_or(0);
    let (bucket, key, id) = (req.bucket().to_owned(), req.key().to_owned(), upload_id(&req));
    let (b, k, i) = (bucket.clone(), key.clone(), id.clone());
    let (upload, parts) = state
        .run(move |s| Ok((s.upload(&b, &k, &i)?, s.list_parts(&b, &k, &i)?)))
        .await?;
    let after: Vec<_> = parts.into_iter().filter(|p| p.number > marker).collect();
    let truncated = after.len() > max;
    let page = &after[..after.len().min(max)];
    let enc = encoder(&req);
    let mut x = XmlWriter::new();
    x.root("ListPartsResult");
    x.elem("Bucket", &bucket);
    x.elem("Key", &enc(&key));
    x.elem("UploadId", &id);
    x.owner("Initiator", &upload.owner);
    x.owner("Owner", &upload.owner);
    x.elem("StorageClass", "STANDARD");
    x.elem("PartNumberMarker", &marker.to_string());
    if let Some(last) = page.last() {
        x.elem("NextPartNumberMarker", &last.number.to_string());
    }
    x.elem("MaxParts", &max.to_string());
    x.elem("IsTruncated", &truncated.to_string());
    for p in page {
        x.open("Part");
        x.elem("PartNumber", &p.number.to_string());
        x.elem("LastModified", &iso8601(p.last_modified_ms));
        x.elem("ETag", &quoted(&p.etag));
        x.elem("Size", &p.size.to_string());
        x.close("Part");
    }
    x.close("ListPartsResult");
    Ok(xml(StatusCode::OK, x.finish()))
}

pub async fn list_uploads(state: &S3State, req: S3Request) -> S3Result<Response> {
    let max = max_param(&req, "max-uploads")?;
    let bucket = req.bucket().to_owned();
    let prefix = req.q("prefix").unwrap_or_default().to_owned();
    let key_marker = req.q("key-marker").unwrap_or_default().to_owned();
    let id_marker = req.q("upload-id-marker").unwrap_or_default().to_owned();
    let (b, p, km, im) = (bucket.clone(), prefix.clone(), key_marker.clone(), id_marker.clone());
    let page = state.run(move |s| s.list_uploads(&b, &p, &km, &im, max)).await?;
    let enc = encoder(&req);
    let mut x = XmlWriter::new();
    x.root("ListMultipartUploadsResult");
    x.elem("Bucket", &bucket);
    x.elem("KeyMarker", &enc(&key_marker));
    x.elem("UploadIdMarker", &id_marker);
    if let (true, Some(last)) = (page.truncated, page.uploads.last()) {
        x.elem("NextKeyMarker", &enc(&last.key));
        x.elem("NextUploadIdMarker", &last.id);
    }
    x.elem("Prefix", &enc(&prefix));
    x.elem("MaxUploads", &max.to_string());
    x.elem("IsTruncated", &page.truncated.to_string());
    if req.q("encoding-type") == Some("url") {
        x.elem("EncodingType", "url");
    }
    for u in &page.uploads {
        x.open("Upload");
        x.elem("Key", &enc(&u.key));
        x.elem("UploadId", &u.id);
        x.owner("Initiator", &u.owner);
        x.owner("Owner", &u.owner);
        x.elem("StorageClass", "STANDARD");
        x.elem("Initiated", &iso8601(u.initiated_ms));
        x.close("Upload");
    }
    x.close("ListMultipartUploadsResult");
    Ok(xml(StatusCode::OK, x.finish()))
}
