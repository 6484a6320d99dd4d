//! Put/Get/DeleteBucketLifecycleConfiguration: rules checked as S3 checks them and kept
//! in the bucket record (so they replicate with it), and the `x-amz-expiration` header
//! of an object a rule will expire. The worker that applies them is `crate::lifecycle`.

use crate::s3::body::read_small;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::request::S3Request;
use crate::s3::response::{empty, set, xml};
use crate::s3::state::S3State;
use crate::s3::xml::{parse, Element, XmlWriter};
use crate::timefmt::{http_date, iso8601, parse_iso8601};
use axum::response::Response;
use http::StatusCode;
use strata_blockstore::{next_expiry, Bucket, LifecycleRule, Manifest};

const MAX_RULES: usize = 1000;

fn invalid(m: &str) -> S3Error {
    S3Error::InvalidArgument(m.into())
}

/// A positive whole number of days.
fn days(e: &Element, name: &str, action: &str) -> S3Result<Option<u32>> {
    e.text_of(name)
        .map(|v| {
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|d| *d > 0)
                .ok_or_else(|| invalid(&format!("'{name}' for {action} action must be a positive integer")))
        })
        .transpose()
}

fn size(e: &Element, name: &str) -> S3Result<Option<u64>> {
    e.text_of(name)
        .map(|v| v.trim().parse::<u64>().map_err(|_| S3Error::MalformedXml))
        .transpose()
}

fn tag(e: &Element) -> S3Result<(String, String)> {
    Ok((
        e.text_of("Key").ok_or(S3Error::MalformedXml)?.to_owned(),
        e.text_of("Value").unwrap_or_default().to_owned(),
    ))
}

/// A rule's filter into `r`: the rule-level `Prefix`, or `Filter` with one of
/// `Prefix`, `Tag`, an object size bound, or `And` of several.
fn filter(rule: &Element, r: &mut LifecycleRule) -> S3Result<()> {
    match (rule.child("Prefix"), rule.child("Filter")) {
        (Some(_), Some(_)) => Err(S3Error::MalformedXml),
        (Some(p), None) => {
            r.prefix = p.text.clone();
            Ok(())
        }
        (None, None) => Ok(()),
        (None, Some(f)) => {
            let parts = f.children.len();
            if parts > 1 {
                return Err(S3Error::MalformedXml);
            }
            let one = match f.child("And") {
                Some(and) => and,
                None => f,
            };
            r.prefix = one.text_of("Prefix").unwrap_or_default().to_owned();
            r.tags = one.all("Tag").map(tag).collect::<S3Result<_>>()?;
            r.size_greater_than = size(one, "ObjectSizeGreaterThan")?;
            r.size_less_than = size(one, "ObjectSizeLessThan")?;
            if let (Some(gt), Some(lt)) = (r.size_greater_than, r.size_less_than) {
                if gt >= lt {
                    return Err(invalid("ObjectSizeGreaterThan must be less than ObjectSizeLessThan"));
                }
            }
            Ok(())
        }
    }
}

/// One `<Rule>`, checked.
fn rule(e: &Element, n: usize) -> S3Result<LifecycleRule> {
    if e.child("Transition").is_some() || e.child("NoncurrentVersionTransition").is_some() {
        return Err(S3Error::NotImplemented(
            "lifecycle transitions (this site has one storage class)".into(),
        ));
    }
    let mut r = LifecycleRule {
        id: e.text_of("ID").map_or_else(|| format!("rule-{n}"), str::to_owned),
        ..Default::default()
    };
    if r.id.len() > 255 {
        return Err(invalid("ID length should not exceed allowed limit of 255"));
    }
    r.enabled = match e.text_of("Status") {
        Some("Enabled") => true,
        Some("Disabled") => false,
        _ => return Err(S3Error::MalformedXml),
    };
    filter(e, &mut r)?;
    if let Some(x) = e.child("Expiration") {
        r.expiration_days = days(x, "Days", "Expiration")?;
        r.expiration_date_ms = x
            .text_of("Date")
            .map(|d| {
                let ms = parse_iso8601(d).ok_or_else(|| invalid("Invalid date format"))?;
                match ms % 86_400_000 {
                    0 => Ok(ms),
                    _ => Err(invalid("'Date' must be at midnight GMT")),
                }
            })
            .transpose()?;
        r.expired_object_delete_marker = match x.text_of("ExpiredObjectDeleteMarker") {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(S3Error::MalformedXml),
        };
        let given = [
            r.expiration_days.is_some(),
            r.expiration_date_ms.is_some(),
            x.child("ExpiredObjectDeleteMarker").is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(S3Error::MalformedXml);
        }
        if r.expired_object_delete_marker && !r.tags.is_empty() {
            return Err(S3Error::InvalidRequest(
                "ExpiredObjectDeleteMarker cannot be specified with a tag-based filter".into(),
            ));
        }
    }
    if let Some(x) = e.child("NoncurrentVersionExpiration") {
        r.noncurrent_days = days(x, "NoncurrentDays", "NoncurrentVersionExpiration")?;
        if r.noncurrent_days.is_none() {
            return Err(S3Error::MalformedXml);
        }
        r.newer_noncurrent_versions = x
            .text_of("NewerNoncurrentVersions")
            .map(|v| {
                v.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| invalid("'NewerNoncurrentVersions' must be a positive integer"))
            })
            .transpose()?;
    }
    if let Some(x) = e.child("AbortIncompleteMultipartUpload") {
        r.abort_incomplete_upload_days = days(x, "DaysAfterInitiation", "AbortIncompleteMultipartUpload")?;
        if r.abort_incomplete_upload_days.is_none() {
            return Err(S3Error::MalformedXml);
        }
        if !r.tags.is_empty() {
            return Err(S3Error::InvalidRequest(
                "AbortIncompleteMultipartUpload cannot be specified with Tags.".into(),
            ));
        }
    }
    let acts = r.expiration_days.is_some()
        || r.expiration_date_ms.is_some()
        || r.expired_object_delete_marker
        || r.noncurrent_days.is_some()
        || r.abort_incomplete_upload_days.is_some();
    if !acts {
        return Err(S3Error::InvalidRequest(
            "At least one action needs to be specified in a rule".into(),
        ));
    }
    Ok(r)
}

/// A LifecycleConfiguration document's rules, checked.
pub fn parse_rules(body: &[u8]) -> S3Result<Vec<LifecycleRule>> {
    let doc = parse(body, "LifecycleConfiguration")?;
    let rules: Vec<LifecycleRule> = doc
        .all("Rule")
        .enumerate()
        .map(|(i, e)| rule(e, i + 1))
        .collect::<S3Result<_>>()?;
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(S3Error::MalformedXml);
    }
    let mut ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(invalid("Rule ID must be unique. Found same ID for more than one rule"));
    }
    Ok(rules)
}

pub async fn put_lifecycle(state: &S3State, req: S3Request) -> S3Result<Response> {
    let name = req.bucket().to_owned();
    let body = read_small(req.body, 1 << 20).await?;
    let rules = parse_rules(&body)?;
    state
        .run(move |s| s.update_bucket(&name, |b| b.lifecycle = rules.clone()))
        .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn delete_lifecycle(state: &S3State, req: S3Request) -> S3Result<Response> {
    let name = req.bucket().to_owned();
    state
        .run(move |s| s.update_bucket(&name, |b| b.lifecycle.clear()))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn get_lifecycle(_state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?;
    if bucket.lifecycle.is_empty() {
        return Err(S3Error::NoSuchLifecycleConfiguration);
    }
    let mut x = XmlWriter::new();
    x.root("LifecycleConfiguration");
    for r in &bucket.lifecycle {
        x.open("Rule");
        x.elem("ID", &r.id);
        x.open("Filter");
        let several = usize::from(!r.prefix.is_empty())
            + r.tags.len()
            + usize::from(r.size_greater_than.is_some())
            + usize::from(r.size_less_than.is_some());
        if several > 1 {
            x.open("And");
        }
        if !r.prefix.is_empty() || several == 0 {
            x.elem("Prefix", &r.prefix);
        }
        for (k, v) in &r.tags {
            x.open("Tag");
            x.elem("Key", k);
            x.elem("Value", v);
            x.close("Tag");
        }
        if let Some(n) = r.size_greater_than {
            x.elem("ObjectSizeGreaterThan", &n.to_string());
        }
        if let Some(n) = r.size_less_than {
            x.elem("ObjectSizeLessThan", &n.to_string());
        }
        if several > 1 {
            x.close("And");
        }
        x.close("Filter");
        x.elem("Status", if r.enabled { "Enabled" } else { "Disabled" });
        if r.expiration_days.is_some() || r.expiration_date_ms.is_some() || r.expired_object_delete_marker {
            x.open("Expiration");
            if let Some(d) = r.expiration_days {
                x.elem("Days", &d.to_string());
            }
            if let Some(d) = r.expiration_date_ms {
                x.elem("Date", &iso8601(d));
            }
            if r.expired_object_delete_marker {
                x.elem("ExpiredObjectDeleteMarker", "true");
            }
            x.close("Expiration");
        }
        if let Some(d) = r.noncurrent_days {
            x.open("NoncurrentVersionExpiration");
            x.elem("NoncurrentDays", &d.to_string());
            if let Some(n) = r.newer_noncurrent_versions {
                x.elem("NewerNoncurrentVersions", &n.to_string());
            }
            x.close("NoncurrentVersionExpiration");
        }
        if let Some(d) = r.abort_incomplete_upload_days {
            x.open("AbortIncompleteMultipartUpload");
            x.elem("DaysAfterInitiation", &d.to_string());
            x.close("AbortIncompleteMultipartUpload");
        }
        x.close("Rule");
    }
    x.close("LifecycleConfiguration");
    Ok(xml(StatusCode::OK, x.finish()))
}

/// `x-amz-expiration` for the current version `m`, when a rule will expire it.
pub fn expiration_header(r: &mut Response, state: &S3State, bucket: &Bucket, m: &Manifest) {
    if let Some((at, id)) = next_expiry(&bucket.lifecycle, m, state.lifecycle_day_ms) {
        let id = id.replace('"', "");
        set(
            r,
            "x-amz-expiration",
            &format!("expiry-date=\"{}\", rule-id=\"{id}\"", http_date(at)),
        );
    }
}
