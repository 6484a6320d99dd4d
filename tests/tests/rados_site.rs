//! A site of three gateways over one Ceph cluster (scripts/ceph-cluster.sh), driven as
//! a user would through a load balancer: each request to the next gateway. What one
//! gateway acknowledged, every other reads at once; racing conditional writes have one
//! winner; a multipart upload's parts may arrive through any gateway; one gateway at a
//! time feeds the site's sinks, and another takes over when it dies.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use std::time::{Duration, Instant};
use strata_tests::{assert_converges, data, get_bytes, put, wait_for, wait_until, Ceph, Site, SiteOptions};

/// Three gateways of one site over `ceph`: the first makes the test user, the others
/// find it in the cluster.
fn three_gateways(ceph: &Ceph) -> Vec<Site> {
    let options = |name: &str| SiteOptions {
        name: name.into(),
        top_extra: ceph.store_section("site"),
        ..SiteOptions::default()
    };
    let first = Site::start_with(options("gw1"));
    let mut gateways = vec![first];
    for name in ["gw2", "gw3"] {
        gateways.push(Site::start_bare(options(name)));
    }
    gateways
}

fn status(r: Result<impl std::fmt::Debug, impl ProvideErrorMetadata>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().unwrap_or("no code").to_owned(),
    }
}

/// Starts a multipart upload of `key` in "bkt"; its id.
async fn start_upload(c: &Client, key: &str) -> String {
    let up = c.create_multipart_upload().bucket("bkt").key(key).send().await.unwrap();
    up.upload_id().unwrap().to_owned()
}

/// Uploads part `number` of upload `id`; the part as CompleteMultipartUpload names it.
async fn upload_part(c: &Client, key: &str, id: &str, number: i32, body: Vec<u8>) -> CompletedPart {
    let r = c
        .upload_part()
        .bucket("bkt")
        .key(key)
        .upload_id(id)
        .part_number(number)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
    CompletedPart::builder()
        .part_number(number)
        .e_tag(r.e_tag().unwrap())
        .build()
}

/// Each of `creators` (a client, the seed of its body) puts `key` with
/// `If-None-Match: *`, all at once: exactly one creates it and the others are refused
/// with PreconditionFailed. Returns the winner's seed.
async fn race_to_create(creators: Vec<(Client, u64)>, key: &str, len: usize) -> u64 {
    let mut racers = tokio::task::JoinSet::new();
    for (client, seed) in creators {
        let key = key.to_owned();
        racers.spawn(async move {
            let r = client
                .put_object()
                .bucket("bkt")
                .key(&key)
                .if_none_match("*")
                .body(ByteStream::from(data(len, seed)))
                .send()
                .await;
            (seed, status(r))
        });
    }
    let mut outcomes = Vec::new();
    while let Some(r) = racers.join_next().await {
        outcomes.push(r.unwrap());
    }
    let winners: Vec<u64> = outcomes.iter().filter(|(_, s)| s == "ok").map(|(i, _)| *i).collect();
    assert_eq!(winners.len(), 1, "{key}: {outcomes:?}");
    assert!(
        outcomes.iter().all(|(_, s)| s == "ok" || s == "PreconditionFailed"),
        "{key}: {outcomes:?}"
    );
    winners[0]
}

/// A one-byte PUT of `key` through each client: how each was answered.
async fn put_through_each(clients: &[Client], key: &str) -> Vec<String> {
    let mut answers = Vec::new();
    for client in clients {
        let r = client
            .put_object()
            .bucket("bkt")
            .key(key)
            .body(ByteStream::from(vec![1]))
            .send()
            .await;
        answers.push(status(r));
    }
    answers
}

/// Runs `strata serve` with `config`, which must refuse to start; what it said.
fn refused_start(config: &std::path::Path) -> String {
    let out = std::process::Command::new(strata_tests::strata_bin())
        .args(["serve", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "strata served: {said}");
    said
}

/// Completes upload `id` from `parts`: the object's ETag, or the error's code.
async fn complete(c: &Client, key: &str, id: &str, parts: Vec<CompletedPart>) -> Result<String, String> {
    c.complete_multipart_upload()
        .bucket("bkt")
        .key(key)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .map(|o| o.e_tag().unwrap().to_owned())
        .map_err(|e| e.code().unwrap_or("no code").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_over_one_cluster_are_one_site() {
    let ceph = Ceph::start();
    let gateways = three_gateways(&ceph);
    let c: Vec<Client> = gateways.iter().map(Site::client).collect();
    // The site's identity is the cluster's: every gateway reports the same id.
    let ids: Vec<String> = gateways
        .iter()
        .map(|g| g.site_status()["site_id"].to_string())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0] && id != "null"), "site ids: {ids:?}");
    // Its space is the cluster's.
    let site = gateways[1].site_status();
    assert_eq!(site["store"], "rados", "{site}");
    assert!(site["disk_total_bytes"].as_u64() >= Some(8 << 30), "{site}");

    c[0].create_bucket().bucket("bkt").send().await.unwrap();
    assert_eq!(
        status(c[1].create_bucket().bucket("bkt").send().await),
        "BucketAlreadyOwnedByYou",
        "a bucket made through one gateway exists on the next"
    );

    // An object written through each gateway reads back through the others, bytes and
    // listing alike.
    for (i, writer) in c.iter().enumerate() {
        let body = data(200_000 + i * 1000, i as u64);
        put(writer, "bkt", &format!("k{i}"), body.clone()).await.unwrap();
        for reader in &c {
            assert!(
                get_bytes(reader, "bkt", &format!("k{i}")).await == body,
                "k{i} read back whole"
            );
        }
    }
    for reader in &c {
        let listed = reader.list_objects_v2().bucket("bkt").send().await.unwrap();
        let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(keys, ["k0", "k1", "k2"]);
    }

    // A multipart upload whose parts arrive through different gateways.
    let id = start_upload(&c[0], "mp").await;
    let parts: Vec<Vec<u8>> = (0..3)
        .map(|i| data(if i < 2 { 5 << 20 } else { 1000 }, 50 + i))
        .collect();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        done.push(upload_part(&c[i % 3], "mp", &id, i as i32 + 1, p.clone()).await);
    }
    let listed = c[2]
        .list_parts()
        .bucket("bkt")
        .key("mp")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 3, "every gateway sees every part");
    complete(&c[1], "mp", &id, done).await.unwrap();
    assert!(get_bytes(&c[2], "bkt", "mp").await == parts.concat());

    // A delete through one gateway is seen by the others at once.
    c[2].delete_object().bucket("bkt").key("k0").send().await.unwrap();
    assert_eq!(
        status(c[0].get_object().bucket("bkt").key("k0").send().await),
        "NoSuchKey"
    );

    // A user made through one gateway signs requests on another.
    gateways[1].create_user(
        "second",
        "STRATASECONDUSER0001",
        "second-user-secret-0000000000000000001",
    );
    let second = gateways[2].client_as("STRATASECONDUSER0001", "second-user-secret-0000000000000000001");
    second.create_bucket().bucket("second-b").send().await.unwrap();

    // Fenced through one gateway, the site refuses writes through every gateway within
    // a second or so, and takes them again once unfenced.
    gateways[0].admin_cmd(&["read-only", "on"]);
    wait_until(10, "every gateway to refuse writes", || async {
        put_through_each(&c, "fenced").await.iter().all(|s| s == "AccessDenied")
    })
    .await;
    gateways[2].admin_cmd(&["read-only", "off"]);
    wait_until(10, "every gateway to take writes again", || async {
        put_through_each(&c, "fenced").await.iter().all(|s| s == "ok")
    })
    .await;
    c[0].delete_object().bucket("bkt").key("fenced").send().await.unwrap();

    // A bucket that still holds objects cannot be deleted through any gateway; emptied
    // through others, it can.
    assert_eq!(
        status(c[0].delete_bucket().bucket("bkt").send().await),
        "BucketNotEmpty"
    );
    for (i, k) in ["k1", "k2", "mp"].iter().enumerate() {
        c[i].delete_object().bucket("bkt").key(*k).send().await.unwrap();
    }
    c[1].delete_bucket().bucket("bkt").send().await.unwrap();
    assert_eq!(status(c[2].head_bucket().bucket("bkt").send().await), "NotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_after_writes_across_gateways_and_one_winner_per_race() {
    let ceph = Ceph::start();
    let gateways = three_gateways(&ceph);
    let c: Vec<Client> = gateways.iter().map(Site::client).collect();
    c[0].create_bucket().bucket("bkt").send().await.unwrap();

    // A writer on one gateway; after each acknowledged write, readers on the other two
    // must see it (never the value before), in the object and in the listing.
    let mut readers = tokio::task::JoinSet::new();
    for round in 0..40u64 {
        let body = data(100 + round as usize, round);
        put(&c[0], "bkt", "counter", body.clone()).await.unwrap();
        for reader in [c[1].clone(), c[2].clone()] {
            let body = body.clone();
            readers.spawn(async move {
                assert!(
                    get_bytes(&reader, "bkt", "counter").await == body,
                    "round {round}: a stale read"
                );
                let listed = reader.list_objects_v2().bucket("bkt").send().await.unwrap();
                assert_eq!(
                    listed.contents()[0].size(),
                    Some(body.len() as i64),
                    "round {round}: a stale listing"
                );
            });
        }
        while let Some(r) = readers.join_next().await {
            r.unwrap();
        }
    }

    // If-None-Match: * on one key through all three gateways at once: one creates it,
    // the others are refused, round after round.
    for round in 0..10 {
        let key = format!("race-{round}");
        let winner = race_to_create(c.iter().cloned().zip(0..).collect(), &key, 1000).await;
        // Every gateway reads the winner's bytes.
        for reader in &c {
            assert!(get_bytes(reader, "bkt", &key).await == data(1000, winner));
        }
    }

    // Many conditional creates of one key through one gateway at once: they commit in
    // one batch there, and each keeps its own answer.
    for round in 0..5 {
        let key = format!("batched-{round}");
        let winner = race_to_create((0..12).map(|i| (c[1].clone(), i)).collect(), &key, 500).await;
        assert!(get_bytes(&c[2], "bkt", &key).await == data(500, winner));
    }

    // One upload completed through two gateways at once: one completion makes the
    // object; the other is answered as a retry of it (200, the same ETag) or finds the
    // upload gone (NoSuchUpload). Never two objects, never a mix.
    for round in 0..5u64 {
        let key = format!("mp-{round}");
        let id = start_upload(&c[0], &key).await;
        let body = data(6 << 20, 300 + round);
        let part = upload_part(&c[1], &key, &id, 1, body.clone()).await;
        let mut racers = tokio::task::JoinSet::new();
        for client in [c[1].clone(), c[2].clone()] {
            let (key, id, part) = (key.clone(), id.clone(), part.clone());
            racers.spawn(async move {
                let r = complete(&client, &key, &id, vec![part]).await;
                r.unwrap_or_else(|code| code)
            });
        }
        let mut answers = Vec::new();
        while let Some(r) = racers.join_next().await {
            answers.push(r.unwrap());
        }
        let etags: Vec<&String> = answers.iter().filter(|a| a.starts_with('"')).collect();
        assert!(
            !etags.is_empty() && etags.iter().all(|e| *e == etags[0]),
            "round {round}: {answers:?}"
        );
        assert!(
            answers.iter().all(|a| a.starts_with('"') || a == "NoSuchUpload"),
            "round {round}: {answers:?}"
        );
        assert!(get_bytes(&c[0], "bkt", &key).await == body);
    }
}

/// Which of `gateways` feeds the site's sinks, once exactly one does.
fn feeder_of(gateways: &[&Site]) -> usize {
    let mut found = None;
    wait_for(20, "one gateway to feed the sinks", || {
        let feeding: Vec<usize> = (0..gateways.len())
            .filter(|i| gateways[*i].repl_status()["feeding"] == true)
            .collect();
        found = feeding.first().copied();
        feeding.len() == 1
    });
    found.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_feed_moves_to_another_gateway_when_its_feeder_dies() {
    let ceph = Ceph::start();
    let options = |name: &str| SiteOptions {
        top_extra: ceph.store_section("east"),
        ..SiteOptions::replicating(name)
    };
    // Two gateways of the site "east" (their site name is the site's), and an embedded
    // site "west" as the sink.
    let mut gateways = [Site::start_with(options("east")), Site::start_bare(options("east"))];
    let west = Site::start_with(SiteOptions::replicating("west"));
    gateways[0].replicate_to(&west, None);
    let feeder = feeder_of(&[&gateways[0], &gateways[1]]);
    let survivor = 1 - feeder;
    let c: Vec<Client> = gateways.iter().map(Site::client).collect();
    let sink = west.client();
    c[0].create_bucket().bucket("bkt").send().await.unwrap();
    // Writes through either gateway reach the sink: the feeder sends what the other
    // gateway committed too.
    for i in 0..10 {
        put(&c[i % 2], "bkt", &format!("before-{i}"), data(70_000, i as u64))
            .await
            .unwrap();
    }
    assert_converges(&c[survivor], &sink, "bkt", 30).await;
    // Fullsync asked of the gateway that does not feed runs on the one that does; its
    // result shows on both.
    tokio::task::block_in_place(|| gateways[survivor].fullsync_to("west", "enable"));
    tokio::task::block_in_place(|| gateways[survivor].fullsync_to("west", "start"));

    // Writers on both gateways; the feeder is killed under them, with a multipart
    // upload of its own half done.
    let id = start_upload(&c[feeder], "mp").await;
    let part = data(5 << 20, 99);
    let uploaded = upload_part(&c[feeder], "mp", &id, 1, part.clone()).await;
    let mut writers = tokio::task::JoinSet::new();
    for g in [feeder, survivor] {
        let client = c[g].clone();
        writers.spawn(async move {
            let mut acked = Vec::new();
            for i in 0..400 {
                let key = format!("during-{g}-{i}");
                if put(&client, "bkt", &key, data(20_000 + i, i as u64)).await.is_err() {
                    break;
                }
                acked.push(key);
            }
            acked
        });
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    gateways[feeder].kill9();
    let killed = Instant::now();
    let mut acked = Vec::new();
    while let Some(r) = writers.join_next().await {
        acked.extend(r.unwrap());
    }
    wait_for(30, "the surviving gateway to take over the feed", || {
        gateways[survivor].repl_status()["feeding"] == true
    });
    println!(
        "the feed moved to the surviving gateway {:.1} s after the feeder was killed",
        killed.elapsed().as_secs_f64()
    );

    // The upload goes on through the survivor: its part, acknowledged before the kill,
    // is there.
    complete(&c[survivor], "mp", &id, vec![uploaded]).await.unwrap();
    // Every acknowledged write is on the site and reaches the sink; the sites end equal.
    for key in &acked {
        c[survivor].head_object().bucket("bkt").key(key).send().await.unwrap();
    }
    let n = assert_converges(&c[survivor], &sink, "bkt", 60).await;
    assert!(
        n >= acked.len() + 11,
        "{n} objects on the sink, {} acknowledged during the kill",
        acked.len()
    );
    assert!(get_bytes(&sink, "bkt", "mp").await == part);

    // A gateway without [repl] would trim the log the sinks still need: refused.
    let config = gateways[feeder].config.clone();
    let text = std::fs::read_to_string(&config).unwrap();
    let without_repl = &text[..text.find("[repl]").unwrap()];
    std::fs::write(&config, without_repl).unwrap();
    let said = refused_start(&config);
    assert!(said.contains("same [repl] section"), "{said}");
}

/// The SHA-256 (hex) of each `block`-byte block of `body`: the data pool's names for it.
fn block_names(body: &[u8], block: usize) -> Vec<String> {
    use sha2::Digest;
    body.chunks(block)
        .map(|c| hex::encode(sha2::Sha256::digest(c)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_across_gateways_removes_what_nothing_references_and_nothing_else() {
    let ceph = Ceph::start();
    let options = |name: &str| SiteOptions {
        name: name.into(),
        top_extra: ceph.store_section("gc"),
        gc_grace_secs: 1,
        gc_interval_secs: 1,
        ..SiteOptions::default()
    };
    let gateways = [
        Site::start_with(options("gw1")),
        Site::start_bare(options("gw2")),
        Site::start_bare(options("gw3")),
    ];
    let c: Vec<Client> = gateways.iter().map(Site::client).collect();
    c[0].create_bucket().bucket("bkt").send().await.unwrap();
    // Four bodies of four blocks each, written under many keys through every gateway:
    // a block goes unreferenced on one gateway (an overwrite, a delete) while another
    // writes the same block again, as GC runs every second with a second's grace.
    let block = SiteOptions::default().block_size as usize;
    let bodies: Vec<Vec<u8>> = (0..4).map(|i| data(3 * block + 1000, 700 + i)).collect();
    let mut writers = tokio::task::JoinSet::new();
    for (g, client) in c.iter().enumerate() {
        let (client, bodies) = (client.clone(), bodies.clone());
        writers.spawn(async move {
            let mut last: std::collections::BTreeMap<String, Option<usize>> = Default::default();
            let deadline = Instant::now() + Duration::from_secs(8);
            let mut step = 0usize;
            while Instant::now() < deadline {
                let key = format!("g{g}-k{}", step % 6);
                let pick = (step * 7 + g) % 5;
                if pick == 4 {
                    client.delete_object().bucket("bkt").key(&key).send().await.unwrap();
                    last.insert(key, None);
                } else {
                    put(&client, "bkt", &key, bodies[pick].clone()).await.unwrap();
                    last.insert(key, Some(pick));
                }
                // A body of its own each step, overwritten by the next: its blocks go
                // unreferenced for good.
                let own = data(2 * block, 10_000 + (g * 100_000 + step) as u64);
                put(&client, "bkt", &format!("g{g}-scratch"), own).await.unwrap();
                step += 1;
            }
            client
                .delete_object()
                .bucket("bkt")
                .key(format!("g{g}-scratch"))
                .send()
                .await
                .unwrap();
            last
        });
    }
    let mut live: Vec<(String, usize)> = Vec::new();
    while let Some(r) = writers.join_next().await {
        live.extend(r.unwrap().into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    }
    assert!(!live.is_empty());
    // No referenced block was removed: every object reads back whole everywhere.
    for (key, body) in &live {
        for reader in &c {
            assert!(get_bytes(reader, "bkt", key).await == bodies[*body], "{key} read back");
        }
    }
    // And GC leaves exactly the blocks the live objects use.
    let mut wanted: Vec<String> = live.iter().flat_map(|(_, b)| block_names(&bodies[*b], block)).collect();
    wanted.sort();
    wanted.dedup();
    // Among what must go: the last scratch body of each writer, written just before
    // its delete; so an equal pool proves removals, not only their absence.
    wait_for(30, "GC to remove every unreferenced block", || {
        ceph.objects("gc-data") == wanted
    });
    for (key, body) in &live {
        assert!(
            get_bytes(&c[1], "bkt", key).await == bodies[*body],
            "{key} read back after GC"
        );
    }
}

#[test]
fn a_gateway_says_plainly_when_its_cluster_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    // Monitors on a port nothing listens on.
    let conf = dir.path().join("ceph.conf");
    std::fs::write(
        &conf,
        "[global]\nmon host = v1:127.0.0.1:1\nauth client required = none\n",
    )
    .unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        format!(
            "site_name = \"x\"\ndata_dir = \"data\"\n[store]\nengine = \"rados\"\nceph_conf = \"{}\"\n[s3]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"test-admin-token-0123456789\"\n",
            conf.display()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let said = refused_start(&config);
    assert!(
        said.contains("connect to the monitors") && said.contains(&*conf.to_string_lossy()),
        "{said}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "it took {:?} to give up",
        started.elapsed()
    );
}
