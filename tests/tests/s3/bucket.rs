//! CreateBucket, HeadBucket, ListBuckets, DeleteBucket, and who may touch a bucket.

use aws_sdk_s3::primitives::ByteStream;
use strata_tests::{code, get_bytes, refused, Site};

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
