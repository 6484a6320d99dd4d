//! Access for a request: reads what the decision needs (the bucket, the object's ACL)
//! in one trip to a blocking thread, asks `authz`, and hands the records it read to the
//! handler. The router calls [`authorize`] before every handler; handlers that act on
//! more than the request's own target (a copy's source, each key of DeleteObjects) ask
//! here too.

use crate::s3::authz::{decide, Question, Refusal};
use crate::s3::error::{S3Error, S3Result};
use crate::s3::operation::{Operation, Scope};
use crate::s3::policy::Policy;
use crate::s3::request::S3Request;
use crate::s3::state::S3State;
use strata_blockstore::{Acl, Bucket, Error as StoreError, Manifest};

const DENIED: S3Error = S3Error::AccessDenied("Access Denied");

/// Checks that the request may do `op`, and leaves the bucket (and, for object-scoped
/// operations, the object) it read in the request.
pub async fn authorize(state: &S3State, req: &mut S3Request, op: Operation) -> S3Result<()> {
    let action = match req.q("versionId") {
        Some(_) => op.version_action(),
        None => op.action(),
    };
    match op.scope() {
        Scope::Service | Scope::NewBucket => {
            if req.user.is_none() {
                return Err(DENIED);
            }
        }
        Scope::Bucket | Scope::EachKey => {
            let name = req.bucket().to_owned();
            let bucket = state
                .run(move |s| s.bucket(&name))
                .await?
                .ok_or(S3Error::Store(StoreError::NoSuchBucket))?;
            if op.scope() == Scope::Bucket {
                let facts = Facts::of(req, bucket.policy.is_some());
                check(&facts, action, &bucket, req.key.as_deref(), None)?;
                // Tags sent with a new object need their own permission, as in S3: a
                // user allowed only s3:PutObject may not tag what it writes.
                let tags_with_write = matches!(
                    op,
                    Operation::PutObject | Operation::CopyObject | Operation::CreateMultipartUpload
                ) && req.header("x-amz-tagging").is_some();
                if tags_with_write {
                    check(&facts, "s3:PutObjectTagging", &bucket, req.key.as_deref(), None)?;
                }
            }
            req.bucket_record = Some(bucket);
        }
        Scope::Object => {
            let version = req.q("versionId").map(str::to_owned);
            let (bucket, object) = read_target(state, req.bucket(), req.key(), version).await?;
            let facts = Facts::of(req, bucket.policy.is_some());
            let object = existing(&facts, &bucket, object)?;
            check(&facts, action, &bucket, req.key.as_deref(), Some(&object.headers.acl))?;
            req.bucket_record = Some(bucket);
            req.object = Some(object);
        }
    }
    Ok(())
}

/// A bucket and the object version a key names (None: its current one), read
/// together in one trip.
async fn read_target(
    state: &S3State,
    name: &str,
    key: &str,
    version: Option<String>,
) -> S3Result<(Bucket, strata_blockstore::Result<Manifest>)> {
    let (n, k) = (name.to_owned(), key.to_owned());
    let (bucket, object) = state
        .run(move |s| Ok((s.bucket(&n)?, s.object_version(&n, &k, version.as_deref()))))
        .await?;
    Ok((bucket.ok_or(S3Error::Store(StoreError::NoSuchBucket))?, object))
}

/// The object, or why not: a missing key is NoSuchKey only to whoever may list the
/// bucket; S3 tells others AccessDenied.
fn existing(facts: &Facts, bucket: &Bucket, object: strata_blockstore::Result<Manifest>) -> S3Result<Manifest> {
    match object {
        Ok(m) => Ok(m),
        Err(e @ (StoreError::NoSuchKey | StoreError::NoSuchVersion | StoreError::DeleteMarker { .. })) => {
            check(facts, "s3:ListBucket", bucket, None, None)?;
            Err(S3Error::Store(e))
        }
        Err(e) => Err(e.into()),
    }
}

/// The source of a CopyObject or UploadPartCopy, which the requester must be allowed
/// to read (`s3:GetObject` under the source bucket's rules).
pub async fn readable_source(
    state: &S3State,
    facts: &Facts,
    bucket: &str,
    key: &str,
    version: Option<String>,
) -> S3Result<Manifest> {
    let (b, m) = read_target(state, bucket, key, version).await?;
    let m = existing(facts, &b, m)?;
    check(facts, "s3:GetObject", &b, Some(key), Some(&m.headers.acl))?;
    Ok(m)
}

/// Whether the request may do `action` to `key` of `bucket` (DeleteObjects asks for
/// each key).
pub fn allows(facts: &Facts, bucket: &Bucket, action: &str, key: &str) -> bool {
    check(facts, action, bucket, Some(key), None).is_ok()
}

/// What the decision reads of a request, taken out of it so that it can be held across
/// an await (a request body is not `Sync`).
pub struct Facts {
    principal: Option<String>,
    client_ip: Option<std::net::IpAddr>,
    secure: bool,
    headers: Vec<(&'static str, String)>,
    query: Vec<(&'static str, String)>,
}

impl Facts {
    /// The principal, and with `conditions` (the bucket has a policy) the values its
    /// conditions may test.
    pub fn of(req: &S3Request, conditions: bool) -> Facts {
        let pick = |names: &[&'static str], get: &dyn Fn(&str) -> Option<String>| match conditions {
            true => names.iter().filter_map(|n| get(n).map(|v| (*n, v))).collect(),
            false => Vec::new(),
        };
        Facts {
            principal: req.user.as_ref().map(|u| u.name.clone()),
            client_ip: req.client_ip,
            secure: req.secure,
            headers: pick(&["referer", "user-agent", "x-amz-acl"], &|n| {
                req.header(n).map(str::to_owned)
            }),
            query: pick(&["prefix", "delimiter", "max-keys"], &|n| req.q(n).map(str::to_owned)),
        }
    }

    /// The request's value for a policy condition key.
    fn value(&self, key: &str) -> Option<String> {
        let header = |n: &str| self.headers.iter().find(|(h, _)| *h == n).map(|(_, v)| v.clone());
        match key {
            "aws:SourceIp" => self.client_ip.map(|ip| ip.to_string()),
            "aws:SecureTransport" => Some(self.secure.to_string()),
            "aws:Referer" => header("referer"),
            "aws:UserAgent" => header("user-agent"),
            "aws:username" | "aws:userid" => self.principal.clone(),
            "aws:PrincipalType" => Some(if self.principal.is_some() { "User" } else { "Anonymous" }.into()),
            "s3:prefix" | "s3:delimiter" | "s3:max-keys" => {
                self.query.iter().find(|(q, _)| *q == &key[3..]).map(|(_, v)| v.clone())
            }
            "s3:x-amz-acl" => header("x-amz-acl"),
            _ => None,
        }
    }
}

/// The decision for one action.
fn check(facts: &Facts, action: &str, bucket: &Bucket, key: Option<&str>, object: Option<&Acl>) -> S3Result<()> {
    let policy = match bucket
        .policy
        .as_deref()
        .map(|p| Policy::parse(p.as_bytes(), &bucket.name))
    {
        Some(Ok(p)) => Some(p),
        // Stored policies were checked when put; one that no longer reads (written by
        // a newer build) must not open anything, so it denies.
        Some(Err(e)) => {
            tracing::error!(bucket = %bucket.name, error = %e, "stored bucket policy does not parse; denying");
            return Err(DENIED);
        }
        None => None,
    };
    let principal = facts.principal.as_deref();
    let value = |k: &str| facts.value(k);
    let verdict = decide(&Question {
        principal,
        action,
        bucket,
        policy: policy.as_ref(),
        key,
        object,
        value: &value,
    });
    verdict.map_err(|why| {
        let why = match why {
            Refusal::ExplicitDeny => "explicitly denied by the bucket policy",
            Refusal::NotAllowed => "allowed by no owner right, policy or ACL",
        };
        tracing::debug!(principal = principal.unwrap_or("anonymous"), action, bucket = %bucket.name, key, why, "access denied");
        DENIED
    })
}
