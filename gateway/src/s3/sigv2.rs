//! AWS Signature Version 2, which boto3 still uses by default for S3 presigned URLs
//! (`generate_presigned_url`), and which some older tools send as `Authorization: AWS`.
//! Reference: "Signing and Authenticating REST Requests" in the S3 documentation.

use crate::s3::error::{S3Error, S3Result};
use crate::s3::signed::{query_pairs, Payload, SignedRequest};
use crate::s3::sigv4::Verified;
use crate::timefmt::parse_http_date;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Query parameters that are part of the signed resource.
const SUBRESOURCES: &[&str] = &[
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];
const MAX_SKEW_SECS: i64 = 15 * 60;

fn header<'a>(req: &'a SignedRequest, name: &str) -> &'a str {
    req.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

fn string_to_sign(req: &SignedRequest, date_or_expires: &str, vhost_bucket: Option<&str>) -> String {
    let mut amz: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-amz-"))
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).trim().to_owned(),
            )
        })
        .collect();
    amz.sort();
    let mut s = format!(
        "{}\n{}\n{}\n{}\n",
        req.method,
        header(req, "content-md5"),
        header(req, "content-type"),
        date_or_expires
    );
    for (k, v) in amz {
        s.push_str(&format!("{k}:{v}\n"));
    }
    if let Some(b) = vhost_bucket {
        s.push('/');
        s.push_str(b);
    }
    s.push_str(req.path);
    let mut sub: Vec<(String, String)> = query_pairs(req.query)
        .into_iter()
        .filter(|(k, _)| SUBRESOURCES.contains(&k.as_str()))
        .collect();
    sub.sort();
    for (i, (k, v)) in sub.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(k);
        if !v.is_empty() {
            s.push('=');
            s.push_str(v);
        }
    }
    s
}

fn check(secret: &str, sts: &str, given: &str) -> S3Result<()> {
    let mut m = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    m.update(sts.as_bytes());
    let given = B64.decode(given).map_err(|_| S3Error::SignatureDoesNotMatch)?;
    m.verify_slice(&given).map_err(|_| S3Error::SignatureDoesNotMatch)
}

/// `Authorization: AWS <access key>:<signature>`.
pub fn verify_header(
    req: &SignedRequest,
    auth: &str,
    now_secs: i64,
    vhost_bucket: Option<&str>,
    secret_of: impl Fn(&str) -> Option<String>,
) -> S3Result<Verified> {
    let (access_key, sig) = auth
        .strip_prefix("AWS ")
        .and_then(|r| r.split_once(':'))
        .ok_or_else(|| S3Error::AuthorizationHeaderMalformed("the authorization header is malformed".into()))?;
    // With x-amz-date the Date line is empty and the date is signed among the amz headers.
    let (date_line, date) = match req.headers.get("x-amz-date").and_then(|v| v.to_str().ok()) {
        Some(d) => ("", d),
        None => (header(req, "date"), header(req, "date")),
    };
    let t = parse_http_date(date).ok_or(S3Error::AccessDenied(
        "AWS authentication requires a valid Date or x-amz-date header",
    ))?;
    if (now_secs - t).abs() > MAX_SKEW_SECS {
        return Err(S3Error::RequestTimeTooSkewed);
    }
    let secret = secret_of(access_key).ok_or(S3Error::InvalidAccessKeyId)?;
    check(&secret, &string_to_sign(req, date_line, vhost_bucket), sig)?;
    Ok(Verified {
        access_key: access_key.to_owned(),
        payload: Payload::Unsigned,
        chunks: None,
    })
}

/// `?AWSAccessKeyId=…&Expires=…&Signature=…`.
pub fn verify_query(
    req: &SignedRequest,
    now_secs: i64,
    vhost_bucket: Option<&str>,
    secret_of: impl Fn(&str) -> Option<String>,
) -> S3Result<Verified> {
    let q = query_pairs(req.query);
    let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let (Some(access_key), Some(expires), Some(sig)) = (get("AWSAccessKeyId"), get("Expires"), get("Signature")) else {
        return Err(S3Error::AccessDenied(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
        ));
    };
    let exp: i64 = expires
        .parse()
        .map_err(|_| S3Error::AccessDenied("Expires must be a number of seconds since the epoch"))?;
    if now_secs > exp {
        return Err(S3Error::AccessDenied("Request has expired"));
    }
    let secret = secret_of(access_key).ok_or(S3Error::InvalidAccessKeyId)?;
    check(&secret, &string_to_sign(req, expires, vhost_bucket), sig)?;
    Ok(Verified {
        access_key: access_key.to_owned(),
        payload: Payload::Unsigned,
        chunks: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    /// The GET example of the S3 SigV2 documentation.
    #[test]
    fn aws_documentation_example() {
        let mut h = HeaderMap::new();
        h.insert("host", "awsexamplebucket1.us-west-1.s3.amazonaws.com".parse().unwrap());
        h.insert("date", "Tue, 27 Mar 2007 19:36:42 +0000".parse().unwrap());
        let req = SignedRequest {
            service: "s3",
            method: "GET",
            path: "/photos/puppy.jpg",
            query: "",
            headers: &h,
        };
        let sts = string_to_sign(&req, "Tue, 27 Mar 2007 19:36:42 +0000", Some("awsexamplebucket1"));
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        check(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            &sts,
            "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
        )
        .unwrap();
        assert!(check("other", &sts, "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=").is_err());
    }
}
