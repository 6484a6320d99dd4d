//! Versioning: PutBucketVersioning, version ids on every write, delete markers,
//! reads, copies and deletes by version id, and ListObjectVersions paged to the end.

use aws_sdk_s3::types::{BucketVersioningStatus, Delete, ObjectIdentifier, VersioningConfiguration};
use aws_sdk_s3::Client;
use strata_tests::{data, multipart_upload, refused, status, Site};

async fn set_versioning(c: &Client, bucket: &str, s: BucketVersioningStatus) {
    c.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(s).build())
        .send()
        .await
        .unwrap();
}

async fn put_version(c: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    let r = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap();
    r.version_id()
        .expect("a versioned PUT answers its version id")
        .to_owned()
}

async fn get_version(c: &Client, bucket: &str, key: &str, version: &str) -> Vec<u8> {
    let r = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .send()
        .await
        .unwrap();
    assert_eq!(r.version_id(), Some(version));
    r.body.collect().await.unwrap().into_bytes().to_vec()
}

/// Every (key, version id, is latest, is a marker) ListObjectVersions gives, walked
/// `page` at a time.
async fn all_versions(c: &Client, bucket: &str, page: i32) -> Vec<(String, String, bool, bool)> {
    let listed = strata_tests::list_versions(c, bucket, page)
        .await
        .expect("ListObjectVersions");
    listed
        .into_iter()
        .map(|(k, v, latest, marker, _)| (k, v, latest, marker))
        .collect()
}

#[tokio::test]
async fn versions_markers_and_deletes_by_id() {
    let (_site, c) = Site::start_with_bucket("bkt").await;
    // Never versioned: no Status, and no version id on writes.
    let v = c.get_bucket_versioning().bucket("bkt").send().await.unwrap();
    assert_eq!(v.status(), None);
    let r = c
        .put_object()
        .bucket("bkt")
        .key("k")
        .body(b"zero".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(r.version_id(), None);

    set_versioning(&c, "bkt", BucketVersioningStatus::Enabled).await;
    let v = c.get_bucket_versioning().bucket("bkt").send().await.unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    let v1 = put_version(&c, "bkt", "k", b"one").await;
    let v2 = put_version(&c, "bkt", "k", b"two").await;
    assert!(v1 != v2 && v1 != "null" && v2 != "null");
    // Each version reads back by id, the unversioned write as `null`; the current is
    // the newest.
    assert_eq!(get_version(&c, "bkt", "k", "null").await, b"zero");
    assert_eq!(get_version(&c, "bkt", "k", &v1).await, b"one");
    assert_eq!(get_version(&c, "bkt", "k", &v2).await, b"two");
    let head = c.head_object().bucket("bkt").key("k").send().await.unwrap();
    assert_eq!(head.version_id(), Some(v2.as_str()));
    let head = c
        .head_object()
        .bucket("bkt")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(3));

    // A plain delete adds a marker: the key reads as gone (404, marked), its versions
    // stay, and the marker read by id is 405.
    let d = c.delete_object().bucket("bkt").key("k").send().await.unwrap();
    assert_eq!(d.delete_marker(), Some(true));
    let marker = d.version_id().unwrap().to_owned();
    let gone = c.get_object().bucket("bkt").key("k").send().await;
    let raw = gone.as_ref().unwrap_err().raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 404);
    assert_eq!(raw.headers().get("x-amz-delete-marker"), Some("true"));
    assert_eq!(raw.headers().get("x-amz-version-id"), Some(marker.as_str()));
    assert_eq!(refused(gone), "NoSuchKey");
    assert_eq!(
        status(c.head_object().bucket("bkt").key("k").version_id(&marker).send().await),
        405
    );
    assert_eq!(get_version(&c, "bkt", "k", &v1).await, b"one");
    let listed = c.list_objects_v2().bucket("bkt").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0));

    // Removing the marker undeletes; removing a version by id removes only it.
    let d = c
        .delete_object()
        .bucket("bkt")
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!((d.delete_marker(), d.version_id()), (Some(true), Some(marker.as_str())));
    assert_eq!(strata_tests::get_bytes(&c, "bkt", "k").await, b"two");
    c.delete_object()
        .bucket("bkt")
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(strata_tests::get_bytes(&c, "bkt", "k").await, b"one");
    assert_eq!(
        refused(c.get_object().bucket("bkt").key("k").version_id(&v2).send().await),
        "NoSuchVersion"
    );
    assert_eq!(
        refused(
            c.get_object()
                .bucket("bkt")
                .key("k")
                .version_id("not-a-version")
                .send()
                .await
        ),
        "InvalidArgument"
    );
    // A conditional delete of a version whose ETag differs changes nothing.
    assert_eq!(
        status(
            c.delete_object()
                .bucket("bkt")
                .key("k")
                .version_id(&v1)
                .if_match("\"0000\"")
                .send()
                .await
        ),
        412
    );
    assert_eq!(get_version(&c, "bkt", "k", &v1).await, b"one");

    // Copy from a version; a multipart upload gets a version too.
    let copied = c
        .copy_object()
        .bucket("bkt")
        .key("copy")
        .copy_source(format!("bkt/k?versionId={}", "null"))
        .send()
        .await
        .unwrap();
    assert_eq!(copied.copy_source_version_id(), Some("null"));
    assert!(copied.version_id().is_some_and(|v| v != "null"));
    assert_eq!(strata_tests::get_bytes(&c, "bkt", "copy").await, b"zero");
    let part = data(5 << 20, 3);
    multipart_upload(&c, "bkt", "big", &[part.clone(), b"tail".to_vec()])
        .await
        .unwrap();
    let big = c.head_object().bucket("bkt").key("big").send().await.unwrap();
    assert!(big.version_id().is_some_and(|v| v != "null"));

    // Tags by version: each version keeps its own.
    let tagging = aws_sdk_s3::types::Tagging::builder()
        .tag_set(aws_sdk_s3::types::Tag::builder().key("v").value("one").build().unwrap())
        .build()
        .unwrap();
    c.put_object_tagging()
        .bucket("bkt")
        .key("k")
        .version_id(&v1)
        .tagging(tagging)
        .send()
        .await
        .unwrap();
    let tags = c
        .get_object_tagging()
        .bucket("bkt")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set().len(), 1);
    let tags = c
        .get_object_tagging()
        .bucket("bkt")
        .key("k")
        .version_id("null")
        .send()
        .await
        .unwrap();
    assert!(tags.tag_set().is_empty());

    // A bucket with versions is not empty, markers included; once every version is
    // deleted by id (DeleteObjects), it can go.
    assert_eq!(refused(c.delete_bucket().bucket("bkt").send().await), "BucketNotEmpty");
    let every = all_versions(&c, "bkt", 1000).await;
    let ids: Vec<ObjectIdentifier> = every
        .iter()
        .map(|(k, v, _, _)| ObjectIdentifier::builder().key(k).version_id(v).build().unwrap())
        .collect();
    let r = c
        .delete_objects()
        .bucket("bkt")
        .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!((r.deleted().len(), r.errors().len()), (every.len(), 0));
    assert!(all_versions(&c, "bkt", 1000).await.is_empty());
    c.delete_bucket().bucket("bkt").send().await.unwrap();
}

#[tokio::test]
async fn suspended_writes_replace_the_null_version() {
    let (_site, c) = Site::start_with_bucket("bkt").await;
    set_versioning(&c, "bkt", BucketVersioningStatus::Enabled).await;
    let v1 = put_version(&c, "bkt", "k", b"one").await;
    set_versioning(&c, "bkt", BucketVersioningStatus::Suspended).await;
    let v = c.get_bucket_versioning().bucket("bkt").send().await.unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Suspended));
    assert_eq!(put_version(&c, "bkt", "k", b"null-a").await, "null");
    assert_eq!(put_version(&c, "bkt", "k", b"null-b").await, "null");
    // One null version (the last), and the enabled-era version kept.
    let every = all_versions(&c, "bkt", 1000).await;
    assert_eq!(
        every,
        vec![
            ("k".to_owned(), "null".to_owned(), true, false),
            ("k".to_owned(), v1.clone(), false, false),
        ]
    );
    assert_eq!(strata_tests::get_bytes(&c, "bkt", "k").await, b"null-b");
    // A suspended delete makes the null version a marker; the other version stays.
    let d = c.delete_object().bucket("bkt").key("k").send().await.unwrap();
    assert_eq!((d.delete_marker(), d.version_id()), (Some(true), Some("null")));
    assert_eq!(get_version(&c, "bkt", "k", &v1).await, b"one");
    // Never back to unversioned.
    let back = c
        .put_bucket_versioning()
        .bucket("bkt")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::from("Disabled"))
                .build(),
        )
        .send()
        .await;
    assert_eq!(refused(back), "MalformedXML");
}

#[tokio::test]
async fn list_object_versions_pages_without_skipping_or_repeating() {
    let (_site, c) = Site::start_with_bucket("bkt").await;
    set_versioning(&c, "bkt", BucketVersioningStatus::Enabled).await;
    let mut written: Vec<(String, String)> = Vec::new();
    for round in 0..7 {
        for k in 0..9 {
            let key = format!("key-{k}");
            if (round + k) % 5 == 4 {
                let d = c.delete_object().bucket("bkt").key(&key).send().await.unwrap();
                written.push((key, d.version_id().unwrap().to_owned()));
            } else {
                let v = put_version(&c, "bkt", &key, format!("{round}/{k}").as_bytes()).await;
                written.push((key, v));
            }
        }
    }
    let whole = all_versions(&c, "bkt", 1000).await;
    assert_eq!(whole.len(), written.len());
    // Keys in order, newest first, exactly one latest per key.
    let mut expect = written.clone();
    expect.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    assert_eq!(
        whole
            .iter()
            .map(|(k, v, _, _)| (k.clone(), v.clone()))
            .collect::<Vec<_>>(),
        expect
    );
    for k in 0..9 {
        let key = format!("key-{k}");
        let latest: Vec<_> = whole.iter().filter(|e| e.0 == key && e.2).collect();
        assert_eq!(latest.len(), 1, "{key}");
        assert_eq!(latest[0].1, whole.iter().find(|e| e.0 == key).unwrap().1);
    }
    // Any page size walks the same list.
    for page in [1, 2, 5, 7, 62] {
        assert_eq!(all_versions(&c, "bkt", page).await, whole, "pages of {page}");
    }
    // A delimiter folds keys into common prefixes.
    put_version(&c, "bkt", "dir/a", b"a").await;
    put_version(&c, "bkt", "dir/b", b"b").await;
    let r = c
        .list_object_versions()
        .bucket("bkt")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = r.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, vec!["dir/"]);
    assert_eq!(r.versions().len() + r.delete_markers().len(), written.len());
}

#[tokio::test]
async fn a_policy_can_deny_version_deletes_and_reads_alone() {
    let (_site, c) = Site::start_with_bucket("guarded").await;
    set_versioning(&c, "guarded", BucketVersioningStatus::Enabled).await;
    let v1 = put_version(&c, "guarded", "k", b"one").await;
    put_version(&c, "guarded", "k", b"two").await;
    // The usual guard of versioned data: nobody, the owner included, removes a version
    // for good or reads an old one; plain deletes (markers) and reads stay allowed.
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*",
        "Action":["s3:DeleteObjectVersion","s3:GetObjectVersion"],"Resource":"arn:aws:s3:::guarded/*"}]}"#;
    c.put_bucket_policy()
        .bucket("guarded")
        .policy(policy)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused(
            c.delete_object()
                .bucket("guarded")
                .key("k")
                .version_id(&v1)
                .send()
                .await
        ),
        "AccessDenied"
    );
    assert_eq!(
        refused(c.get_object().bucket("guarded").key("k").version_id(&v1).send().await),
        "AccessDenied"
    );
    assert_eq!(strata_tests::get_bytes(&c, "guarded", "k").await, b"two");
    let d = c.delete_object().bucket("guarded").key("k").send().await.unwrap();
    assert_eq!(d.delete_marker(), Some(true));
    c.delete_bucket_policy().bucket("guarded").send().await.unwrap();
    assert_eq!(get_version(&c, "guarded", "k", &v1).await, b"one");
}
