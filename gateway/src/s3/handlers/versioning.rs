//! Versioning: PutBucketVersioning and GetBucketVersioning, and ListObjectVersions,
//! which lists every version and delete marker, keys in order and each key's versions
//! newest first, in pages that resume exactly after the last entry returned.

use crate::s3::body::read_small;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::handlers::list::{encoder, max_param};
use crate::s3::request::S3Request;
use crate::s3::response::{empty, quoted, xml};
use crate::s3::state::S3State;
use crate::s3::xml::{parse, XmlWriter};
use crate::timefmt::iso8601;
use axum::response::Response;
use http::StatusCode;
use strata_blockstore::{ListQuery, VersionEntry, Versioning};

pub async fn get_versioning(_state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?;
    let mut x = XmlWriter::new();
    x.root("VersioningConfiguration");
    // A bucket never versioned has no Status, as in S3.
    if let Some(status) = bucket.versioning.status() {
        x.elem("Status", status);
    }
    x.close("VersioningConfiguration");
    Ok(xml(StatusCode::OK, x.finish()))
}

pub async fn put_versioning(state: &S3State, req: S3Request) -> S3Result<Response> {
    let name = req.bucket().to_owned();
    let locked = req.authorized_bucket()?.object_lock.is_some();
    let body = read_small(req.body, 64 << 10).await?;
    let doc = parse(&body, "VersioningConfiguration")?;
    if doc.text_of("MfaDelete").is_some_and(|m| m == "Enabled") {
        // MFA delete needs an MFA device's code on every versioned delete; this site
        // has no MFA devices to check one against.
        return Err(S3Error::InvalidRequest(
            "MFA delete is not supported by this site: send MfaDelete Disabled or leave it out.".into(),
        ));
    }
    if doc.text_of("MfaDelete").is_some_and(|m| m != "Disabled") {
        return Err(S3Error::MalformedXml);
    }
    let status = match doc.text_of("Status") {
        Some("Enabled") => Some(Versioning::Enabled),
        Some("Suspended") => Some(Versioning::Suspended),
        // No status changes nothing, as in S3.
        None => None,
        Some(_) => return Err(S3Error::MalformedXml),
    };
    if status == Some(Versioning::Suspended) && locked {
        return Err(S3Error::InvalidBucketState(
            "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.".into(),
        ));
    }
    if let Some(status) = status {
        state
            .run(move |s| s.update_bucket(&name, |b| b.versioning = status))
            .await?;
    }
    Ok(empty(StatusCode::OK))
}

pub async fn list_versions(state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?.clone();
    let max = max_param(&req, "max-keys")?;
    let prefix = req.q("prefix").unwrap_or_default().to_owned();
    let delimiter = req.q("delimiter").filter(|d| !d.is_empty()).map(str::to_owned);
    let key_marker = req.q("key-marker").unwrap_or_default().to_owned();
    let version_marker = req.q("version-id-marker").filter(|v| !v.is_empty()).map(str::to_owned);
    if let Some(v) = &version_marker {
        if key_marker.is_empty() {
            return Err(S3Error::InvalidArgument(
                "A version-id marker cannot be specified without a key marker.".into(),
            ));
        }
        strata_blockstore::check_version_id(v)?;
    }
    let (name, p, d, k, v) = (
        bucket.name.clone(),
        prefix.clone(),
        delimiter.clone(),
        key_marker.clone(),
        version_marker.clone(),
    );
    let page = state
        .run(move |s| {
            let q = ListQuery {
                prefix: &p,
                delimiter: d.as_deref(),
                after: &k,
                max,
            };
            s.list_versions(&name, &q, v.as_deref())
        })
        .await?;
    let enc = encoder(&req);
    let mut x = XmlWriter::new();
    x.root("ListVersionsResult");
    x.elem("Name", &bucket.name);
    x.elem("Prefix", &enc(&prefix));
    x.elem("KeyMarker", &enc(&key_marker));
    x.elem("VersionIdMarker", version_marker.as_deref().unwrap_or_default());
    if let (true, Some(last)) = (page.truncated, page.entries.last()) {
        match last {
            VersionEntry::Version { version, .. } => {
                x.elem("NextKeyMarker", &enc(&version.key));
                x.elem("NextVersionIdMarker", &version.version_id);
            }
            VersionEntry::Prefix(p) => x.elem("NextKeyMarker", &enc(p)),
        }
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
        let VersionEntry::Version { version: m, latest } = e else {
            continue;
        };
        let element = if m.is_delete_marker() {
            "DeleteMarker"
        } else {
            "Version"
        };
        x.open(element);
        x.elem("Key", &enc(&m.key));
        x.elem("VersionId", &m.version_id);
        x.elem("IsLatest", &latest.to_string());
        x.elem("LastModified", &iso8601(m.last_modified_ms));
        if !m.is_delete_marker() {
            x.elem("ETag", &quoted(&m.etag));
            x.elem("Size", &m.size.to_string());
            x.elem("StorageClass", "STANDARD");
        }
        let owner = Some(m.headers.acl.owner.as_str()).filter(|o| !o.is_empty());
        x.owner("Owner", owner.unwrap_or(&bucket.owner));
        x.close(element);
    }
    for e in &page.entries {
        if let VersionEntry::Prefix(p) = e {
            x.open("CommonPrefixes");
            x.elem("Prefix", &enc(p));
            x.close("CommonPrefixes");
        }
    }
    x.close("ListVersionsResult");
    Ok(xml(StatusCode::OK, x.finish()))
}
