//! ACL reads and writes under each object ownership, versioning reads and
//! ListObjectVersions.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule};
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
    // Out of the box ACLs work (ObjectWriter): a public-read object says so.
    c.put_object()
        .bucket("bkt")
        .key("p")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let acl = c.get_object_acl().bucket("bkt").key("p").send().await.unwrap();
    let grants: Vec<_> = acl
        .grants()
        .iter()
        .map(|g| {
            let who = g.grantee().unwrap();
            (
                who.id().or(who.uri()).unwrap().to_owned(),
                g.permission().unwrap().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        grants,
        [
            ("tester".to_owned(), "FULL_CONTROL".to_owned()),
            (
                "http://acs.amazonaws.com/groups/global/AllUsers".to_owned(),
                "READ".to_owned()
            )
        ]
    );
    let acl = c.get_object_acl().bucket("bkt").key("k").send().await.unwrap();
    assert_eq!(acl.owner().unwrap().id(), Some("tester"));
    assert_eq!(acl.grants().len(), 1);
    assert_eq!(acl.grants()[0].permission().map(|p| p.as_str()), Some("FULL_CONTROL"));
    let acl = c.get_bucket_acl().bucket("bkt").send().await.unwrap();
    assert_eq!(acl.grants().len(), 1);

    // A bucket with ACLs off (AWS's default since 2023) refuses what would grant.
    c.create_bucket()
        .bucket("enforced")
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .send()
        .await
        .unwrap();
    let e = c
        .put_object()
        .bucket("enforced")
        .key("p")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(refused(e), "AccessControlListNotSupported");
    c.put_bucket_acl()
        .bucket("enforced")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    let e = c
        .put_bucket_acl()
        .bucket("enforced")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await;
    assert_eq!(refused(e), "AccessControlListNotSupported");
    let e = c
        .create_bucket()
        .bucket("public")
        .acl(BucketCannedAcl::PublicRead)
        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
        .send()
        .await;
    assert_eq!(refused(e), "InvalidBucketAclWithObjectOwnership");
    let o = c
        .get_bucket_ownership_controls()
        .bucket("enforced")
        .send()
        .await
        .unwrap();
    let rules = o.ownership_controls().unwrap().rules();
    assert_eq!(rules[0].object_ownership().as_str(), "BucketOwnerEnforced");
    // A bucket whose ACL grants others cannot turn ACLs off.
    c.put_bucket_acl()
        .bucket("bkt")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let e = c
        .put_bucket_ownership_controls()
        .bucket("bkt")
        .ownership_controls(
            OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
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
    assert_eq!(
        listed,
        [("dir/a", "null", true), ("k", "null", true), ("p", "null", true)]
    );
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
