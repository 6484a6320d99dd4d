//! Bad input gets the S3 error a real S3 would give, and changes nothing: after every
//! case the site still serves and the bucket holds exactly what it held before.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use std::io::{Read, Write};
use strata_tests::{
    amz_now, chunk_signature, data, raw, signed_head, signed_head_and_key, RawResponse, Site, EMPTY_SHA256,
};

const UNSIGNED: &str = "UNSIGNED-PAYLOAD";

/// (key, etag, size) of every object: what "nothing changed" means.
async fn snapshot(c: &Client) -> Vec<(String, String, i64)> {
    let l = c.list_objects_v2().bucket("bkt").send().await.unwrap();
    l.contents()
        .iter()
        .map(|o| {
            (
                o.key().unwrap().to_owned(),
                o.e_tag().unwrap().to_owned(),
                o.size().unwrap(),
            )
        })
        .collect()
}

async fn setup() -> (Site, Client, Vec<(String, String, i64)>) {
    let site = Site::start();
    let c = site.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    c.put_object()
        .bucket("bkt")
        .key("keep")
        .body(ByteStream::from_static(b"kept bytes"))
        .send()
        .await
        .unwrap();
    let snap = snapshot(&c).await;
    (site, c, snap)
}

/// The site still answers and the bucket is as it was.
async fn unchanged(c: &Client, before: &[(String, String, i64)]) {
    assert_eq!(snapshot(c).await, before);
    let o = c.get_object().bucket("bkt").key("keep").send().await.unwrap();
    assert_eq!(o.body.collect().await.unwrap().into_bytes().as_ref(), b"kept bytes");
}

fn expect(r: &RawResponse, status: u16, code: &str) {
    assert_eq!((r.status, r.code().as_str()), (status, code), "body: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/xml"));
}

/// An error to a request with a body says the connection closes: the server may not
/// have read the body (a full disk or a missing bucket refuses at once) and closes it,
/// and a client not told so sends its next request on it and loses it.
#[tokio::test]
async fn an_error_to_a_request_with_a_body_closes_the_connection() {
    let (site, _c, _before) = setup().await;
    let body = vec![7u8; 256 << 10];
    let len = body.len().to_string();
    let head = signed_head(
        &site,
        "PUT",
        "/no-such-bucket/k",
        "",
        &[("content-length", &len)],
        UNSIGNED,
        &amz_now(0),
    );
    // A client keeping its connection: without the answer's `connection: close` the
    // read below would wait for its timeout.
    let mut req = format!("{}\r\n", head.replace("connection: close\r\n", "")).into_bytes();
    req.extend_from_slice(&body);
    let r = raw(site.s3, &req, false);
    expect(&r, 404, "NoSuchBucket");
    assert_eq!(r.header("connection"), Some("close"));
}

fn put_raw(site: &Site, path: &str, extra: &[(&str, &str)], payload: &str, body: &[u8]) -> RawResponse {
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    let len = body.len().to_string();
    if !extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        headers.push(("content-length", &len));
    }
    let head = signed_head(site, "PUT", path, "", &headers, payload, &amz_now(0));
    let mut req = format!("{head}\r\n").into_bytes();
    req.extend_from_slice(body);
    raw(site.s3, &req, false)
}

#[tokio::test]
async fn authentication_failures() {
    let (site, c, before) = setup().await;
    let wrong = site.client_as(strata_tests::ACCESS_KEY, "definitely-not-the-secret-key-000000000");
    let e = wrong
        .put_object()
        .bucket("bkt")
        .key("x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.into_service_error().code(), Some("SignatureDoesNotMatch"));
    let unknown = site.client_as("NOSUCHKEY00000000000", "whatever-secret-000000000000000000000000");
    let e = unknown.list_buckets().send().await.unwrap_err();
    assert_eq!(e.into_service_error().code(), Some("InvalidAccessKeyId"));

    let head = signed_head(&site, "GET", "/bkt/keep", "", &[], EMPTY_SHA256, &amz_now(-3600));
    expect(
        &raw(site.s3, format!("{head}\r\n").as_bytes(), false),
        403,
        "RequestTimeTooSkewed",
    );
    let anon = format!(
        "GET /bkt/keep HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        site.s3
    );
    expect(&raw(site.s3, anon.as_bytes(), false), 403, "AccessDenied");
    let v2 = format!(
        "GET /bkt/keep HTTP/1.1\r\nHost: {}\r\nAuthorization: AWS AKID:c2lnbmF0dXJl\r\nConnection: close\r\n\r\n",
        site.s3
    );
    // Signature Version 2 (boto3's default for presigned URLs): undated, then forged.
    expect(&raw(site.s3, v2.as_bytes(), false), 403, "AccessDenied");
    let forged = format!(
        "GET /bkt/keep?AWSAccessKeyId={}&Expires=9999999999&Signature=c2lnbmF0dXJl HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        strata_tests::ACCESS_KEY,
        site.s3
    );
    expect(&raw(site.s3, forged.as_bytes(), false), 403, "SignatureDoesNotMatch");
    let expired = forged.replace("9999999999", "1000");
    expect(&raw(site.s3, expired.as_bytes(), false), 403, "AccessDenied");
    let garbage = format!(
        "GET /bkt/keep HTTP/1.1\r\nHost: {}\r\nAuthorization: AWS4-HMAC-SHA256 nonsense\r\nConnection: close\r\n\r\n",
        site.s3
    );
    expect(
        &raw(site.s3, garbage.as_bytes(), false),
        400,
        "AuthorizationHeaderMalformed",
    );
    // A signed header that was changed in transit.
    let head = signed_head(
        &site,
        "PUT",
        "/bkt/keep",
        "",
        &[("content-length", "3"), ("x-amz-meta-a", "1")],
        UNSIGNED,
        &amz_now(0),
    );
    let tampered = head.replace("x-amz-meta-a: 1", "x-amz-meta-a: 2");
    expect(
        &raw(site.s3, format!("{tampered}\r\nabc").as_bytes(), false),
        403,
        "SignatureDoesNotMatch",
    );
    unchanged(&c, &before).await;
}

#[tokio::test]
async fn hostile_keys() {
    let (site, c, mut before) = setup().await;
    expect(
        &put_raw(&site, "/bkt/a%00b", &[], UNSIGNED, b"x"),
        400,
        "InvalidArgument",
    );
    let long = "k".repeat(1025);
    expect(
        &put_raw(&site, &format!("/bkt/{long}"), &[], UNSIGNED, b"x"),
        400,
        "KeyTooLongError",
    );
    unchanged(&c, &before).await;

    // Dot segments are part of the key, never a path on disk.
    let r = put_raw(&site, "/bkt/..%2F..%2F..%2Fescape", &[], UNSIGNED, b"dots");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = put_raw(&site, "/bkt/a/../b", &[], UNSIGNED, b"dots2");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!site.dir.path().join("escape").exists() && !site.data_dir().join("escape").exists());
    let got = c
        .get_object()
        .bucket("bkt")
        .key("../../../escape")
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"dots");
    let got = c.get_object().bucket("bkt").key("a/../b").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"dots2");
    c.delete_object()
        .bucket("bkt")
        .key("../../../escape")
        .send()
        .await
        .unwrap();
    c.delete_object().bucket("bkt").key("a/../b").send().await.unwrap();
    before.sort();
    unchanged(&c, &before).await;
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let (site, c, before) = setup().await;
    let head = signed_head(&site, "GET", "/bkt/keep", "", &[], EMPTY_SHA256, &amz_now(0));
    let r = raw(
        site.s3,
        format!("{head}x-amz-meta-big: {}\r\n\r\n", "v".repeat(20_000)).as_bytes(),
        false,
    );
    expect(&r, 400, "RequestHeaderSectionTooLarge");
    // Past hyper's own buffer the connection is refused before any handler runs.
    for size in [200_000usize, 2_000_000] {
        let r = raw(
            site.s3,
            format!("{head}x-amz-meta-big: {}\r\n\r\n", "v".repeat(size)).as_bytes(),
            false,
        );
        assert!(matches!(r.status, 0 | 400 | 431), "{size}: {}", r.status);
    }
    let many: String = (0..500).map(|i| format!("x-h{i}: v\r\n")).collect();
    let r = raw(site.s3, format!("{head}{many}\r\n").as_bytes(), false);
    assert!(matches!(r.status, 0 | 400 | 431), "{}", r.status);
    unchanged(&c, &before).await;
}

#[tokio::test]
async fn bodies_that_end_early_or_lie() {
    let (site, c, before) = setup().await;
    // Content-Length promises more than arrives, then the client gives up.
    let head = signed_head(
        &site,
        "PUT",
        "/bkt/short",
        "",
        &[("content-length", "1000000")],
        UNSIGNED,
        &amz_now(0),
    );
    let mut req = format!("{head}\r\n").into_bytes();
    req.extend_from_slice(&data(300_000, 1));
    let r = raw(site.s3, &req, true);
    assert!(r.status == 0 || r.status == 400, "{}", r.status);

    // The payload hash says one thing, the body another.
    let body = b"hello world";
    let wrong = "0000000000000000000000000000000000000000000000000000000000000000";
    expect(
        &put_raw(&site, "/bkt/lie", &[], wrong, body),
        400,
        "XAmzContentSHA256Mismatch",
    );
    expect(
        &put_raw(&site, "/bkt/lie", &[("content-md5", "not base64!")], UNSIGNED, body),
        400,
        "InvalidDigest",
    );
    expect(
        &put_raw(
            &site,
            "/bkt/lie",
            &[("content-md5", "AAAAAAAAAAAAAAAAAAAAAA==")],
            UNSIGNED,
            body,
        ),
        400,
        "BadDigest",
    );
    expect(
        &put_raw(
            &site,
            "/bkt/lie",
            &[("x-amz-checksum-crc32", "AAAAAA==")],
            UNSIGNED,
            body,
        ),
        400,
        "BadDigest",
    );
    expect(
        &put_raw(
            &site,
            "/bkt/lie",
            &[("x-amz-checksum-sha256", "tooshort")],
            UNSIGNED,
            body,
        ),
        400,
        "InvalidRequest",
    );
    expect(
        &put_raw(&site, "/bkt/huge", &[("content-length", "6000000000")], UNSIGNED, b""),
        400,
        "EntityTooLarge",
    );
    // A body in HTTP chunked transfer encoding without a length: S3 answers 501
    // NotImplemented naming Transfer-Encoding (aws-chunked, with its decoded length, is
    // how S3 streams a body of unknown length; see `aws_chunked_bodies`).
    let head = signed_head(
        &site,
        "PUT",
        "/bkt/nolen",
        "",
        &[("transfer-encoding", "chunked")],
        UNSIGNED,
        &amz_now(0),
    );
    let r = raw(site.s3, format!("{head}\r\n5\r\nhello\r\n0\r\n\r\n").as_bytes(), false);
    expect(&r, 501, "NotImplemented");
    assert!(r.text().contains("Transfer-Encoding"), "{}", r.text());
    // No length and no framing at all: 411 MissingContentLength.
    let head = signed_head(&site, "PUT", "/bkt/nolen", "", &[], UNSIGNED, &amz_now(0));
    let r = raw(site.s3, format!("{head}\r\n").as_bytes(), false);
    expect(&r, 411, "MissingContentLength");
    unchanged(&c, &before).await;
}

/// STREAMING-AWS4-HMAC-SHA256-PAYLOAD: good chunk signatures store the object, a bad
/// one stores nothing. Unsigned trailers with a wrong checksum store nothing either.
#[tokio::test]
async fn aws_chunked_bodies() {
    let (site, c, mut before) = setup().await;
    let payload = data(200_000, 5);
    let date = amz_now(0);
    for tamper in [false, true] {
        let (head, seed, key) = signed_head_and_key(
            &site,
            "PUT",
            "/bkt/chunked",
            "",
            &[
                ("content-encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", &payload.len().to_string()),
                ("transfer-encoding", "chunked"),
            ],
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            &date,
        );
        let mut framed = Vec::new();
        let mut prev = seed;
        for chunk in payload.chunks(65_536).chain(std::iter::once(&[][..])) {
            let mut sig = chunk_signature(&key, &date, &prev, chunk);
            prev = sig.clone();
            if tamper && chunk.len() < 65_536 && !chunk.is_empty() {
                sig = sig.replace(&sig[..4], "0000");
            }
            framed.extend(format!("{:x};chunk-signature={sig}\r\n", chunk.len()).into_bytes());
            framed.extend_from_slice(chunk);
            framed.extend_from_slice(b"\r\n");
        }
        // Sent with HTTP chunked transfer encoding around the aws-chunked body.
        let mut req = format!("{head}\r\n").into_bytes();
        req.extend(format!("{:x}\r\n", framed.len()).into_bytes());
        req.extend_from_slice(&framed);
        req.extend_from_slice(b"\r\n0\r\n\r\n");
        let r = raw(site.s3, &req, false);
        if tamper {
            expect(&r, 403, "SignatureDoesNotMatch");
        } else {
            assert_eq!(r.status, 200, "{}", r.text());
        }
    }
    let got = c.get_object().bucket("bkt").key("chunked").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), &payload[..]);

    // Unsigned chunks with a CRC32 trailer that does not match.
    let mut body = format!("{:x}\r\n", 5).into_bytes();
    body.extend_from_slice(b"hello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n");
    let r = put_raw(
        &site,
        "/bkt/trailer",
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "5"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ],
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        &body,
    );
    expect(&r, 400, "BadDigest");
    c.delete_object().bucket("bkt").key("chunked").send().await.unwrap();
    before.sort();
    unchanged(&c, &before).await;
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body() {
    let (site, c, _) = setup().await;
    let body = data(100_000, 8);
    let head = signed_head(
        &site,
        "PUT",
        "/bkt/continued",
        "",
        &[("content-length", "100000"), ("expect", "100-continue")],
        UNSIGNED,
        &amz_now(0),
    );
    let mut s = std::net::TcpStream::connect(site.s3).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    s.write_all(format!("{head}\r\n").as_bytes()).unwrap();
    let mut first = [0u8; 25];
    s.read_exact(&mut first).unwrap();
    assert!(
        first.starts_with(b"HTTP/1.1 100 Continue"),
        "{}",
        String::from_utf8_lossy(&first)
    );
    s.write_all(&body).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(String::from_utf8_lossy(&rest).contains("200 OK"));
    let got = c.get_object().bucket("bkt").key("continued").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), &body[..]);
}

#[tokio::test]
async fn malformed_requests_and_unknown_subresources() {
    let (site, c, before) = setup().await;
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    for doc in [
        "not xml",
        "<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>",
        "<Wrong/>",
        "",
    ] {
        let head = signed_head(
            &site,
            "POST",
            "/bkt/mp",
            &format!("uploadId={id}"),
            &[("content-length", &doc.len().to_string())],
            UNSIGNED,
            &amz_now(0),
        );
        expect(
            &raw(site.s3, format!("{head}\r\n{doc}").as_bytes(), false),
            400,
            "MalformedXML",
        );
    }
    let head = signed_head(&site, "GET", "/bkt", "website=", &[], EMPTY_SHA256, &amz_now(0));
    expect(
        &raw(site.s3, format!("{head}\r\n").as_bytes(), false),
        501,
        "NotImplemented",
    );
    let head = signed_head(&site, "GET", "/bkt", "max-keys=-1", &[], EMPTY_SHA256, &amz_now(0));
    expect(
        &raw(site.s3, format!("{head}\r\n").as_bytes(), false),
        400,
        "InvalidArgument",
    );
    let head = signed_head(
        &site,
        "PUT",
        "/bkt/mp",
        &format!("partNumber=0&uploadId={id}"),
        &[("content-length", "1")],
        UNSIGNED,
        &amz_now(0),
    );
    expect(
        &raw(site.s3, format!("{head}\r\nx").as_bytes(), false),
        400,
        "InvalidArgument",
    );
    let head = signed_head(
        &site,
        "GET",
        "/bkt/keep",
        "",
        &[("range", "bytes=100-200")],
        EMPTY_SHA256,
        &amz_now(0),
    );
    let r = raw(site.s3, format!("{head}\r\n").as_bytes(), false);
    expect(&r, 416, "InvalidRange");
    assert_eq!(r.header("content-range"), Some("bytes */10"));
    // HEAD errors carry no body, as S3's.
    let head = signed_head(&site, "HEAD", "/bkt/missing", "", &[], EMPTY_SHA256, &amz_now(0));
    let r = raw(site.s3, format!("{head}\r\n").as_bytes(), false);
    assert_eq!(r.status, 404);
    assert!(r.body.is_empty());
    c.abort_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    unchanged(&c, &before).await;
}
