//! Engine invariants seen through the public API: the change log, reopen, GC and pins.

use std::time::Duration;
use strata_blockstore::{Change, Error, ObjectHeaders, ObjectState, ObjectWriter, Precondition, Store, StoreConfig};

fn open(dir: &std::path::Path) -> std::sync::Arc<Store> {
    let mut cfg = StoreConfig::new(dir);
    cfg.block_size = 4096;
    cfg.gc_grace = Duration::ZERO;
    Store::open(cfg).unwrap()
}

fn write(store: &std::sync::Arc<Store>, bytes: &[u8]) -> strata_blockstore::WrittenData {
    let mut w = ObjectWriter::new(store.clone());
    // Uneven pieces, as network frames arrive.
    for piece in bytes.chunks(1000) {
        w.write(piece).unwrap();
    }
    w.finish().unwrap()
}

fn block_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum()
}

#[test]
fn every_change_is_logged_in_commit_order_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .create_user("alice", Some("AKALICE"), Some("alice-secret"))
        .unwrap();
    store.create_bucket("photos", "alice").unwrap();
    let a = store
        .put_object(
            "photos",
            "k",
            ObjectHeaders::default(),
            write(&store, b"one"),
            &Precondition::None,
        )
        .unwrap();
    let b = store
        .put_object(
            "photos",
            "k",
            ObjectHeaders::default(),
            write(&store, b"two"),
            &Precondition::None,
        )
        .unwrap();
    store.delete_object("photos", "k").unwrap();
    // Deleting what is already gone changes nothing, so logs nothing.
    store.delete_object("photos", "k").unwrap();

    let log = store.changes_after(0, 100, u64::MAX).unwrap();
    let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert!(log.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(log[4].position, store.log_bytes());
    assert!(matches!(&log[0].change, Change::User(u) if u.name == "alice"));
    assert!(matches!(&log[1].change, Change::Bucket(b) if b.name == "photos" && b.owner == "alice"));
    assert!(matches!(&log[2].change, Change::Object(m) if m.version_id == a.version_id));
    assert!(matches!(&log[3].change, Change::Object(m) if m.version_id == b.version_id));
    let Change::Object(tomb) = &log[4].change else {
        panic!("expected a tombstone")
    };
    assert_eq!((tomb.state, tomb.key.as_str()), (ObjectState::Deleted, "k"));
    // Timestamps only move forward, and every record names this site.
    assert!(a.hlc < b.hlc && b.hlc < tomb.hlc);
    assert!(tomb.site == store.site_id() && a.site == store.site_id());
    assert_eq!(store.changes_after(3, 1, u64::MAX).unwrap()[0].seq, 4);
    // A byte budget smaller than one entry still returns that entry: progress is certain.
    assert_eq!(store.changes_after(1, 100, 1).unwrap().len(), 1);

    let site = store.site_id();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.site_id(), site, "site id must persist");
    assert_eq!(store.last_seq(), 5);
    store.create_bucket("more", "alice").unwrap();
    assert_eq!(store.changes_after(5, 10, u64::MAX).unwrap()[0].seq, 6);
    let Change::Bucket(more) = &store.changes_after(5, 10, u64::MAX).unwrap()[0].change else {
        panic!()
    };
    assert!(more.hlc > tomb.hlc, "the clock must not step back across a restart");
}

#[test]
fn pinned_blocks_survive_gc_and_abandoned_ones_are_collected() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("bkt", "u").unwrap();
    let bytes: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();

    // Written, not committed: a concurrent GC must leave the blocks alone.
    let pending = write(&store, &bytes);
    assert_eq!(pending.blocks.len(), 5);
    let written = block_files(dir.path());
    assert_eq!(written, 5);
    store.collect_garbage().unwrap();
    assert_eq!(block_files(dir.path()), written);

    // Abandoned (e.g. a bad checksum): queued and collected.
    drop(pending);
    let stats = store.collect_garbage().unwrap();
    assert_eq!(stats.removed, 5);
    assert_eq!(block_files(dir.path()), 0);

    // Two objects sharing blocks: deleting one keeps them for the other.
    store
        .put_object(
            "bkt",
            "a",
            ObjectHeaders::default(),
            write(&store, &bytes),
            &Precondition::None,
        )
        .unwrap();
    store
        .put_object(
            "bkt",
            "b",
            ObjectHeaders::default(),
            write(&store, &bytes),
            &Precondition::None,
        )
        .unwrap();
    store.delete_object("bkt", "a").unwrap();
    store.collect_garbage().unwrap();
    let m = store.object("bkt", "b").unwrap();
    let mut back = Vec::new();
    for b in &m.blocks {
        back.extend(store.read_block(&b.hash).unwrap());
    }
    assert_eq!(back, bytes);
    store.delete_object("bkt", "b").unwrap();
    assert_eq!(store.collect_garbage().unwrap().removed, 5);
}

#[test]
fn leftovers_of_a_crash_are_cleaned_up_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    // What a crash between block write and commit leaves: a complete block file nothing
    // references, and a half-written temporary file.
    let block = [7u8; 4096];
    let hex: String = sha256_hex(&block);
    std::fs::write(dir.path().join("blocks").join(&hex[..2]).join(&hex), block).unwrap();
    std::fs::write(dir.path().join("tmp").join("partial"), b"half").unwrap();

    let store = open(dir.path());
    assert!(!dir.path().join("tmp").join("partial").exists());
    assert_eq!(block_files(dir.path()), 1);
    assert_eq!(store.collect_garbage().unwrap().removed, 1);
    assert_eq!(block_files(dir.path()), 0);
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(b))
}

#[test]
fn small_objects_live_in_their_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("bkt", "u").unwrap();
    let small = vec![5u8; 3000];
    let m = store
        .put_object(
            "bkt",
            "small",
            ObjectHeaders::default(),
            write(&store, &small),
            &Precondition::None,
        )
        .unwrap();
    assert_eq!((m.inline.as_deref(), m.blocks.len()), (Some(&small[..]), 0));
    assert_eq!(block_files(dir.path()), 0, "a small PUT creates no block file");
    assert_eq!(
        store.object("bkt", "small").unwrap().inline.as_deref(),
        Some(&small[..])
    );

    // A copy carries the bytes; overwriting with a large object and back works both ways.
    let src = store.object("bkt", "small").unwrap();
    let copy = store
        .copy_object(&src, "bkt", "copy", None, &Precondition::None)
        .unwrap();
    assert_eq!(copy.inline.as_deref(), Some(&small[..]));
    let big: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    store
        .put_object(
            "bkt",
            "small",
            ObjectHeaders::default(),
            write(&store, &big),
            &Precondition::None,
        )
        .unwrap();
    assert_eq!(block_files(dir.path()), 5);
    store
        .put_object(
            "bkt",
            "small",
            ObjectHeaders::default(),
            write(&store, &small),
            &Precondition::None,
        )
        .unwrap();
    assert_eq!(store.collect_garbage().unwrap().removed, 5);
    assert_eq!(store.object("bkt", "copy").unwrap().inline.as_deref(), Some(&small[..]));

    // Parts never go inline: completing an upload concatenates block lists.
    let up = store.create_upload("bkt", "mp", "u", ObjectHeaders::default()).unwrap();
    let mut w = ObjectWriter::for_part(store.clone());
    w.write(&small).unwrap();
    let part = store.put_part("bkt", "mp", &up.id, 1, w.finish().unwrap()).unwrap();
    assert_eq!(part.blocks.len(), 1);
    let inline_part = store.put_part("bkt", "mp", &up.id, 2, write(&store, &small));
    assert!(inline_part.is_err(), "an inline write is refused as a part");
    let done = store
        .complete_upload("bkt", "mp", &up.id, &[(1, part.etag.clone())], &Precondition::None)
        .unwrap();
    assert!(done.inline.is_none() && done.blocks.len() == 1);
    let back = store.read_block(&done.blocks[0].hash).unwrap();
    assert_eq!(back, small);
}

fn put(store: &std::sync::Arc<Store>, bucket: &str, key: &str, bytes: &[u8]) -> strata_blockstore::Manifest {
    store
        .put_object(
            bucket,
            key,
            ObjectHeaders::default(),
            write(store, bytes),
            &Precondition::None,
        )
        .unwrap()
}

/// Everything `store` logged, as another site would receive it.
fn log_of(store: &Store) -> Vec<Change> {
    store
        .changes_after(0, usize::MAX, u64::MAX)
        .unwrap()
        .into_iter()
        .map(|e| e.change)
        .collect()
}

#[test]
fn remote_changes_apply_once_and_last_writer_wins() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open(da.path()), open(db.path()));
    a.create_user("alice", Some("AKALICE"), Some("alice-secret")).unwrap();
    a.create_bucket("photos", "alice").unwrap();
    put(&a, "photos", "k", b"from a, first");
    put(&a, "photos", "gone", b"deleted later");
    a.delete_object("photos", "gone").unwrap();
    let changes = log_of(&a);

    let first = b.apply_changes(&changes).unwrap();
    assert_eq!((first.applied, first.stale, first.skipped), (5, 0, 0));
    // Applying the same stream again (a resend after a lost ack) changes nothing.
    let again = b.apply_changes(&changes).unwrap();
    assert_eq!((again.applied, again.stale), (0, 5));
    assert_eq!(
        b.user_by_access_key("AKALICE").unwrap().unwrap().secret_key,
        "alice-secret"
    );
    let m = b.object("photos", "k").unwrap();
    assert_eq!(
        (m.inline.as_deref(), m.site),
        (Some(&b"from a, first"[..]), a.site_id())
    );
    assert!(matches!(
        b.object("photos", "gone"),
        Err(strata_blockstore::Error::NoSuchKey)
    ));
    // What b applied is in b's own log, stamped with a's site: it can travel on, and a
    // sender to a can recognise it as a's own.
    assert!(log_of(&b).iter().all(|c| c.origin() == a.site_id()));

    // b writes the key after a did: b's version is newer and survives a's older one.
    let newer = put(&b, "photos", "k", b"from b, later");
    assert_eq!(b.apply_changes(&changes[2..3]).unwrap().stale, 1);
    assert_eq!(b.object("photos", "k").unwrap().version_id, newer.version_id);
    // ...and wins on a too, so both sites agree.
    let from_b: Vec<Change> = log_of(&b).into_iter().filter(|c| c.origin() == b.site_id()).collect();
    assert_eq!(a.apply_changes(&from_b).unwrap().applied, 1);
    assert_eq!(
        a.object("photos", "k").unwrap().inline.as_deref(),
        Some(&b"from b, later"[..])
    );

    // An object for a bucket the site does not have is skipped, not an error.
    let mut orphan = newer.clone();
    orphan.bucket = "nowhere".into();
    orphan.hlc = strata_blockstore::Hlc(orphan.hlc.0 + 1);
    let skipped = b.apply_changes(&[Change::Object(Box::new(orphan))]).unwrap();
    assert_eq!(
        (skipped.skipped, skipped.skipped_keys),
        (1, vec!["object/nowhere/k".to_owned()])
    );
}

#[test]
fn a_remote_bucket_delete_loses_to_newer_local_objects() {
    let (da, db, dc) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (a, b, c) = (open(da.path()), open(db.path()), open(dc.path()));
    a.create_bucket("shared", "alice").unwrap();
    put(&a, "shared", "x", &[1u8; 10_000]);
    a.delete_object("shared", "x").unwrap();
    a.delete_bucket("shared").unwrap();
    let log = log_of(&a);
    let (create, put_x, delete) = (&log[0], &log[1], &log[3]);
    assert!(matches!(delete, Change::BucketDeleted { .. }));

    // b wrote into the bucket after a deleted it: the delete must not take that away.
    b.apply_changes(std::slice::from_ref(create)).unwrap();
    // Later by the clock: in the same millisecond, b (which has not seen the delete)
    // would write concurrently with it, and the delete's counter could win.
    std::thread::sleep(Duration::from_millis(2));
    put(&b, "shared", "kept", b"written after the delete");
    assert_eq!(b.apply_changes(std::slice::from_ref(delete)).unwrap().stale, 1);
    assert!(b.object("shared", "kept").is_ok());

    // c holds only objects older than the delete (it missed x's tombstone): the delete
    // applies and takes them with the bucket.
    c.apply_changes(&[create.clone(), put_x.clone()]).unwrap();
    assert!(c.object("shared", "x").is_ok());
    assert_eq!(c.apply_changes(std::slice::from_ref(delete)).unwrap().applied, 1);
    assert!(c.bucket("shared").unwrap().is_none());
}

/// Live objects in a bucket.
fn count_objects(store: &Store, bucket: &str) -> usize {
    let q = strata_blockstore::ListQuery {
        max: 100_000,
        ..Default::default()
    };
    store.list_objects(bucket, &q).unwrap().entries.len()
}

#[test]
fn a_remote_bucket_delete_empties_a_large_bucket_in_batches_or_not_at_all() {
    let (da, dc, dd) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (a, c, d) = (open(da.path()), open(dc.path()), open(dd.path()));
    a.create_bucket("big", "alice").unwrap();
    let template = put(&a, "big", "template", &[7u8; 10_000]);
    a.delete_object("big", "template").unwrap();
    a.delete_bucket("big").unwrap();
    let log = log_of(&a);
    let (create, delete) = (&log[0], &log[3]);
    // Several batches' worth of objects older than the delete, as if c and d had them
    // from a before a emptied the bucket (they missed the tombstones).
    let older: Vec<Change> = (0..2500)
        .map(|i| {
            let mut m = template.clone();
            m.key = format!("k{i:05}");
            Change::Object(Box::new(m))
        })
        .collect();
    for site in [&c, &d] {
        site.apply_changes(std::slice::from_ref(create)).unwrap();
        assert_eq!(site.apply_changes(&older).unwrap().applied, 2500);
    }

    // c also has an upload in progress: it goes with the bucket, as do the objects.
    let upload = c
        .create_upload("big", "part", "alice", ObjectHeaders::default())
        .unwrap();
    let mut w = ObjectWriter::for_part(c.clone());
    w.write(&[1u8; 5000]).unwrap();
    c.put_part("big", "part", &upload.id, 1, w.finish().unwrap()).unwrap();
    assert_eq!(c.apply_changes(std::slice::from_ref(delete)).unwrap().applied, 1);
    assert!(c.bucket("big").unwrap().is_none());
    assert!(matches!(
        c.object("big", "k00000"),
        Err(strata_blockstore::Error::NoSuchBucket)
    ));
    c.create_bucket("big", "bob").unwrap();
    assert_eq!(count_objects(&c, "big"), 0, "nothing of the old bucket shows through");

    // d has one object written after the delete, sorting after every older one (so in
    // the last batch): the delete loses and removes nothing.
    put(&d, "big", "zzz-newer", b"written after the delete");
    assert_eq!(d.apply_changes(std::slice::from_ref(delete)).unwrap().stale, 1);
    assert_eq!(count_objects(&d, "big"), 2501);
}

#[test]
fn the_log_trims_and_keeps_its_byte_positions_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("b", "alice").unwrap();
    for i in 0..10 {
        put(&store, "b", &format!("k{i}"), b"x");
    }
    // A change from a site whose clock runs an hour ahead.
    let mut ahead = store.object("b", "k9").unwrap();
    ahead.key = "from-the-future".into();
    ahead.hlc = strata_blockstore::Hlc(ahead.hlc.0 + (3_600_000 << 16));
    ahead.site = strata_blockstore::SiteId(7);
    let future = ahead.hlc;
    store.apply_changes(&[Change::Object(Box::new(ahead))]).unwrap();
    let bytes = store.log_bytes();
    assert_eq!(store.trim_changes(6).unwrap(), 6);
    assert_eq!(store.first_change().unwrap().unwrap().seq, 7);
    assert_eq!(store.log_position(12).unwrap(), Some(bytes));
    assert_eq!(store.trim_changes(12).unwrap(), 6);
    drop(store);
    // An empty log still knows where it stands: new entries continue the numbering.
    let store = open(dir.path());
    assert_eq!((store.last_seq(), store.log_bytes()), (12, bytes));
    put(&store, "b", "k", b"y");
    // With the whole log trimmed, the clock still resumes past every logged timestamp,
    // so this write wins over the one from the site that runs ahead.
    assert!(store.object("b", "k").unwrap().hlc > future);
    let e = store.changes_after(0, 10, u64::MAX).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].seq, 13);
    assert!(e[0].position > bytes);
}

#[test]
fn dirty_sets_count_each_key_once_per_sink_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let keys: Vec<String> = ["object/b/1", "object/b/2", "object/b/1"].map(String::from).to_vec();
    assert_eq!(store.add_dirty("site-b", &keys).unwrap(), 2);
    assert_eq!(store.add_dirty("site-b", &keys[..1]).unwrap(), 2);
    assert_eq!(store.add_dirty("site-c", &keys[1..2]).unwrap(), 1);
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.dirty_count("site-b").unwrap(), 2);
    assert_eq!(store.dirty_keys("site-b", 10).unwrap(), ["object/b/1", "object/b/2"]);
    store.clear_dirty("site-b").unwrap();
    assert_eq!(store.dirty_count("site-b").unwrap(), 0);
    assert_eq!(store.dirty_count("site-c").unwrap(), 1);

    // A fullsync that started at `t` clears what was marked before it, not a key
    // marked again while it ran.
    store.add_dirty("site-b", &keys).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let t = strata_blockstore::now_millis();
    std::thread::sleep(Duration::from_millis(5));
    store.add_dirty("site-b", &keys[1..2]).unwrap();
    assert_eq!(store.clear_dirty_before("site-b", t).unwrap(), 1);
    assert_eq!(store.dirty_keys("site-b", 10).unwrap(), ["object/b/2"]);
    assert_eq!(store.dirty_count("site-c").unwrap(), 1, "other sinks untouched");
}

#[test]
fn received_blocks_are_checked_against_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = vec![7u8; 5000];
    let hash = strata_blockstore::BlockHash(sha2_of(&data));
    assert!(!store.has_block(&hash));
    assert!(store.store_block(&hash, &data[1..]).is_err());
    assert!(!store.has_block(&hash));
    store.store_block(&hash, &data).unwrap();
    assert!(store.has_block(&hash));
    assert_eq!(store.read_block(&hash).unwrap(), data);
}

fn sha2_of(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(sha256_hex(b), &mut out).unwrap();
    out
}

/// What fullsync would send `to` for `from`'s state: every entry whose version `to`
/// lacks or holds older, found by descending only where digests differ. Returns the
/// changes and how many partitions it had to look into.
fn differences(from: &Store, to: &Store) -> (Vec<Change>, usize) {
    let (mine, theirs) = (from.sync_groups().unwrap(), to.sync_groups().unwrap());
    let (mut changes, mut looked) = (Vec::new(), 0);
    for g in 0..strata_blockstore::GROUPS {
        if mine[g as usize] == theirs[g as usize] {
            continue;
        }
        let theirs: std::collections::BTreeMap<u16, _> = to.sync_partitions(g).unwrap().into_iter().collect();
        for (p, d) in from.sync_partitions(g).unwrap() {
            if theirs.get(&p) == Some(&d) {
                continue;
            }
            looked += 1;
            let known: std::collections::BTreeMap<String, _> = to
                .sync_entries(p)
                .unwrap()
                .into_iter()
                .map(|e| (e.key.clone(), e.version()))
                .collect();
            for e in from.sync_entries(p).unwrap() {
                if known.get(&e.key).is_none_or(|v| *v < e.version()) {
                    changes.extend(from.sync_change(&e).unwrap());
                }
            }
        }
    }
    (changes, looked)
}

#[test]
fn the_hash_tree_finds_exactly_what_differs_and_carries_deletes() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open(da.path()), open(db.path()));
    assert!(
        a.sync_groups().unwrap().iter().all(|g| *g == [0; 16]),
        "empty: all zero"
    );
    a.create_user("alice", Some("AKALICE"), Some("alice-secret")).unwrap();
    a.create_user("bob", Some("AKBOB"), Some("bob-secret-1")).unwrap();
    a.create_bucket("photos", "alice").unwrap();
    a.create_bucket("old", "bob").unwrap();
    for i in 0..200 {
        put(&a, "photos", &format!("k{i:03}"), format!("object {i}").as_bytes());
    }
    put(&a, "old", "x", b"in a bucket deleted later");
    // b starts as a copy of a.
    b.apply_changes(&log_of(&a)).unwrap();
    assert_eq!(
        a.sync_groups().unwrap(),
        b.sync_groups().unwrap(),
        "same records, same tree"
    );
    assert_eq!(differences(&a, &b).0, Vec::<Change>::new());

    // a changes while b does not hear: an overwrite, a delete, a new key, tags, a user
    // deleted, a bucket emptied and deleted.
    put(&a, "photos", "k007", b"overwritten");
    a.delete_object("photos", "k008").unwrap();
    put(&a, "photos", "new", b"new key");
    a.update_object("photos", "k009", None, None, |m| {
        m.headers.tags = vec![("t".into(), "v".into())]
    })
    .unwrap();
    a.delete_user("bob").unwrap();
    a.delete_object("old", "x").unwrap();
    a.delete_bucket("old").unwrap();
    // b writes a key of its own, later: it must survive.
    put(&b, "photos", "b-only", b"written on b");

    let (changes, looked) = differences(&a, &b);
    let mut keys: Vec<String> = changes.iter().map(|c| c.key()).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "bucket/old",
            // The delete of an object outlives its bucket's: a grave until the purge.
            "object/old/x",
            "object/photos/k007",
            "object/photos/k008",
            "object/photos/k009",
            "object/photos/new",
            "user/bob"
        ]
    );
    assert!(looked <= 7, "only the partitions holding a change are read ({looked})");
    b.apply_changes(&changes).unwrap();
    assert!(differences(&a, &b).0.is_empty());
    assert_eq!(
        b.object("photos", "k007").unwrap().inline.as_deref(),
        Some(&b"overwritten"[..])
    );
    assert!(matches!(
        b.object("photos", "k008"),
        Err(strata_blockstore::Error::NoSuchKey)
    ));
    assert!(b.bucket("old").unwrap().is_none());
    assert!(b.user_by_access_key("AKBOB").unwrap().is_none());
    assert!(
        b.object("photos", "b-only").is_ok(),
        "a key written only on the sink stays"
    );
    // The other way, b has only its own key to give.
    let (back, _) = differences(&b, &a);
    assert_eq!(
        back.iter().map(|c| c.key()).collect::<Vec<_>>(),
        vec!["object/photos/b-only"]
    );
    a.apply_changes(&back).unwrap();
    assert_eq!(a.sync_groups().unwrap(), b.sync_groups().unwrap(), "both ways: equal");

    // A grave outlives a late, older create of the same user.
    let old_bob = log_of(&a).into_iter().find(|c| c.key() == "user/bob").unwrap();
    assert!(matches!(old_bob, Change::User(_)));
    assert_eq!(b.apply_changes(&[old_bob]).unwrap().stale, 1);
    assert!(b.user_by_access_key("AKBOB").unwrap().is_none());
}

#[test]
fn a_store_reopened_keeps_its_tree() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let s = open(dir.path());
        s.create_bucket("b", "alice").unwrap();
        put(&s, "b", "k", b"bytes");
        s.sync_groups().unwrap()
    };
    assert_ne!(before, vec![[0u8; 16]; strata_blockstore::GROUPS as usize]);
    assert_eq!(open(dir.path()).sync_groups().unwrap(), before);
}

#[test]
fn a_failed_writes_new_blocks_are_removed_at_once_and_shared_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("bkt", "u").unwrap();
    let bytes: Vec<u8> = (0..20_000u32).map(|i| (i * 13 % 251) as u8).collect();
    // A write that never commits (a broken body, a full disk): its blocks go without
    // waiting for GC's grace period.
    drop(write(&store, &bytes));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while block_files(dir.path()) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(block_files(dir.path()), 0);
    // Blocks a failed write found already stored belong to someone else: they stay.
    put(&store, "bkt", "kept", &bytes);
    drop(write(&store, &bytes));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(block_files(dir.path()), 5);
    let m = store.object("bkt", "kept").unwrap();
    let back: Vec<u8> = m
        .blocks
        .iter()
        .flat_map(|b| store.read_block(&b.hash).unwrap())
        .collect();
    assert_eq!(back, bytes);
}

/// The sled engine, except that flushes fail while `broken` is set.
struct FlushFails {
    inner: Box<dyn strata_blockstore::Engine>,
    broken: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl strata_blockstore::Engine for FlushFails {
    fn transact(
        &self,
        f: &mut dyn FnMut(&dyn strata_blockstore::Txn) -> strata_blockstore::TxResult<()>,
    ) -> strata_blockstore::Result<()> {
        self.inner.transact(f)
    }
    fn get(&self, tree: strata_blockstore::Tree, key: &[u8]) -> strata_blockstore::Result<Option<Vec<u8>>> {
        self.inner.get(tree, key)
    }
    fn put(&self, tree: strata_blockstore::Tree, key: &[u8], value: &[u8]) -> strata_blockstore::Result<()> {
        self.inner.put(tree, key, value)
    }
    fn remove(&self, tree: strata_blockstore::Tree, key: &[u8]) -> strata_blockstore::Result<()> {
        self.inner.remove(tree, key)
    }
    fn range(
        &self,
        tree: strata_blockstore::Tree,
        from: std::ops::Bound<&[u8]>,
        to: std::ops::Bound<&[u8]>,
    ) -> strata_blockstore::Scan<'static> {
        self.inner.range(tree, from, to)
    }
    /// A shard's flushes fail with the root's.
    fn shard(&self, id: &strata_blockstore::ShardId) -> strata_blockstore::Result<Box<dyn strata_blockstore::Engine>> {
        Ok(Box::new(FlushFails {
            inner: self.inner.shard(id)?,
            broken: self.broken.clone(),
        }))
    }
    fn last(&self, tree: strata_blockstore::Tree) -> strata_blockstore::Result<Option<strata_blockstore::Entry>> {
        self.inner.last(tree)
    }
    fn flush(&self) -> strata_blockstore::Result<()> {
        if self.broken.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(strata_blockstore::Error::Io(std::io::Error::other(
                "injected: the flush failed",
            )));
        }
        self.inner.flush()
    }
}

#[test]
fn a_failed_metadata_flush_stops_the_store_and_is_never_replicated() {
    let dir = tempfile::tempdir().unwrap();
    let broken = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let engine = FlushFails {
        inner: Box::new(strata_blockstore::SledEngine::open(&dir.path().join("meta"), 1 << 20).unwrap()),
        broken: broken.clone(),
    };
    let mut cfg = StoreConfig::new(dir.path());
    cfg.block_size = 4096;
    cfg.reserve_bytes = 0;
    let store = Store::open_with_engine(cfg, Box::new(engine)).unwrap();
    store.create_bucket("bkt", "u").unwrap();
    put(&store, "bkt", "acked", b"durable");
    let durable = store.last_seq();
    assert_eq!(store.changes_after(0, 100, u64::MAX).unwrap().len() as u64, durable);

    broken.store(true, std::sync::atomic::Ordering::SeqCst);
    let data = write(&store, &[9u8; 10_000]);
    let failed = store.put_object("bkt", "unacked", ObjectHeaders::default(), data, &Precondition::None);
    assert!(matches!(failed, Err(strata_blockstore::Error::Failed(_))), "{failed:?}");
    assert!(store.failure().is_some());
    // Replication reads only what is durable: the change answered with an error is
    // never sent, though the engine applied it.
    let sent = store.changes_after(durable, 100, u64::MAX).unwrap();
    assert!(sent.is_empty(), "{sent:?}");
    // No more changes are taken, of any kind, even once flushes would work again.
    broken.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(matches!(
        store.delete_object("bkt", "acked"),
        Err(strata_blockstore::Error::Failed(_))
    ));
    assert!(matches!(
        store.create_bucket("other", "u"),
        Err(strata_blockstore::Error::Failed(_))
    ));
    assert!(store.changes_after(durable, 100, u64::MAX).unwrap().is_empty());
}

/// An upload id the store did not make (empty, or a prefix of real ones) names no
/// upload: it neither finds one nor touches the parts of those it prefixes.
#[test]
fn an_upload_id_that_is_not_one_finds_no_upload() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("bkt", "u").unwrap();
    let up = store.create_upload("bkt", "mp", "u", ObjectHeaders::default()).unwrap();
    let mut w = ObjectWriter::for_part(store.clone());
    w.write(&[5u8; 5000]).unwrap();
    let part = store.put_part("bkt", "mp", &up.id, 1, w.finish().unwrap()).unwrap();
    for bogus in ["", &up.id[..8], &up.id[..up.id.len() - 1]] {
        assert!(
            matches!(store.abort_upload("bkt", "mp", bogus), Err(Error::NoSuchUpload)),
            "abort {bogus:?}"
        );
        let done = store.complete_upload("bkt", "mp", bogus, &[(1, part.etag.clone())], &Precondition::None);
        assert!(matches!(done, Err(Error::NoSuchUpload)), "complete {bogus:?}");
        assert!(matches!(store.list_parts("bkt", "mp", bogus), Err(Error::NoSuchUpload)));
    }
    assert_eq!(
        store.list_parts("bkt", "mp", &up.id).unwrap().len(),
        1,
        "the real upload is intact"
    );
}

/// A tags or ACL change is made to the version whose permission was checked: if another
/// write replaced it meanwhile, nothing changes (Conflict) rather than the new one.
#[test]
fn an_update_checked_against_one_version_does_not_touch_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("bkt", "u").unwrap();
    let first = put(&store, "bkt", "k", b"first");
    let second = put(&store, "bkt", "k", b"second");
    let tag = |m: &mut strata_blockstore::Manifest| m.headers.tags = vec![("t".into(), "v".into())];
    let stale = store.update_object("bkt", "k", None, Some(first.created), tag);
    assert!(matches!(stale, Err(Error::Conflict)), "{stale:?}");
    assert!(store.object("bkt", "k").unwrap().headers.tags.is_empty());
    store
        .update_object("bkt", "k", None, Some(second.created), tag)
        .unwrap();
    assert_eq!(store.object("bkt", "k").unwrap().headers.tags.len(), 1);
}
