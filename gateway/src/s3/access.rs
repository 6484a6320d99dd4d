//! Who may touch a bucket: only its owner.

use crate::s3::error::{S3Error, S3Result};
use crate::s3::request::S3Request;
use crate::s3::state::S3State;
use strata_blockstore::{Bucket, Error as StoreError, Manifest};

/// The request's bucket, if it exists and the requester owns it.
/// (A request body is not `Sync`, so this takes the names, not the request.)
pub fn owned_bucket<'a>(
    state: &'a S3State,
    req: &S3Request,
) -> impl std::future::Future<Output = S3Result<Bucket>> + Send + 'a {
    check_owner(state, req.bucket().to_owned(), req.user.name.clone())
}

async fn check_owner(state: &S3State, name: String, user: String) -> S3Result<Bucket> {
    let bucket = state
        .run(move |s| s.bucket(&name))
        .await?
        .ok_or(S3Error::Store(StoreError::NoSuchBucket))?;
    owner_only(bucket, &user)
}

fn owner_only(bucket: Bucket, user: &str) -> S3Result<Bucket> {
    if bucket.owner != user {
        return Err(S3Error::AccessDenied("Access Denied"));
    }
    Ok(bucket)
}

/// The request's bucket and the live object its key names, read in one trip to a
/// blocking thread (reads are the hot path). Errors come in the same order as
/// `owned_bucket` then `Store::object`: NoSuchBucket, AccessDenied, NoSuchKey.
pub fn owned_object<'a>(
    state: &'a S3State,
    req: &S3Request,
) -> impl std::future::Future<Output = S3Result<(Bucket, Manifest)>> + Send + 'a {
    let (name, key, user) = (req.bucket().to_owned(), req.key().to_owned(), req.user.name.clone());
    async move {
        let (bucket, object) = state
            .run(move |s| Ok((s.bucket(&name)?, s.object(&name, &key))))
            .await?;
        let bucket = owner_only(bucket.ok_or(S3Error::Store(StoreError::NoSuchBucket))?, &user)?;
        Ok((bucket, object?))
    }
}
