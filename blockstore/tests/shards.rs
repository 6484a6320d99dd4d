//! Index shards (blockstore/src/meta/shards.rs): commits to one bucket's keys run in
//! several shards at once, and the site's change log still holds every change exactly
//! once, dense and in each key's order; a bucket delete racing writes never leaves an
//! object behind in the deleted bucket, and the log it writes rebuilds the same site.
//!
//! On the embedded engine always; on RADOS too when `STRATA_TEST_CEPH_CONF` names a
//! running cluster (`.ci/run` runs this file again against its test cluster), each
//! store in a namespace of its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use strata_blockstore::{
    Change, Error, ListEntry, ListQuery, ObjectHeaders, ObjectWriter, Precondition, RadosConfig, SiteId, Store,
    StoreConfig,
};

fn open(dir: &std::path::Path, site: u64) -> Arc<Store> {
    open_on(dir, site, true)
}

/// A store on the embedded engine, or with `rados` on the cluster the environment
/// names (if any). One store per process is over RADOS: librados does not shut two
/// cluster handles of one process down cleanly at exit.
fn open_on(dir: &std::path::Path, site: u64, rados: bool) -> Arc<Store> {
    let mut cfg = StoreConfig::new(dir);
    cfg.site_id = Some(SiteId(site));
    cfg.index_shards = 4;
    if let (true, Ok(conf)) = (rados, std::env::var("STRATA_TEST_CEPH_CONF")) {
        cfg.rados = Some(RadosConfig {
            ceph_conf: conf.into(),
            ceph_user: "admin".into(),
            data_pool: "strata-data".into(),
            meta_pool: "strata-meta".into(),
            namespace: Some(format!("shards-{}", uuid_like())),
        });
    }
    Store::open(cfg).unwrap()
}

/// A name no other run of this test uses.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

fn put(store: &Arc<Store>, bucket: &str, key: &str, body: &str) -> Result<(), Error> {
    let mut w = ObjectWriter::new(store.clone());
    w.write(body.as_bytes())?;
    let data = w.finish()?;
    store
        .put_object(bucket, key, ObjectHeaders::default(), data, &Precondition::None)
        .map(drop)
}

fn list(store: &Store, bucket: &str) -> Result<Vec<String>, Error> {
    let q = ListQuery {
        prefix: "",
        delimiter: None,
        after: "",
        max: 10_000,
    };
    Ok(store
        .list_objects(bucket, &q)?
        .entries
        .into_iter()
        .map(|e| match e {
            ListEntry::Object(m) => m.key,
            ListEntry::Prefix(p) => p,
        })
        .collect())
}

fn read(store: &Store, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let m = store.object(bucket, key).ok()?;
    Some(match &m.inline {
        Some(b) => b.to_vec(),
        None => m
            .blocks
            .iter()
            .flat_map(|b| store.read_block(&b.hash).unwrap())
            .collect(),
    })
}

#[test]
fn writers_on_many_shards_log_every_change_once_dense_and_in_each_keys_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1);
    store.create_bucket("b", "alice").unwrap();
    let writes = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (store, writes) = (store.clone(), writes.clone());
            std::thread::spawn(move || {
                for i in 0..40 {
                    let key = format!("k{}", (w * 7 + i) % 24);
                    if i % 5 == 4 {
                        store.delete_object("b", &key).unwrap();
                    } else {
                        put(&store, "b", &key, &format!("{w}-{i}")).unwrap();
                    }
                    writes.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let log = store.changes_after(0, 100_000, u64::MAX).unwrap();
    let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=log.len() as u64).collect::<Vec<_>>(),
        "the site's log is dense"
    );
    // The bucket, then at most one entry per write (a delete of a missing key logs none).
    assert!(
        log.len() <= 1 + writes.load(Ordering::SeqCst) && log.len() > 200,
        "{}",
        log.len()
    );
    let mut last: HashMap<String, Change> = HashMap::new();
    for e in &log {
        if let Some(before) = last.get(&e.change.key()) {
            assert!(before.version() < e.change.version(), "one key's changes in order");
        }
        last.insert(e.change.key(), e.change.clone());
    }
    // Each key's last logged change is what the site holds.
    for k in 0..24 {
        let key = format!("k{k}");
        let logged = &last[&format!("object/b/{key}")];
        match (logged, store.object("b", &key)) {
            (Change::Object(m), Ok(now)) if m.is_live() => assert_eq!(m.version_id, now.version_id),
            (Change::Object(m), Err(Error::NoSuchKey)) if !m.is_live() => {}
            (logged, now) => panic!("{key}: logged {logged:?}, holds {now:?}"),
        }
    }
    // Replaying the log elsewhere builds the same site, hash tree and all.
    let other_dir = tempfile::tempdir().unwrap();
    let other = open_on(other_dir.path(), 2, false);
    let changes: Vec<Change> = log.into_iter().map(|e| e.change).collect();
    other.apply_changes(&changes).unwrap();
    assert_eq!(other.sync_groups().unwrap(), store.sync_groups().unwrap());
    assert_eq!(list(&other, "b").unwrap(), list(&store, "b").unwrap());
}

#[test]
fn a_bucket_delete_racing_writes_leaves_nothing_behind_in_the_deleted_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1);
    let mut outcomes: HashMap<&'static str, usize> = HashMap::new();
    for round in 0..6 {
        store.create_bucket("race", "alice").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let (store, stop) = (store.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    for i in 0..300 {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        // Written and deleted again: the bucket is often empty, so a
                        // delete can win while the writers go on.
                        let key = format!("w{w}-{i}");
                        let r = put(&store, "race", &key, "x");
                        seen.push(match r {
                            Ok(()) => "written",
                            Err(Error::NoSuchBucket) => "no such bucket",
                            Err(Error::OperationAborted) => "operation aborted",
                            Err(e) => panic!("a write racing a bucket delete: {e}"),
                        });
                        if r.is_err() {
                            break;
                        }
                        match store.delete_object("race", &key) {
                            Ok(_) | Err(Error::NoSuchBucket) => {}
                            Err(e) => panic!("a delete racing a bucket delete: {e}"),
                        }
                    }
                    seen
                })
            })
            .collect();
        // Empty it and delete it while the writers go on (refused while objects
        // come), a number of times; then stop them and finish the delete.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let empty_and_delete = || {
            for k in list(&store, "race").unwrap_or_default() {
                store.delete_object("race", &k).ok();
            }
            store.delete_bucket("race")
        };
        let mut deleted_racing = false;
        for _ in 0..30 {
            match empty_and_delete() {
                Ok(()) => {
                    deleted_racing = true;
                    break;
                }
                Err(Error::BucketNotEmpty | Error::OperationAborted) => {}
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        stop.store(true, Ordering::SeqCst);
        for w in writers {
            for o in w.join().unwrap() {
                *outcomes.entry(o).or_default() += 1;
            }
        }
        if deleted_racing {
            *outcomes.entry("deleted while written").or_default() += 1;
        } else {
            empty_and_delete().unwrap();
        }
        assert!(matches!(list(&store, "race"), Err(Error::NoSuchBucket)));
        // A write after the delete finds no bucket; the bucket made again is empty:
        // no object a racing write put in the deleted bucket's shards is left there.
        assert!(matches!(put(&store, "race", "late", "x"), Err(Error::NoSuchBucket)));
        store.create_bucket("race", "alice").unwrap();
        assert_eq!(list(&store, "race").unwrap(), Vec::<String>::new(), "round {round}");
        put(&store, "race", "again", "y").unwrap();
        assert_eq!(read(&store, "race", "again").unwrap(), b"y");
        store.delete_object("race", "again").unwrap();
        store.delete_bucket("race").unwrap();
    }
    // Writes went in, and some found the bucket closing or gone: the race was run.
    assert!(outcomes.get("written").copied().unwrap_or(0) > 0, "{outcomes:?}");
    assert!(
        outcomes.get("deleted while written").copied().unwrap_or(0) > 0,
        "{outcomes:?}"
    );
    eprintln!("{outcomes:?}");
    // The site's log replayed elsewhere holds what this site holds: every object
    // delete came before the bucket's.
    let log: Vec<Change> = store
        .changes_after(0, 1_000_000, u64::MAX)
        .unwrap()
        .into_iter()
        .map(|e| e.change)
        .collect();
    let other_dir = tempfile::tempdir().unwrap();
    let other = open_on(other_dir.path(), 2, false);
    other.apply_changes(&log).unwrap();
    assert_eq!(other.sync_groups().unwrap(), store.sync_groups().unwrap());
    assert!(other.bucket("race").unwrap().is_none());
}
