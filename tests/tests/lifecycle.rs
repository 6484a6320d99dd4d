//! Lifecycle: rules checked and kept as S3 does, `x-amz-expiration` on objects a rule
//! will expire, and a pair of replicating sites with two-second lifecycle days where
//! objects, noncurrent versions, lone delete markers and stale uploads go on schedule
//! on both sites, with one marker per expiry and locked versions kept.

use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator, LifecycleRuleFilter, NoncurrentVersionExpiration,
    ObjectLockMode, Tag, Transition, TransitionStorageClass, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use std::time::{Duration, Instant, SystemTime};
use strata_tests::{raw, refused, wait_for, Site, SiteOptions};

fn rule(id: &str, prefix: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

async fn put_rules(c: &Client, bucket: &str, rules: Vec<LifecycleRule>) -> Result<(), String> {
    c.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .map(drop)
        .map_err(strata_tests::code)
}

fn days(n: i32) -> LifecycleExpiration {
    LifecycleExpiration::builder().days(n).build()
}

#[tokio::test]
async fn rules_are_checked_kept_and_announced() {
    let (_site, c) = Site::start_with_bucket("rules").await;
    assert_eq!(
        refused(c.get_bucket_lifecycle_configuration().bucket("rules").send().await),
        "NoSuchLifecycleConfiguration"
    );
    let tagged = rule("tagged", "")
        .filter(
            LifecycleRuleFilter::builder()
                .and(
                    LifecycleRuleAndOperator::builder()
                        .prefix("logs/")
                        .tags(Tag::builder().key("class").value("tmp").build().unwrap())
                        .object_size_greater_than(10)
                        .build(),
                )
                .build(),
        )
        .expiration(days(3))
        .build()
        .unwrap();
    let plain = rule("plain", "tmp/")
        .expiration(days(2))
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(1)
                .newer_noncurrent_versions(2)
                .build(),
        )
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(1)
                .build(),
        )
        .build()
        .unwrap();
    put_rules(&c, "rules", vec![tagged, plain]).await.unwrap();
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("rules")
        .send()
        .await
        .unwrap();
    let rules = got.rules();
    assert_eq!(rules.len(), 2);
    let and = rules[0].filter().and_then(|f| f.and()).unwrap();
    assert_eq!(
        (and.prefix(), and.tags().len(), and.object_size_greater_than()),
        (Some("logs/"), 1, Some(10))
    );
    assert_eq!(rules[1].expiration().and_then(|e| e.days()), Some(2));
    assert_eq!(
        rules[1]
            .noncurrent_version_expiration()
            .and_then(|n| n.newer_noncurrent_versions()),
        Some(2)
    );

    // What S3 refuses, and how; a refused configuration changes nothing.
    let zero = rule("zero", "").expiration(days(0)).build().unwrap();
    assert_eq!(put_rules(&c, "rules", vec![zero]).await, Err("InvalidArgument".into()));
    let noon = rule("noon", "")
        .expiration(
            LifecycleExpiration::builder()
                .date(aws_sdk_s3::primitives::DateTime::from_secs(
                    1_900_000_000 / 86_400 * 86_400 + 43_200,
                ))
                .build(),
        )
        .build()
        .unwrap();
    assert_eq!(put_rules(&c, "rules", vec![noon]).await, Err("InvalidArgument".into()));
    let twice = vec![
        rule("same", "a").expiration(days(1)).build().unwrap(),
        rule("same", "b").expiration(days(1)).build().unwrap(),
    ];
    assert_eq!(put_rules(&c, "rules", twice).await, Err("InvalidArgument".into()));
    let idle = rule("idle", "").build().unwrap();
    assert_eq!(put_rules(&c, "rules", vec![idle]).await, Err("InvalidRequest".into()));
    let glacier = rule("cold", "")
        .transitions(
            Transition::builder()
                .days(30)
                .storage_class(TransitionStorageClass::Glacier)
                .build(),
        )
        .build()
        .unwrap();
    assert_eq!(
        put_rules(&c, "rules", vec![glacier]).await,
        Err("NotImplemented".into())
    );
    let still = c
        .get_bucket_lifecycle_configuration()
        .bucket("rules")
        .send()
        .await
        .unwrap();
    assert_eq!(still.rules().len(), 2);

    // An object a rule will expire says when, and by which rule.
    let put = c
        .put_object()
        .bucket("rules")
        .key("tmp/x")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let announced = put.expiration().unwrap_or_default().to_owned();
    assert!(
        announced.contains("rule-id=\"plain\"") && announced.contains("expiry-date="),
        "{announced}"
    );
    let head = c.head_object().bucket("rules").key("tmp/x").send().await.unwrap();
    assert_eq!(head.expiration(), Some(announced.as_str()));
    let other = c
        .put_object()
        .bucket("rules")
        .key("keep/x")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(other.expiration(), None);

    c.delete_bucket_lifecycle().bucket("rules").send().await.unwrap();
    assert_eq!(
        refused(c.get_bucket_lifecycle_configuration().bucket("rules").send().await),
        "NoSuchLifecycleConfiguration"
    );
}

/// Every (key, version id, is a marker) of a bucket, sorted.
async fn versions(c: &Client, bucket: &str) -> Vec<(String, String, bool)> {
    let listed = strata_tests::list_versions(c, bucket, 1000)
        .await
        .expect("ListObjectVersions");
    let mut out: Vec<_> = listed.into_iter().map(|(k, v, _, marker, _)| (k, v, marker)).collect();
    out.sort();
    out
}

async fn put(c: &Client, bucket: &str, key: &str) -> String {
    let r = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(key.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    r.version_id().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_expires_on_schedule_with_one_marker_per_expiry() {
    let options = |name: &str| SiteOptions {
        lifecycle_day_secs: 2,
        ..SiteOptions::replicating(name)
    };
    let (a, b) = (Site::start_with(options("site-a")), Site::start_with(options("site-b")));
    a.replicate_to(&b, None);
    b.replicate_to(&a, None);
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("life").send().await.unwrap();
    ca.put_bucket_versioning()
        .bucket("life")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    ca.create_bucket()
        .bucket("keep")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let noncurrent = || NoncurrentVersionExpiration::builder().noncurrent_days(1).build();
    put_rules(
        &ca,
        "life",
        vec![
            rule("expire", "exp/").expiration(days(1)).build().unwrap(),
            rule("old", "nc/")
                .noncurrent_version_expiration(noncurrent())
                .build()
                .unwrap(),
            rule("markers", "dm/")
                .expiration(
                    LifecycleExpiration::builder()
                        .expired_object_delete_marker(true)
                        .build(),
                )
                .noncurrent_version_expiration(noncurrent())
                .build()
                .unwrap(),
            rule("uploads", "mpu/")
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(1)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await
    .unwrap();
    put_rules(
        &ca,
        "keep",
        vec![rule("old", "")
            .noncurrent_version_expiration(noncurrent())
            .build()
            .unwrap()],
    )
    .await
    .unwrap();
    // Both sites have the buckets and their rules before anything is written.
    wait_for(30, "the buckets and rules on site-b", || {
        a.peer_status("site-b", "sink")["pending_entries"] == 0
    });

    put(&ca, "life", "exp/a").await;
    let nc: Vec<String> = [put(&ca, "life", "nc/b").await, put(&cb, "life", "nc/b").await]
        .into_iter()
        .collect();
    put(&cb, "life", "dm/c").await;
    cb.delete_object().bucket("life").key("dm/c").send().await.unwrap();
    for c in [&ca, &cb] {
        c.create_multipart_upload()
            .bucket("life")
            .key("mpu/d")
            .send()
            .await
            .unwrap();
    }
    let in_an_hour = aws_sdk_s3::primitives::DateTime::from(SystemTime::now() + Duration::from_secs(3600));
    let locked = ca
        .put_object()
        .bucket("keep")
        .key("doc")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(in_an_hour)
        .body(b"kept".to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    put(&ca, "keep", "doc").await;
    let written = Instant::now();

    // Within a few lifecycle days, on both sites: exp/a is behind one marker (the same
    // on both), nc/b keeps only its newest version, dm/c is gone entirely, and no
    // upload is left.
    let done = |v: &[(String, String, bool)]| {
        let of = |k: &str| v.iter().filter(|e| e.0 == k).collect::<Vec<_>>();
        of("exp/a").len() == 2
            && of("exp/a").iter().filter(|e| e.2).count() == 1
            && of("nc/b").len() == 1
            && of("dm/c").is_empty()
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (va, vb) = (versions(&ca, "life").await, versions(&cb, "life").await);
        if done(&va) && va == vb {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "lifecycle did not converge:\n{va:#?}\n{vb:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Not before their time: a day is two seconds, rounded up to the next whole day.
    assert!(written.elapsed() >= Duration::from_secs(2), "expired early");
    let survivor = versions(&ca, "life").await.into_iter().find(|e| e.0 == "nc/b").unwrap();
    assert!(nc.contains(&survivor.1));
    for c in [&ca, &cb] {
        wait_until_no_uploads(c).await;
        assert_eq!(
            refused(c.get_object().bucket("life").key("exp/a").send().await),
            "NoSuchKey"
        );
    }
    // The locked version stays, on both sites, however often lifecycle passes.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for c in [&ca, &cb] {
        let kept = versions(c, "keep").await;
        assert!(kept.iter().any(|e| e.1 == locked), "{kept:?}");
    }
    let status = a.site_status();
    assert!(status["lifecycle"]["last_run_ms"].as_u64().is_some(), "{status}");
    assert!(
        status["lifecycle"]["last"]["locked_kept"].as_u64() >= Some(1),
        "{status}"
    );
    let prom = raw(
        a.admin,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-admin-token-0123456789\r\nConnection: close\r\n\r\n",
        false,
    );
    assert!(
        prom.text().contains("strata_lifecycle_expired_total"),
        "{}",
        prom.text()
    );
}

async fn wait_until_no_uploads(c: &Client) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = c.list_multipart_uploads().bucket("life").send().await.unwrap();
        if r.uploads().is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "uploads left: {:?}", r.uploads());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
