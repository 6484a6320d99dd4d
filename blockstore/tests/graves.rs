//! Graves: a delete leaves no record for listings and bucket deletes to read, carries
//! itself to other sites, and is purged only once every sink has carried it and the
//! retention has passed.

use std::sync::Arc;
use strata_blockstore::{
    Change, Error, ListEntry, ListQuery, ObjectHeaders, ObjectWriter, Precondition, PurgeRule, SiteId, Store,
    StoreConfig,
};

fn open(dir: &std::path::Path, site: u64) -> Arc<Store> {
    let mut cfg = StoreConfig::new(dir);
    cfg.site_id = Some(SiteId(site));
    Store::open(cfg).unwrap()
}

fn put(store: &Arc<Store>, bucket: &str, key: &str) {
    let mut w = ObjectWriter::new(store.clone());
    w.write(key.as_bytes()).unwrap();
    let data = w.finish().unwrap();
    store
        .put_object(bucket, key, ObjectHeaders::default(), data, &Precondition::None)
        .unwrap();
}

fn list(store: &Store, bucket: &str) -> Vec<String> {
    let q = ListQuery {
        prefix: "",
        delimiter: None,
        after: "",
        max: 1000,
    };
    store
        .list_objects(bucket, &q)
        .unwrap()
        .entries
        .into_iter()
        .map(|e| match e {
            ListEntry::Object(m) => m.key,
            ListEntry::Prefix(p) => p,
        })
        .collect()
}

/// Every change logged after `after`.
fn log_after(store: &Store, after: u64) -> Vec<Change> {
    store
        .changes_after(after, 10_000, u64::MAX)
        .unwrap()
        .into_iter()
        .map(|e| e.change)
        .collect()
}

fn rule(carried: u64, deleted_before_ms: u64, sinks: &[&str]) -> PurgeRule {
    PurgeRule {
        carried,
        deleted_before_ms,
        sinks: sinks.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn deletes_leave_graves_that_listings_and_bucket_deletes_never_read() {
    let d = tempfile::tempdir().unwrap();
    let s = open(d.path(), 1);
    s.create_bucket("b", "alice").unwrap();
    for i in 0..50 {
        put(&s, "b", &format!("k{i:02}"));
    }
    for i in 0..48 {
        s.delete_object("b", &format!("k{i:02}")).unwrap();
    }
    assert_eq!(list(&s, "b"), vec!["k48", "k49"]);
    assert_eq!(s.grave_count().unwrap(), 48);
    assert!(matches!(s.delete_bucket("b"), Err(Error::BucketNotEmpty)));
    s.delete_objects("b", &["k48".into(), "k49".into(), "never-there".into()])
        .unwrap();
    assert_eq!(s.grave_count().unwrap(), 50, "a key never there leaves no grave");
    s.delete_bucket("b").unwrap();
    assert_eq!(
        s.grave_count().unwrap(),
        51,
        "the bucket's grave, and its objects' stay"
    );

    // A key written again is live again: its grave goes.
    s.create_bucket("b", "alice").unwrap();
    put(&s, "b", "k00");
    assert_eq!(list(&s, "b"), vec!["k00"]);
    assert_eq!(s.grave_count().unwrap(), 49, "the bucket's and k00's graves went");
}

#[test]
fn a_grave_is_purged_once_every_sink_carried_it_and_the_retention_passed() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open(da.path(), 1), open(db.path(), 2));
    a.create_bucket("b", "alice").unwrap();
    put(&a, "b", "gone");
    put(&a, "b", "dirty");
    put(&a, "b", "stays");
    b.apply_changes(&log_after(&a, 0)).unwrap();
    let before_deletes = a.last_seq();
    a.delete_object("b", "gone").unwrap();
    a.delete_object("b", "dirty").unwrap();
    let deleted = a.last_seq();
    let later = strata_blockstore::now_millis() + 1;
    assert_eq!(a.grave_count().unwrap(), 2);

    // The sink has not carried the deletes: nothing goes, whatever the retention.
    let r = a.purge_graves(&rule(before_deletes, later, &["b"])).unwrap();
    assert_eq!((r.purged, r.graves), (0, 2));
    // Carried, but the retention has not passed (the deletes are newer than the cut).
    let r = a.purge_graves(&rule(deleted, 1, &["b"])).unwrap();
    assert_eq!((r.purged, r.graves), (0, 2));
    // Carried and old enough, but one key is dirty for the sink (skipped, to be sent
    // again): that grave stays, the other goes.
    a.add_dirty("b", &["object/b/dirty".into()]).unwrap();
    let r = a.purge_graves(&rule(deleted, later, &["b"])).unwrap();
    assert_eq!((r.purged, r.graves), (1, 1));
    a.clear_dirty("b").unwrap();
    let r = a.purge_graves(&rule(deleted, later, &["b"])).unwrap();
    assert_eq!((r.purged, r.graves), (1, 0));

    // The sink got the deletes and purges them under the same rule (it has no sink).
    b.apply_changes(&log_after(&a, before_deletes)).unwrap();
    assert_eq!(b.grave_count().unwrap(), 2);
    let r = b.purge_graves(&rule(u64::MAX, later, &[])).unwrap();
    assert_eq!((r.purged, r.graves), (2, 0));
    // Both trees hold the same records again, graves gone from each.
    assert_eq!(a.sync_groups().unwrap(), b.sync_groups().unwrap());
    assert_eq!(list(&b, "b"), vec!["stays"]);
}

#[test]
fn a_delete_for_a_bucket_the_site_lacks_keeps_its_grave() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open(da.path(), 1), open(db.path(), 2));
    a.create_bucket("b", "alice").unwrap();
    put(&a, "b", "k");
    let made = a.last_seq();
    a.delete_object("b", "k").unwrap();
    // Only the delete reaches b, which never had the bucket: it is kept (it must beat
    // the older write if that comes later), not skipped as a dirty key.
    let applied = b.apply_changes(&log_after(&a, made)).unwrap();
    assert_eq!((applied.applied, applied.skipped), (1, 0));
    assert_eq!(b.grave_count().unwrap(), 1);
    b.create_bucket("b", "alice").unwrap();
    let late_write = log_after(&a, 0).into_iter().find(|c| c.key() == "object/b/k").unwrap();
    assert_eq!(b.apply_changes(&[late_write]).unwrap().stale, 1);
    assert!(list(&b, "b").is_empty());
}
