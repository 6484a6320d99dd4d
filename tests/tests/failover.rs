//! Failover and fail-back, as docs/replication.md tells an operator to do them: the
//! primary A dies with writes in flight, its sink B takes the writes, A comes back
//! fenced (read-only) and becomes B's sink, then the roles swap back. No write A
//! acknowledged is lost (those that had not reached B when A died reach it when A
//! returns), B's newer writes win, and both sites end equal.

use std::sync::{Arc, Mutex};
use strata_tests::{assert_converges, data, get_bytes, put, Site, SiteOptions};

fn site(name: &str) -> Site {
    Site::start_with(SiteOptions::replicating(name))
}

/// The S3 error code and status of a PUT that must fail.
async fn refused_put(c: &aws_sdk_s3::Client, key: &str) -> (u16, String, String) {
    let e = c
        .put_object()
        .bucket("data")
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    use aws_sdk_s3::error::ProvideErrorMetadata;
    (
        e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0),
        e.code().unwrap_or_default().to_owned(),
        e.message().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_the_sink_and_back_loses_no_acknowledged_write() {
    let mut a = site("site-a");
    let b = site("site-b");
    a.replicate_to(&b, None);
    let (ca, cb) = (a.client(), b.client());
    ca.create_bucket().bucket("data").send().await.unwrap();
    for i in 0..50 {
        put(&ca, "data", &format!("w/{i:03}"), data(3000, i)).await.unwrap();
    }
    assert_converges(&ca, &cb, "data", 60).await;

    // A dies with writes in flight: every write it acknowledged is remembered.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let (c, acked) = (ca.clone(), acked.clone());
        tokio::spawn(async move {
            for i in 0..100_000u64 {
                let key = format!("inflight/{i:05}");
                match put(&c, "data", &key, data(20_000, 1000 + i)).await {
                    Ok(()) => acked.lock().unwrap().push((key, 1000 + i)),
                    Err(_) => return,
                }
            }
        })
    };
    while acked.lock().unwrap().len() < 60 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    a.kill9();
    writer.await.unwrap();
    let acked = acked.lock().unwrap().clone();

    // Failover: clients write to B. One of them overwrites a key A also wrote.
    for i in 0..20 {
        put(&cb, "data", &format!("b/{i:03}"), data(4000, 5000 + i))
            .await
            .unwrap();
    }
    put(&cb, "data", "w/005", b"newer, written on b".to_vec())
        .await
        .unwrap();

    // A returns and is fenced before anyone writes to it, then becomes B's sink.
    a.launch();
    a.admin_cmd(&["read-only", "on"]);
    let (status, code, message) = refused_put(&ca, "fenced").await;
    assert_eq!((status, code.as_str()), (403, "AccessDenied"), "{message}");
    assert!(message.contains("read-only"), "{message}");
    let site_status: serde_json::Value = serde_json::from_str(&a.admin_cmd(&["status", "--json"])).unwrap();
    assert_eq!(site_status["read_only"], true, "{site_status}");
    b.replicate_to(&a, None);
    b.repl_cmd(&["fullsync", "enable", "site-a"]);
    assert_converges(&cb, &ca, "data", 120).await;

    // Nothing A acknowledged is lost: what had not reached B when A died was kept in
    // A's log and reached B when A came back. B's newer write won on both.
    for (key, seed) in &acked {
        let want = data(20_000, *seed);
        assert_eq!(get_bytes(&cb, "data", key).await, want, "{key} on b");
        assert_eq!(get_bytes(&ca, "data", key).await, want, "{key} on a");
    }
    assert_eq!(get_bytes(&ca, "data", "w/005").await, b"newer, written on b");
    assert_eq!(get_bytes(&ca, "data", "b/019").await, data(4000, 5019));

    // Fail-back: B is fenced, A takes writes again and streams them to B.
    b.admin_cmd(&["read-only", "on"]);
    a.admin_cmd(&["read-only", "off"]);
    assert_eq!(refused_put(&cb, "fenced").await.0, 403);
    for i in 0..10 {
        put(&ca, "data", &format!("after/{i:03}"), data(1000, 9000 + i))
            .await
            .unwrap();
    }
    let n = assert_converges(&ca, &cb, "data", 60).await;
    // The write in flight when A died may have committed without its answer arriving.
    let expected = 50 + acked.len() + 20 + 10;
    assert!(
        n == expected || n == expected + 1,
        "{n} objects, {expected} acknowledged"
    );
    b.admin_cmd(&["read-only", "off"]);
}
