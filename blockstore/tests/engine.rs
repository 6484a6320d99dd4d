//! Engine invariants seen through the public API: the change log, reopen, GC and pins.

use std::time::Duration;
use strata_blockstore::{Change, ObjectHeaders, ObjectState, ObjectWriter, Precondition, Store, StoreConfig};

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

    let log = store.changes_after(0, 100).unwrap();
    let seqs: Vec<u64> = log.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert!(matches!(&log[0].1, Change::User(u) if u.name == "alice"));
    assert!(matches!(&log[1].1, Change::Bucket(b) if b.name == "photos" && b.owner == "alice"));
    assert!(matches!(&log[2].1, Change::Object(m) if m.version_id == a.version_id));
    assert!(matches!(&log[3].1, Change::Object(m) if m.version_id == b.version_id));
    let Change::Object(tomb) = &log[4].1 else {
        panic!("expected a tombstone")
    };
    assert_eq!((tomb.state, tomb.key.as_str()), (ObjectState::Deleted, "k"));
    // Timestamps only move forward, and every record names this site.
    assert!(a.hlc < b.hlc && b.hlc < tomb.hlc);
    assert!(tomb.site == store.site_id() && a.site == store.site_id());
    assert_eq!(store.changes_after(3, 1).unwrap()[0].0, 4);

    let site = store.site_id();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.site_id(), site, "site id must persist");
    assert_eq!(store.last_seq(), 5);
    store.create_bucket("more", "alice").unwrap();
    assert_eq!(store.changes_after(5, 10).unwrap()[0].0, 6);
    let Change::Bucket(more) = &store.changes_after(5, 10).unwrap()[0].1 else {
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
