//! Bucket CORS: Put/Get/DeleteBucketCors, preflight `OPTIONS`, and the CORS headers
//! added to actual requests from an allowed origin.

use crate::s3::body::read_small;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::request::S3Request;
use crate::s3::response::{empty, set, xml};
use crate::s3::state::S3State;
use crate::s3::xml::{parse, XmlWriter};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use strata_blockstore::CorsRule;

const METHODS: &[&str] = &["GET", "PUT", "HEAD", "POST", "DELETE"];
const MAX_RULES: usize = 100;

pub async fn put_cors(state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.bucket().to_owned();
    let body = read_small(req.body, 64 << 10).await?;
    let doc = parse(&body, "CORSConfiguration")?;
    let texts =
        |r: &crate::s3::xml::Element, name: &str| r.all(name).map(|e| e.text.trim().to_owned()).collect::<Vec<_>>();
    let mut rules = Vec::new();
    for r in doc.all("CORSRule") {
        let rule = CorsRule {
            id: r.text_of("ID").map(str::to_owned),
            allowed_origins: texts(r, "AllowedOrigin"),
            allowed_methods: texts(r, "AllowedMethod"),
            allowed_headers: texts(r, "AllowedHeader"),
            expose_headers: texts(r, "ExposeHeader"),
            max_age_secs: r
                .text_of("MaxAgeSeconds")
                .map(|s| s.parse().map_err(|_| S3Error::MalformedXml))
                .transpose()?,
        };
        if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
            return Err(S3Error::MalformedXml);
        }
        if let Some(m) = rule.allowed_methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(S3Error::InvalidRequest(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        rules.push(rule);
    }
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(S3Error::MalformedXml);
    }
    state
        .run(move |s| s.update_bucket(&bucket, |b| b.cors = Some(rules.clone())))
        .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn get_cors(_state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.authorized_bucket()?.clone();
    let rules = bucket.cors.ok_or(S3Error::NoSuchCorsConfiguration)?;
    let mut x = XmlWriter::new();
    x.root("CORSConfiguration");
    for r in &rules {
        x.open("CORSRule");
        if let Some(id) = &r.id {
            x.elem("ID", id);
        }
        for (name, list) in [
            ("AllowedHeader", &r.allowed_headers),
            ("AllowedMethod", &r.allowed_methods),
            ("AllowedOrigin", &r.allowed_origins),
            ("ExposeHeader", &r.expose_headers),
        ] {
            for v in list {
                x.elem(name, v);
            }
        }
        if let Some(age) = r.max_age_secs {
            x.elem("MaxAgeSeconds", &age.to_string());
        }
        x.close("CORSRule");
    }
    x.close("CORSConfiguration");
    Ok(xml(StatusCode::OK, x.finish()))
}

pub async fn delete_cors(state: &S3State, req: S3Request) -> S3Result<Response> {
    let bucket = req.bucket().to_owned();
    state.run(move |s| s.update_bucket(&bucket, |b| b.cors = None)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `*` matches any run of characters, as in S3's origin and header patterns.
fn wildcard(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(value),
        Some((pre, post)) => {
            let v = value.to_ascii_lowercase();
            v.len() >= pre.len() + post.len()
                && v.starts_with(&pre.to_ascii_lowercase())
                && v.ends_with(&post.to_ascii_lowercase())
        }
    }
}

/// The first rule allowing this origin, method and request headers.
fn matching<'a>(rules: &'a [CorsRule], origin: &str, method: &str, headers: &[&str]) -> Option<&'a CorsRule> {
    rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard(o, origin))
            && r.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| r.allowed_headers.iter().any(|a| wildcard(a, h)))
    })
}

fn allow_headers(r: &mut Response, rule: &CorsRule, origin: &str) {
    let any = rule.allowed_origins.iter().any(|o| o == "*");
    set(r, "access-control-allow-origin", if any { "*" } else { origin });
    set(r, "access-control-allow-methods", &rule.allowed_methods.join(", "));
    if !rule.expose_headers.is_empty() {
        set(r, "access-control-expose-headers", &rule.expose_headers.join(", "));
    }
    if let Some(age) = rule.max_age_secs {
        set(r, "access-control-max-age", &age.to_string());
    }
    if !any {
        set(
            r,
            "vary",
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        );
    }
}

/// Preflight: unauthenticated, answered from the bucket's CORS rules.
pub async fn preflight(state: &S3State, bucket: Option<String>, headers: &HeaderMap) -> S3Result<Response> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (Some(origin), Some(method)) = (get("origin"), get("access-control-request-method")) else {
        return Err(S3Error::InvalidRequest(
            "Insufficient information. Origin request header needed.".into(),
        ));
    };
    let requested = get("access-control-request-headers").unwrap_or_default();
    let requested: Vec<&str> = requested.split(',').map(str::trim).filter(|h| !h.is_empty()).collect();
    let Some(name) = bucket else {
        return Err(S3Error::CorsForbidden);
    };
    let rules = state
        .run(move |s| s.bucket(&name))
        .await?
        .and_then(|b| b.cors)
        .ok_or(S3Error::CorsForbidden)?;
    let rule = matching(&rules, &origin, &method, &requested).ok_or(S3Error::CorsForbidden)?;
    let mut r = empty(StatusCode::OK);
    allow_headers(&mut r, rule, &origin);
    if !requested.is_empty() {
        set(&mut r, "access-control-allow-headers", &requested.join(", "));
    }
    Ok(r)
}

/// Adds CORS headers to the answer of an actual request that came with an Origin.
pub async fn decorate(state: &S3State, bucket: &str, origin: &str, method: &str, resp: &mut Response) {
    let name = bucket.to_owned();
    if let Ok(Some(b)) = state.run(move |s| s.bucket(&name)).await {
        if let Some(rule) = b.cors.as_deref().and_then(|rules| matching(rules, origin, method, &[])) {
            allow_headers(resp, rule, origin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_matching() {
        let rules = vec![CorsRule {
            allowed_origins: vec!["https://*.example.com".into()],
            allowed_methods: vec!["GET".into(), "PUT".into()],
            allowed_headers: vec!["x-amz-*".into(), "content-type".into()],
            ..Default::default()
        }];
        assert!(matching(
            &rules,
            "https://app.example.com",
            "PUT",
            &["Content-Type", "x-amz-date"]
        )
        .is_some());
        assert!(matching(&rules, "https://example.org", "GET", &[]).is_none());
        assert!(matching(&rules, "https://app.example.com", "DELETE", &[]).is_none());
        assert!(matching(&rules, "https://app.example.com", "GET", &["authorization"]).is_none());
    }
}
