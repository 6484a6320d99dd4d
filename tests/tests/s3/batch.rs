//! DeleteObjects.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use strata_tests::{refused, Site};

#[tokio::test]
async fn delete_objects_in_batches() {
    let (_site, c) = Site::start_with_bucket("bkt").await;
    for i in 0..1000 {
        c.put_object()
            .bucket("bkt")
            .key(format!("k{i:04}"))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let ids = |range: std::ops::Range<usize>| {
        range
            .map(|i| ObjectIdentifier::builder().key(format!("k{i:04}")).build().unwrap())
            .collect::<Vec<_>>()
    };
    let mut first = ids(0..500);
    first.push(ObjectIdentifier::builder().key("never-existed").build().unwrap());
    first.push(
        ObjectIdentifier::builder()
            .key("k0999")
            .version_id("3HL4kqtJlcpXroDTDmJ")
            .build()
            .unwrap(),
    );
    let r = c
        .delete_objects()
        .bucket("bkt")
        .delete(Delete::builder().set_objects(Some(first)).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.deleted().len(), 501);
    assert_eq!(r.errors().len(), 1);
    assert_eq!(r.errors()[0].code(), Some("NoSuchVersion"));
    // Quiet mode reports only errors; version "null" is the object itself.
    let mut rest = ids(500..1000);
    rest[0] = ObjectIdentifier::builder()
        .key("k0500")
        .version_id("null")
        .build()
        .unwrap();
    let r = c
        .delete_objects()
        .bucket("bkt")
        .delete(Delete::builder().set_objects(Some(rest)).quiet(true).build().unwrap())
        .send()
        .await
        .unwrap();
    assert!(r.deleted().is_empty() && r.errors().is_empty());
    assert_eq!(
        c.list_objects_v2().bucket("bkt").send().await.unwrap().key_count(),
        Some(0)
    );
    let too_many = ids(0..1001);
    let e = c
        .delete_objects()
        .bucket("bkt")
        .delete(Delete::builder().set_objects(Some(too_many)).build().unwrap())
        .send()
        .await;
    assert_eq!(refused(e), "MalformedXML");
}
