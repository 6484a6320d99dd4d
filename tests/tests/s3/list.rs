//! ListObjects v1 and v2: prefixes, delimiters, pages, encodings.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::EncodingType;
use aws_sdk_s3::Client;
use strata_tests::{code, raw, Site};

#[tokio::test]
async fn listing_v1_and_v2() {
    let site = Site::start();
    let c = site.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let keys = ["a/1", "a/2", "a/b/3", "b/1", "c", "d+e f", "d/x", "e/"];
    for k in keys {
        c.put_object()
            .bucket("bkt")
            .key(k)
            .body(ByteStream::from_static(b"v"))
            .send()
            .await
            .unwrap();
    }
    c.put_object()
        .bucket("bkt")
        .key("gone")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap();
    c.delete_object().bucket("bkt").key("gone").send().await.unwrap();

    let all = c.list_objects_v2().bucket("bkt").send().await.unwrap();
    let got: Vec<&str> = all.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, keys);
    assert_eq!(all.key_count(), Some(8));
    assert_eq!(all.contents()[0].size(), Some(1));

    let d = c.list_objects_v2().bucket("bkt").delimiter("/").send().await.unwrap();
    let objs: Vec<&str> = d.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<&str> = d.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(objs, ["c", "d+e f"]);
    assert_eq!(prefixes, ["a/", "b/", "d/", "e/"]);

    let p = c
        .list_objects_v2()
        .bucket("bkt")
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        p.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(),
        ["a/1", "a/2"]
    );
    assert_eq!(
        p.common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .collect::<Vec<_>>(),
        ["a/b/"]
    );

    // Pagination with a delimiter: every entry once, across pages of 2.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket("bkt")
            .delimiter("/")
            .max_keys(2)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        seen.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        seen.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned)),
        );
        if !page.is_truncated().unwrap() {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    seen.sort();
    assert_eq!(seen, ["a/", "b/", "c", "d+e f", "d/", "e/"]);

    let sa = c
        .list_objects_v2()
        .bucket("bkt")
        .start_after("b/1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        sa.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(),
        ["c", "d+e f", "d/x", "e/"]
    );

    // v1 with marker and max-keys.
    let v1 = c.list_objects().bucket("bkt").max_keys(3).send().await.unwrap();
    assert!(v1.is_truncated().unwrap());
    let v1_keys: Vec<&str> = v1.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(v1_keys, ["a/1", "a/2", "a/b/3"]);
    let v1b = c.list_objects().bucket("bkt").marker("a/b/3").send().await.unwrap();
    assert_eq!(v1b.contents().len(), 5);
    let v1d = c
        .list_objects()
        .bucket("bkt")
        .delimiter("/")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(v1d.next_marker(), Some("a/"));
    let v1e = c
        .list_objects()
        .bucket("bkt")
        .delimiter("/")
        .marker("a/")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(v1e.common_prefixes()[0].prefix(), Some("b/"));

    // encoding-type=url: the Rust SDK hands the encoded names through as they came.
    let enc = c
        .list_objects_v2()
        .bucket("bkt")
        .prefix("d")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(
        enc.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(),
        ["d%2Be%20f", "d/x"]
    );
    let r = raw_signed_list(&site, &c, "d").await;
    assert!(r.contains("<Key>d%2Be%20f</Key>"), "{r}");

    let e = c
        .list_objects_v2()
        .bucket("bkt")
        .continuation_token("!!notatoken")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e.into_service_error()), "InvalidArgument");
}

/// Lists with encoding-type=url by hand, to see the raw XML.
async fn raw_signed_list(site: &Site, _c: &Client, prefix: &str) -> String {
    let head = strata_tests::signed_head(
        site,
        "GET",
        "/bkt",
        &format!("encoding-type=url&list-type=2&prefix={prefix}"),
        &[],
        strata_tests::EMPTY_SHA256,
        &strata_tests::amz_now(0),
    );
    raw(site.s3, format!("{head}\r\n").as_bytes(), false).text()
}

/// `max-keys=0` answers as S3 does: an empty page, not truncated, no token or marker.
#[tokio::test]
async fn max_keys_zero_is_an_empty_complete_page() {
    let (_site, c) = Site::start_with_bucket("bkt").await;
    for k in ["a", "b/c"] {
        c.put_object()
            .bucket("bkt")
            .key(k)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let v2 = c.list_objects_v2().bucket("bkt").max_keys(0).send().await.unwrap();
    assert_eq!((v2.key_count(), v2.is_truncated()), (Some(0), Some(false)));
    assert!(v2.contents().is_empty() && v2.next_continuation_token().is_none());
    let v1 = c
        .list_objects()
        .bucket("bkt")
        .delimiter("/")
        .max_keys(0)
        .send()
        .await
        .unwrap();
    assert_eq!(v1.is_truncated(), Some(false));
    assert!(v1.contents().is_empty() && v1.common_prefixes().is_empty() && v1.next_marker().is_none());
    let versions = c.list_object_versions().bucket("bkt").max_keys(0).send().await.unwrap();
    assert_eq!(versions.is_truncated(), Some(false));
    assert!(versions.versions().is_empty());
}
