//! PutObject, GetObject, HeadObject, DeleteObject, GetObjectAttributes: bytes, metadata, ranges, checksums, conditions, part reads, and GC of what overwrites leave.

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectAttributes};
use std::time::Duration;
use strata_tests::{code, data, get_bytes, md5_hex, refused, status, Site};

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

#[tokio::test]
async fn conditional_reads_and_writes() {
    let (_site, c) = Site::start_with_bucket("bkt").await;
    let put = c
        .put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"v1"))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().to_owned();
    let (past, future) = (DateTime::from_secs(1_000_000_000), DateTime::from_secs(4_000_000_000));

    assert!(c
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_match(&etag)
        .send()
        .await
        .is_ok());
    assert_eq!(
        refused(c.get_object().bucket("bkt").key("k").if_match("\"other\"").send().await),
        "PreconditionFailed"
    );
    assert_eq!(
        status(c.get_object().bucket("bkt").key("k").if_none_match(&etag).send().await),
        304
    );
    assert!(c
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_none_match("\"other\"")
        .send()
        .await
        .is_ok());
    assert_eq!(
        status(
            c.get_object()
                .bucket("bkt")
                .key("k")
                .if_modified_since(future)
                .send()
                .await
        ),
        304
    );
    assert!(c
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_modified_since(past)
        .send()
        .await
        .is_ok());
    assert_eq!(
        refused(
            c.get_object()
                .bucket("bkt")
                .key("k")
                .if_unmodified_since(past)
                .send()
                .await
        ),
        "PreconditionFailed"
    );
    assert_eq!(
        status(
            c.head_object()
                .bucket("bkt")
                .key("k")
                .if_match("\"other\"")
                .send()
                .await
        ),
        412
    );
    assert_eq!(
        status(c.head_object().bucket("bkt").key("k").if_none_match(&etag).send().await),
        304
    );
    // If-Match true beats If-Unmodified-Since false, as S3 documents.
    assert!(c
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_match(&etag)
        .if_unmodified_since(past)
        .send()
        .await
        .is_ok());

    // Conditional writes.
    let e = c
        .put_object()
        .bucket("bkt")
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await;
    assert_eq!(refused(e), "PreconditionFailed");
    c.put_object()
        .bucket("bkt")
        .key("new")
        .if_none_match("*")
        .body(ByteStream::from_static(b"n"))
        .send()
        .await
        .unwrap();
    let e = c
        .put_object()
        .bucket("bkt")
        .key("k")
        .if_match("\"other\"")
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await;
    assert_eq!(refused(e), "PreconditionFailed");
    c.put_object()
        .bucket("bkt")
        .key("k")
        .if_match(&etag)
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&c, "bkt", "k").await, b"v2");
    let e = c
        .put_object()
        .bucket("bkt")
        .key("absent")
        .if_match(&etag)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(refused(e), "NoSuchKey");

    // CompleteMultipartUpload with If-None-Match: * onto an existing key.
    let up = c.create_multipart_upload().bucket("bkt").key("k").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let p = c
        .upload_part()
        .bucket("bkt")
        .key("k")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"p"))
        .send()
        .await
        .unwrap();
    let parts = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(p.e_tag().unwrap())
                .build(),
        )
        .build();
    let e = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("k")
        .upload_id(id)
        .multipart_upload(parts.clone())
        .if_none_match("*")
        .send()
        .await;
    assert_eq!(refused(e), "PreconditionFailed");
    assert_eq!(get_bytes(&c, "bkt", "k").await, b"v2");
    c.complete_multipart_upload()
        .bucket("bkt")
        .key("k")
        .upload_id(id)
        .multipart_upload(parts)
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&c, "bkt", "k").await, b"p");
}

#[tokio::test]
async fn part_numbers_overrides_and_attributes() {
    let (_site, c) = Site::start_with_bucket("bkt").await;
    let (p1, p2) = (data(5 << 20, 1), data(1234, 2));
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, body) in [(1, &p1), (2, &p2)] {
        let r = c
            .upload_part()
            .bucket("bkt")
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    c.complete_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .upload_id(id)
        .multipart_upload(done)
        .send()
        .await
        .unwrap();

    let part2 = c
        .get_object()
        .bucket("bkt")
        .key("mp")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(part2.parts_count(), Some(2));
    assert_eq!(part2.content_length(), Some(1234));
    assert_eq!(part2.body.collect().await.unwrap().into_bytes().as_ref(), &p2[..]);
    let head1 = c
        .head_object()
        .bucket("bkt")
        .key("mp")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(head1.content_length(), Some(5 << 20));
    assert_eq!(
        status(c.get_object().bucket("bkt").key("mp").part_number(3).send().await),
        416
    );

    let o = c
        .get_object()
        .bucket("bkt")
        .key("mp")
        .response_content_type("text/plain")
        .response_content_disposition("attachment")
        .response_cache_control("no-cache")
        .range("bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (o.content_type(), o.content_disposition(), o.cache_control()),
        (Some("text/plain"), Some("attachment"), Some("no-cache"))
    );
    assert_eq!(
        o.body.collect().await.unwrap().into_bytes().as_ref(),
        &p2[p2.len() - 10..]
    );

    let attrs = c
        .get_object_attributes()
        .bucket("bkt")
        .key("mp")
        .object_attributes(ObjectAttributes::Etag)
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::ObjectParts)
        .object_attributes(ObjectAttributes::StorageClass)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.object_size(), Some((5 << 20) + 1234));
    assert!(attrs.e_tag().unwrap().ends_with("-2"));
    assert_eq!(attrs.object_parts().unwrap().total_parts_count(), Some(2));
    assert!(attrs.last_modified().is_some());

    // The parts a page at a time: one, then the one after it.
    let parts_page = |marker: Option<&str>| {
        c.get_object_attributes()
            .bucket("bkt")
            .key("mp")
            .object_attributes(ObjectAttributes::ObjectParts)
            .max_parts(1)
            .set_part_number_marker(marker.map(str::to_owned))
            .send()
    };
    let first = parts_page(None).await.unwrap();
    let first = first.object_parts().unwrap();
    assert_eq!(
        (first.is_truncated(), first.next_part_number_marker(), first.max_parts()),
        (Some(true), Some("1"), Some(1))
    );
    assert_eq!(first.total_parts_count(), Some(2), "the count is of every part");
    let numbers = |page: &aws_sdk_s3::types::GetObjectAttributesParts| -> Vec<Option<i32>> {
        page.parts().iter().map(|p| p.part_number()).collect()
    };
    assert_eq!(numbers(first), [Some(1)]);
    let second = parts_page(Some("1")).await.unwrap();
    let second = second.object_parts().unwrap();
    assert_eq!(
        (
            second.is_truncated(),
            second.part_number_marker(),
            second.next_part_number_marker()
        ),
        (Some(false), Some("1"), Some("2"))
    );
    assert_eq!(numbers(second), [Some(2)]);
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

/// Non-ASCII user metadata comes back as S3 returns it: an RFC 2047 encoded word that
/// decodes to exactly the text sent, in every client (raw UTF-8 in a header is read as
/// ISO-8859-1 by Python clients: the `cafÃ©` of the report). A value sent encoded comes
/// back byte for byte; ASCII is untouched.
#[tokio::test]
async fn non_ascii_metadata_comes_back_unchanged() {
    let (_site, c) = Site::start_with_bucket("bkt").await;
    for (sent, returned) in [
        ("café", "=?UTF-8?B?Y2Fmw6k=?="),
        ("=?UTF-8?B?Y2Fmw6k=?=", "=?UTF-8?B?Y2Fmw6k=?="),
        ("日本語 ✓", "=?UTF-8?B?5pel5pys6KqeIOKckw==?="),
        ("plain", "plain"),
    ] {
        c.put_object()
            .bucket("bkt")
            .key("k")
            .metadata("x", sent)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
        let head = c.head_object().bucket("bkt").key("k").send().await.unwrap();
        assert_eq!(
            head.metadata().unwrap().get("x").map(String::as_str),
            Some(returned),
            "{sent}"
        );
        let get = c.get_object().bucket("bkt").key("k").send().await.unwrap();
        assert_eq!(
            get.metadata().unwrap().get("x").map(String::as_str),
            Some(returned),
            "{sent}"
        );
    }
}
