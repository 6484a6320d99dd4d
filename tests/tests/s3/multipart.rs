//! Multipart uploads: create, parts, list, complete, abort, and their errors.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use strata_tests::{code, data, get_bytes, md5_hex, refused, Site};

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

/// A CompleteMultipartUpload retried after it succeeded (the client lost the first
/// answer) is answered as the first was, while that version is current.
#[tokio::test]
async fn a_retried_completion_answers_as_the_first() {
    let (_site, c) = Site::start_with_bucket("bkt").await;
    let id = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let part = upload_part(&c, "k", &id, 1, &data(1000, 1)).await;
    let parts = CompletedMultipartUpload::builder().parts(part).build();
    let complete = || {
        c.complete_multipart_upload()
            .bucket("bkt")
            .key("k")
            .upload_id(&id)
            .multipart_upload(parts.clone())
            .send()
    };
    let first = complete().await.unwrap();
    let again = complete().await.unwrap();
    assert_eq!(again.e_tag(), first.e_tag());
    assert_eq!(get_bytes(&c, "bkt", "k").await, data(1000, 1));
    // Once the key holds another version, the upload is gone for good.
    c.put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"newer"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused(complete().await), "NoSuchUpload");
    assert_eq!(get_bytes(&c, "bkt", "k").await, b"newer");
}
