//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation.

use crate::s3::body::read_small;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::handlers::acl;
use crate::s3::request::{valid_bucket_name, S3Request};
use crate::s3::response::{empty, set, xml};
use crate::s3::state::S3State;
use crate::s3::xml::XmlWriter;
use crate::timefmt::iso8601;
use axum::response::Response;
use http::StatusCode;
use strata_blockstore::{Bucket, ObjectOwnership};
use strata_repl::NamespaceOp;

pub async fn list_buckets(state: &S3State, req: S3Request) -> S3Result<Response> {
    let owner = req.user_name().unwrap_or_default().to_owned();
    let o = owner.clone();
    let buckets = state.run(move |s| s.list_buckets(&o)).await?;
    let mut x = XmlWriter::new();
    x.root("ListAllMyBucketsResult");
    x.owner("Owner", &owner);
    x.open("Buckets");
    for b in buckets {
        x.open("Bucket");
        x.elem("Name", &b.name);
        x.elem("CreationDate", &iso8601(b.created_ms));
        x.close("Bucket");
    }
    x.close("Buckets");
    x.close("ListAllMyBucketsResult");
    Ok(xml(StatusCode::OK, x.finish()))
}

pub async fn create_bucket(state: &S3State, req: S3Request) -> S3Result<Response> {
    let name = req.bucket().to_owned();
    if !valid_bucket_name(&name) {
        return Err(S3Error::InvalidBucketName);
    }
    let ownership = match req.header("x-amz-object-ownership") {
        None => state.default_ownership,
        Some(o) => ObjectOwnership::parse(o)
            .ok_or_else(|| S3Error::InvalidArgument(format!("Invalid x-amz-object-ownership: {o}")))?,
    };
    let owner = req.user_name().unwrap_or_default().to_owned();
    let grants = acl::for_new_bucket(state, &req.headers, &owner, ownership).await?;
    // The optional CreateBucketConfiguration only names a location; one site has one.
    // Object Lock is chosen at creation (with versioning on, for good), as in S3.
    let locked = req
        .header("x-amz-bucket-object-lock-enabled")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    read_small(req.body, 64 << 10).await?;
    let init = move |b: &mut Bucket| {
        b.ownership = Some(ownership);
        b.grants = grants.clone();
        if locked {
            b.object_lock = Some(Default::default());
            b.versioning = strata_blockstore::Versioning::Enabled;
        }
    };
    // In a group with a namespace authority, it decides (and this site applies what it
    // decided before answering, so the bucket is usable here at once).
    let forwarded = match &state.repl {
        Some(repl) => {
            let mut b = state.store.bucket_template(&name, &owner);
            (init.clone())(&mut b);
            repl.forward(NamespaceOp::CreateBucket(Box::new(b))).await?
        }
        None => None,
    };
    if forwarded.is_none() {
        let n = name.clone();
        state.run(move |s| s.create_bucket_with(&n, &owner, init)).await?;
    }
    let mut r = empty(StatusCode::OK);
    set(&mut r, "location", &format!("/{name}"));
    Ok(r)
}

pub async fn head_bucket(state: &S3State, _req: S3Request) -> S3Result<Response> {
    let mut r = empty(StatusCode::OK);
    set(&mut r, "x-amz-bucket-region", &state.region);
    Ok(r)
}

pub async fn delete_bucket(state: &S3State, req: S3Request) -> S3Result<Response> {
    let name = req.bucket().to_owned();
    if let Some(repl) = &state.repl {
        // Objects stay multi-master: one here the authority has not seen yet keeps
        // the bucket, as it would locally.
        let n = name.clone();
        if !state.run(move |s| s.bucket_is_empty(&n)).await? {
            return Err(S3Error::Store(strata_blockstore::Error::BucketNotEmpty));
        }
        if repl
            .forward(NamespaceOp::DeleteBucket { name: name.clone() })
            .await?
            .is_some()
        {
            return Ok(empty(StatusCode::NO_CONTENT));
        }
    }
    state.run(move |s| s.delete_bucket(&name)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn get_location(state: &S3State, _req: S3Request) -> S3Result<Response> {
    // S3 reports us-east-1 as an empty constraint.
    let region = if state.region == "us-east-1" { "" } else { &state.region };
    let mut x = XmlWriter::new();
    x.root("LocationConstraint");
    let mut doc = x.finish();
    doc.push_str(region);
    doc.push_str("</LocationConstraint>");
    Ok(xml(StatusCode::OK, doc))
}
