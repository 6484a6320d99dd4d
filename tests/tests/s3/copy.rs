//! CopyObject and UploadPartCopy.

use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective, TaggingDirective};
use strata_tests::{data, get_bytes, md5_hex, refused, Site};

#[tokio::test]
async fn copy_object_directives_conditions_and_self_copy() {
    let (_site, c) = Site::start_with_bucket("bkt").await;
    let body = data(300_000, 1);
    c.put_object()
        .bucket("bkt")
        .key("src")
        .body(body.clone().into())
        .content_type("text/x-src")
        .metadata("a", "1")
        .tagging("t=1")
        .send()
        .await
        .unwrap();
    c.create_bucket().bucket("other").send().await.unwrap();

    // COPY (default): data, headers and tags come along; the ETag is the source's.
    let r = c
        .copy_object()
        .bucket("other")
        .key("dst")
        .copy_source("bkt/src")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.copy_object_result().unwrap().e_tag(),
        Some(format!("\"{}\"", md5_hex(&body)).as_str())
    );
    let h = c.head_object().bucket("other").key("dst").send().await.unwrap();
    assert_eq!(
        (h.content_type(), h.metadata().unwrap().get("a").map(String::as_str)),
        (Some("text/x-src"), Some("1"))
    );
    let got = c.get_object().bucket("other").key("dst").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), &body[..]);
    let tags = c.get_object_tagging().bucket("other").key("dst").send().await.unwrap();
    assert_eq!(tags.tag_set().len(), 1);

    // REPLACE: new headers and tags, same bytes; a key with spaces needs encoding.
    c.copy_object()
        .bucket("bkt")
        .key("replaced copy")
        .copy_source("bkt/src")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/x-new")
        .metadata("b", "2")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("u=2&v=3")
        .send()
        .await
        .unwrap();
    let h = c.head_object().bucket("bkt").key("replaced copy").send().await.unwrap();
    assert_eq!(h.content_type(), Some("text/x-new"));
    assert_eq!(h.metadata().unwrap().get("b").map(String::as_str), Some("2"));
    assert!(h.metadata().unwrap().get("a").is_none());
    assert_eq!(
        c.get_object_tagging()
            .bucket("bkt")
            .key("replaced copy")
            .send()
            .await
            .unwrap()
            .tag_set()
            .len(),
        2
    );
    // The copy of the copy is addressable with an encoded source.
    c.copy_object()
        .bucket("bkt")
        .key("copy2")
        .copy_source("bkt/replaced%20copy")
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&c, "bkt", "copy2").await, body);

    // Onto itself: only with REPLACE, which changes metadata in place.
    assert_eq!(
        refused(
            c.copy_object()
                .bucket("bkt")
                .key("src")
                .copy_source("bkt/src")
                .send()
                .await
        ),
        "InvalidRequest"
    );
    c.copy_object()
        .bucket("bkt")
        .key("src")
        .copy_source("bkt/src")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/x-changed")
        .send()
        .await
        .unwrap();
    let h = c.head_object().bucket("bkt").key("src").send().await.unwrap();
    assert_eq!(h.content_type(), Some("text/x-changed"));
    assert_eq!(get_bytes(&c, "bkt", "src").await, body);

    // Conditions on the source.
    let etag = format!("\"{}\"", md5_hex(&body));
    let ok = c
        .copy_object()
        .bucket("bkt")
        .key("c1")
        .copy_source("bkt/src")
        .copy_source_if_match(&etag)
        .send()
        .await;
    assert!(ok.is_ok());
    let e = c
        .copy_object()
        .bucket("bkt")
        .key("c2")
        .copy_source("bkt/src")
        .copy_source_if_match("\"nope\"")
        .send()
        .await;
    assert_eq!(refused(e), "PreconditionFailed");
    let e = c
        .copy_object()
        .bucket("bkt")
        .key("c2")
        .copy_source("bkt/src")
        .copy_source_if_none_match(&etag)
        .send()
        .await;
    assert_eq!(refused(e), "PreconditionFailed");
    let future = DateTime::from_secs(4_000_000_000);
    let e = c
        .copy_object()
        .bucket("bkt")
        .key("c2")
        .copy_source("bkt/src")
        .copy_source_if_modified_since(future)
        .send()
        .await;
    assert_eq!(refused(e), "PreconditionFailed");
    let past = DateTime::from_secs(1_000_000_000);
    let e = c
        .copy_object()
        .bucket("bkt")
        .key("c2")
        .copy_source("bkt/src")
        .copy_source_if_unmodified_since(past)
        .send()
        .await;
    assert_eq!(refused(e), "PreconditionFailed");
    assert_eq!(
        refused(c.head_object().bucket("bkt").key("c2").send().await),
        "NotFound"
    );
    assert_eq!(
        refused(
            c.copy_object()
                .bucket("bkt")
                .key("x")
                .copy_source("bkt/missing")
                .send()
                .await
        ),
        "NoSuchKey"
    );
    assert_eq!(
        refused(
            c.copy_object()
                .bucket("bkt")
                .key("x")
                .copy_source("nobucket/k")
                .send()
                .await
        ),
        "NoSuchBucket"
    );

    // The copy shares blocks; deleting the source leaves the copy whole.
    c.delete_object().bucket("bkt").key("src").send().await.unwrap();
    assert_eq!(get_bytes(&c, "bkt", "copy2").await, body);
}

#[tokio::test]
async fn upload_part_copy_with_ranges() {
    let (_site, c) = Site::start_with_bucket("bkt").await;
    let src = data(12 << 20, 2);
    c.put_object()
        .bucket("bkt")
        .key("big")
        .body(src.clone().into())
        .send()
        .await
        .unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("assembled")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, range) in [(1, "bytes=0-5242879"), (2, "bytes=6291456-12582911")] {
        let r = c
            .upload_part_copy()
            .bucket("bkt")
            .key("assembled")
            .upload_id(id)
            .part_number(n)
            .copy_source("bkt/big")
            .copy_source_range(range)
            .send()
            .await
            .unwrap();
        let etag = r.copy_part_result().unwrap().e_tag().unwrap().to_owned();
        parts.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
    }
    let bad = c
        .upload_part_copy()
        .bucket("bkt")
        .key("assembled")
        .upload_id(id)
        .part_number(3)
        .copy_source("bkt/big")
        .copy_source_range("bytes=0-99999999")
        .send()
        .await;
    assert_eq!(refused(bad), "InvalidRange");
    c.complete_multipart_upload()
        .bucket("bkt")
        .key("assembled")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let mut want = src[..5 << 20].to_vec();
    want.extend_from_slice(&src[6 << 20..]);
    assert_eq!(get_bytes(&c, "bkt", "assembled").await, want);
}
