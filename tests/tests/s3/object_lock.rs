//! Object Lock: a bucket made with it, retention (GOVERNANCE, COMPLIANCE) and legal
//! holds on versions, as headers on PUT and as their own calls, and every delete that
//! a lock refuses (the bucket owner's included).

use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{
    DefaultRetention, Delete, ObjectIdentifier, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold,
    ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode, ObjectLockRule,
};
use aws_sdk_s3::Client;
use std::time::{Duration, SystemTime};
use strata_tests::{refused, status, Site};

fn in_secs(secs: u64) -> DateTime {
    DateTime::from(SystemTime::now() + Duration::from_secs(secs))
}

async fn put_locked(c: &Client, key: &str, mode: Option<ObjectLockMode>, hold: bool) -> String {
    let mut put = c.put_object().bucket("locked").key(key).body(b"kept".to_vec().into());
    if let Some(mode) = mode {
        put = put.object_lock_mode(mode).object_lock_retain_until_date(in_secs(3600));
    }
    if hold {
        put = put.object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On);
    }
    put.send().await.unwrap().version_id().unwrap().to_owned()
}

async fn delete_version(c: &Client, key: &str, version: &str, bypass: bool) -> u16 {
    let mut d = c.delete_object().bucket("locked").key(key).version_id(version);
    if bypass {
        d = d.bypass_governance_retention(true);
    }
    match d.send().await {
        Ok(_) => 204,
        Err(e) => e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0),
    }
}

#[tokio::test]
async fn locked_versions_survive_every_delete_but_the_allowed_ones() {
    let site = Site::start();
    let c = site.client();
    c.create_bucket()
        .bucket("locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let v = c.get_bucket_versioning().bucket("locked").send().await.unwrap();
    assert_eq!(v.status().map(|s| s.as_str()), Some("Enabled"));
    let lock = c.get_object_lock_configuration().bucket("locked").send().await.unwrap();
    assert_eq!(
        lock.object_lock_configuration().and_then(|l| l.object_lock_enabled()),
        Some(&ObjectLockEnabled::Enabled)
    );

    let compliance = put_locked(&c, "doc", Some(ObjectLockMode::Compliance), false).await;
    let governance = put_locked(&c, "doc", Some(ObjectLockMode::Governance), false).await;
    let held = put_locked(&c, "doc", None, true).await;
    let head = c
        .head_object()
        .bucket("locked")
        .key("doc")
        .version_id(&compliance)
        .send()
        .await
        .unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    assert!(head.object_lock_retain_until_date().is_some());

    // COMPLIANCE: refused to the owner, with or without the bypass.
    assert_eq!(delete_version(&c, "doc", &compliance, false).await, 403);
    assert_eq!(delete_version(&c, "doc", &compliance, true).await, 403);
    // It can be lengthened, never shortened.
    let longer = ObjectLockRetention::builder()
        .mode(ObjectLockRetentionMode::Compliance)
        .retain_until_date(in_secs(7200))
        .build();
    c.put_object_retention()
        .bucket("locked")
        .key("doc")
        .version_id(&compliance)
        .retention(longer)
        .send()
        .await
        .unwrap();
    let shorter = ObjectLockRetention::builder()
        .mode(ObjectLockRetentionMode::Compliance)
        .retain_until_date(in_secs(60))
        .build();
    let r = c
        .put_object_retention()
        .bucket("locked")
        .key("doc")
        .version_id(&compliance)
        .retention(shorter)
        .bypass_governance_retention(true)
        .send()
        .await;
    assert_eq!(refused(r), "AccessDenied");
    let got = c
        .get_object_retention()
        .bucket("locked")
        .key("doc")
        .version_id(&compliance)
        .send()
        .await
        .unwrap();
    let until = got.retention().unwrap().retain_until_date().unwrap().secs();
    assert!(until > in_secs(7000).secs(), "the retention was shortened");

    // GOVERNANCE yields to the bypass only.
    assert_eq!(delete_version(&c, "doc", &governance, false).await, 403);
    assert_eq!(delete_version(&c, "doc", &governance, true).await, 204);
    // A legal hold yields to nobody until it is lifted.
    assert_eq!(delete_version(&c, "doc", &held, true).await, 403);
    let hold = c
        .get_object_legal_hold()
        .bucket("locked")
        .key("doc")
        .version_id(&held)
        .send()
        .await
        .unwrap();
    assert_eq!(
        hold.legal_hold().and_then(|h| h.status()),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    c.put_object_legal_hold()
        .bucket("locked")
        .key("doc")
        .version_id(&held)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(delete_version(&c, "doc", &held, false).await, 204);

    // DeleteObjects says which version it kept; a plain delete only adds a marker.
    let r = c
        .delete_objects()
        .bucket("locked")
        .delete(
            Delete::builder()
                .objects(
                    ObjectIdentifier::builder()
                        .key("doc")
                        .version_id(&compliance)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.errors().first().and_then(|e| e.code()), Some("AccessDenied"));
    let marker = c.delete_object().bucket("locked").key("doc").send().await.unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    let kept = c
        .get_object()
        .bucket("locked")
        .key("doc")
        .version_id(&compliance)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.body.collect().await.unwrap().into_bytes().as_ref(), b"kept");
    // The bucket keeps its versions, so it stays; its versioning stays on.
    assert_eq!(
        refused(c.delete_bucket().bucket("locked").send().await),
        "BucketNotEmpty"
    );
    let suspend = c
        .put_bucket_versioning()
        .bucket("locked")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await;
    assert_eq!(refused(suspend), "InvalidBucketState");
}

#[tokio::test]
async fn default_retention_and_lock_headers_on_a_bucket_without_lock() {
    let site = Site::start();
    let c = site.client();
    c.create_bucket()
        .bucket("locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let rule = ObjectLockRule::builder()
        .default_retention(
            DefaultRetention::builder()
                .mode(ObjectLockRetentionMode::Governance)
                .days(1)
                .build(),
        )
        .build();
    c.put_object_lock_configuration()
        .bucket("locked")
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(rule)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v = put_locked(&c, "k", None, false).await;
    let head = c
        .head_object()
        .bucket("locked")
        .key("k")
        .version_id(&v)
        .send()
        .await
        .unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    let until = head.object_lock_retain_until_date().unwrap().secs();
    assert!(
        (in_secs(86_300).secs()..in_secs(86_500).secs()).contains(&until),
        "{until}"
    );
    assert_eq!(delete_version(&c, "k", &v, false).await, 403);

    // A bucket without Object Lock refuses lock headers and has no configuration.
    c.create_bucket().bucket("plain").send().await.unwrap();
    let r = c
        .put_object()
        .bucket("plain")
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(in_secs(60))
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(refused(r), "InvalidRequest");
    let r = c.get_object_lock_configuration().bucket("plain").send().await;
    assert_eq!(refused(r), "ObjectLockConfigurationNotFoundError");
    // A retain-until date in the past is refused.
    let r = c
        .put_object()
        .bucket("locked")
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from_secs(1_000_000_000))
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(status(r), 400);
}
