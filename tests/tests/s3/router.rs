//! Routing and authentication: presigned URLs, virtual-host addressing, operations not implemented.

use aws_sdk_s3::presigning::PresigningConfig;
use std::time::Duration;
use strata_tests::{data, raw, refused, Site};

#[tokio::test]
async fn presigned_urls_and_virtual_host_addressing() {
    let site = Site::start();
    let c = site.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let body = data(100_000, 9);
    c.put_object()
        .bucket("bkt")
        .key("p/q.bin")
        .body(body.clone().into())
        .send()
        .await
        .unwrap();

    let presigned = c
        .get_object()
        .bucket("bkt")
        .key("p/q.bin")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let uri: http::Uri = presigned.uri().parse().unwrap();
    let pq = uri.path_and_query().unwrap().as_str().to_owned();
    let r = raw(
        site.s3,
        format!("GET {pq} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", site.s3).as_bytes(),
        false,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
    // Tampering with the URL breaks the signature.
    let tampered = pq.replace("q.bin", "r.bin");
    let r = raw(
        site.s3,
        format!(
            "GET {tampered} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            site.s3
        )
        .as_bytes(),
        false,
    );
    assert_eq!((r.status, r.code().as_str()), (403, "SignatureDoesNotMatch"));
    // A lifetime past a week, or before its start, is refused as S3 refuses it: 403.
    for expires in ["604801", "-1"] {
        let stretched = pq.replace("X-Amz-Expires=300", &format!("X-Amz-Expires={expires}"));
        assert_ne!(stretched, pq);
        let r = raw(
            site.s3,
            format!(
                "GET {stretched} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                site.s3
            )
            .as_bytes(),
            false,
        );
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AuthorizationQueryParametersError"),
            "{expires}: {}",
            r.text()
        );
    }

    // Virtual-host style: the SDK signs for Host b.localhost:<port>.
    let vc = strata_tests::client_for(
        &format!("http://localhost:{}", site.s3.port()),
        strata_tests::ACCESS_KEY,
        strata_tests::SECRET_KEY,
        false,
    );
    let presigned = vc
        .get_object()
        .bucket("bkt")
        .key("p/q.bin")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let uri: http::Uri = presigned.uri().parse().unwrap();
    assert!(uri.host().unwrap().starts_with("bkt.localhost"), "{uri}");
    let host = format!("{}:{}", uri.host().unwrap(), site.s3.port());
    let r = raw(
        site.s3,
        format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
            uri.path_and_query().unwrap()
        )
        .as_bytes(),
        false,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, body);
}

#[tokio::test]
async fn unimplemented_operations_answer_501() {
    let site = Site::start();
    let c = site.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    assert_eq!(
        refused(c.get_bucket_website().bucket("bkt").send().await),
        "NotImplemented"
    );
    assert_eq!(
        refused(c.get_bucket_logging().bucket("bkt").send().await),
        "NotImplemented"
    );
    assert_eq!(
        refused(c.get_bucket_encryption().bucket("bkt").send().await),
        "NotImplemented"
    );
}
