//! Proxy-get with real sites: a sink that got manifests without blocks serves GETs and
//! ranged GETs by fetching the blocks from its source, keeps them (the second read asks
//! nothing of the source), and answers 503 ServiceUnavailable with Retry-After, before
//! any body byte, when a block cannot be had.

use strata_tests::{
    amz_now, data, get_bytes, raw, signed_head, wait_for, RawResponse, Site, SiteOptions, EMPTY_SHA256,
};

/// A signed GET of an object, raw, so the status line and headers are seen as sent.
fn raw_get(site: &Site, path: &str) -> RawResponse {
    let head = signed_head(site, "GET", path, "", &[], EMPTY_SHA256, &amz_now(0));
    raw(site.s3, format!("{head}\r\n").as_bytes(), false)
}

fn proxy_counters(site: &Site) -> serde_json::Value {
    site.repl_status()["proxy_get"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_reads_through_its_source_once_then_locally_and_503_when_it_cannot() {
    let mut a = Site::start_with(SiteOptions::replicating("site-a"));
    let b = Site::start_with(SiteOptions::replicating("site-b"));
    a.repl_cmd(&["connect", &b.repl.unwrap().to_string()]);
    a.repl_cmd(&["realtime", "enable", "site-b", "--metadata-only"]);
    a.repl_cmd(&["realtime", "start", "site-b"]);
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("pgets").send().await.unwrap();
    // 64 KiB blocks: five, four and three blocks; and one object kept inline.
    let (one, two, three, four) = (data(300_000, 1), data(200_000, 2), data(150_000, 3), data(250_000, 4));
    let (five, six) = (data(180_000, 5), data(270_000, 6));
    for (key, bytes) in [
        ("one", &one),
        ("two", &two),
        ("three", &three),
        ("four", &four),
        ("five", &five),
        ("six", &six),
    ] {
        ca.put_object()
            .bucket("pgets")
            .key(key)
            .body(bytes.clone().into())
            .send()
            .await
            .unwrap();
    }
    wait_for(30, "the manifests on the sink", || {
        a.peer_status("site-b", "sink")["pending_entries"] == 0
    });
    assert_eq!(b.block_files(), 0, "metadata only: no block crossed");

    // Proxy-get not enabled on the source: 503 with Retry-After, and no body at all.
    let r = raw_get(&b, "/pgets/one");
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "ServiceUnavailable"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.text().starts_with("<?xml"), "an S3 error document, not object bytes");

    let refused = proxy_counters(&b);
    assert_eq!(
        (refused["requests"].as_u64(), refused["blocks"].as_u64()),
        (Some(1), Some(0)),
        "{refused}"
    );
    assert!(refused["failures"].as_u64().unwrap() >= 1, "{refused}");

    a.repl_cmd(&["proxy-get", "enable", "site-b"]);
    assert_eq!(a.peer_status("site-b", "sink")["proxy_get"], true);
    assert_eq!(get_bytes(&cb, "pgets", "one").await, one);
    let ranged = cb
        .get_object()
        .bucket("pgets")
        .key("two")
        .range("bytes=70000-140000")
        .send()
        .await
        .unwrap();
    let got = ranged.body.collect().await.unwrap().into_bytes();
    assert_eq!(&got[..], &two[70_000..=140_000]);
    let after_first = proxy_counters(&b);
    // "one": all five blocks; the range of "two" lies in its second and third blocks.
    assert_eq!(after_first["requests"], 3, "{after_first}");
    assert_eq!(after_first["blocks"], 7, "{after_first}");
    assert_eq!(after_first["failures"], refused["failures"], "{after_first}");

    // Read again: local now, nothing asked of the source.
    assert_eq!(get_bytes(&cb, "pgets", "one").await, one);
    assert_eq!(proxy_counters(&b), after_first);

    // Eight readers at once of an object none has read: each block is fetched once.
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let c = cb.clone();
            tokio::spawn(async move { get_bytes(&c, "pgets", "four").await })
        })
        .collect();
    for r in readers {
        assert_eq!(r.await.unwrap(), four);
    }
    let after_many = proxy_counters(&b);
    assert_eq!(after_many["blocks"].as_u64().unwrap(), 7 + 4, "{after_many}");

    // Copies on the sink read through too: CopyObject of an object never read here,
    // and UploadPartCopy of a range of another.
    cb.copy_object()
        .bucket("pgets")
        .key("five-copy")
        .copy_source("pgets/five")
        .send()
        .await
        .unwrap();
    let up = cb
        .create_multipart_upload()
        .bucket("pgets")
        .key("assembled")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = cb
        .upload_part_copy()
        .bucket("pgets")
        .key("assembled")
        .upload_id(id)
        .part_number(1)
        .copy_source("pgets/six")
        .copy_source_range("bytes=100000-229999")
        .send()
        .await
        .unwrap();
    let etag = part.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(1)
                .e_tag(etag)
                .build(),
        )
        .build();
    cb.complete_multipart_upload()
        .bucket("pgets")
        .key("assembled")
        .upload_id(id)
        .multipart_upload(done)
        .send()
        .await
        .unwrap();

    // The source goes away: what was read is still served, what was not answers 503.
    a.kill9();
    assert_eq!(get_bytes(&cb, "pgets", "one").await, one);
    assert_eq!(
        get_bytes(&cb, "pgets", "five-copy").await,
        five,
        "the copy is whole without the source"
    );
    assert_eq!(get_bytes(&cb, "pgets", "assembled").await, &six[100_000..230_000]);
    let r = raw_get(&b, "/pgets/three");
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "ServiceUnavailable"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(proxy_counters(&b)["failures"].as_u64().unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fullsync_metadata_only_then_reads_through_proxy_get() {
    let a = Site::start_with(SiteOptions::replicating("site-a"));
    let b = Site::start_with(SiteOptions::replicating("site-b"));
    let ca = a.client();
    ca.create_bucket().bucket("fsmeta").send().await.unwrap();
    let big = data(400_000, 9);
    ca.put_object()
        .bucket("fsmeta")
        .key("big")
        .body(big.clone().into())
        .send()
        .await
        .unwrap();
    a.repl_cmd(&["connect", &b.repl.unwrap().to_string()]);
    a.repl_cmd(&["proxy-get", "enable", "site-b"]);
    a.repl_cmd(&["fullsync", "enable", "site-b", "--metadata-only"]);
    wait_for(60, "a complete fullsync", || {
        a.peer_status("site-b", "sink")["fullsync"]["last"]["result"] == "complete"
    });
    assert_eq!(b.block_files(), 0, "metadata only: no block crossed");
    assert_eq!(get_bytes(&b.client(), "fsmeta", "big").await, big);
    assert_eq!(proxy_counters(&b)["blocks"], 7, "400 000 bytes in 64 KiB blocks");
}
