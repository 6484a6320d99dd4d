//! Versioning, for buckets that never had it: GetBucketVersioning says so, and
//! ListObjectVersions lists each live object as its only version, `null`. Tools and test
//! suites call both during cleanup.

use crate::s3::error::{S3Error, S3Result};
use crate::s3::handlers::list::{common_prefixes, encoder, list_page, max_param};
use crate::s3::request::S3Request;
use crate::s3::response::{quoted, xml};
use crate::s3::state::S3State;
use crate::s3::xml::XmlWriter;
use crate::timefmt::iso8601;
use axum::response::Response;
use http::StatusCode;
use strata_blockstore::ListEntry;

pub async fn get_versioning(_state: &S3State, _req: S3Request) -> S3Result<Response> {
    let mut x = XmlWriter::new();
    x.root("VersioningConfiguration");
    x.close("VersioningConfiguration");
    Ok(xml(StatusCode::OK, x.finish()))
}

pub async fn list_versions(state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?.clone();
    let max = max_param(&req, "max-keys")?;
    let prefix = req.q("prefix").unwrap_or_default().to_owned();
    let delimiter = req.q("delimiter").filter(|d| !d.is_empty()).map(str::to_owned);
    let key_marker = req.q("key-marker").unwrap_or_default().to_owned();
    if req.q("version-id-marker").is_some_and(|v| !v.is_empty() && v != "null") {
        return Err(S3Error::InvalidArgument("Invalid version id specified".into()));
    }
    let page = list_page(state, &bucket.name, &prefix, delimiter.as_deref(), &key_marker, max).await?;
    let enc = encoder(&req);
    let mut x = XmlWriter::new();
    x.root("ListVersionsResult");
    x.elem("Name", &bucket.name);
    x.elem("Prefix", &enc(&prefix));
    x.elem("KeyMarker", &enc(&key_marker));
    x.elem("VersionIdMarker", req.q("version-id-marker").unwrap_or_default());
    if let (true, Some(last)) = (page.truncated, page.entries.last()) {
        x.elem("NextKeyMarker", &enc(last.name()));
        x.elem("NextVersionIdMarker", "null");
    }
    x.elem("MaxKeys", &max.to_string());
    if let Some(d) = &delimiter {
        x.elem("Delimiter", &enc(d));
    }
    if req.q("encoding-type") == Some("url") {
        x.elem("EncodingType", "url");
    }
    x.elem("IsTruncated", &page.truncated.to_string());
    for e in &page.entries {
        if let ListEntry::Object(m) = e {
            x.open("Version");
            x.elem("Key", &enc(&m.key));
            x.elem("VersionId", "null");
            x.elem("IsLatest", "true");
            x.elem("LastModified", &iso8601(m.last_modified_ms));
            x.elem("ETag", &quoted(&m.etag));
            x.elem("Size", &m.size.to_string());
            x.owner("Owner", &bucket.owner);
            x.elem("StorageClass", "STANDARD");
            x.close("Version");
        }
    }
    common_prefixes(&mut x, &page, &enc);
    x.close("ListVersionsResult");
    Ok(xml(StatusCode::OK, x.finish()))
}
