//! CORS configuration and preflight.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use strata_tests::{raw, refused, Site};

#[tokio::test]
async fn cors_configuration_and_preflight() {
    let (site, c) = Site::start_with_bucket("bkt").await;
    assert_eq!(
        refused(c.get_bucket_cors().bucket("bkt").send().await),
        "NoSuchCORSConfiguration"
    );
    let rule = CorsRule::builder()
        .allowed_origins("https://*.example.com")
        .allowed_methods("GET")
        .allowed_methods("PUT")
        .allowed_headers("*")
        .expose_headers("ETag")
        .max_age_seconds(600)
        .build()
        .unwrap();
    c.put_bucket_cors()
        .bucket("bkt")
        .cors_configuration(CorsConfiguration::builder().cors_rules(rule).build().unwrap())
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_cors().bucket("bkt").send().await.unwrap();
    assert_eq!(got.cors_rules()[0].allowed_methods(), ["GET", "PUT"]);
    c.put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();

    let preflight = |origin: &str, method: &str| {
        format!(
            "OPTIONS /bkt/k HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: {method}\r\nAccess-Control-Request-Headers: content-type, x-amz-date\r\nConnection: close\r\n\r\n",
            site.s3
        )
    };
    let r = raw(site.s3, preflight("https://app.example.com", "PUT").as_bytes(), false);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, PUT"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type, x-amz-date")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    let r = raw(site.s3, preflight("https://evil.example.org", "PUT").as_bytes(), false);
    assert_eq!((r.status, r.code().as_str()), (403, "AccessForbidden"));
    let r = raw(
        site.s3,
        preflight("https://app.example.com", "DELETE").as_bytes(),
        false,
    );
    assert_eq!(r.status, 403);

    // An actual request from an allowed origin gets the CORS headers too.
    let head = strata_tests::signed_head(
        &site,
        "GET",
        "/bkt/k",
        "",
        &[("origin", "https://app.example.com")],
        strata_tests::EMPTY_SHA256,
        &strata_tests::amz_now(0),
    );
    let r = raw(site.s3, format!("{head}\r\n").as_bytes(), false);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(r.header("access-control-expose-headers"), Some("ETag"));

    c.delete_bucket_cors().bucket("bkt").send().await.unwrap();
    assert_eq!(
        raw(site.s3, preflight("https://app.example.com", "PUT").as_bytes(), false).status,
        403
    );
}
