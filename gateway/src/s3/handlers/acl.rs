//! ACLs. Buckets behave as S3's default "bucket owner enforced" object ownership: the
//! owner has FULL_CONTROL of everything, ACLs grant nothing else, and a request that
//! tries to grant more is refused as S3 refuses it.

use crate::s3::access::owned_bucket;
use crate::s3::body::read_small;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::request::S3Request;
use crate::s3::response::{empty, xml};
use crate::s3::state::S3State;
use crate::s3::xml::{parse, XmlWriter};
use axum::response::Response;
use http::{HeaderMap, StatusCode};

/// Canned ACLs that grant nothing beyond the owner's full control.
const OWNER_ONLY: &[&str] = &["private", "bucket-owner-full-control"];

/// Refuses ACL headers that would grant anyone but the owner.
pub fn check_acl_headers(h: &HeaderMap) -> S3Result<()> {
    if let Some(acl) = h.get("x-amz-acl").and_then(|v| v.to_str().ok()) {
        if !OWNER_ONLY.contains(&acl.trim()) {
            return Err(S3Error::AclNotSupported);
        }
    }
    if h.keys().any(|k| k.as_str().starts_with("x-amz-grant-")) {
        return Err(S3Error::AclNotSupported);
    }
    Ok(())
}

fn policy(owner: &str) -> String {
    let mut x = XmlWriter::new();
    x.root("AccessControlPolicy");
    x.owner("Owner", owner);
    x.open("AccessControlList");
    x.open("Grant");
    let mut doc = x.finish();
    doc.push_str("<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">");
    let mut g = XmlWriter::fragment();
    g.elem("ID", owner);
    g.elem("DisplayName", owner);
    g.close("Grantee");
    g.elem("Permission", "FULL_CONTROL");
    g.close("Grant");
    g.close("AccessControlList");
    g.close("AccessControlPolicy");
    doc.push_str(&g.finish());
    doc
}

/// GetBucketAcl and GetObjectAcl.
pub async fn get_acl(state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = owned_bucket(state, &req).await?;
    if let Some(key) = req.key.clone() {
        let name = bucket.name.clone();
        state.run(move |s| s.object(&name, &key)).await?;
    }
    Ok(xml(StatusCode::OK, policy(&bucket.owner)))
}

/// PutBucketAcl and PutObjectAcl: only what changes nothing is accepted.
pub async fn put_acl(state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = owned_bucket(state, &req).await?;
    check_acl_headers(&req.headers)?;
    if let Some(key) = req.key.clone() {
        let name = bucket.name.clone();
        state.run(move |s| s.object(&name, &key)).await?;
    }
    let body = read_small(req.body, 64 << 10).await?;
    if !body.iter().all(u8::is_ascii_whitespace) {
        let doc = parse(&body, "AccessControlPolicy")?;
        let grants = doc
            .child("AccessControlList")
            .map(|l| l.all("Grant").collect::<Vec<_>>())
            .unwrap_or_default();
        let owner_only = grants.iter().all(|g| {
            g.text_of("Permission") == Some("FULL_CONTROL")
                && g.child("Grantee").and_then(|e| e.text_of("ID")) == Some(bucket.owner.as_str())
        });
        if !owner_only {
            return Err(S3Error::AclNotSupported);
        }
    }
    Ok(empty(StatusCode::OK))
}
