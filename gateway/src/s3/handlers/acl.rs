//! ACLs: Get/PutBucketAcl, Get/PutObjectAcl, and the ACL a write (PutObject,
//! CopyObject, CreateMultipartUpload, CreateBucket) gives what it creates, under the
//! bucket's object ownership and public access block.

use crate::s3::authz::object_owner;
use crate::s3::body::read_small;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::grants;
use crate::s3::request::S3Request;
use crate::s3::response::{empty, xml};
use crate::s3::state::S3State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use strata_blockstore::{Acl, Bucket, Grant, Grantee, ObjectOwnership, Permission};

/// With ACLs off (BucketOwnerEnforced), S3 still takes ACLs that grant nothing beyond
/// the owner's full control.
fn owner_only(grants: &[Grant], owner: &str) -> bool {
    grants
        .iter()
        .all(|g| g.grantee == Grantee::User(owner.to_owned()) && g.permission == Permission::FullControl)
}

/// Drops the owner's own full control: it is implied.
fn beyond_owner(grants: Vec<Grant>, owner: &str) -> Vec<Grant> {
    let own = Grantee::User(owner.to_owned());
    grants
        .into_iter()
        .filter(|g| !(g.grantee == own && g.permission == Permission::FullControl))
        .collect()
}

/// Refuses grants to users that do not exist, as S3 refuses unknown canonical ids.
async fn check_grantees(state: &S3State, grants: &[Grant]) -> S3Result<()> {
    let names = grants::named_users(grants);
    if names.is_empty() {
        return Ok(());
    }
    let missing = state
        .run(move |s| {
            for n in names {
                if s.user(&n)?.is_none() {
                    return Ok(Some(n));
                }
            }
            Ok(None)
        })
        .await?;
    match missing {
        Some(n) => Err(S3Error::InvalidArgument(format!("Invalid id: {n}"))),
        None => Ok(()),
    }
}

/// Refuses public grants where the bucket's public access block says so.
fn check_public(bucket: &Bucket, grants: &[Grant]) -> S3Result<()> {
    let block = bucket.public_access_block.unwrap_or_default();
    if block.block_public_acls && grants.iter().any(|g| g.grantee.is_public()) {
        return Err(S3Error::AccessDenied(
            "Access Denied: public ACLs are blocked on this bucket",
        ));
    }
    Ok(())
}

/// The owner and ACL of an object a request writes into `bucket`, from its
/// `x-amz-acl` / `x-amz-grant-*` headers.
/// `writer` is the signed-in user (`None`: anonymous, whose objects the bucket owner
/// owns). Takes the headers, not the request: a request body is not `Sync`.
pub async fn for_new_object(
    state: &S3State,
    headers: &HeaderMap,
    writer: Option<&str>,
    bucket: &Bucket,
) -> S3Result<Acl> {
    let asked = grants::from_headers(headers, &bucket.owner)?;
    let ownership = bucket.ownership.unwrap_or(ObjectOwnership::ObjectWriter);
    if ownership == ObjectOwnership::BucketOwnerEnforced {
        if !owner_only(asked.as_deref().unwrap_or_default(), &bucket.owner) {
            return Err(S3Error::AclNotSupported);
        }
        return Ok(Acl {
            owner: bucket.owner.clone(),
            grants: Vec::new(),
        });
    }
    let to_bucket_owner = ownership == ObjectOwnership::BucketOwnerPreferred
        && headers
            .get("x-amz-acl")
            .is_some_and(|v| v == "bucket-owner-full-control");
    let owner = match writer {
        Some(writer) if !to_bucket_owner => writer.to_owned(),
        _ => bucket.owner.clone(),
    };
    let grants = beyond_owner(asked.unwrap_or_default(), &owner);
    check_public(bucket, &grants)?;
    check_grantees(state, &grants).await?;
    Ok(Acl { owner, grants })
}

/// The grants a CreateBucket asks for, checked against the ownership it sets.
pub async fn for_new_bucket(
    state: &S3State,
    headers: &HeaderMap,
    owner: &str,
    ownership: ObjectOwnership,
) -> S3Result<Vec<Grant>> {
    let asked = grants::from_headers(headers, owner)?.unwrap_or_default();
    if ownership == ObjectOwnership::BucketOwnerEnforced && !owner_only(&asked, owner) {
        return Err(S3Error::InvalidBucketAclWithObjectOwnership);
    }
    let grants = beyond_owner(asked, owner);
    check_grantees(state, &grants).await?;
    Ok(grants)
}

/// GetBucketAcl and GetObjectAcl.
pub async fn get_acl(_state: &S3State, mut req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?.clone();
    let enforced = bucket.ownership == Some(ObjectOwnership::BucketOwnerEnforced);
    let doc = match req.key.is_some() {
        true => {
            let m = req.take_object()?;
            let grants = if enforced { &[][..] } else { &m.headers.acl.grants[..] };
            grants::to_xml(object_owner(&bucket, &m.headers.acl), grants)
        }
        false => grants::to_xml(&bucket.owner, if enforced { &[] } else { &bucket.grants }),
    };
    Ok(xml(StatusCode::OK, doc))
}

/// PutBucketAcl and PutObjectAcl: a canned ACL or grant headers, or an
/// `AccessControlPolicy` body; the new grants replace the old.
pub async fn put_acl(state: &S3State, mut req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?.clone();
    let object = req.key.is_some().then(|| req.take_object()).transpose()?;
    let version = req.q("versionId").map(str::to_owned);
    let checked = object.as_ref().map(|m| m.created);
    let owner = match &object {
        Some(m) => object_owner(&bucket, &m.headers.acl).to_owned(),
        None => bucket.owner.clone(),
    };
    let from_headers = grants::from_headers(&req.headers, &bucket.owner)?;
    let body = read_small(req.body, 64 << 10).await?;
    let has_body = !body.iter().all(u8::is_ascii_whitespace);
    let asked = match (from_headers, has_body) {
        (Some(_), true) => {
            return Err(S3Error::InvalidRequest(
                "Specifying both an ACL in the body and in headers is not allowed".into(),
            ))
        }
        (Some(g), false) => g,
        (None, true) => grants::from_xml(&body, &owner)?,
        (None, false) => return Err(S3Error::MalformedAcl),
    };
    if bucket.ownership == Some(ObjectOwnership::BucketOwnerEnforced) {
        // S3 takes an ACL that changes nothing and refuses any other.
        return match owner_only(&asked, &owner) {
            true => Ok(empty(StatusCode::OK)),
            false => Err(S3Error::AclNotSupported),
        };
    }
    let grants = beyond_owner(asked, &owner);
    check_public(&bucket, &grants)?;
    check_grantees(state, &grants).await?;
    let (name, key) = (bucket.name.clone(), req.key.clone());
    state
        .run(move |s| match &key {
            Some(k) => s
                .update_object(&name, k, version.as_deref(), checked, |m| {
                    m.headers.acl.grants = grants.clone()
                })
                .map(drop),
            None => s.update_bucket(&name, |b| b.grants = grants.clone()).map(drop),
        })
        .await?;
    Ok(empty(StatusCode::OK))
}
