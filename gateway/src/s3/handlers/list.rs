//! ListObjects (v1) and ListObjectsV2.

use crate::s3::error::{S3Error, S3Result};
use crate::s3::request::S3Request;
use crate::s3::response::{quoted, xml};
use crate::s3::signed::uri_encode;
use crate::s3::state::S3State;
use crate::s3::xml::XmlWriter;
use crate::timefmt::iso8601;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use http::StatusCode;
use strata_blockstore::{ListEntry, ListPage, ListQuery, Manifest};

const MAX_KEYS: usize = 1000;

/// A `max-keys`-style parameter: a non-negative integer, capped at 1000.
pub fn max_param(req: &S3Request, name: &str) -> S3Result<usize> {
    match req.q(name) {
        None => Ok(MAX_KEYS),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| (n as usize).min(MAX_KEYS))
            .ok_or_else(|| S3Error::InvalidArgument(format!("Provided {name} not an integer or within integer range"))),
    }
}

/// With `encoding-type=url`, names in the response are URL-encoded.
pub fn encoder(req: &S3Request) -> impl Fn(&str) -> String {
    let url = req.q("encoding-type") == Some("url");
    move |s: &str| if url { uri_encode(s, true) } else { s.to_owned() }
}

/// One page of a bucket's keys, read on a blocking thread.
pub async fn list_page(
    state: &S3State,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    after: &str,
    max: usize,
) -> S3Result<ListPage> {
    let (b, p, d, a) = (
        bucket.to_owned(),
        prefix.to_owned(),
        delimiter.map(str::to_owned),
        after.to_owned(),
    );
    state
        .run(move |s| {
            s.list_objects(
                &b,
                &ListQuery {
                    prefix: &p,
                    delimiter: d.as_deref(),
                    after: &a,
                    max,
                },
            )
        })
        .await
}

/// The `<CommonPrefixes>` of a listing page.
pub fn common_prefixes(x: &mut XmlWriter, page: &ListPage, enc: &impl Fn(&str) -> String) {
    for e in &page.entries {
        if let ListEntry::Prefix(p) = e {
            x.open("CommonPrefixes");
            x.elem("Prefix", &enc(p));
            x.close("CommonPrefixes");
        }
    }
}

fn contents(x: &mut XmlWriter, m: &Manifest, key: &str, owner: Option<&str>) {
    x.open("Contents");
    x.elem("Key", key);
    x.elem("LastModified", &iso8601(m.last_modified_ms));
    x.elem("ETag", &quoted(&m.etag));
    x.elem("Size", &m.size.to_string());
    x.elem("StorageClass", "STANDARD");
    if let Some(owner) = owner {
        x.owner("Owner", owner);
    }
    x.close("Contents");
}

pub async fn list_objects(state: &S3State, req: S3Request, v2: bool) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?.clone();
    if let Some(e) = req.q("encoding-type").filter(|e| *e != "url") {
        return Err(S3Error::InvalidArgument(format!(
            "Invalid Encoding Method specified in Request: {e}"
        )));
    }
    let max = max_param(&req, "max-keys")?;
    let prefix = req.q("prefix").unwrap_or_default().to_owned();
    let delimiter = req.q("delimiter").filter(|d| !d.is_empty()).map(str::to_owned);
    let token = match req.q("continuation-token").filter(|_| v2) {
        Some(t) => Some(
            B64.decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| S3Error::InvalidArgument("The continuation token provided is incorrect".into()))?,
        ),
        None => None,
    };
    let after = match (&token, v2) {
        (Some(t), _) => t.clone(),
        (None, true) => req.q("start-after").unwrap_or_default().to_owned(),
        (None, false) => req.q("marker").unwrap_or_default().to_owned(),
    };
    let page = list_page(state, &bucket.name, &prefix, delimiter.as_deref(), &after, max).await?;

    let enc = encoder(&req);
    let mut x = XmlWriter::new();
    x.root("ListBucketResult");
    x.elem("Name", &bucket.name);
    x.elem("Prefix", &enc(&prefix));
    if let Some(d) = &delimiter {
        x.elem("Delimiter", &enc(d));
    }
    x.elem("MaxKeys", &max.to_string());
    if req.q("encoding-type") == Some("url") {
        x.elem("EncodingType", "url");
    }
    x.elem("IsTruncated", &page.truncated.to_string());
    let last = page.entries.last().map(|e| e.name().to_owned());
    if v2 {
        x.elem("KeyCount", &page.entries.len().to_string());
        if let Some(t) = req.q("continuation-token") {
            x.elem("ContinuationToken", t);
        }
        if let Some(sa) = req.q("start-after") {
            x.elem("StartAfter", &enc(sa));
        }
        if let (true, Some(l)) = (page.truncated, &last) {
            x.elem("NextContinuationToken", &B64.encode(l));
        }
    } else {
        x.elem("Marker", &enc(&after));
        // S3 gives NextMarker only with a delimiter; otherwise clients use the last key.
        if let (true, Some(l), Some(_)) = (page.truncated, &last, &delimiter) {
            x.elem("NextMarker", &enc(l));
        }
    }
    let owner = (!v2 || req.q("fetch-owner") == Some("true")).then_some(bucket.owner.as_str());
    for e in &page.entries {
        if let ListEntry::Object(m) = e {
            contents(&mut x, m, &enc(&m.key), owner);
        }
    }
    common_prefixes(&mut x, &page, &enc);
    x.close("ListBucketResult");
    Ok(xml(StatusCode::OK, x.finish()))
}
