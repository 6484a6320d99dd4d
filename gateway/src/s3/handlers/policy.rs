//! A bucket's access settings other than its ACL: the bucket policy
//! (Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus), object ownership controls
//! and the public access block.

use crate::s3::body::read_small;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::policy::{Policy, MAX_POLICY_BYTES};
use crate::s3::request::S3Request;
use crate::s3::response::{empty, set, xml};
use crate::s3::state::S3State;
use crate::s3::xml::{parse, XmlWriter};
use axum::response::Response;
use http::StatusCode;
use strata_blockstore::{Bucket, ObjectOwnership, PublicAccessBlock};

async fn update(state: &S3State, name: String, change: impl Fn(&mut Bucket) + Send + Sync + 'static) -> S3Result<()> {
    state.run(move |s| s.update_bucket(&name, &change)).await?;
    Ok(())
}

pub async fn put_policy(state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?.clone();
    let body = read_small(req.body, MAX_POLICY_BYTES + 1).await?;
    let policy = Policy::parse(&body, &bucket.name)?;
    let block = bucket.public_access_block.unwrap_or_default();
    if block.block_public_policy && policy.is_public() {
        return Err(S3Error::AccessDenied(
            "Access Denied: public policies are blocked on this bucket",
        ));
    }
    let text =
        String::from_utf8(body.to_vec()).map_err(|_| S3Error::MalformedPolicy("Policies must be UTF-8".into()))?;
    update(state, bucket.name, move |b| b.policy = Some(text.clone())).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn get_policy(_state: &S3State, req: S3Request) -> S3Result<Response> {
    let policy = req
        .authorized_bucket()?
        .policy
        .clone()
        .ok_or(S3Error::NoSuchBucketPolicy)?;
    let mut r = Response::new(policy.into());
    set(&mut r, "content-type", "application/json");
    Ok(r)
}

pub async fn delete_policy(state: &S3State, req: S3Request) -> S3Result<Response> {
    update(state, req.bucket().to_owned(), |b| b.policy = None).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn get_policy_status(_state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?;
    let text = bucket.policy.as_deref().ok_or(S3Error::NoSuchBucketPolicy)?;
    let public = Policy::parse(text.as_bytes(), &bucket.name)?.is_public();
    let mut x = XmlWriter::new();
    x.root("PolicyStatus");
    x.elem("IsPublic", if public { "true" } else { "false" });
    x.close("PolicyStatus");
    Ok(xml(StatusCode::OK, x.finish()))
}

pub async fn put_ownership(state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?.clone();
    let body = read_small(req.body, 64 << 10).await?;
    let doc = parse(&body, "OwnershipControls")?;
    let rules: Vec<_> = doc.all("Rule").collect();
    let [rule] = rules[..] else {
        return Err(S3Error::MalformedXml);
    };
    let ownership = rule
        .text_of("ObjectOwnership")
        .and_then(ObjectOwnership::parse)
        .ok_or(S3Error::MalformedXml)?;
    if ownership == ObjectOwnership::BucketOwnerEnforced && !bucket.grants.is_empty() {
        return Err(S3Error::InvalidBucketAclWithObjectOwnership);
    }
    update(state, bucket.name, move |b| b.ownership = Some(ownership)).await?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_ownership(_state: &S3State, req: S3Request) -> S3Result<Response> {
    let ownership = req.authorized_bucket()?.ownership.ok_or(S3Error::NoOwnershipControls)?;
    let mut x = XmlWriter::new();
    x.root("OwnershipControls");
    x.open("Rule");
    x.elem("ObjectOwnership", ownership.name());
    x.close("Rule");
    x.close("OwnershipControls");
    Ok(xml(StatusCode::OK, x.finish()))
}

pub async fn delete_ownership(state: &S3State, req: S3Request) -> S3Result<Response> {
    update(state, req.bucket().to_owned(), |b| b.ownership = None).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

const SWITCHES: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

pub async fn put_public_access_block(state: &S3State, req: S3Request) -> S3Result<Response> {
    let name = req.bucket().to_owned();
    let body = read_small(req.body, 64 << 10).await?;
    let doc = parse(&body, "PublicAccessBlockConfiguration")?;
    let mut on = [false; 4];
    for (i, switch) in SWITCHES.iter().enumerate() {
        on[i] = match doc.text_of(switch) {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(S3Error::MalformedXml),
        };
    }
    let block = PublicAccessBlock {
        block_public_acls: on[0],
        ignore_public_acls: on[1],
        block_public_policy: on[2],
        restrict_public_buckets: on[3],
    };
    update(state, name, move |b| b.public_access_block = Some(block)).await?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_public_access_block(_state: &S3State, req: S3Request) -> S3Result<Response> {
    let b = req
        .authorized_bucket()?
        .public_access_block
        .ok_or(S3Error::NoPublicAccessBlock)?;
    let on = [
        b.block_public_acls,
        b.ignore_public_acls,
        b.block_public_policy,
        b.restrict_public_buckets,
    ];
    let mut x = XmlWriter::new();
    x.root("PublicAccessBlockConfiguration");
    for (switch, on) in SWITCHES.iter().zip(on) {
        x.elem(switch, if on { "true" } else { "false" });
    }
    x.close("PublicAccessBlockConfiguration");
    Ok(xml(StatusCode::OK, x.finish()))
}

pub async fn delete_public_access_block(state: &S3State, req: S3Request) -> S3Result<Response> {
    update(state, req.bucket().to_owned(), |b| b.public_access_block = None).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
