//! Object and bucket tagging: Put/Get/Delete, and the `x-amz-tagging` header on writes.

use crate::s3::body::read_small;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::request::S3Request;
use crate::s3::response::{empty, set, xml};
use crate::s3::signed::query_pairs;
use crate::s3::state::S3State;
use crate::s3::xml::{parse, XmlWriter};
use axum::response::Response;
use http::StatusCode;
use std::collections::HashSet;

pub type Tags = Vec<(String, String)>;

const MAX_OBJECT_TAGS: usize = 10;
const MAX_BUCKET_TAGS: usize = 50;

fn validate(tags: &Tags, max: usize) -> S3Result<()> {
    if tags.len() > max {
        return Err(S3Error::InvalidTag(format!("Object tags cannot be greater than {max}")));
    }
    let mut seen = HashSet::new();
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(S3Error::InvalidTag("The TagKey you have provided is invalid".into()));
        }
        if v.chars().count() > 256 {
            return Err(S3Error::InvalidTag("The TagValue you have provided is invalid".into()));
        }
        if !seen.insert(k) {
            return Err(S3Error::InvalidTag(
                "Cannot provide multiple Tags with the same key".into(),
            ));
        }
    }
    Ok(())
}

/// Tags from an `x-amz-tagging` header (URL query form), validated.
pub fn from_header(req: &S3Request) -> S3Result<Tags> {
    let tags: Tags = req.header("x-amz-tagging").map(query_pairs).unwrap_or_default();
    validate(&tags, MAX_OBJECT_TAGS)?;
    Ok(tags)
}

async fn read_tagging(req: S3Request, max: usize) -> S3Result<Tags> {
    let body = read_small(req.body, 64 << 10).await?;
    let doc = parse(&body, "Tagging")?;
    let set = doc.child("TagSet").ok_or(S3Error::MalformedXml)?;
    let tags: Tags = set
        .all("Tag")
        .map(|t| {
            Ok((
                t.text_of("Key").ok_or(S3Error::MalformedXml)?.to_owned(),
                t.text_of("Value").unwrap_or_default().to_owned(),
            ))
        })
        .collect::<S3Result<_>>()?;
    validate(&tags, max)?;
    Ok(tags)
}

fn tagging_doc(tags: &Tags) -> String {
    let mut x = XmlWriter::new();
    x.root("Tagging");
    x.open("TagSet");
    for (k, v) in tags {
        x.open("Tag");
        x.elem("Key", k);
        x.elem("Value", v);
        x.close("Tag");
    }
    x.close("TagSet");
    x.close("Tagging");
    x.finish()
}

pub async fn put_object_tagging(state: &S3State, req: S3Request) -> S3Result<Response> {
    let (bucket, key) = (req.bucket().to_owned(), req.key().to_owned());
    let (version, checked) = target_version(&req);
    let tags = read_tagging(req, MAX_OBJECT_TAGS).await?;
    let m = state
        .run(move |s| {
            s.update_object(&bucket, &key, version.as_deref(), checked, |m| {
                m.headers.tags = tags.clone()
            })
        })
        .await?;
    let mut r = empty(StatusCode::OK);
    set(&mut r, "x-amz-version-id", &m.version_id);
    Ok(r)
}

pub async fn get_object_tagging(_state: &S3State, mut req: S3Request) -> S3Result<Response> {
    let m = req.take_object()?;
    let mut r = xml(StatusCode::OK, tagging_doc(&m.headers.tags));
    set(&mut r, "x-amz-version-id", &m.version_id);
    Ok(r)
}

/// The version a request on an object's subresource names (`versionId`; None: the
/// current one) and the `created` of the version its permission was judged on.
pub fn target_version(
    req: &S3Request,
) -> (
    Option<String>,
    Option<(strata_blockstore::Hlc, strata_blockstore::SiteId)>,
) {
    (
        req.q("versionId").map(str::to_owned),
        req.object.as_ref().map(|m| m.created),
    )
}

pub async fn delete_object_tagging(state: &S3State, req: S3Request) -> S3Result<Response> {
    let (bucket, key) = (req.bucket().to_owned(), req.key().to_owned());
    let (version, checked) = target_version(&req);
    let m = state
        .run(move |s| s.update_object(&bucket, &key, version.as_deref(), checked, |m| m.headers.tags.clear()))
        .await?;
    let mut r = empty(StatusCode::NO_CONTENT);
    set(&mut r, "x-amz-version-id", &m.version_id);
    Ok(r)
}

pub async fn put_bucket_tagging(state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.bucket().to_owned();
    let tags = read_tagging(req, MAX_BUCKET_TAGS).await?;
    state
        .run(move |s| s.update_bucket(&bucket, |b| b.tags = tags.clone()))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn get_bucket_tagging(_state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?.clone();
    if bucket.tags.is_empty() {
        return Err(S3Error::NoSuchTagSet);
    }
    Ok(xml(StatusCode::OK, tagging_doc(&bucket.tags)))
}

pub async fn delete_bucket_tagging(state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.bucket().to_owned();
    state.run(move |s| s.update_bucket(&bucket, |b| b.tags.clear())).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
