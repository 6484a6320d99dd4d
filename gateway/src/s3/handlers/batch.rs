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
    let body = read_small(req.body, 2 << 20).await?;
    let doc = parse(&body, "Delete")?;
    let quiet = doc.text_of("Quiet").is_some_and(|q| q.eq_ignore_ascii_case("true"));
    let objects: Vec<_> = doc.all("Object").collect();
    if objects.is_empty() || objects.len() > MAX_KEYS {
        return Err(S3Error::MalformedXml);
    }
    let mut keys = Vec::new();
    // (key, code, message) for keys refused one by one; the others are deleted together.
    let mut errors: Vec<(String, &str, &str)> = Vec::new();
    for o in objects {
        // Keys are taken as sent: leading and trailing spaces are part of a key.
        let key = o.child("Key").map(|k| k.text.clone()).ok_or(S3Error::MalformedXml)?;
        match o.text_of("VersionId") {
            Some(v) if v != "null" => errors.push((key, "NoSuchVersion", "The specified version does not exist.")),
            _ if key.is_empty() || key.len() > MAX_KEY_BYTES => {
                errors.push((key, "InvalidArgument", "Invalid key length"))
            }
            _ if !allows(&facts, &record, "s3:DeleteObject", &key) => {
                errors.push((key, "AccessDenied", "Access Denied"))
            }
            _ => keys.push(key),
        }
    }
    let deleted = keys.clone();
    state.run(move |s| s.delete_objects(&bucket, &keys)).await?;
    let mut x = XmlWriter::new();
    x.root("DeleteResult");
    if !quiet {
        for k in &deleted {
            x.open("Deleted");
            x.elem("Key", k);
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
