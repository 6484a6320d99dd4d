//! DeleteObjects: up to 1000 keys in one request and one commit.

use crate::s3::access::{allows, Facts};
use crate::s3::body::read_small;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::request::{S3Request, MAX_KEY_BYTES};
use crate::s3::response::xml;
use crate::s3::state::S3State;
use crate::s3::xml::{parse, XmlWriter};
use axum::response::Response;
use http::StatusCode;

const MAX_KEYS: usize = 1000;

pub async fn delete_objects(state: &S3State, req: S3Request) -> S3Result<Response> {
    let facts = Facts::of(&req, true);
    let record = req.authorized_bucket()?.clone();
    let bucket = req.bucket().to_owned();
    let bypass = crate::s3::handlers::object_lock::bypass_asked(&req.headers);
    let body = read_small(req.body, 2 << 20).await?;
    let doc = parse(&body, "Delete")?;
    let quiet = doc.text_of("Quiet").is_some_and(|q| q.eq_ignore_ascii_case("true"));
    let objects: Vec<_> = doc.all("Object").collect();
    if objects.is_empty() || objects.len() > MAX_KEYS {
        return Err(S3Error::MalformedXml);
    }
    let mut keys = Vec::new();
    let mut versions = Vec::new();
    // (key, code, message) for keys refused one by one; the others are deleted together.
    let mut errors: Vec<(String, &str, &str)> = Vec::new();
    for o in objects {
        // Keys are taken as sent: leading and trailing spaces are part of a key.
        let key = o.child("Key").map(|k| k.text.clone()).ok_or(S3Error::MalformedXml)?;
        let version = o.text_of("VersionId").filter(|v| !v.is_empty());
        let action = match version {
            Some(_) => "s3:DeleteObjectVersion",
            None => "s3:DeleteObject",
        };
        match version {
            Some(v) if strata_blockstore::check_version_id(v).is_err() => {
                errors.push((key, "NoSuchVersion", "The specified version does not exist."))
            }
            _ if key.is_empty() || key.len() > MAX_KEY_BYTES => {
                errors.push((key, "InvalidArgument", "Invalid key length"))
            }
            _ if !allows(&facts, &record, action, &key) => errors.push((key, "AccessDenied", "Access Denied")),
            Some(v) => {
                let who = crate::s3::handlers::object_lock::remover(bypass, &facts, &record, &key);
                versions.push((key, v.to_owned(), who))
            }
            None => keys.push(key),
        }
    }
    // Keys without a version are deleted together; each named version on its own.
    let (deleted, gone, locked) = state
        .run(move |s| {
            let deleted = s.delete_objects(&bucket, &keys)?;
            let (mut gone, mut locked) = (Vec::new(), Vec::new());
            for (k, v, who) in &versions {
                match s.delete_version(&bucket, k, v, None, *who) {
                    Ok(found) => gone.push((k.clone(), v.clone(), found.is_some_and(|m| m.is_delete_marker()))),
                    Err(strata_blockstore::Error::ObjectLocked(_)) => locked.push(k.clone()),
                    Err(e) => return Err(e),
                }
            }
            Ok((deleted, gone, locked))
        })
        .await?;
    for k in locked {
        errors.push((
            k,
            "AccessDenied",
            "Access Denied because object protected by object lock.",
        ));
    }
    let mut x = XmlWriter::new();
    x.root("DeleteResult");
    if !quiet {
        for d in &deleted {
            x.open("Deleted");
            x.elem("Key", &d.key);
            if let Some(v) = &d.marker_version {
                x.elem("DeleteMarker", "true");
                x.elem("DeleteMarkerVersionId", v);
            }
            x.close("Deleted");
        }
        for (k, v, marker) in &gone {
            x.open("Deleted");
            x.elem("Key", k);
            x.elem("VersionId", v);
            if *marker {
                x.elem("DeleteMarker", "true");
                x.elem("DeleteMarkerVersionId", v);
            }
            x.close("Deleted");
        }
    }
    for (k, code, message) in &errors {
        x.open("Error");
        x.elem("Key", k);
        x.elem("Code", code);
        x.elem("Message", message);
        x.close("Error");
    }
    x.close("DeleteResult");
    Ok(xml(StatusCode::OK, x.finish()))
}
