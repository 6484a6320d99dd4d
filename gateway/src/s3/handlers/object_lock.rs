//! Object Lock: a bucket's configuration (Put/GetObjectLockConfiguration), a
//! version's retention and legal hold (Put/GetObjectRetention, Put/GetObjectLegalHold,
//! and the `x-amz-object-lock-*` headers of a write), and who may bypass GOVERNANCE.
//! Whether a version may go is the store's one rule (`strata_blockstore::may_remove`).

use crate::s3::access::{allows, Facts};
use crate::s3::body::read_small;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::request::S3Request;
use crate::s3::response::{empty, set, xml};
use crate::s3::state::S3State;
use crate::s3::xml::{parse, XmlWriter};
use crate::timefmt::{iso8601, parse_iso8601};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use strata_blockstore::{
    may_change_retention, now_millis, Bucket, DefaultRetention, Manifest, ObjectLock, Remover, Retention,
    RetentionMode, VersionLock, Versioning,
};

const MISSING: &str = "Bucket is missing Object Lock Configuration";

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn parse_mode(s: &str) -> S3Result<RetentionMode> {
    RetentionMode::parse(s).ok_or_else(|| S3Error::InvalidArgument("Unknown wormMode directive.".into()))
}

fn parse_until(s: &str) -> S3Result<u64> {
    let until = parse_iso8601(s)
        .ok_or_else(|| S3Error::InvalidArgument("The retain until date must be provided in ISO 8601 format".into()))?;
    if until <= now_millis() {
        return Err(S3Error::InvalidArgument(
            "The retain until date must be in the future!".into(),
        ));
    }
    Ok(until)
}

fn parse_hold(s: &str) -> S3Result<bool> {
    match s {
        "ON" => Ok(true),
        "OFF" => Ok(false),
        _ => Err(S3Error::InvalidArgument(
            "Legal Hold must be either of 'ON' or 'OFF'".into(),
        )),
    }
}

/// The lock a new version written with these headers gets: the one they name, else
/// the bucket's default retention. Lock headers on a bucket without Object Lock are
/// refused, as S3 does.
pub fn lock_for_write(h: &HeaderMap, bucket: &Bucket) -> S3Result<VersionLock> {
    let mode = header(h, "x-amz-object-lock-mode");
    let until = header(h, "x-amz-object-lock-retain-until-date");
    let hold = header(h, "x-amz-object-lock-legal-hold");
    let Some(config) = bucket.object_lock else {
        if mode.is_some() || until.is_some() || hold.is_some() {
            return Err(S3Error::InvalidRequest(MISSING.into()));
        }
        return Ok(VersionLock::default());
    };
    let retention = match (mode, until) {
        (Some(m), Some(u)) => Some(Retention {
            mode: parse_mode(m)?,
            until_ms: parse_until(u)?,
        }),
        (None, None) => config.default_retention.map(|d| d.from(now_millis())),
        _ => {
            return Err(S3Error::InvalidArgument(
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied".into(),
            ))
        }
    };
    Ok(VersionLock {
        retention,
        legal_hold: hold.map(parse_hold).transpose()?.unwrap_or(false),
    })
}

/// The lock headers GET and HEAD return.
pub fn lock_headers(r: &mut Response, m: &Manifest) {
    if let Some(ret) = m.headers.lock.retention {
        set(r, "x-amz-object-lock-mode", ret.mode.name());
        set(r, "x-amz-object-lock-retain-until-date", &iso8601(ret.until_ms));
    }
    if m.headers.lock.legal_hold {
        set(r, "x-amz-object-lock-legal-hold", "ON");
    }
}

/// Whether the request asks to bypass GOVERNANCE retention.
pub fn bypass_asked(h: &HeaderMap) -> bool {
    header(h, "x-amz-bypass-governance-retention").is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Whether a request that `asked` to bypass GOVERNANCE retention on `key` may: with
/// `s3:BypassGovernanceRetention` only.
fn may_bypass(asked: bool, facts: &Facts, bucket: &Bucket, key: &str) -> bool {
    asked && allows(facts, bucket, "s3:BypassGovernanceRetention", key)
}

/// Who removes a version of `key` for a request (its `facts`, and whether it asked to
/// bypass GOVERNANCE retention).
pub fn remover(asked: bool, facts: &Facts, bucket: &Bucket, key: &str) -> Remover {
    Remover::Client {
        bypass_governance: may_bypass(asked, facts, bucket, key),
    }
}

/// [`remover`] for a request on one key.
pub fn remover_of(req: &S3Request, bucket: &Bucket, key: &str) -> Remover {
    remover(bypass_asked(&req.headers), &Facts::of(req, true), bucket, key)
}

pub async fn get_lock_config(_state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?;
    let config = bucket.object_lock.ok_or(S3Error::NoObjectLockConfiguration)?;
    let mut x = XmlWriter::new();
    x.root("ObjectLockConfiguration");
    x.elem("ObjectLockEnabled", "Enabled");
    if let Some(d) = config.default_retention {
        x.open("Rule");
        x.open("DefaultRetention");
        x.elem("Mode", d.mode.name());
        if let Some(days) = d.days {
            x.elem("Days", &days.to_string());
        }
        if let Some(years) = d.years {
            x.elem("Years", &years.to_string());
        }
        x.close("DefaultRetention");
        x.close("Rule");
    }
    x.close("ObjectLockConfiguration");
    Ok(xml(StatusCode::OK, x.finish()))
}

pub async fn put_lock_config(state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?.clone();
    let body = read_small(req.body, 64 << 10).await?;
    let doc = parse(&body, "ObjectLockConfiguration")?;
    if doc.text_of("ObjectLockEnabled") != Some("Enabled") {
        return Err(S3Error::MalformedXml);
    }
    let default_retention = match doc.child("Rule") {
        None => None,
        Some(rule) => {
            let d = rule.child("DefaultRetention").ok_or(S3Error::MalformedXml)?;
            let mode = parse_mode(d.text_of("Mode").ok_or(S3Error::MalformedXml)?)?;
            let number = |name: &str| -> S3Result<Option<u32>> {
                d.text_of(name)
                    .map(|v| {
                        v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                            S3Error::InvalidArgument("Default retention period must be a positive integer value".into())
                        })
                    })
                    .transpose()
            };
            let (days, years) = (number("Days")?, number("Years")?);
            if days.is_some() == years.is_some() {
                return Err(S3Error::MalformedXml);
            }
            Some(DefaultRetention { mode, days, years })
        }
    };
    // Object Lock on an existing bucket needs its versioning on (and keeps it on).
    if bucket.object_lock.is_none() && bucket.versioning != Versioning::Enabled {
        return Err(S3Error::InvalidBucketState(
            "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration".into(),
        ));
    }
    let name = bucket.name.clone();
    state
        .run(move |s| s.update_bucket(&name, |b| b.object_lock = Some(ObjectLock { default_retention })))
        .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_retention(_state: &S3State, mut req: S3Request) -> S3Result<Response> {
    let m = req.take_object()?;
    if req.authorized_bucket()?.object_lock.is_none() {
        return Err(S3Error::InvalidRequest(MISSING.into()));
    }
    let r = m.headers.lock.retention.ok_or(S3Error::NoSuchObjectLockConfiguration)?;
    let mut x = XmlWriter::new();
    x.root("Retention");
    x.elem("Mode", r.mode.name());
    x.elem("RetainUntilDate", &iso8601(r.until_ms));
    x.close("Retention");
    Ok(xml(StatusCode::OK, x.finish()))
}

pub async fn put_retention(state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?.clone();
    if bucket.object_lock.is_none() {
        return Err(S3Error::InvalidRequest(MISSING.into()));
    }
    let key = req.key().to_owned();
    let bypass = may_bypass(bypass_asked(&req.headers), &Facts::of(&req, true), &bucket, &key);
    let version = req.q("versionId").map(str::to_owned);
    let body = read_small(req.body, 64 << 10).await?;
    let doc = parse(&body, "Retention")?;
    let retention = match (doc.text_of("Mode"), doc.text_of("RetainUntilDate")) {
        (Some(m), Some(u)) => Some(Retention {
            mode: parse_mode(m)?,
            until_ms: parse_until(u)?,
        }),
        // An empty Retention removes it (GOVERNANCE with the bypass only).
        (None, None) => None,
        _ => return Err(S3Error::MalformedXml),
    };
    let m = state
        .run(move |s| {
            s.lock_version(&bucket.name, &key, version.as_deref(), |lock| {
                may_change_retention(lock.retention, retention, now_millis(), bypass)?;
                lock.retention = retention;
                Ok(())
            })
        })
        .await?;
    let mut r = empty(StatusCode::OK);
    set(&mut r, "x-amz-version-id", &m.version_id);
    Ok(r)
}

pub async fn get_legal_hold(_state: &S3State, mut req: S3Request) -> S3Result<Response> {
    let m = req.take_object()?;
    if req.authorized_bucket()?.object_lock.is_none() {
        return Err(S3Error::InvalidRequest(MISSING.into()));
    }
    let mut x = XmlWriter::new();
    x.root("LegalHold");
    x.elem("Status", if m.headers.lock.legal_hold { "ON" } else { "OFF" });
    x.close("LegalHold");
    Ok(xml(StatusCode::OK, x.finish()))
}

pub async fn put_legal_hold(state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?.clone();
    if bucket.object_lock.is_none() {
        return Err(S3Error::InvalidRequest(MISSING.into()));
    }
    let key = req.key().to_owned();
    let version = req.q("versionId").map(str::to_owned);
    let body = read_small(req.body, 64 << 10).await?;
    let doc = parse(&body, "LegalHold")?;
    let on = parse_hold(doc.text_of("Status").ok_or(S3Error::MalformedXml)?)?;
    let m = state
        .run(move |s| {
            s.lock_version(&bucket.name, &key, version.as_deref(), |lock| {
                lock.legal_hold = on;
                Ok(())
            })
        })
        .await?;
    let mut r = empty(StatusCode::OK);
    set(&mut r, "x-amz-version-id", &m.version_id);
    Ok(r)
}
