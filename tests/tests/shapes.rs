//! Replication shapes with real sites on loopback: one source into many sinks, 32
//! sources into one sink, a chain with cascading on and off, a ring of three, a full
//! mesh of three. Each ends with every site holding the same data, object by object;
//! the sinks' counters show how often each change arrived (a duplicate is a change a
//! site already held, ignored by last-writer-wins).

use aws_sdk_s3::Client;
use strata_tests::{assert_converges, data, listing, put, wait_for, Site, SiteOptions};

fn site(name: &str) -> Site {
    Site::start_with(SiteOptions::replicating(name))
}

/// (changes received, duplicates among them) by `site` from all its sources.
fn received(site: &Site) -> (u64, u64) {
    let status = site.repl_status();
    let mut total = (0, 0);
    for p in status["peers"].as_array().unwrap() {
        let r = &p["source"]["received"];
        total.0 += r["changes"].as_u64().unwrap_or(0);
        total.1 += r["duplicates"].as_u64().unwrap_or(0);
    }
    total
}

async fn write(c: &Client, bucket: &str, prefix: &str, n: usize) {
    for i in 0..n {
        put(c, bucket, &format!("{prefix}/{i:03}"), data(2000 + i * 97, i as u64))
            .await
            .unwrap();
    }
}

/// Waits until every site lists `bucket` exactly as the first, then compares the bytes
/// of every object; then until no site has anything left to send (realtime backlog
/// and dirty keys, such as the users and buckets sent when realtime was enabled), so
/// counting what arrives next counts only what was written next.
async fn all_converge(sites: &[&Site], bucket: &str) -> usize {
    let first = sites[0].client();
    let mut n = 0;
    for s in &sites[1..] {
        n = assert_converges(&first, &s.client(), bucket, 90).await;
    }
    wait_for(30, "every sink settled", || {
        sites.iter().all(|s| {
            s.repl_status()["peers"].as_array().unwrap().iter().all(|p| {
                let sink = &p["sink"];
                sink.is_null() || (sink["dirty_keys"] == 0 && sink["pending_entries"] == 0)
            })
        })
    });
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_into_three_sinks() {
    let (a, b, c, d) = (site("site-a"), site("site-b"), site("site-c"), site("site-d"));
    for sink in [&b, &c, &d] {
        a.replicate_to(sink, None);
    }
    let ca = a.client();
    ca.create_bucket().bucket("fan").send().await.unwrap();
    write(&ca, "fan", "a", 40).await;
    assert_eq!(all_converge(&[&a, &b, &c, &d], "fan").await, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_sources_into_one_sink() {
    let sink = site("sink");
    let sources: Vec<Site> = (0..32).map(|i| site(&format!("source-{i:02}"))).collect();
    for (i, s) in sources.iter().enumerate() {
        s.replicate_to(&sink, None);
        let c = s.client();
        let bucket = format!("from-{i:02}");
        c.create_bucket().bucket(&bucket).send().await.unwrap();
        write(&c, &bucket, "k", 3).await;
    }
    for (i, s) in sources.iter().enumerate() {
        let n = assert_converges(&s.client(), &sink.client(), &format!("from-{i:02}"), 90).await;
        assert_eq!(n, 3);
    }
    let status = sink.repl_status();
    assert_eq!(status["peers"].as_array().unwrap().len(), 32, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_cascades_unless_the_middle_site_says_not_to() {
    let (a, b, c) = (site("site-a"), site("site-b"), site("site-c"));
    a.replicate_to(&b, None);
    b.replicate_to(&c, None);
    let (ca, cb, cc) = (a.client(), b.client(), c.client());
    ca.create_bucket().bucket("chain").send().await.unwrap();
    write(&ca, "chain", "a", 20).await;
    // Cascading (the default): c has a's writes, through b.
    assert_eq!(all_converge(&[&a, &b, &c], "chain").await, 20);
    assert_eq!(b.repl_status()["cascade"], true);

    b.repl_cmd(&["cascade", "off"]);
    assert_eq!(b.repl_status()["cascade"], false);
    write(&ca, "chain", "a-later", 10).await;
    write(&cb, "chain", "b", 10).await;
    let wait = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while listing(&cb, "chain").await.unwrap().len() < 40 && std::time::Instant::now() < wait {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        listing(&cb, "chain").await.unwrap().len(),
        40,
        "b still gets a's writes"
    );
    // c gets what b writes, not what b applies from a.
    let wait = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let keys = loop {
        let keys: Vec<String> = listing(&cc, "chain")
            .await
            .unwrap()
            .into_iter()
            .map(|(k, _, _)| k)
            .collect();
        if keys.iter().filter(|k| k.starts_with("b/")).count() == 10 || std::time::Instant::now() > wait {
            break keys;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(keys.iter().filter(|k| k.starts_with("b/")).count(), 10, "{keys:?}");
    assert!(!keys.iter().any(|k| k.starts_with("a-later/")), "{keys:?}");
    // The setting is persisted.
    let mut b = b;
    b.restart();
    assert_eq!(b.repl_status()["cascade"], false);
    b.repl_cmd(&["cascade", "on"]);
}

/// Each site writes `n` objects (keys under its own letter and `tag`); once every site
/// lists the same, what each received meanwhile: (changes, duplicates among them).
async fn round(sites: &[&Site], bucket: &str, tag: &str, n: usize) -> Vec<(u64, u64)> {
    let before: Vec<(u64, u64)> = sites.iter().map(|s| received(s)).collect();
    for s in sites {
        write(&s.client(), bucket, &format!("{}{tag}", &s.name[5..]), n).await;
    }
    all_converge(sites, bucket).await;
    sites
        .iter()
        .zip(before)
        .map(|(s, (changes, dup))| {
            let now = received(s);
            (now.0 - changes, now.1 - dup)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_of_three_sends_each_change_to_each_site_once() {
    let (a, b, c) = (site("site-a"), site("site-b"), site("site-c"));
    a.replicate_to(&b, None);
    b.replicate_to(&c, None);
    c.replicate_to(&a, None);
    a.client().create_bucket().bucket("ring").send().await.unwrap();
    all_converge(&[&a, &b, &c], "ring").await;
    const N: usize = 30;
    let got = round(&[&a, &b, &c], "ring", "", N).await;
    // Every site got each of the other two sites' writes exactly once, and nothing
    // came round to the site that made it.
    assert_eq!(got, vec![(2 * N as u64, 0); 3]);
    assert_eq!(all_converge(&[&a, &b, &c], "ring").await, 3 * N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mesh_of_three_converges_and_counts_its_duplicates() {
    let (a, b, c) = (site("site-a"), site("site-b"), site("site-c"));
    for (from, to) in [(&a, &b), (&a, &c), (&b, &a), (&b, &c), (&c, &a), (&c, &b)] {
        from.replicate_to(to, None);
    }
    a.client().create_bucket().bucket("mesh").send().await.unwrap();
    all_converge(&[&a, &b, &c], "mesh").await;

    // Cascading on: a change may also come the long way round (through the third
    // site, unless that site got it by the long way itself: it never goes back along
    // its path). A second copy is a counted duplicate, never applied twice: each site
    // applies each other site's write exactly once, and receives at most two copies.
    const N: usize = 20;
    let got = round(&[&a, &b, &c], "mesh", "", N).await;
    for (site, (changes, dup)) in ["a", "b", "c"].iter().zip(&got) {
        assert_eq!(changes - dup, 2 * N as u64, "site-{site}: applied once each");
        assert!(*dup <= 2 * N as u64, "site-{site}: {dup} duplicates");
    }
    assert!(
        got.iter().any(|(_, dup)| *dup > 0),
        "a mesh with cascading relays some changes twice"
    );

    // Cascading off everywhere: a mesh needs no relaying, and no duplicate is sent.
    for s in [&a, &b, &c] {
        s.repl_cmd(&["cascade", "off"]);
    }
    let got = round(&[&a, &b, &c], "mesh", "2", N).await;
    assert_eq!(got, vec![(2 * N as u64, 0); 3]);
    assert_eq!(all_converge(&[&a, &b, &c], "mesh").await, 6 * N);
}

/// `strata dev --sites 3`: three sites in a ring, for trying the shapes; a write on
/// site-a is read on site-c (through site-b), and one on site-c back on site-a.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strata_dev_starts_a_ring_of_three() {
    let base = strata_tests::reserve_ports(&[0, 1, 2, 10, 11, 12, 20, 21, 22]);
    let dir = tempfile::tempdir().unwrap();
    let (mut child, ak, sk, banner) =
        strata_tests::start_dev(dir.path(), &["--sites", "3", "--port", &base.to_string()]);
    assert!(banner[0].contains("3 sites in a ring"), "{banner:?}");
    let client = |i: u16| strata_tests::client_for(&format!("http://127.0.0.1:{}", base + 10 * i), &ak, &sk, true);
    let (a, c) = (client(0), client(2));
    a.create_bucket().bucket("demo").send().await.unwrap();
    put(&a, "demo", "from-a", b"written on site-a".to_vec()).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let on_c = c.head_object().bucket("demo").key("from-a").send().await.is_ok();
        if on_c {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "site-c never got site-a's object; the log ends:\n{}",
            strata_tests::dev_log_tail(dir.path(), 200)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    put(&c, "demo", "from-c", b"written on site-c".to_vec()).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while a.head_object().bucket("demo").key("from-c").send().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "site-a never got site-c's object; the log ends:\n{}",
            strata_tests::dev_log_tail(dir.path(), 200)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}
