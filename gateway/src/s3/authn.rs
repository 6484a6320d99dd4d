//! Authentication of S3 requests: which access key a request claims, and the check of
//! its signature in whichever form it came (SigV4 header or presigned, SigV2 header or
//! query). Looking the key's user up is the caller's (it reads the store, so it runs
//! off the async threads between the two steps).

use crate::s3::error::{S3Error, S3Result};
use crate::s3::signed::{query_pairs, SignedRequest};
use crate::s3::sigv4::{header, parse_credential, Verified};
use crate::s3::{sigv2, sigv4};

/// The access key the request says it is signed with, if it is signed at all. Nothing
/// is checked yet: an unknown or malformed claim fails later, in [`verify`].
pub fn claimed_access_key(req: &SignedRequest) -> Option<String> {
    if let Some(auth) = header(req.headers, "authorization") {
        if let Some(rest) = auth.strip_prefix("AWS ") {
            return rest.split_once(':').map(|(ak, _)| ak.to_owned());
        }
        let cred = auth.split("Credential=").nth(1)?.split([',', ' ']).next()?;
        return parse_credential(cred).map(|c| c.access_key.to_owned());
    }
    let q = query_pairs(req.query);
    let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if let Some(cred) = get("X-Amz-Credential") {
        return parse_credential(cred).map(|c| c.access_key.to_owned());
    }
    get("AWSAccessKeyId").map(str::to_owned)
}

/// Whether the request carries a signature at all; one that does not is anonymous.
pub fn is_signed(req: &SignedRequest) -> bool {
    header(req.headers, "authorization").is_some()
        || query_pairs(req.query).iter().any(|(k, _)| {
            matches!(
                k.as_str(),
                "X-Amz-Signature" | "X-Amz-Credential" | "AWSAccessKeyId" | "Signature"
            )
        })
}

/// Finds the signature in the request (header or query) and checks it. `secret_of`
/// looks up the secret key of an access key (None: unknown key).
/// `vhost_bucket` is the bucket a virtual-host-style request named in its Host (SigV2
/// signs it as part of the resource).
pub fn verify(
    req: &SignedRequest,
    now_secs: i64,
    vhost_bucket: Option<&str>,
    secret_of: impl Fn(&str) -> Option<String>,
) -> S3Result<Verified> {
    match header(req.headers, "authorization") {
        Some(auth) if auth.starts_with("AWS ") => sigv2::verify_header(req, auth, now_secs, vhost_bucket, secret_of),
        Some(auth) => sigv4::verify_header(req, auth, now_secs, secret_of),
        None if req.query.contains("X-Amz-Signature=") => sigv4::verify_presigned(req, now_secs, secret_of),
        None if req.query.contains("AWSAccessKeyId=") => sigv2::verify_query(req, now_secs, vhost_bucket, secret_of),
        None => Err(S3Error::AccessDenied("Anonymous access is not allowed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::signed::Payload;
    use crate::s3::sigv4::EMPTY_SHA256;
    use crate::timefmt::parse_amz_date;
    use http::HeaderMap;

    /// The GET example from the AWS S3 SigV4 documentation ("Example: GET Object").
    #[test]
    fn aws_documentation_example() {
        let mut h = HeaderMap::new();
        h.insert("host", "examplebucket.s3.amazonaws.com".parse().unwrap());
        h.insert("range", "bytes=0-9".parse().unwrap());
        h.insert("x-amz-content-sha256", EMPTY_SHA256.parse().unwrap());
        h.insert("x-amz-date", "20130524T000000Z".parse().unwrap());
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
                .parse()
                .unwrap(),
        );
        let req = SignedRequest {
            service: "s3",
            method: "GET",
            path: "/test.txt",
            query: "",
            headers: &h,
        };
        let now = parse_amz_date("20130524T000100Z").unwrap();
        let secret =
            |k: &str| (k == "AKIAIOSFODNN7EXAMPLE").then(|| "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_string());
        assert_eq!(claimed_access_key(&req).as_deref(), Some("AKIAIOSFODNN7EXAMPLE"));
        let v = verify(&req, now, None, secret).unwrap();
        assert_eq!(v.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(v.payload, Payload::Sha256(EMPTY_SHA256.into()));

        let wrong = |_: &str| Some("not-the-secret".to_string());
        assert!(matches!(
            verify(&req, now, None, wrong),
            Err(S3Error::SignatureDoesNotMatch)
        ));
        assert!(matches!(
            verify(&req, now, None, |_: &str| None),
            Err(S3Error::InvalidAccessKeyId)
        ));
        assert!(matches!(
            verify(&req, now + 3600, None, secret),
            Err(S3Error::RequestTimeTooSkewed)
        ));

        // The same signature offered to another service's port is refused before any
        // key is looked at, and so is one that does not cover the host.
        let other_port = SignedRequest {
            service: "strata-repl",
            ..req
        };
        let e = verify(&other_port, now, None, secret).err().unwrap();
        assert!(
            matches!(&e, S3Error::AuthorizationHeaderMalformed(m) if m.contains("service")),
            "{e:?}"
        );
        let mut h2 = h.clone();
        h2.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
                .parse()
                .unwrap(),
        );
        let unhosted = SignedRequest { headers: &h2, ..req };
        let e = verify(&unhosted, now, None, secret).err().unwrap();
        assert!(
            matches!(&e, S3Error::AuthorizationHeaderMalformed(m) if m.contains("host")),
            "{e:?}"
        );
    }
}
