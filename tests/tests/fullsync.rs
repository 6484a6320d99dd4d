//! Fullsync between real sites on loopback: an empty sink filled, diverged sites made
//! to agree (deletes included, the later write winning, a sink-only key kept), dirty
//! keys repaired, and a run that resumes after kill -9 of either side.

use strata_tests::{assert_converges, data, get_bytes, listing, multipart_upload, put, wait_for, Site, SiteOptions};

/// Sizes that give inline objects, single blocks and multi-block objects (64 KiB blocks).
fn size_for(i: usize) -> usize {
    match i % 10 {
        0 => 150_000 + i * 37,
        1 => 20_000,
        _ => 100 + (i * 131) % 9_000,
    }
}

/// The sink's fullsync status as this site reports it.
fn fullsync(site: &Site, sink: &str) -> serde_json::Value {
    site.peer_status(sink, "sink")["fullsync"].clone()
}

/// Waits for a complete run that ended after `after_ms`; returns its result.
fn wait_complete(site: &Site, sink: &str, after_ms: u64, secs: u64) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    wait_for(secs, "a complete fullsync", || {
        last = fullsync(site, sink)["last"].clone();
        last["result"] == "complete" && last["ended_ms"].as_u64().unwrap_or(0) > after_ms
    });
    last
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_sink_gets_users_buckets_and_objects_by_fullsync_alone() {
    let a = Site::start_with(SiteOptions::replicating("site-a"));
    let b = Site::start_with(SiteOptions::replicating("site-b"));
    // A user that exists only on the source, and everything written as that user.
    a.create_user("carol", "AKCAROL0000001", "carol-secret-0001");
    let ca = a.client_as("AKCAROL0000001", "carol-secret-0001");
    ca.create_bucket().bucket("photos").send().await.unwrap();
    for i in 0..300 {
        put(&ca, "photos", &format!("p/{i:04}"), data(size_for(i), i as u64))
            .await
            .unwrap();
    }
    let parts = [data(5 << 20, 1), data(300_000, 2)];
    multipart_upload(&ca, "photos", "multipart", &parts).await.unwrap();
    for i in 0..20 {
        ca.delete_object()
            .bucket("photos")
            .key(format!("p/{i:04}"))
            .send()
            .await
            .unwrap();
    }

    // Realtime is never enabled: only fullsync carries anything.
    a.repl_cmd(&["connect", &b.repl.unwrap().to_string()]);
    let before = now_ms();
    a.repl_cmd(&["fullsync", "enable", "site-b"]);
    let last = wait_complete(&a, "site-b", before, 120);
    assert_eq!(last["differences"].as_u64().unwrap(), 303, "{last}"); // user, bucket, 281 live, 20 tombstones, multipart

    // carol's keys work on the sink, she owns the bucket, every byte is there.
    let cb = b.client_as("AKCAROL0000001", "carol-secret-0001");
    let n = assert_converges(&ca, &cb, "photos", 10).await;
    assert_eq!(n, 281);
    assert_eq!(get_bytes(&cb, "photos", "multipart").await, parts.concat());
    let owned = cb.list_buckets().send().await.unwrap();
    assert_eq!(owned.buckets()[0].name(), Some("photos"));
    assert_eq!(a.peer_status("site-b", "sink")["realtime_enabled"], false);

    // Equal sites: the next run finds nothing to send.
    let before = now_ms();
    a.repl_cmd(&["fullsync", "start", "site-b"]);
    let again = wait_complete(&a, "site-b", before, 60);
    assert_eq!(again["differences"], 0, "{again}");
    assert_eq!(again["objects_sent"], 0, "{again}");
    assert!(again["keys_compared"].as_u64().unwrap() >= 303, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diverged_sites_agree_after_one_fullsync_and_the_later_write_wins() {
    let (a, b) = strata_tests::pair();
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("div").send().await.unwrap();
    for i in 0..100 {
        put(&ca, "div", &format!("k/{i:03}"), data(size_for(i), i as u64))
            .await
            .unwrap();
    }
    assert_converges(&ca, &cb, "div", 60).await;

    // The link goes away (realtime disabled: nothing is recorded for b meanwhile).
    a.repl_cmd(&["realtime", "disable", "site-b"]);
    for i in 0..20 {
        put(&ca, "div", &format!("new/{i:03}"), data(3000, 1000 + i))
            .await
            .unwrap();
        put(&ca, "div", &format!("k/{:03}", 20 + i), data(4000, 2000 + i))
            .await
            .unwrap();
        ca.delete_object()
            .bucket("div")
            .key(format!("k/{:03}", 60 + i))
            .send()
            .await
            .unwrap();
    }
    // Later, b overwrites one of the keys a overwrote, and writes one of its own.
    put(&cb, "div", "k/025", b"written on b, later".to_vec()).await.unwrap();
    put(&cb, "div", "b-only", b"only on b".to_vec()).await.unwrap();

    let on_b_before = listing(&cb, "div").await.unwrap();
    assert!(
        !on_b_before.iter().any(|(k, _, _)| k.starts_with("new/")),
        "realtime was disabled, yet the sink has a's new keys\n--- a ---\n{}\n--- b ---\n{}",
        a.log(),
        b.log()
    );
    let before = now_ms();
    a.repl_cmd(&["fullsync", "enable", "site-b"]);
    let last = wait_complete(&a, "site-b", before, 120);
    // 20 new + 19 overwrites (b's later write of k/025 is newer) + 20 deletes.
    assert_eq!(last["differences"].as_u64().unwrap(), 59, "{last}");

    let on_a = listing(&ca, "div").await.unwrap();
    let on_b = listing(&cb, "div").await.unwrap();
    let keys = |l: &[(String, String, i64)]| l.iter().map(|(k, _, _)| k.clone()).collect::<Vec<_>>();
    let mut expected = keys(&on_a);
    expected.push("b-only".into());
    expected.sort();
    assert_eq!(keys(&on_b), expected, "deleted keys gone, the sink-only key kept");
    for (key, _, _) in &on_a {
        let want = if key == "k/025" {
            b"written on b, later".to_vec()
        } else {
            get_bytes(&ca, "div", key).await
        };
        assert_eq!(get_bytes(&cb, "div", key).await, want, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dirty_keys_from_an_overflow_are_repaired_when_the_link_comes_back() {
    let a = Site::start_with(SiteOptions {
        realtime_max_bytes: 16 * 1024,
        ..SiteOptions::replicating("site-a")
    });
    let mut b = Site::start_with(SiteOptions::replicating("site-b"));
    a.replicate_to(&b, None);
    let before = now_ms();
    a.repl_cmd(&["fullsync", "enable", "site-b"]);
    wait_complete(&a, "site-b", before, 60);
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("over").send().await.unwrap();

    b.kill9();
    for i in 0..200 {
        put(&ca, "over", &format!("k/{i:03}"), data(1000, i)).await.unwrap();
    }
    wait_for(30, "overflow to be recorded", || {
        a.peer_status("site-b", "sink")["dirty_keys"].as_u64().unwrap() > 0
    });
    // No command: the link coming back starts a fullsync, which repairs the dirty keys.
    b.launch();
    wait_for(120, "the dirty keys to be repaired", || {
        let s = a.peer_status("site-b", "sink");
        s["dirty_keys"] == 0 && s["fullsync"]["last"]["ended_ms"].as_u64().unwrap_or(0) > before
    });
    assert_eq!(assert_converges(&ca, &cb, "over", 30).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fullsync_resumes_after_kill_9_of_the_sink_and_of_the_source() {
    // Throttled so that the run is slow enough to be cut twice.
    let mut a = Site::start_with(SiteOptions {
        fullsync_max_bytes_per_sec: 400 * 1024,
        ..SiteOptions::replicating("site-a")
    });
    let mut b = Site::start_with(SiteOptions::replicating("site-b"));
    let ca = a.client();
    ca.create_bucket().bucket("many").send().await.unwrap();
    let writers: Vec<_> = (0..8u64)
        .map(|w| {
            let c = ca.clone();
            tokio::spawn(async move {
                for i in (w..3000).step_by(8) {
                    put(&c, "many", &format!("o/{i:05}"), data(1500, i)).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    a.repl_cmd(&["connect", &b.repl.unwrap().to_string()]);
    let before = now_ms();
    a.repl_cmd(&["fullsync", "enable", "site-b"]);

    let done = |a: &Site| fullsync(a, "site-b")["partitions_done"].as_u64().unwrap_or(0);
    wait_for(60, "a quarter of the partitions", || done(&a) >= 1024);
    b.kill9();
    // Down until the source has noticed (between throttled batches it may not, for a
    // moment, and would then simply go on).
    wait_for(60, "the run to notice the sink is gone", || {
        fullsync(&a, "site-b")["state"] == "retrying"
    });
    let cut_sink_at = done(&a);
    b.launch();
    // The run goes on from the group it had reached, not from the start.
    wait_for(60, "the run to resume after the sink's restart", || {
        fullsync(&a, "site-b")["resumed_at_partition"].as_u64().unwrap_or(0) >= cut_sink_at
    });
    wait_for(120, "more than half of the partitions", || done(&a) >= 2200);
    let cut_source_at = done(&a);
    a.kill9();
    a.launch();

    let last = wait_complete(&a, "site-b", before, 180);
    let resumed = last["resumed_at_partition"].as_u64().expect("the run resumed");
    assert!(
        resumed >= cut_source_at,
        "after the source's restart the run resumed at partition {resumed}, cut at {cut_source_at}: partitions were redone"
    );
    let n = assert_converges(&a.client(), &b.client(), "many", 30).await;
    assert_eq!(n, 3000);
}

/// An unsigned GET, as curl sends it: status and body.
fn anonymous_get(site: &Site, path: &str) -> (u16, Vec<u8>) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", site.s3);
    let r = strata_tests::raw(site.s3, req.as_bytes(), false);
    (r.status, r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_policies_and_ownership_replicate_in_realtime_and_by_fullsync() {
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::{ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule};
    let (a, b) = strata_tests::pair();
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("www").send().await.unwrap();
    ca.put_object()
        .bucket("www")
        .key("index.html")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"<h1>hello</h1>"))
        .send()
        .await
        .unwrap();
    put(&ca, "www", "public/a.txt", b"public a".to_vec()).await.unwrap();
    put(&ca, "www", "private/b.txt", b"private b".to_vec()).await.unwrap();
    let preferred = OwnershipControls::builder()
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::BucketOwnerPreferred)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    ca.put_bucket_ownership_controls()
        .bucket("www")
        .ownership_controls(preferred)
        .send()
        .await
        .unwrap();
    // Realtime: the sink serves the public object and prefix to anonymous readers.
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::www/public/*"}]}"#;
    ca.put_bucket_policy()
        .bucket("www")
        .policy(policy)
        .send()
        .await
        .unwrap();
    ca.put_bucket_policy()
        .bucket("www")
        .policy(policy)
        .send()
        .await
        .unwrap();
    wait_for(60, "the policy on the sink", || {
        anonymous_get(&b, "/www/public/a.txt") == (200, b"public a".to_vec())
    });
    assert_eq!(anonymous_get(&b, "/www/index.html"), (200, b"<h1>hello</h1>".to_vec()));
    assert_eq!(anonymous_get(&b, "/www/private/b.txt").0, 403);
    let on_b = cb.get_bucket_policy().bucket("www").send().await.unwrap();
    assert_eq!(on_b.policy(), Some(policy));
    // The policy came after the ownership controls, in the same bucket record.
    let o = cb.get_bucket_ownership_controls().bucket("www").send().await.unwrap();
    let rule = &o.ownership_controls().unwrap().rules()[0];
    assert_eq!(rule.object_ownership().as_str(), "BucketOwnerPreferred");
    let acl = cb
        .get_object_acl()
        .bucket("www")
        .key("index.html")
        .send()
        .await
        .unwrap();
    assert_eq!(acl.grants().len(), 2, "owner and AllUsers READ: {acl:?}");

    // With realtime off, the source closes everything again; fullsync carries it.
    a.repl_cmd(&["realtime", "disable", "site-b"]);
    ca.put_object_acl()
        .bucket("www")
        .key("index.html")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .unwrap();
    ca.delete_bucket_policy().bucket("www").send().await.unwrap();
    assert_eq!(
        anonymous_get(&b, "/www/index.html").0,
        200,
        "realtime is off: the sink still has the old ACL"
    );
    let before = now_ms();
    a.repl_cmd(&["fullsync", "enable", "site-b"]);
    let last = wait_complete(&a, "site-b", before, 120);
    assert_eq!(
        last["differences"].as_u64().unwrap(),
        2,
        "the bucket and the object: {last}"
    );
    assert_eq!(anonymous_get(&b, "/www/index.html").0, 403);
    assert_eq!(anonymous_get(&b, "/www/public/a.txt").0, 403);
    let gone = cb.get_bucket_policy().bucket("www").send().await.unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&gone),
        Some("NoSuchBucketPolicy")
    );
}
