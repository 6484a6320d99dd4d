//! ACL reads and writes, versioning reads and ListObjectVersions.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ObjectCannedAcl;
use strata_tests::{refused, Site};

#[tokio::test]
async fn acls_versioning_and_versions() {
    let (_site, c) = Site::start_with_bucket("bkt").await;
    c.put_object()
        .bucket("bkt")
        .key("k")
        .acl(ObjectCannedAcl::Private)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let e = c
        .put_object()
        .bucket("bkt")
        .key("p")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(refused(e), "AccessControlListNotSupported");
    let acl = c.get_object_acl().bucket("bkt").key("k").send().await.unwrap();
    assert_eq!(acl.owner().unwrap().id(), Some("tester"));
    assert_eq!(acl.grants()[0].permission().map(|p| p.as_str()), Some("FULL_CONTROL"));
    let acl = c.get_bucket_acl().bucket("bkt").send().await.unwrap();
    assert_eq!(acl.grants().len(), 1);
    c.put_bucket_acl()
        .bucket("bkt")
        .acl(aws_sdk_s3::types::BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    let e = c
        .put_bucket_acl()
        .bucket("bkt")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicReadWrite)
        .send()
        .await;
    assert_eq!(refused(e), "AccessControlListNotSupported");
    let e = c
        .create_bucket()
        .bucket("public")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await;
    assert_eq!(refused(e), "InvalidBucketAclWithObjectOwnership");

    let v = c.get_bucket_versioning().bucket("bkt").send().await.unwrap();
    assert!(v.status().is_none());
    c.put_object()
        .bucket("bkt")
        .key("dir/a")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let versions = c.list_object_versions().bucket("bkt").send().await.unwrap();
    let listed: Vec<(&str, &str, bool)> = versions
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.version_id().unwrap(), v.is_latest().unwrap()))
        .collect();
    assert_eq!(listed, [("dir/a", "null", true), ("k", "null", true)]);
    let grouped = c
        .list_object_versions()
        .bucket("bkt")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(grouped.common_prefixes()[0].prefix(), Some("dir/"));
    assert_eq!(
        refused(c.get_object().bucket("bkt").key("k").version_id("abc").send().await),
        "InvalidArgument"
    );
    c.delete_object()
        .bucket("bkt")
        .key("k")
        .version_id("null")
        .send()
        .await
        .unwrap();
    assert_eq!(refused(c.head_object().bucket("bkt").key("k").send().await), "NotFound");
}
