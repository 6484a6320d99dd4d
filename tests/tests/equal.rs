//! Sites that stay equal: concurrent writers on the same keys leave every site holding
//! the same bytes, a change the sink had to skip is repaired within seconds without
//! fullsync, and `strata repl verify` finds (and with `--repair` mends) what differs.

use aws_sdk_s3::Client;
use std::time::Duration;
use strata_tests::{assert_converges_or, data, get_bytes, listing, pair, put, wait_for, Site, SiteOptions};

fn status_of(sites: &[&Site]) -> String {
    sites
        .iter()
        .map(|s| format!("--- {}: {}\n", s.name, s.repl_status()))
        .collect()
}

/// `writers` clients per site write the same keys at once, round after round: every
/// round, all of them put key `round % keys` with their own bytes.
async fn burst(clients: &[Client], bucket: &str, writers: usize, rounds: usize, keys: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for (site, c) in clients.iter().enumerate() {
        for w in 0..writers {
            let (c, bucket) = (c.clone(), bucket.to_owned());
            tasks.spawn(async move {
                for r in 0..rounds {
                    let seed = (site * 1_000_000 + w * 1000 + r) as u64;
                    // Mostly small (kept in the manifest), some of several blocks.
                    let len = if w % 4 == 0 { 150_000 } else { 300 + w * 10 };
                    put(&c, &bucket, &format!("k{}", r % keys), data(len, seed))
                        .await
                        .unwrap();
                }
            });
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_the_same_keys_leave_a_one_way_pair_equal() {
    let (a, b) = pair();
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("hot").send().await.unwrap();
    burst(std::slice::from_ref(&ca), "hot", 16, 30, 6).await;
    let n = assert_converges_or(&ca, &cb, "hot", 30, || status_of(&[&a, &b])).await;
    assert_eq!(n, 6);
    let (code, out) = a.verify("site-b", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 0 differences"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_both_sites_of_a_two_way_pair_leave_them_equal() {
    let (a, b) = pair();
    b.replicate_to(&a, None);
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("hot").send().await.unwrap();
    wait_for(30, "the bucket on both sites", || {
        a.peer_status("site-b", "sink")["pending_entries"] == 0
    });
    // The bucket must be on the other site before its writers start.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while cb.head_bucket().bucket("hot").send().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "the bucket never reached site-b");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    burst(&[ca.clone(), cb.clone()], "hot", 8, 30, 6).await;
    assert_converges_or(&ca, &cb, "hot", 30, || status_of(&[&a, &b])).await;
    for (site, sink) in [(&a, "site-b"), (&b, "site-a")] {
        let (code, out) = site.verify(sink, &[]);
        assert_eq!(code, 0, "{} -> {sink}: {out}", site.name);
    }
}

/// A bucket and a user made before realtime was enabled: objects written after reach
/// the sink within seconds, with fullsync never enabled, and the dirty keys the sink's
/// first refusals left go back to zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_in_a_bucket_older_than_realtime_reach_the_sink_within_seconds() {
    let a = Site::start_with(SiteOptions::replicating("site-a"));
    let b = Site::start_with(SiteOptions::replicating("site-b"));
    a.create_user("early", "AKEARLY0001", "early-secret-0001");
    let (ca, cb) = (a.client(), b.client());
    let (ea, eb) = (
        a.client_as("AKEARLY0001", "early-secret-0001"),
        b.client_as("AKEARLY0001", "early-secret-0001"),
    );
    ca.create_bucket().bucket("old").send().await.unwrap();
    ea.create_bucket().bucket("earlys").send().await.unwrap();

    a.replicate_to(&b, None);
    for i in 0..20 {
        put(&ca, "old", &format!("o{i}"), data(1000 + i * 5000, i as u64))
            .await
            .unwrap();
    }
    put(&ea, "earlys", "mine", data(70_000, 99)).await.unwrap();

    let n = assert_converges_or(&ca, &cb, "old", 10, || status_of(&[&a, &b])).await;
    assert_eq!(n, 20);
    // The user made before realtime is there too, and reads its object on the sink.
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(o) = eb.get_object().bucket("earlys").key("mine").send().await {
                return o.body.collect().await.unwrap().into_bytes().to_vec();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the early user's object readable on the sink within 10 s");
    assert_eq!(got, data(70_000, 99));
    wait_for(10, "dirty keys back to 0", || {
        a.peer_status("site-b", "sink")["dirty_keys"] == 0
    });
    let fullsync = &a.peer_status("site-b", "sink")["fullsync"];
    assert_eq!(fullsync["enabled"], false);
    assert!(fullsync["last"].is_null(), "no fullsync ran: {fullsync}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_lists_what_differs_and_repair_mends_it() {
    let (a, b) = pair();
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("ver").send().await.unwrap();
    let two = data(200_000, 2);
    for (k, body) in [("one", data(1000, 1)), ("two", two.clone())] {
        put(&ca, "ver", k, body).await.unwrap();
    }
    assert_converges_or(&ca, &cb, "ver", 30, || status_of(&[&a, &b])).await;
    let (code, out) = a.verify("site-b", &["--blocks"]);
    assert_eq!(code, 0, "{out}");

    // Realtime stopped: changes made now reach the sink only by repair.
    a.repl_cmd(&["realtime", "stop", "site-b"]);
    put(&ca, "ver", "late", data(5000, 3)).await.unwrap();
    put(&ca, "ver", "one", data(1200, 4)).await.unwrap();
    // A block of "two" lost from the sink's disk (64 KiB blocks in the test sites).
    b.lose_block(&two[..64 * 1024]);

    let (code, out) = a.verify("site-b", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("missing") && out.contains("object/ver/late"), "{out}");
    assert!(out.contains("differs") && out.contains("object/ver/one"), "{out}");
    assert!(
        !out.contains("object/ver/two"),
        "without --blocks no block is read: {out}"
    );
    let (code, out) = a.verify("site-b", &["--blocks"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("missing-blocks  object/ver/two"), "{out}");
    let status = a.peer_status("site-b", "sink");
    assert_eq!(status["last_verify"]["differences"], 3, "{status}");
    let text = a.repl_cmd(&["status"]);
    assert!(text.contains("verify: 5 keys compared, 3 differences"), "{text}");

    let (code, out) = a.verify("site-b", &["--blocks", "--repair"]);
    assert_eq!(code, 1, "the report still says what differed: {out}");
    let (code, out) = a.verify("site-b", &["--blocks"]);
    assert_eq!(code, 0, "repaired: {out}");
    assert!(
        b.stored_block(&two[..64 * 1024]).is_some(),
        "the lost block is back on the sink"
    );
    assert_eq!(get_bytes(&cb, "ver", "two").await, two);
    assert_eq!(get_bytes(&cb, "ver", "late").await, data(5000, 3));
    assert_eq!(get_bytes(&cb, "ver", "one").await, data(1200, 4));
    assert_eq!(listing(&ca, "ver").await, listing(&cb, "ver").await);
}

/// A source whose clock runs ahead: ten minutes (inside the link's 15-minute signature
/// window, past `max_clock_skew`), its changes are refused with the reason in both
/// sites' status and the sink's clock does not move; an hour, the link itself refuses
/// it at connect, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_a_clock_far_ahead_is_held_back() {
    let ahead = Site::start_with(SiteOptions {
        env: strata_tests::clock_offset("+10m"),
        ..SiteOptions::replicating("site-a")
    });
    let b = Site::start_with(SiteOptions::replicating("site-b"));
    ahead.replicate_to(&b, None);
    ahead.create_user("future", "AKFUTURE0001", "future-secret-0001");
    wait_for(20, "the sink to hold the source back", || {
        let held = b.peer_status("site-a", "source")["held_back"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        held.contains("clock skew") && held.contains("max_clock_skew 300 s")
    });
    wait_for(20, "the source to show why", || {
        let s = ahead.peer_status("site-b", "sink");
        s["last_error"].as_str().unwrap_or("").contains("clock skew")
    });
    let text = b.repl_cmd(&["status"]);
    assert!(text.contains("HELD BACK: clock skew"), "{text}");
    let status: serde_json::Value = serde_json::from_str(&b.admin_cmd(&["status", "--json"])).unwrap();
    let skew = status["clock_ahead_ms"].as_u64().unwrap();
    assert!(skew < 60_000, "the sink's clock moved {skew} ms ahead");
    // Nothing of the source's was applied: its user is unknown on the sink.
    let refused = b
        .client_as("AKFUTURE0001", "future-secret-0001")
        .list_buckets()
        .send()
        .await;
    assert_eq!(strata_tests::refused(refused), "InvalidAccessKeyId");

    let far = Site::start_with(SiteOptions {
        env: strata_tests::clock_offset("+1h"),
        ..SiteOptions::replicating("site-c")
    });
    let (ok, _, err) = far.try_repl_cmd(&["connect", &b.repl.unwrap().to_string()]);
    assert!(!ok && err.contains("RequestTimeTooSkewed"), "{err}");
}
