//! Every S3 operation of the foundation, driven by aws-sdk-s3 against a real site,
//! with the bytes read back and compared.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, EncodingType};
use aws_sdk_s3::Client;
use std::time::Duration;
use strata_tests::{data, md5_hex, raw, Site};

async fn get_bytes(c: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let o = c.get_object().bucket(bucket).key(key).send().await.unwrap();
    o.body.collect().await.unwrap().into_bytes().to_vec()
}

fn code<E: ProvideErrorMetadata>(e: E) -> String {
    e.code().unwrap_or("<none>").to_owned()
}

/// The S3 error code of a call that must fail.
fn refused<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(r: Result<T, E>) -> String {
    code(r.unwrap_err())
}

#[tokio::test]
async fn bucket_lifecycle_and_errors() {
    let site = Site::start();
    let c = site.client();
    c.create_bucket().bucket("alpha").send().await.unwrap();
    c.create_bucket().bucket("beta.1").send().await.unwrap();
    let names: Vec<String> = c
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name.clone())
        .collect();
    assert_eq!(names, ["alpha", "beta.1"]);
    c.head_bucket().bucket("alpha").send().await.unwrap();
    let loc = c.get_bucket_location().bucket("alpha").send().await.unwrap();
    assert!(loc.location_constraint().is_none() || loc.location_constraint().unwrap().as_str().is_empty());

    let e = c
        .create_bucket()
        .bucket("alpha")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(e), "BucketAlreadyOwnedByYou");
    for bad in ["ab", "Upper", "a..b", "-dash", "192.168.0.1"] {
        let e = c
            .create_bucket()
            .bucket(bad)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(code(e), "InvalidBucketName", "{bad}");
    }
    let e = c
        .head_bucket()
        .bucket("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_not_found());
    let e = c
        .list_objects_v2()
        .bucket("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(e), "NoSuchBucket");

    c.put_object()
        .bucket("alpha")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let e = c
        .delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(e), "BucketNotEmpty");
    c.delete_object().bucket("alpha").key("k").send().await.unwrap();
    c.delete_bucket().bucket("alpha").send().await.unwrap();
    let e = c
        .delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(e), "NoSuchBucket");
    let names: Vec<String> = c
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name.clone())
        .collect();
    assert_eq!(names, ["beta.1"]);
    // A deleted bucket's name can be used again, and starts empty.
    c.create_bucket().bucket("alpha").send().await.unwrap();
    assert_eq!(
        c.list_objects_v2().bucket("alpha").send().await.unwrap().key_count(),
        Some(0)
    );
}

#[tokio::test]
async fn objects_round_trip_with_metadata_and_ranges() {
    let site = Site::start();
    let c = site.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();

    // Sizes around the 64 KiB test block size, empty, and many blocks.
    for (i, size) in [0usize, 1, 65_535, 65_536, 65_537, 1_000_000].into_iter().enumerate() {
        let body = data(size, i as u64);
        let key = format!("obj-{size}");
        let put = c
            .put_object()
            .bucket("bkt")
            .key(&key)
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
        assert_eq!(put.e_tag().unwrap(), format!("\"{}\"", md5_hex(&body)));
        assert_eq!(get_bytes(&c, "bkt", &key).await, body, "size {size}");
    }

    let body = data(300_000, 7);
    c.put_object()
        .bucket("bkt")
        .key("dir/with meta+plus?.bin")
        .body(body.clone().into())
        .content_type("application/x-test")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"x.bin\"")
        .cache_control("max-age=60")
        .expires(aws_sdk_s3::primitives::DateTime::from_secs(2_000_000_000))
        .metadata("color", "blue")
        .metadata("Mixed-Case", "Value 1")
        .send()
        .await
        .unwrap();
    let h = c
        .head_object()
        .bucket("bkt")
        .key("dir/with meta+plus?.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_length(), Some(300_000));
    assert_eq!(h.content_type(), Some("application/x-test"));
    assert_eq!(h.content_encoding(), Some("identity"));
    assert_eq!(h.content_disposition(), Some("attachment; filename=\"x.bin\""));
    assert_eq!(h.cache_control(), Some("max-age=60"));
    assert!(h.expires_string().unwrap().contains("2033"));
    let meta = h.metadata().unwrap();
    assert_eq!(meta.get("color").map(String::as_str), Some("blue"));
    assert_eq!(meta.get("mixed-case").map(String::as_str), Some("Value 1"));
    assert_eq!(h.e_tag().unwrap(), format!("\"{}\"", md5_hex(&body)));

    for (range, expect) in [
        ("bytes=0-9", &body[0..10]),
        ("bytes=65530-65545", &body[65530..65546]),
        ("bytes=299990-", &body[299_990..]),
        ("bytes=-5", &body[299_995..]),
        ("bytes=100-999999", &body[100..]),
    ] {
        let o = c
            .get_object()
            .bucket("bkt")
            .key("dir/with meta+plus?.bin")
            .range(range)
            .send()
            .await
            .unwrap();
        assert!(o.content_range().unwrap().starts_with("bytes "), "{range}");
        assert_eq!(o.body.collect().await.unwrap().into_bytes().as_ref(), expect, "{range}");
    }
    let e = c
        .get_object()
        .bucket("bkt")
        .key("dir/with meta+plus?.bin")
        .range("bytes=300000-")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e.into_service_error()), "InvalidRange");

    // Overwrite replaces the bytes; delete makes the key disappear.
    c.put_object()
        .bucket("bkt")
        .key("obj-1")
        .body(ByteStream::from_static(b"second"))
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&c, "bkt", "obj-1").await, b"second");
    c.delete_object().bucket("bkt").key("obj-1").send().await.unwrap();
    let e = c
        .get_object()
        .bucket("bkt")
        .key("obj-1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_no_such_key());
    let e = c
        .head_object()
        .bucket("bkt")
        .key("obj-1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_not_found());
    // Deleting a missing key succeeds, as in S3.
    c.delete_object().bucket("bkt").key("never-was").send().await.unwrap();

    // Keys that look like paths are just keys.
    for key in ["a/../b", "./x", "spaces and ünïcödé/ключ", "trailing/"] {
        c.put_object()
            .bucket("bkt")
            .key(key)
            .body(ByteStream::from_static(b"k"))
            .send()
            .await
            .unwrap();
        assert_eq!(get_bytes(&c, "bkt", key).await, b"k", "{key}");
    }
}

#[tokio::test]
async fn checksums_are_verified_and_returned() {
    let site = Site::start();
    let c = site.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let body = data(200_000, 3);
    for alg in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ] {
        let key = format!("ck-{alg}");
        let put = c
            .put_object()
            .bucket("bkt")
            .key(&key)
            .checksum_algorithm(alg.clone())
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
        let returned = match alg {
            ChecksumAlgorithm::Crc32 => put.checksum_crc32(),
            ChecksumAlgorithm::Crc32C => put.checksum_crc32_c(),
            ChecksumAlgorithm::Sha1 => put.checksum_sha1(),
            _ => put.checksum_sha256(),
        };
        assert!(returned.is_some(), "{alg} not returned");
        let got = c
            .get_object()
            .bucket("bkt")
            .key(&key)
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), &body[..]);
    }
    // A wrong CRC32 sent as a header is refused and nothing is stored.
    let e = c
        .put_object()
        .bucket("bkt")
        .key("bad-crc")
        .checksum_crc32("AAAAAA==")
        .body(body.clone().into())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(e), "BadDigest");
    // A wrong Content-MD5 too.
    let e = c
        .put_object()
        .bucket("bkt")
        .key("bad-md5")
        .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==")
        .body(body.clone().into())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(e), "BadDigest");
    let keys: Vec<String> = c
        .list_objects_v2()
        .bucket("bkt")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key.clone())
        .collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
}

async fn upload_part(c: &Client, key: &str, id: &str, n: i32, body: &[u8]) -> CompletedPart {
    let r = c
        .upload_part()
        .bucket("bkt")
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap();
    CompletedPart::builder()
        .part_number(n)
        .e_tag(r.e_tag().unwrap())
        .build()
}

#[tokio::test]
async fn multipart_upload_complete_and_errors() {
    let site = Site::start();
    let c = site.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let mib5 = 5 << 20;
    let p1 = data(mib5, 1);
    let p2 = data(mib5 + 123, 2);
    let p3 = data(1000, 3);

    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("big")
        .content_type("video/x-test")
        .metadata("m", "v")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let c1 = upload_part(&c, "big", &id, 1, &p1).await;
    // A part uploaded again replaces the earlier one.
    upload_part(&c, "big", &id, 2, &p3).await;
    let c2 = upload_part(&c, "big", &id, 2, &p2).await;
    let c3 = upload_part(&c, "big", &id, 3, &p3).await;

    let parts = c
        .list_parts()
        .bucket("bkt")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let sizes: Vec<i64> = parts.parts().iter().map(|p| p.size().unwrap()).collect();
    assert_eq!(sizes, [mib5 as i64, mib5 as i64 + 123, 1000]);
    let uploads = c.list_multipart_uploads().bucket("bkt").send().await.unwrap();
    assert_eq!(uploads.uploads().len(), 1);
    assert_eq!(uploads.uploads()[0].upload_id(), Some(id.as_str()));

    // Out of order, unknown part, wrong ETag, small non-last part.
    let complete = |parts: Vec<CompletedPart>| {
        c.complete_multipart_upload()
            .bucket("bkt")
            .key("big")
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
    };
    let e = complete(vec![c2.clone(), c1.clone()])
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(e), "InvalidPartOrder");
    let e = complete(vec![
        c1.clone(),
        CompletedPart::builder().part_number(9).e_tag("\"00\"").build(),
    ])
    .await
    .unwrap_err();
    assert_eq!(code(e.into_service_error()), "InvalidPart");
    let e = complete(vec![CompletedPart::builder().part_number(1).e_tag("\"0123\"").build()])
        .await
        .unwrap_err();
    assert_eq!(code(e.into_service_error()), "InvalidPart");
    let e = complete(vec![
        c3.clone(),
        CompletedPart::builder()
            .part_number(4)
            .e_tag(c3.e_tag().unwrap())
            .build(),
    ])
    .await;
    assert_eq!(code(e.unwrap_err().into_service_error()), "InvalidPart");
    let small = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("small")
        .send()
        .await
        .unwrap();
    let sid = small.upload_id().unwrap();
    let s1 = c
        .upload_part()
        .bucket("bkt")
        .key("small")
        .upload_id(sid)
        .part_number(1)
        .body(p3.clone().into())
        .send()
        .await
        .unwrap();
    let s2 = c
        .upload_part()
        .bucket("bkt")
        .key("small")
        .upload_id(sid)
        .part_number(2)
        .body(p3.clone().into())
        .send()
        .await
        .unwrap();
    let e = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("small")
        .upload_id(sid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(s1.e_tag().unwrap())
                        .build(),
                )
                .parts(
                    CompletedPart::builder()
                        .part_number(2)
                        .e_tag(s2.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e.into_service_error()), "EntityTooSmall");
    c.abort_multipart_upload()
        .bucket("bkt")
        .key("small")
        .upload_id(sid)
        .send()
        .await
        .unwrap();
    let e = c
        .list_parts()
        .bucket("bkt")
        .key("small")
        .upload_id(sid)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e.into_service_error()), "NoSuchUpload");

    let done = complete(vec![c1, c2, c3]).await.unwrap();
    // The ETag is the MD5 of the parts' MD5s, then the part count.
    let mut md5s = Vec::new();
    for p in [&p1, &p2, &p3] {
        md5s.extend(hex::decode(md5_hex(p)).unwrap());
    }
    assert_eq!(done.e_tag().unwrap(), format!("\"{}-3\"", md5_hex(&md5s)));
    let got = c.get_object().bucket("bkt").key("big").send().await.unwrap();
    assert_eq!(got.content_type(), Some("video/x-test"));
    assert_eq!(got.metadata().unwrap().get("m").map(String::as_str), Some("v"));
    let bytes = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(bytes.len(), p1.len() + p2.len() + p3.len());
    assert!(
        bytes[..p1.len()] == p1[..]
            && bytes[p1.len()..p1.len() + p2.len()] == p2[..]
            && bytes[p1.len() + p2.len()..] == p3[..]
    );
    assert!(c
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .unwrap()
        .uploads()
        .is_empty());
    let e = c
        .upload_part()
        .bucket("bkt")
        .key("big")
        .upload_id(&id)
        .part_number(1)
        .body(p3.into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e.into_service_error()), "NoSuchUpload");
}

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

#[tokio::test]
async fn users_cannot_touch_each_others_buckets() {
    let site = Site::start();
    let out = site.admin_cmd(&["user", "create", "other"]);
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    let other = site.client_as(&field("access_key:"), &field("secret_key:"));
    let c = site.client();
    c.create_bucket().bucket("mine").send().await.unwrap();
    c.put_object()
        .bucket("mine")
        .key("k")
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .unwrap();

    assert_eq!(
        refused(other.create_bucket().bucket("mine").send().await),
        "BucketAlreadyExists"
    );
    assert_eq!(
        refused(other.get_object().bucket("mine").key("k").send().await),
        "AccessDenied"
    );
    // HEAD answers carry no body, so only the status tells.
    let head = other.head_bucket().bucket("mine").send().await.unwrap_err();
    assert_eq!(head.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(
        refused(other.list_objects_v2().bucket("mine").send().await),
        "AccessDenied"
    );
    let put = other
        .put_object()
        .bucket("mine")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(refused(put), "AccessDenied");
    assert_eq!(
        refused(other.delete_object().bucket("mine").key("k").send().await),
        "AccessDenied"
    );
    assert_eq!(
        refused(other.delete_bucket().bucket("mine").send().await),
        "AccessDenied"
    );
    assert_eq!(
        refused(other.create_multipart_upload().bucket("mine").key("k").send().await),
        "AccessDenied"
    );
    assert!(other.list_buckets().send().await.unwrap().buckets().is_empty());
    assert_eq!(get_bytes(&c, "mine", "k").await, b"secret");

    // Deleted credentials stop working.
    site.admin_cmd(&["user", "delete", "other"]);
    let e = other.list_buckets().send().await.unwrap_err().into_service_error();
    assert_eq!(code(e), "InvalidAccessKeyId");
    let listed = site.admin_cmd(&["user", "list"]);
    assert!(listed.contains("tester") && !listed.contains("other"), "{listed}");
}

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
        refused(c.get_bucket_policy().bucket("bkt").send().await),
        "NotImplemented"
    );
    assert_eq!(
        refused(c.get_bucket_lifecycle_configuration().bucket("bkt").send().await),
        "NotImplemented"
    );
    let v = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    assert_eq!(
        refused(
            c.put_bucket_versioning()
                .bucket("bkt")
                .versioning_configuration(v)
                .send()
                .await
        ),
        "NotImplemented"
    );
}

#[tokio::test]
async fn overwritten_blocks_are_collected_after_the_grace_period() {
    let site = Site::start_with(strata_tests::SiteOptions {
        gc_grace_secs: 0,
        gc_interval_secs: 1,
        ..Default::default()
    });
    let c = site.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    c.put_object()
        .bucket("bkt")
        .key("k")
        .body(data(640 * 1024, 1).into())
        .send()
        .await
        .unwrap();
    let first = site.block_files();
    assert_eq!(first, 10);
    c.put_object()
        .bucket("bkt")
        .key("k")
        .body(data(640 * 1024, 2).into())
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("bkt")
        .key("shared")
        .body(data(640 * 1024, 2).into())
        .send()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while site.block_files() != 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "old blocks not collected: {} files",
            site.block_files()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(get_bytes(&c, "bkt", "k").await, data(640 * 1024, 2));
    // Deleting one of two objects that share blocks keeps the blocks.
    c.delete_object().bucket("bkt").key("k").send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(site.block_files(), 10);
    assert_eq!(get_bytes(&c, "bkt", "shared").await, data(640 * 1024, 2));
    c.delete_object().bucket("bkt").key("shared").send().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while site.block_files() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "blocks not collected: {}",
            site.block_files()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
