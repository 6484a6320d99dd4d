//! Timestamps follow commit order: a key's live record carries the greatest timestamp
//! of the writes committed to it, however many writers race on it, so a sink that
//! applies the change log by last-writer-wins ends with the source's live records.

use std::collections::BTreeMap;
use std::sync::Arc;
use strata_blockstore::{Change, Hlc, ObjectHeaders, ObjectWriter, Precondition, SiteId, Store, StoreConfig};

fn open(dir: &std::path::Path, site: u64) -> Arc<Store> {
    let mut cfg = StoreConfig::new(dir);
    cfg.site_id = Some(SiteId(site));
    Store::open(cfg).unwrap()
}

fn put(store: &Arc<Store>, key: &str, body: &[u8]) {
    let mut w = ObjectWriter::new(store.clone());
    w.write(body).unwrap();
    let data = w.finish().unwrap();
    store
        .put_object("b", key, ObjectHeaders::default(), data, &Precondition::None)
        .unwrap();
}

/// What each key holds now: (live, ETag, timestamp).
fn live(store: &Store, keys: usize) -> BTreeMap<String, Option<(String, Hlc)>> {
    (0..keys)
        .map(|k| {
            let key = format!("k{k}");
            let m = store.object("b", &key).ok().map(|m| (m.etag, m.hlc));
            (key, m)
        })
        .collect()
}

#[test]
fn racing_writers_leave_each_key_with_its_newest_stamp_and_a_sink_equal() {
    const WRITERS: usize = 8;
    const ROUNDS: usize = 300;
    const KEYS: usize = 100;
    let (dir, sink_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = open(dir.path(), 1);
    source.create_bucket("b", "alice").unwrap();
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let s = source.clone();
            std::thread::spawn(move || {
                for r in 0..ROUNDS {
                    let key = format!("k{}", r % KEYS);
                    if r % 7 == 3 {
                        s.delete_object("b", &key).unwrap();
                    } else {
                        put(&s, &key, format!("{w}/{r}").as_bytes());
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    // In log (commit) order, every key's timestamps only grow.
    let log = source.changes_after(0, usize::MAX, u64::MAX).unwrap();
    let mut newest: BTreeMap<String, Hlc> = BTreeMap::new();
    let mut out_of_order = 0;
    for e in &log {
        if let Change::Object(m) = &e.change {
            let before = newest.insert(m.key.clone(), m.hlc);
            if before.is_some_and(|b| b >= m.hlc) {
                out_of_order += 1;
            }
        }
    }
    assert_eq!(out_of_order, 0, "commits stamped older than the record they replaced");

    // A sink applying the log in order, as realtime does, ends with the same live keys.
    let sink = open(sink_dir.path(), 2);
    for chunk in log.chunks(512) {
        let changes: Vec<Change> = chunk.iter().map(|e| e.change.clone()).collect();
        sink.apply_changes(&changes).unwrap();
    }
    assert_eq!(live(&source, KEYS), live(&sink, KEYS));
}
