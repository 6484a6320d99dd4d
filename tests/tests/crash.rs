//! `kill -9` during concurrent PUTs: after restart every acknowledged object reads back
//! identical, and every object listed reads back whole.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_tests::{data, multipart_upload, Site};

/// What each key was written with: (size, seed). Every key is written once.
fn plan(worker: u64, i: u64) -> (String, usize, u64) {
    let size = match (worker + i) % 4 {
        0 => 1_000,
        1 => 64 * 1024,
        2 => 200_000 + (i as usize * 997) % 100_000,
        _ => 700_000,
    };
    (format!("w{worker:02}/obj-{i:05}"), size, worker * 100_000 + i)
}

/// The multipart objects: a 5 MiB part and a small last one.
fn multipart_parts(seed: u64) -> [Vec<u8>; 2] {
    [data(5 << 20, seed + 1), data(100_000, seed + 2)]
}

/// What a multipart object of `seed` reads back as.
fn multipart_bytes(seed: u64) -> Vec<u8> {
    multipart_parts(seed).concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_concurrent_puts_loses_no_acknowledged_write() {
    let mut site = Site::start();
    site.client().create_bucket().bucket("crash").send().await.unwrap();
    // key -> expected bytes, for every write the server acknowledged.
    let acked: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
    let mut round_seed = 0;
    let mut verified = std::collections::BTreeSet::new();

    for round in 0..3u64 {
        let mut tasks = Vec::new();
        for w in 0..12u64 {
            let (c, acked) = (site.client(), acked.clone());
            let worker = round * 100 + w;
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    if w == 0 {
                        let key = format!("mp/{worker}-{i}");
                        let seed = 9_000_000 + worker * 1000 + i;
                        if multipart_upload(&c, "crash", &key, &multipart_parts(seed))
                            .await
                            .is_err()
                        {
                            return;
                        }
                        acked.lock().unwrap().insert(key, multipart_bytes(seed));
                        continue;
                    }
                    let (key, size, seed) = plan(worker, i);
                    let body = data(size, seed);
                    match c
                        .put_object()
                        .bucket("crash")
                        .key(&key)
                        .body(body.clone().into())
                        .send()
                        .await
                    {
                        Ok(_) => {
                            acked.lock().unwrap().insert(key, body);
                        }
                        Err(_) => return,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500 + round * 500)).await;
        site.kill9();
        for t in tasks {
            t.await.unwrap();
        }
        site.launch();
        round_seed += 1;
        // A fresh client: the old one's pooled connections died with the server.
        let c = site.client();

        let acked = acked.lock().unwrap().clone();
        assert!(
            acked.len() > 20,
            "round {round}: too few writes acknowledged to mean anything ({})",
            acked.len()
        );
        // Each acknowledged write is read back after the first crash that follows it.
        let fresh = acked.iter().filter(|(k, _)| !verified.contains(*k));
        for (key, want) in fresh {
            let got = c
                .get_object()
                .bucket("crash")
                .key(key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{key}: {e:?}"));
            let bytes = got.body.collect().await.unwrap().into_bytes();
            assert!(bytes.as_ref() == &want[..], "round {round}: {key} differs after crash");
        }
        verified.extend(acked.keys().cloned());
        // Whatever is listed is whole: it reads back as exactly what was written for it.
        let mut token = None;
        loop {
            let page = c
                .list_objects_v2()
                .bucket("crash")
                .set_continuation_token(token)
                .send()
                .await
                .unwrap();
            for o in page.contents() {
                let key = o.key().unwrap();
                let want = if let Some(rest) = key.strip_prefix("mp/") {
                    let (worker, i) = rest.split_once('-').unwrap();
                    multipart_bytes(9_000_000 + worker.parse::<u64>().unwrap() * 1000 + i.parse::<u64>().unwrap())
                } else {
                    let (w, i) = key.trim_start_matches('w').split_once("/obj-").unwrap();
                    let (_, size, seed) = plan(w.parse().unwrap(), i.parse().unwrap());
                    data(size, seed)
                };
                assert_eq!(o.size(), Some(want.len() as i64), "{key} listed with a partial size");
                if verified.contains(key) {
                    continue;
                }
                let got = c.get_object().bucket("crash").key(key).send().await.unwrap();
                assert!(
                    got.body.collect().await.unwrap().into_bytes().as_ref() == &want[..],
                    "{key} listed but not whole"
                );
            }
            if !page.is_truncated().unwrap() {
                break;
            }
            token = page.next_continuation_token().map(str::to_owned);
        }
    }
    assert_eq!(round_seed, 3);
    // The site still takes writes after three crashes.
    site.client()
        .put_object()
        .bucket("crash")
        .key("after")
        .body(data(10, 1).into())
        .send()
        .await
        .unwrap();
    let log = site.log();
    assert!(log.contains("site started"), "{log}");
}
