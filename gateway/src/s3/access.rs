//! Who may touch a bucket: only its owner.

use crate::s3::error::{S3Error, S3Result};
use crate::s3::request::S3Request;
use crate::s3::state::S3State;
use strata_blockstore::{Bucket, Error as StoreError};

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
    if bucket.owner != user {
        return Err(S3Error::AccessDenied("Access Denied"));
    }
    Ok(bucket)
}
