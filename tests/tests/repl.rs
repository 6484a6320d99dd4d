//! Realtime replication between two real sites on loopback: what a source commits
//! reaches the sink byte for byte, through kill -9 of either side, a cut link and an
//! overflowing backlog, with the operator's `strata repl` commands and status.

use aws_sdk_s3::Client;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata_tests::{
    assert_converges, assert_converges_or, data, get_bytes, listing, md5_hex, multipart_upload, pair, put, raw,
    wait_for, Proxy, Site, SiteOptions,
};

fn size_for(i: usize) -> usize {
    match i % 10 {
        0 => 150_000 + i * 37, // several 64 KiB blocks
        1 => 20_000,           // one block
        _ => 100 + (i * 131) % 9_000,
    }
}

/// Each site's replication status and the end of its log, for a failure message.
fn diagnose(sites: &[&Site]) -> String {
    let mut out = String::new();
    for s in sites {
        let log = s.log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        out.push_str(&format!(
            "--- {} status: {}\n--- {} log (last lines, newest first):\n{}\n",
            s.name,
            s.repl_status(),
            s.name,
            tail.join("\n")
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_buckets_and_1000_objects_reach_the_sink_with_overwrites_and_deletes() {
    let (a, b) = pair();
    a.create_user("alice", "AKALICE0001", "alice-secret-0001");
    let (ca, cb) = (
        a.client_as("AKALICE0001", "alice-secret-0001"),
        b.client_as("AKALICE0001", "alice-secret-0001"),
    );
    ca.create_bucket().bucket("photos").send().await.unwrap();

    let mut expected: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let keys: Vec<(String, Vec<u8>)> = (0..990)
        .map(|i| (format!("obj/{i:04}"), data(size_for(i), i as u64)))
        .collect();
    let mut writers = Vec::new();
    for w in 0..16 {
        let mine: Vec<(String, Vec<u8>)> = keys.iter().skip(w).step_by(16).cloned().collect();
        let c = ca.clone();
        writers.push(tokio::spawn(async move {
            for (k, v) in mine {
                put(&c, "photos", &k, v).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    expected.extend(keys);
    for i in 0..10 {
        let parts = vec![data(5 << 20, 7000 + i), data(300_000, 8000 + i)];
        let key = format!("multipart/{i}");
        multipart_upload(&ca, "photos", &key, &parts).await.unwrap();
        expected.insert(key, parts.concat());
    }
    // Overwrites (also across the inline/block boundary) and deletes.
    for i in (0..100).step_by(2) {
        let key = format!("obj/{i:04}");
        let v = data(size_for(i + 1), 50_000 + i as u64);
        put(&ca, "photos", &key, v.clone()).await.unwrap();
        expected.insert(key, v);
    }
    for i in (1..100).step_by(2) {
        let key = format!("obj/{i:04}");
        ca.delete_object().bucket("photos").key(&key).send().await.unwrap();
        expected.remove(&key);
    }

    let n = assert_converges(&ca, &cb, "photos", 120).await;
    assert_eq!(n, expected.len());
    for (k, v) in expected.iter().step_by(7) {
        assert_eq!(md5_hex(&get_bytes(&cb, "photos", k).await), md5_hex(v), "{k}");
    }
    // The user made on the source signs requests on the sink and owns the bucket there.
    let buckets = cb.list_buckets().send().await.unwrap();
    assert_eq!(buckets.buckets()[0].name(), Some("photos"));

    let sink = a.peer_status("site-b", "sink");
    assert_eq!(sink["state"], "synced", "{sink}");
    assert_eq!(sink["pending_entries"], 0);
    assert_eq!(sink["dirty_keys"], 0);
    // 1000 new objects, 50 overwrites, 50 deletes.
    assert!(sink["sent"]["objects"].as_u64().unwrap() >= 1100, "{sink}");
    let source = b.peer_status("site-a", "source");
    assert!(source["received"]["objects"].as_u64().unwrap() >= 1100, "{source}");
    assert!(source["latency"]["samples"].as_u64().unwrap() > 0, "{source}");
    // The same figures for Prometheus.
    let prom = raw(
        a.admin,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-admin-token-0123456789\r\nConnection: close\r\n\r\n",
        false,
    );
    let text = prom.text();
    assert_eq!(prom.status, 200, "{text}");
    assert!(
        text.contains("strata_repl_pending_entries{peer=\"site-b\"} 0"),
        "{text}"
    );
    assert!(text.contains("strata_repl_sent_objects{peer=\"site-b\"}"), "{text}");
}

/// Writes `n` objects (mixed sizes) with 8 concurrent writers, calling `midway` once
/// when about half are written. Returns the keys whose PUT was acknowledged (a failed
/// PUT is retried for up to 30 s).
async fn write_during(c: &Client, bucket: &str, n: usize, midway: impl FnOnce() + Send) -> Vec<String> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (c, acked, next, bucket) = (c.clone(), acked.clone(), next.clone(), bucket.to_owned());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= n {
                    return;
                }
                let key = format!("k/{i:05}");
                // A write refused while a site restarts is retried, as a client would.
                for _ in 0..300 {
                    if put(&c, &bucket, &key, data(size_for(i), i as u64)).await.is_ok() {
                        acked.lock().unwrap().push(key);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
    }
    while next.load(std::sync::atomic::Ordering::SeqCst) < n / 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::task::block_in_place(midway);
    for t in tasks {
        t.await.unwrap();
    }
    let keys = acked.lock().unwrap().clone();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_of_the_sink_mid_stream_loses_nothing() {
    let (a, mut b) = pair();
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("live").send().await.unwrap();
    let acked = write_during(&ca, "live", 400, || {
        b.kill9();
        std::thread::sleep(Duration::from_secs(2));
        b.launch();
    })
    .await;
    assert_eq!(acked.len(), 400, "the source stayed up: every write is acknowledged");
    // Some deletes and overwrites after the restart, so resumed streaming carries both.
    for i in (0..40).step_by(4) {
        ca.delete_object()
            .bucket("live")
            .key(format!("k/{i:05}"))
            .send()
            .await
            .unwrap();
        put(&ca, "live", &format!("k/{:05}", i + 1), b"overwritten".to_vec())
            .await
            .unwrap();
    }
    assert_eq!(assert_converges(&ca, &cb, "live", 120).await, 390);
    // The users and buckets `realtime enable` marked dirty are sent by the repair loop,
    // which backs off (up to 5 s) while the sink is down: back to 0 within seconds.
    wait_for(10, "dirty keys back to 0", || {
        a.peer_status("site-b", "sink")["dirty_keys"] == 0
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_of_the_source_mid_stream_converges_and_settings_persist() {
    let (mut a, b) = pair();
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("live").send().await.unwrap();
    let acked = write_during(&ca, "live", 300, || {
        a.kill9();
        std::thread::sleep(Duration::from_millis(500));
        a.launch();
    })
    .await;
    assert_eq!(acked.len(), 300, "every write is acknowledged once the source is back");
    // The realtime settings were made with commands before the restart.
    let conns = a.repl_cmd(&["connections"]);
    assert!(
        conns.contains("site-b") && conns.contains("enabled, started"),
        "{conns}"
    );
    let n = assert_converges(&ca, &cb, "live", 120).await;
    let listed = listing(&cb, "live").await.unwrap();
    for k in &acked {
        assert!(
            listed.iter().any(|(key, _, _)| key == k),
            "acknowledged {k} missing on the sink"
        );
    }
    assert!(n >= acked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_link_shows_lag_and_pending_then_converges() {
    let a = Site::start_with(SiteOptions::replicating("site-a"));
    let b = Site::start_with(SiteOptions::replicating("site-b"));
    let proxy = Proxy::start(b.repl.unwrap());
    a.replicate_to(&b, Some(proxy.addr));
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("cut").send().await.unwrap();
    for i in 0..20 {
        put(&ca, "cut", &format!("before/{i}"), data(size_for(i), i as u64))
            .await
            .unwrap();
    }
    assert_converges(&ca, &cb, "cut", 60).await;

    proxy.cut();
    let cut_at = Instant::now();
    let mut seen = (false, false, false);
    let mut i = 0;
    while cut_at.elapsed() < Duration::from_secs(20) {
        put(&ca, "cut", &format!("during/{i}"), data(size_for(i), 100 + i as u64))
            .await
            .unwrap();
        i += 1;
        if i % 10 == 0 {
            let s = a.peer_status("site-b", "sink");
            seen.0 |= s["state"] == "connecting" && s["last_error"].is_string();
            seen.1 |= s["lag_ms"].as_u64().unwrap() >= 1000;
            seen.2 |= s["pending_entries"].as_u64().unwrap() >= 10 && s["pending_bytes"].as_u64().unwrap() > 0;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen.0, "status never showed the link down with its error");
    assert!(
        seen.1,
        "status never showed a lag of a second or more during a 20 s cut"
    );
    assert!(seen.2, "status never showed the pending entries");
    // Nothing crossed while the link was down.
    assert!(listing(&cb, "cut").await.unwrap().len() == 20);

    proxy.restore();
    assert_converges(&ca, &cb, "cut", 60).await;
    wait_for(30, "the sink to be synced", || {
        let s = a.peer_status("site-b", "sink");
        s["state"] == "synced" && s["pending_entries"] == 0 && s["lag_ms"] == 0
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflow_while_the_sink_is_down_becomes_dirty_keys_repaired_once_it_is_back() {
    let a = Site::start_with(SiteOptions {
        realtime_max_bytes: 16 * 1024,
        ..SiteOptions::replicating("site-a")
    });
    let mut b = Site::start_with(SiteOptions::replicating("site-b"));
    a.replicate_to(&b, None);
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("over").send().await.unwrap();
    wait_for(30, "the bucket on the sink", || {
        a.peer_status("site-b", "sink")["pending_entries"] == 0
    });

    b.kill9();
    for i in 0..200 {
        put(&ca, "over", &format!("k/{i:03}"), data(1000, i)).await.unwrap();
    }
    wait_for(30, "overflow to be recorded", || {
        let s = a.peer_status("site-b", "sink");
        s["dirty_keys"].as_u64().unwrap() > 0 && s["pending_bytes"].as_u64().unwrap() <= 16 * 1024
    });
    let dirty = a.peer_status("site-b", "sink")["dirty_keys"].as_u64().unwrap();
    assert!(dirty < 200, "the newest changes stay in the log: {dirty}");

    b.launch();
    // The retained changes stream; the dirty keys are sent again beside them, with no
    // fullsync enabled, and the count goes back to 0.
    wait_for(60, "the backlog and the dirty keys to reach the sink", || {
        let s = a.peer_status("site-b", "sink");
        s["pending_entries"] == 0 && s["dirty_keys"] == 0
    });
    assert_eq!(assert_converges(&ca, &cb, "over", 30).await, 200);
    assert!(a.peer_status("site-b", "sink")["fullsync"]["last"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_ways_last_writer_wins_and_nothing_is_sent_back() {
    let (a, b) = pair();
    b.replicate_to(&a, None);
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("both").send().await.unwrap();
    for i in 0..30 {
        put(&ca, "both", &format!("from-a/{i}"), data(3000, i)).await.unwrap();
    }
    assert_converges(&ca, &cb, "both", 60).await;
    // b applied a's changes into its own log; its sender to a passes over them all
    // without sending one back.
    wait_for(30, "b's sender to pass a's changes", || {
        b.peer_status("site-a", "sink")["pending_entries"] == 0
    });
    let back = b.peer_status("site-a", "sink");
    assert_eq!(back["sent"]["objects"], 0, "{back}");
    // The one record that may cross: b's own user, marked dirty when realtime to a was
    // enabled (parents older than realtime are repaired), sent if the repair ran by now.
    assert!(back["sent"]["changes"].as_u64() <= Some(1), "{back}");
    let peers = b.repl_status()["peers"].clone();
    assert_eq!(peers[0]["role"], "both", "{peers}");

    // A conflict: both sites write the same key while the streams are stopped.
    a.repl_cmd(&["realtime", "stop", "site-b"]);
    b.repl_cmd(&["realtime", "stop", "site-a"]);
    put(&ca, "both", "contested", b"written on a first".to_vec())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    put(&cb, "both", "contested", b"written on b last".to_vec())
        .await
        .unwrap();
    ca.delete_object().bucket("both").key("from-a/0").send().await.unwrap();
    put(&cb, "both", "from-a/1", b"b's overwrite".to_vec()).await.unwrap();
    a.repl_cmd(&["realtime", "start", "site-b"]);
    b.repl_cmd(&["realtime", "start", "site-a"]);

    assert_converges_or(&ca, &cb, "both", 60, || diagnose(&[&a, &b])).await;
    assert_eq!(get_bytes(&ca, "both", "contested").await, b"written on b last");
    assert_eq!(get_bytes(&cb, "both", "from-a/1").await, b"b's overwrite");
    assert!(cb.head_object().bucket("both").key("from-a/0").send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_replication_credential_is_refused_and_logged() {
    let b = Site::start_with(SiteOptions::replicating("site-b"));
    let intruder = Site::start_with(SiteOptions {
        repl_secret: Some("not-the-shared-secret-0000000".into()),
        ..SiteOptions::replicating("intruder")
    });
    let (ok, _, err) = intruder.try_repl_cmd(&["connect", &b.repl.unwrap().to_string()]);
    assert!(!ok, "connecting with the wrong credential must fail");
    assert!(err.contains("credential refused"), "{err}");
    assert!(
        b.log().contains("refused a replication request"),
        "not logged on the sink"
    );
    // Nothing the intruder sent was recorded: the sink knows no peer.
    assert!(!b.repl_cmd(&["connections"]).contains("intruder"));
    // A change batch with the right access key but a forged signature is refused too.
    let body = b"not even a batch";
    let req = format!(
        "POST /repl/v1/changes HTTP/1.1\r\nHost: x\r\nx-amz-date: {date}\r\nx-amz-content-sha256: {sha}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={key}/{day}/strata/strata-repl/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        date = strata_tests::amz_now(0),
        day = &strata_tests::amz_now(0)[..8],
        sha = strata_tests::sha256_hex(body),
        key = strata_tests::REPL_ACCESS_KEY,
        sig = "0".repeat(64),
        len = body.len(),
    );
    let r = raw(b.repl.unwrap(), &[req.as_bytes(), body].concat(), false);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("signature does not match"), "{}", r.text());
    // Commands on a site without [repl] say how to fix it.
    let plain = Site::start();
    let out = std::process::Command::new(strata_tests::strata_bin())
        .args(["repl", "--config"])
        .arg(&plain.config)
        .arg("status")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("[repl]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_only_realtime_sends_manifests_without_blocks() {
    let a = Site::start_with(SiteOptions::replicating("site-a"));
    let b = Site::start_with(SiteOptions::replicating("site-b"));
    a.repl_cmd(&["connect", &b.repl.unwrap().to_string()]);
    a.repl_cmd(&["realtime", "enable", "site-b", "--metadata-only"]);
    a.repl_cmd(&["realtime", "start", "site-b"]);
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("meta").send().await.unwrap();
    let big = data(300_000, 1);
    put(&ca, "meta", "big", big.clone()).await.unwrap();
    put(&ca, "meta", "small", b"inline bytes travel in the manifest".to_vec())
        .await
        .unwrap();
    wait_for(30, "the manifests on the sink", || {
        a.peer_status("site-b", "sink")["pending_entries"] == 0
    });
    let head = cb.head_object().bucket("meta").key("big").send().await.unwrap();
    assert_eq!(head.e_tag(), Some(format!("\"{}\"", md5_hex(&big)).as_str()));
    assert_eq!(head.content_length(), Some(300_000));
    assert_eq!(
        get_bytes(&cb, "meta", "small").await,
        b"inline bytes travel in the manifest"
    );
    assert!(a.block_files() >= 5);
    assert_eq!(b.block_files(), 0, "no block crossed the link");
    assert_eq!(a.peer_status("site-b", "sink")["realtime_blocks"], false);
}

/// The README's main command: two sites, replicating, with a user that works on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strata_dev_starts_two_replicating_sites() {
    let base = strata_tests::reserve_ports(&[0, 1, 2, 10, 11, 12]);
    let dir = tempfile::tempdir().unwrap();
    let (mut child, ak, sk, _) = strata_tests::start_dev(dir.path(), &["--port", &base.to_string()]);
    let a = strata_tests::client_for(&format!("http://127.0.0.1:{base}"), &ak, &sk, true);
    let b = strata_tests::client_for(&format!("http://127.0.0.1:{}", base + 10), &ak, &sk, true);
    a.create_bucket().bucket("demo").send().await.unwrap();
    put(&a, "demo", "hello", b"written on site-a".to_vec()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(o) = b.get_object().bucket("demo").key("hello").send().await {
            assert_eq!(
                o.body.collect().await.unwrap().into_bytes().as_ref(),
                b"written on site-a"
            );
            break;
        }
        assert!(Instant::now() < deadline, "site-b never served the object");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And back: site-b is a source for site-a too.
    put(&b, "demo", "reply", b"written on site-b".to_vec()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.head_object().bucket("demo").key("reply").send().await.is_err() {
        assert!(Instant::now() < deadline, "site-a never got site-b's object");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // site-a is the namespace authority: a bucket made at site-b is made by site-a,
    // so it is there at once, and a name taken is refused as at the authority.
    b.create_bucket().bucket("made-at-b").send().await.unwrap();
    a.head_bucket().bucket("made-at-b").send().await.unwrap();
    let e = b.create_bucket().bucket("demo").send().await.unwrap_err();
    assert_eq!(strata_tests::code(e), "BucketAlreadyOwnedByYou");
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_stops_streaming_and_forgets_the_sink() {
    let (a, b) = pair();
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("gone").send().await.unwrap();
    put(&ca, "gone", "before", b"streamed".to_vec()).await.unwrap();
    assert_converges(&ca, &cb, "gone", 30).await;

    assert!(b.repl_cmd(&["connections"]).contains("site-a"));
    a.repl_cmd(&["disconnect", "site-b"]);
    assert!(!a.repl_cmd(&["connections"]).contains("site-b"));
    assert!(a.repl_status()["peers"].as_array().unwrap().is_empty());
    // The sink was told: it no longer lists site-a as its source.
    assert!(!b.repl_cmd(&["connections"]).contains("site-a"));
    let (ok, _, err) = a.try_repl_cmd(&["realtime", "start", "site-b"]);
    assert!(!ok && err.contains("no peer site named site-b"), "{err}");
    put(&ca, "gone", "after", b"not streamed".to_vec()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(cb.head_object().bucket("gone").key("after").send().await.is_err());

    // Connecting again streams from then on; what was written in between is fullsync's.
    a.replicate_to(&b, None);
    put(&ca, "gone", "again", b"streamed again".to_vec()).await.unwrap();
    wait_for(30, "the new write on the sink", || {
        a.peer_status("site-b", "sink")["pending_entries"] == 0
    });
    assert_eq!(get_bytes(&cb, "gone", "again").await, b"streamed again");
    assert!(cb.head_object().bucket("gone").key("after").send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_counters_survive_a_restart_of_either_site() {
    let (mut a, mut b) = pair();
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("counted").send().await.unwrap();
    for i in 0..10 {
        put(&ca, "counted", &format!("k{i}"), data(2000, i)).await.unwrap();
    }
    assert_converges(&ca, &cb, "counted", 30).await;
    // The keeper saves the figures every half second.
    std::thread::sleep(Duration::from_millis(1500));
    let sent = a.peer_status("site-b", "sink")["sent"].clone();
    let received = b.peer_status("site-a", "source")["received"].clone();
    assert!(sent["objects"].as_u64().unwrap() >= 10, "{sent}");
    assert!(received["objects"].as_u64().unwrap() >= 10, "{received}");
    a.restart();
    b.restart();
    assert_eq!(a.peer_status("site-b", "sink")["sent"], sent);
    assert_eq!(b.peer_status("site-a", "source")["received"], received);
}

/// With `compression_level`, what compresses crosses the link compressed (status shows
/// the bytes before and after), what does not goes as it is, and the sink holds every
/// object byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_link_shows_its_ratio_and_converges() {
    let options = |name: &str| SiteOptions {
        repl_extra: "compression_level = 3\n".into(),
        ..SiteOptions::replicating(name)
    };
    let a = Site::start_with(options("site-a"));
    let b = Site::start_with(options("site-b"));
    a.replicate_to(&b, None);
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("zstd").send().await.unwrap();
    // Text-like objects, several blocks each, that compress well.
    for i in 0..10u64 {
        let text = format!("line {i}: the quick brown fox jumps over the lazy dog\n").repeat(4000);
        put(&ca, "zstd", &format!("text/{i}"), text.into_bytes()).await.unwrap();
    }
    assert_converges(&ca, &cb, "zstd", 60).await;
    let sent = a.peer_status("site-b", "sink")["sent"].clone();
    let (wire, raw) = (sent["bytes"].as_u64().unwrap(), sent["raw_bytes"].as_u64().unwrap());
    assert!(raw > 10 * wire, "text compresses well: {sent}");
    let received = b.peer_status("site-a", "source")["received"].clone();
    assert_eq!(received["bytes"], sent["bytes"], "{received}");
    assert_eq!(received["raw_bytes"], sent["raw_bytes"], "{received}");
    assert!(a.repl_cmd(&["status"]).contains("compression:"));

    // Random bytes do not compress: they cross as they are (a few bytes of framing
    // aside), and arrive intact.
    for i in 0..4u64 {
        put(&ca, "zstd", &format!("noise/{i}"), data(300_000, 100 + i))
            .await
            .unwrap();
    }
    assert_converges(&ca, &cb, "zstd", 60).await;
    let after = a.peer_status("site-b", "sink")["sent"].clone();
    let (wire2, raw2) = (
        after["bytes"].as_u64().unwrap() - wire,
        after["raw_bytes"].as_u64().unwrap() - raw,
    );
    assert!(
        wire2 >= 4 * 300_000 && wire2 * 100 >= raw2 * 99,
        "noise went as it is: {after}"
    );
}
