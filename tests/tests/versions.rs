//! Versions across sites: every version, delete marker and version-specific delete
//! replicates with the same version id; after writes and deletes of the same keys on
//! both sites during a cut, ListObjectVersions is the same on both once healed; and
//! fullsync brings a sink that missed them to the same versions.

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use aws_sdk_s3::Client;
use std::time::{Duration, Instant};
use strata_tests::{data, wait_for, Proxy, Site, SiteOptions};

/// Every version of a bucket as ListObjectVersions gives it (see
/// [`strata_tests::list_versions`]), sorted; None while a site does not answer.
async fn versions(c: &Client, bucket: &str) -> Option<Vec<strata_tests::ListedVersion>> {
    let mut listed = strata_tests::list_versions(c, bucket, 50).await?;
    listed.sort();
    Some(listed)
}

async fn assert_same_versions(a: &Client, b: &Client, bucket: &str, secs: u64) -> usize {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (va, vb) = (versions(a, bucket).await, versions(b, bucket).await);
        if let (Some(a), true) = (&va, va == vb) {
            return a.len();
        }
        if Instant::now() > deadline {
            panic!("the sites' versions differ:\n{va:#?}\n{vb:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn enable_versioning(c: &Client, bucket: &str) {
    c.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn put(c: &Client, bucket: &str, key: &str, body: Vec<u8>) -> String {
    let r = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
    r.version_id().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_written_on_both_sites_during_a_cut_list_the_same_once_healed() {
    let a = Site::start_with(SiteOptions::replicating("site-a"));
    let b = Site::start_with(SiteOptions::replicating("site-b"));
    let (to_b, to_a) = (Proxy::start(b.repl.unwrap()), Proxy::start(a.repl.unwrap()));
    a.replicate_to(&b, Some(to_b.addr));
    b.replicate_to(&a, Some(to_a.addr));
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("vers").send().await.unwrap();
    // An object from before versioning: it becomes every site's `null` version.
    ca.put_object()
        .bucket("vers")
        .key("k0")
        .body(b"unversioned".to_vec().into())
        .send()
        .await
        .unwrap();
    enable_versioning(&ca, "vers").await;
    let mut first = Vec::new();
    for i in 0..6 {
        first.push(put(&ca, "vers", &format!("k{i}"), data(300 + i * 40_000, i as u64)).await);
    }
    assert_same_versions(&ca, &cb, "vers", 30).await;
    // The version ids are the same on both sites, and each reads back by id there.
    let got = cb
        .get_object()
        .bucket("vers")
        .key("k3")
        .version_id(&first[3])
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().to_vec(),
        data(300 + 3 * 40_000, 3)
    );
    let null = cb
        .get_object()
        .bucket("vers")
        .key("k0")
        .version_id("null")
        .send()
        .await
        .unwrap();
    assert_eq!(null.body.collect().await.unwrap().into_bytes().as_ref(), b"unversioned");

    to_b.cut();
    to_a.cut();
    // The same keys written and deleted on both sides.
    put(&ca, "vers", "k0", b"a-during".to_vec()).await;
    put(&cb, "vers", "k0", b"b-during".to_vec()).await;
    ca.delete_object().bucket("vers").key("k1").send().await.unwrap();
    put(&cb, "vers", "k1", b"b-k1".to_vec()).await;
    ca.delete_object()
        .bucket("vers")
        .key("k2")
        .version_id(&first[2])
        .send()
        .await
        .unwrap();
    cb.delete_object().bucket("vers").key("k2").send().await.unwrap();
    cb.delete_object()
        .bucket("vers")
        .key("k3")
        .version_id(&first[3])
        .send()
        .await
        .unwrap();
    cb.delete_object()
        .bucket("vers")
        .key("k0")
        .version_id("null")
        .send()
        .await
        .unwrap();
    put(&ca, "vers", "k6", b"new on a".to_vec()).await;
    assert_ne!(versions(&ca, "vers").await, versions(&cb, "vers").await);

    to_b.restore();
    to_a.restore();
    let n = assert_same_versions(&ca, &cb, "vers", 60).await;
    // Every version made survives but those deleted by id, wherever that was.
    let listed = versions(&ca, "vers").await.unwrap();
    assert!(!listed
        .iter()
        .any(|(_, v, ..)| v == &first[2] || v == &first[3] || v == "null"));
    // 7 before; each side added 3 (versions and markers); 3 were deleted by id.
    assert_eq!(n, 7 + 3 + 3 - 3, "{listed:#?}");
    // One latest per key, the same on both sites, and current reads agree.
    for k in ["k0", "k1", "k2", "k4", "k6"] {
        let head = |c: &Client| {
            let c = c.clone();
            async move {
                match c.head_object().bucket("vers").key(k).send().await {
                    Ok(h) => Some(h.version_id().unwrap().to_owned()),
                    Err(_) => None,
                }
            }
        };
        assert_eq!(head(&ca).await, head(&cb).await, "{k}");
    }
    for (site, sink) in [(&a, "site-b"), (&b, "site-a")] {
        let (code, out) = site.verify(sink, &[]);
        assert_eq!(code, 0, "{} -> {sink}: {out}", site.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fullsync_brings_versions_markers_and_version_deletes_to_a_new_sink() {
    let a = Site::start_with(SiteOptions::replicating("site-a"));
    let b = Site::start_with(SiteOptions::replicating("site-b"));
    let ca = a.client();
    ca.create_bucket().bucket("vers").send().await.unwrap();
    enable_versioning(&ca, "vers").await;
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(put(&ca, "vers", &format!("k{}", i % 7), data(100 + i * 997, i as u64)).await);
    }
    for i in 0..7 {
        if i % 3 == 0 {
            ca.delete_object()
                .bucket("vers")
                .key(format!("k{i}"))
                .send()
                .await
                .unwrap();
        }
    }
    ca.delete_object()
        .bucket("vers")
        .key("k1")
        .version_id(&ids[1])
        .send()
        .await
        .unwrap();
    // The sink connects after all of it: only fullsync can bring it.
    a.repl_cmd(&["connect", &b.repl.unwrap().to_string()]);
    a.fullsync_to("site-b", "enable");
    let cb = b.client();
    let n = assert_same_versions(&ca, &cb, "vers", 30).await;
    assert_eq!(n, 40 - 1 + 3);
    wait_for(10, "verify finds no difference", || a.verify("site-b", &[]).0 == 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_refuses_a_replicated_delete_of_a_version_locked_there() {
    let (a, b) = strata_tests::pair();
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket()
        .bucket("locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let kept = put(&ca, "locked", "doc", b"evidence".to_vec()).await;
    assert_same_versions(&ca, &cb, "locked", 30).await;
    // A hold set on the sink alone (this pair replicates one way).
    cb.put_object_legal_hold()
        .bucket("locked")
        .key("doc")
        .version_id(&kept)
        .legal_hold(
            aws_sdk_s3::types::ObjectLockLegalHold::builder()
                .status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .unwrap();
    ca.delete_object()
        .bucket("locked")
        .key("doc")
        .version_id(&kept)
        .send()
        .await
        .unwrap();
    wait_for(30, "the sink to refuse the delete", || {
        b.peer_status("site-a", "source")["received"]["locked_refusals"] == 1
    });
    let got = cb
        .get_object()
        .bucket("locked")
        .key("doc")
        .version_id(&kept)
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"evidence");
    let prom = strata_tests::raw(
        b.admin,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-admin-token-0123456789\r\nConnection: close\r\n\r\n",
        false,
    );
    let text = prom.text();
    assert!(
        text.contains("strata_repl_locked_refusals{peer=\"site-a\"} 1"),
        "{text}"
    );
}
