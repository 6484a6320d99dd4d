//! What a shard commit costs on RADOS, and what bounds one shard's write rate: on a
//! throwaway one-host cluster (scripts/ceph-cluster.sh; memstore OSD, so the figures
//! are librados and OSD op processing, not disks), it measures
//!
//! - one writer committing to one shard (read the version, commit guarded by it);
//! - W writers on one shard: every commit guarded by the version its writer read, a
//!   conflict read again and retried (the rate one bucket shard takes, and the wasted
//!   tries);
//! - W writers on W shards (the rate the shard count lifts it to);
//! - 1 MiB blocks written whole, by 1 and W writers.
//!
//! `cargo bench -p strata-blockstore --bench rados_commits [-- SECONDS WRITERS]`
//! (docs/architecture.md, "A site over RADOS, on paper").

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use strata_blockstore::engine::rados::{Committed, OmapWrite, Pool};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/ceph-cluster.sh");

struct Ceph(tempfile::TempDir, PathBuf);

impl Drop for Ceph {
    fn drop(&mut self) {
        let _ = Command::new(SCRIPT).arg("stop").arg(self.0.path()).status();
    }
}

fn start() -> Ceph {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(SCRIPT).arg("start").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let conf = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Ceph(dir, conf)
}

/// One record written the way a shard commit writes it: the version read first, the
/// record and a log entry set under a guard on that version, retried on conflict.
/// Returns the tries it took.
fn commit_one(pool: &Pool, shard: &str, n: u64) -> u64 {
    let record = vec![b'r'; 600];
    for tries in 1.. {
        let version = pool
            .omap_page(shard, b"~", b"", 1, None)
            .unwrap()
            .map_or(0, |p| p.version);
        let w = OmapWrite {
            create: version == 0,
            expect_version: (version != 0).then_some(version),
            set: vec![
                (format!("o/{n:012}").into_bytes(), record.clone()),
                (format!("log/{n:012}").into_bytes(), b"change".to_vec()),
            ],
            ..OmapWrite::default()
        };
        if let Committed::Done(_) = pool.commit(shard, &w).unwrap() {
            return tries;
        }
    }
    unreachable!()
}

/// `writers` threads for `secs`, each calling `op(writer, n)` (which returns its tries);
/// prints ops/s, latency p50 / p99 and tries per op.
fn run(label: &str, writers: usize, secs: f64, op: impl Fn(usize, u64) -> u64 + Sync) {
    let stop = AtomicBool::new(false);
    let (ops, tries) = (AtomicU64::new(0), AtomicU64::new(0));
    let started = Instant::now();
    let mut lat: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (stop, ops, tries, op) = (&stop, &ops, &tries, &op);
                s.spawn(move || {
                    let mut lat = Vec::new();
                    let mut n = (w as u64) << 40;
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        tries.fetch_add(op(w, n), Ordering::Relaxed);
                        lat.push(t.elapsed());
                        ops.fetch_add(1, Ordering::Relaxed);
                        n += 1;
                    }
                    lat
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    let at = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    let n = ops.load(Ordering::Relaxed);
    println!(
        "| {label} | {writers} | {:.0}/s | {:.2} / {:.2} ms | {:.2} |",
        n as f64 / elapsed,
        at(0.5),
        at(0.99),
        tries.load(Ordering::Relaxed) as f64 / n.max(1) as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let secs: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let writers: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(8);
    let ceph = start();
    let cluster = strata_blockstore::engine::rados::Cluster::connect(&ceph.1, "admin", 10).unwrap();
    let meta = cluster.pool("bench-meta", true).unwrap();
    let data = cluster.pool("bench-data", true).unwrap();
    // The pools' placement groups peer after creation: one commit waits for that.
    commit_one(&meta, "warm", 0);
    data.write_full("warm", b"x").unwrap();

    println!("| what | writers | rate | latency p50 / p99 | tries per op |");
    println!("| --- | --- | --- | --- | --- |");
    run("commit, one shard", 1, secs, |_, n| commit_one(&meta, "one", n));
    run("commit, one shard", writers, secs, |_, n| {
        commit_one(&meta, "shared", n)
    });
    run("commit, a shard per writer", writers, secs, |w, n| {
        commit_one(&meta, &format!("own-{w}"), n)
    });
    let block = vec![7u8; 1 << 20];
    for w in [1, writers] {
        run("1 MiB block, write_full", w, secs, |_, n| {
            data.write_full(&format!("block-{n}"), &block).unwrap();
            1
        });
    }
}
