//! Replication over a long link: real sites on loopback with `strata wan-proxy` between
//! them adding round-trip time. What a WAN punishes is a protocol that waits a round
//! trip per unit of work; these tests show the sender keeps blocks and batches in
//! flight, and that everything still arrives intact.

use std::time::{Duration, Instant};
use strata_tests::certs::Ca;
use strata_tests::{assert_converges, data, put, wait_for, Site, SiteOptions, WanProxy};

const RTT_MS: u64 = 200;

/// Waits until `a` has nothing unacknowledged for site-b; returns when that was seen.
fn caught_up(a: &Site, secs: u64) -> Instant {
    wait_for(secs, "site-b to catch up", || {
        let s = a.peer_status("site-b", "sink");
        s["pending_entries"] == 0 && s["state"] == "synced"
    });
    Instant::now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_crosses_a_long_link_in_a_few_round_trips_not_one_per_block() {
    // The default block size (the harness's is 64 KiB): the window is counted in blocks.
    let site = |name| {
        Site::start_with(SiteOptions {
            block_size: 1 << 20,
            ..SiteOptions::replicating(name)
        })
    };
    let (a, b) = (site("site-a"), site("site-b"));
    let wan = WanProxy::start(b.repl.unwrap(), RTT_MS);
    a.repl_cmd(&["connect", &wan.addr.to_string()]);
    // Recorded but not sent yet: the whole backlog is in the log when the stream starts.
    a.repl_cmd(&["realtime", "enable", "site-b"]);

    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("far").send().await.unwrap();
    // 56 blocks: 48 one-block objects and 4 of two blocks, then small (inline)
    // objects, overwrites and deletes among them.
    for i in 0..48u64 {
        put(&ca, "far", &format!("big/{i:02}"), data(1 << 20, i)).await.unwrap();
    }
    for i in 0..4u64 {
        put(&ca, "far", &format!("two/{i}"), data(3 << 19, 100 + i))
            .await
            .unwrap();
    }
    for i in 0..30u64 {
        put(&ca, "far", &format!("small/{i:02}"), data(2000, 200 + i))
            .await
            .unwrap();
    }
    for i in 0..5 {
        put(&ca, "far", &format!("big/{i:02}"), data(3000, 300 + i))
            .await
            .unwrap();
        ca.delete_object()
            .bucket("far")
            .key(format!("small/{i:02}"))
            .send()
            .await
            .unwrap();
    }

    let started = Instant::now();
    a.repl_cmd(&["realtime", "start", "site-b"]);
    let took = caught_up(&a, 120) - started;
    // One block per round trip would take 56 x 200 ms = 11.2 s; in flight together they
    // take a handful of round trips (the blocks the sink lacks, the blocks, the
    // changes; a new connection's handshake each) plus the status polling's 200 ms.
    let round_trips = took.as_millis() / u128::from(RTT_MS);
    eprintln!("the backlog crossed in {took:?}: {round_trips} round trips of {RTT_MS} ms");
    assert!(
        took < Duration::from_millis(25 * RTT_MS),
        "the backlog took {took:?} ({round_trips} round trips of {RTT_MS} ms)"
    );
    // 52 big and two-block objects and 25 small ones, each equal object by object.
    assert_eq!(assert_converges(&ca, &cb, "far", 30).await, 77);
    let sent = &a.peer_status("site-b", "sink")["sent"];
    assert!(sent["bytes"].as_u64().unwrap() >= 49 << 20, "{sent}");
}

/// The link as it would run between data centers: mutual TLS and zstd over 100 ms of
/// round trip. Every object arrives intact, text crosses compressed, and the link ends
/// synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_and_compression_over_a_long_link_converge() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("wan CA");
    let ca_path = ca.write(&dir.path().join("ca.pem"));
    let site = |name: &str| {
        let (cert, key) = ca.issue(dir.path(), name, "127.0.0.1", false);
        Site::start_with(SiteOptions {
            block_size: 1 << 20,
            repl_extra: format!(
                "tls_cert = \"{}\"\ntls_key = \"{}\"\ntls_ca = \"{}\"\ntls_client_auth = true\ncompression_level = 3\n",
                cert.display(),
                key.display(),
                ca_path.display()
            ),
            ..SiteOptions::replicating(name)
        })
    };
    let (a, b) = (site("site-a"), site("site-b"));
    let wan = WanProxy::start(b.repl.unwrap(), 100);
    a.replicate_to(&b, Some(wan.addr));
    let (ca_client, cb_client) = (a.client(), b.client());
    ca_client.create_bucket().bucket("far").send().await.unwrap();
    for i in 0..12u64 {
        let text = format!("record {i}: a line of log that repeats itself\n").repeat(30_000);
        put(&ca_client, "far", &format!("text/{i}"), text.into_bytes())
            .await
            .unwrap();
        put(&ca_client, "far", &format!("noise/{i}"), data(700_000, i))
            .await
            .unwrap();
    }
    assert_eq!(assert_converges(&ca_client, &cb_client, "far", 60).await, 24);
    caught_up(&a, 60);
    let sent = &a.peer_status("site-b", "sink")["sent"];
    let (wire, raw) = (sent["bytes"].as_u64().unwrap(), sent["raw_bytes"].as_u64().unwrap());
    assert!(raw > wire * 3 / 2, "the text objects cross compressed: {sent}");
    let received = &b.peer_status("site-a", "source")["received"];
    assert_eq!(received["raw_bytes"], sent["raw_bytes"], "{received}");
}
