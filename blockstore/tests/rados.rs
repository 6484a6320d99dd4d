//! The RADOS primitives a site of many gateways is built on, against a real one-host
//! Ceph cluster (scripts/ceph-cluster.sh, Ceph from Debian: scripts/install-ceph.sh):
//! blocks as whole objects, and shard commits that are atomic and guarded by the index
//! object's version, so that of two gateways committing from the same version exactly
//! one wins.

use std::sync::{Arc, Barrier};
use strata_blockstore::engine::rados::{Cluster, Committed, Lease, OmapWrite};
use strata_tests::Ceph;

fn kv(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
    (k.as_bytes().to_vec(), v.as_bytes().to_vec())
}

#[test]
fn blocks_and_version_guarded_shard_commits_on_a_real_cluster() {
    let ceph = Ceph::start();
    let cluster = Cluster::connect(&ceph.conf, "admin", 10).unwrap();

    // Blocks: whole objects in a data pool (created on first use), read back whole.
    let data = cluster.pool("strata-data", true).unwrap();
    let block: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    data.write_full("block-a", &block).unwrap();
    assert_eq!(data.stat("block-a").unwrap(), Some(block.len() as u64));
    assert!(data.read("block-a").unwrap().unwrap() == block);
    assert!(data.remove("block-a").unwrap());
    assert_eq!(data.read("block-a").unwrap(), None);
    assert!(!data.remove("block-a").unwrap(), "removing what is gone says so");
    let missing = cluster
        .pool("no-such-pool", false)
        .err()
        .expect("a missing pool is an error");
    assert!(missing.to_string().contains("no-such-pool"), "{missing}");

    // A shard: created once, exclusively.
    let meta = cluster.pool("strata-meta", true).unwrap();
    let create = OmapWrite {
        create: true,
        set: vec![kv("seq", "0")],
        ..OmapWrite::default()
    };
    let Committed::Done(v0) = meta.commit("shard-0", &create).unwrap() else {
        panic!("a new shard is created");
    };
    assert_eq!(meta.commit("shard-0", &create).unwrap(), Committed::Conflict);

    // Two gateways commit from the version both read: one wins, the other conflicts
    // and nothing of it is written; it reads again and then commits.
    let read = meta.omap_page("shard-0", b"", b"", 100, None).unwrap().unwrap();
    assert_eq!((read.version, read.entries.clone()), (v0, vec![kv("seq", "0")]));
    let meta = Arc::new(meta);
    let barrier = Arc::new(Barrier::new(2));
    let racers: Vec<_> = ["left", "right"]
        .into_iter()
        .map(|who| {
            let (meta, barrier) = (meta.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let w = OmapWrite {
                    expect_version: Some(v0),
                    set: vec![kv("seq", "1"), kv(&format!("object/{who}"), who)],
                    ..OmapWrite::default()
                };
                (who, meta.commit("shard-0", &w).unwrap())
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let winners: Vec<_> = racers.iter().filter(|(_, c)| matches!(c, Committed::Done(_))).collect();
    assert_eq!(winners.len(), 1, "{racers:?}");
    let (winner, loser) = match racers[0].1 {
        Committed::Done(_) => (racers[0].0, racers[1].0),
        Committed::Conflict => (racers[1].0, racers[0].0),
    };
    let after = meta.omap_page("shard-0", b"", b"", 100, None).unwrap().unwrap();
    assert_eq!(
        after.entries,
        vec![kv(&format!("object/{winner}"), winner), kv("seq", "1")],
        "only the winner's commit is there"
    );
    let retry = OmapWrite {
        expect_version: Some(after.version),
        set: vec![kv("seq", "2"), kv(&format!("object/{loser}"), loser)],
        remove: vec![format!("object/{winner}").into_bytes()],
        ..OmapWrite::default()
    };
    assert!(matches!(meta.commit("shard-0", &retry).unwrap(), Committed::Done(_)));
    let after = meta.omap_page("shard-0", b"", b"", 100, None).unwrap().unwrap();
    assert_eq!(
        after.entries,
        vec![kv(&format!("object/{loser}"), loser), kv("seq", "2")]
    );

    // A commit guarded by a value instead of the version.
    let guarded = |expected: &str| OmapWrite {
        expect_values: vec![kv("seq", expected)],
        set: vec![kv("seq", "3")],
        ..OmapWrite::default()
    };
    assert_eq!(meta.commit("shard-0", &guarded("1")).unwrap(), Committed::Conflict);
    assert!(matches!(
        meta.commit("shard-0", &guarded("2")).unwrap(),
        Committed::Done(_)
    ));

    // A shard's records listed in pages: every key once, in order.
    let keys: Vec<String> = (0..1_000).map(|i| format!("k/{i:05}")).collect();
    for chunk in keys.chunks(250) {
        let w = OmapWrite {
            set: chunk.iter().map(|k| kv(k, "v")).collect(),
            ..OmapWrite::default()
        };
        assert!(matches!(meta.commit("shard-1", &w).unwrap(), Committed::Done(_)));
    }
    let (mut seen, mut after) = (Vec::new(), Vec::new());
    loop {
        let page = meta.omap_page("shard-1", &after, b"", 128, None).unwrap().unwrap();
        seen.extend(page.entries.iter().map(|(k, _)| String::from_utf8(k.clone()).unwrap()));
        match (page.more, page.entries.last()) {
            (true, Some((k, _))) => after = k.clone(),
            _ => break,
        }
    }
    assert_eq!(seen, keys);
    assert!(meta.omap_page("no-shard", b"", b"", 10, None).unwrap().is_none());
}

/// A lease (an exclusive RADOS lock with a duration): one holder at a time; the holder
/// renews it; a holder that stops renewing (a gateway killed) loses it when its time
/// runs out, and another takes over.
#[test]
fn a_lease_has_one_holder_and_passes_on_when_it_is_not_renewed() {
    let ceph = Ceph::start();
    // Two connections: two gateways, as RADOS sees them.
    let one = Cluster::connect(&ceph.conf, "admin", 10).unwrap();
    let two = Cluster::connect(&ceph.conf, "admin", 10).unwrap();
    let (p1, p2) = (
        one.pool("strata-meta", true).unwrap(),
        two.pool("strata-meta", true).unwrap(),
    );

    assert_eq!(p1.lease("feed", "sink-b", "gw-1", 3).unwrap(), Lease::Held);
    assert_eq!(p2.lease("feed", "sink-b", "gw-2", 3).unwrap(), Lease::Busy);
    // Renewed by its holder, it stays held past its first term.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(p1.lease("feed", "sink-b", "gw-1", 3).unwrap(), Lease::Held);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(p2.lease("feed", "sink-b", "gw-2", 3).unwrap(), Lease::Busy);
    // Not renewed, it passes on.
    std::thread::sleep(std::time::Duration::from_millis(3500));
    assert_eq!(p2.lease("feed", "sink-b", "gw-2", 3).unwrap(), Lease::Held);
    assert_eq!(p1.lease("feed", "sink-b", "gw-1", 3).unwrap(), Lease::Busy);
    // Given up, it is free at once.
    assert!(p2.release("feed", "sink-b", "gw-2").unwrap());
    assert!(!p2.release("feed", "sink-b", "gw-2").unwrap());
    assert_eq!(p1.lease("feed", "sink-b", "gw-1", 3).unwrap(), Lease::Held);
}
