//! What deletes cost the reads that come after them: a bucket of 1,000 live keys that
//! also saw 100,000 keys written and deleted, against one that never deleted. Prints
//! ListObjects (first page of 1,000) and DeleteBucket (of the bucket once emptied)
//! times for both, and how long purging the graves takes.
//!
//! `cargo bench -p strata-blockstore --bench graves [-- DELETED]` (docs/performance.md).

use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_blockstore::{ListQuery, ObjectHeaders, ObjectWriter, Precondition, PurgeRule, Store, StoreConfig};

const LIVE: usize = 1000;

fn put(s: &Arc<Store>, bucket: &str, key: &str) {
    let mut w = ObjectWriter::new(s.clone());
    w.write(b"x").unwrap();
    let data = w.finish().unwrap();
    s.put_object(bucket, key, ObjectHeaders::default(), data, &Precondition::None)
        .unwrap();
}

/// Median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    t.sort();
    t[runs / 2]
}

/// A store whose bucket `b` holds LIVE keys after `deleted` others were written and
/// deleted between them (keys interleave, so a listing would have to step over them).
fn store(dir: &std::path::Path, deleted: usize) -> Arc<Store> {
    let s = Store::open(StoreConfig::new(dir)).unwrap();
    s.create_bucket("b", "bench").unwrap();
    let every = (deleted / LIVE).max(1);
    let mut doomed = Vec::with_capacity(1000);
    for i in 0..deleted + LIVE {
        let key = format!("k{i:08}");
        put(&s, "b", &key);
        if i % (every + 1) == every || deleted == 0 {
            continue;
        }
        doomed.push(key);
        if doomed.len() == 1000 {
            s.delete_objects("b", &doomed).unwrap();
            doomed.clear();
        }
    }
    s.delete_objects("b", &doomed).unwrap();
    s
}

fn main() {
    let deleted: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    println!("| bucket | live keys | graves | ListObjects, 1,000 keys | DeleteBucket, emptied |");
    println!("| --- | --- | --- | --- | --- |");
    for n in [0, deleted] {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), n);
        let q = ListQuery {
            prefix: "",
            delimiter: None,
            after: "",
            max: 1000,
        };
        let live = s.list_objects("b", &q).unwrap().entries.len();
        let list = median(21, || {
            s.list_objects("b", &q).unwrap();
        });
        let graves = s.grave_count().unwrap();
        // Empty it (leaving LIVE more graves), then time the bucket delete itself.
        let keys: Vec<String> = (0..n + LIVE).map(|i| format!("k{i:08}")).collect();
        for chunk in keys.chunks(1000) {
            s.delete_objects("b", chunk).unwrap();
        }
        let start = Instant::now();
        s.delete_bucket("b").unwrap();
        let delete = start.elapsed();
        let label = if n == 0 { "never deleted" } else { "after deletes" };
        println!(
            "| {label} | {live} | {graves} | {:.2} ms | {:.2} ms |",
            list.as_secs_f64() * 1e3,
            delete.as_secs_f64() * 1e3
        );
        if n > 0 {
            let graves = s.grave_count().unwrap();
            let start = Instant::now();
            let r = s
                .purge_graves(&PurgeRule {
                    carried: u64::MAX,
                    deleted_before_ms: u64::MAX,
                    sinks: Vec::new(),
                })
                .unwrap();
            println!(
                "\nPurging {graves} graves: {} purged in {:.2} s, {} left.",
                r.purged,
                start.elapsed().as_secs_f64(),
                r.graves
            );
        }
    }
}
