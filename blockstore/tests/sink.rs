//! What a sink holds: never a live object whose blocks it lacks (unless the link is
//! metadata-only), and every block it told a source it has is still there when the
//! manifest that needs it arrives.

use std::sync::Arc;
use std::time::Duration;
use strata_blockstore::{Change, ObjectHeaders, ObjectWriter, Precondition, SiteId, Store, StoreConfig};

fn open(dir: &std::path::Path, site: u64) -> Arc<Store> {
    let mut cfg = StoreConfig::new(dir);
    cfg.site_id = Some(SiteId(site));
    cfg.block_size = 4096;
    cfg.gc_grace = Duration::ZERO;
    Store::open(cfg).unwrap()
}

/// A source with bucket `b` and one object of several blocks; its last change.
fn source_with_object(dir: &std::path::Path, body: &[u8]) -> (Arc<Store>, Change) {
    let source = open(dir, 1);
    source.create_bucket("b", "alice").unwrap();
    let mut w = ObjectWriter::new(source.clone());
    w.write(body).unwrap();
    let data = w.finish().unwrap();
    source
        .put_object("b", "k", ObjectHeaders::default(), data, &Precondition::None)
        .unwrap();
    let log = source.changes_after(0, 100, u64::MAX).unwrap();
    (source.clone(), log.last().unwrap().change.clone())
}

fn blocks_of(c: &Change) -> Vec<strata_blockstore::BlockHash> {
    match c {
        Change::Object(m) => m.blocks.iter().map(|b| b.hash).collect(),
        _ => unreachable!(),
    }
}

#[test]
fn a_manifest_whose_blocks_are_missing_is_skipped_unless_the_link_is_metadata_only() {
    let (d1, d2, d3) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let body: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (source, change) = source_with_object(d1.path(), &body);
    let hashes = blocks_of(&change);
    let sink = open(d2.path(), 2);
    sink.create_bucket("b", "alice").unwrap();
    // One block arrived, the others did not (refused for room, say).
    sink.store_block(&hashes[0], &source.read_block(&hashes[0]).unwrap())
        .unwrap();
    let a = sink
        .apply_changes_via(std::slice::from_ref(&change), &[], true)
        .unwrap();
    assert_eq!((a.applied, a.skipped_keys.clone()), (0, vec!["object/b/k".to_owned()]));
    assert!(sink.object("b", "k").is_err(), "no object whose bytes cannot be read");
    // Once every block is here, the same change applies.
    for h in &hashes[1..] {
        sink.store_block(h, &source.read_block(h).unwrap()).unwrap();
    }
    let a = sink
        .apply_changes_via(std::slice::from_ref(&change), &[], true)
        .unwrap();
    assert_eq!(a.applied, 1);
    assert_eq!(sink.object("b", "k").unwrap().size, body.len() as u64);

    // A metadata-only link takes the manifest alone: its reads go through proxy-get.
    let meta_only = open(d3.path(), 3);
    meta_only.create_bucket("b", "alice").unwrap();
    let a = meta_only.apply_changes_via(&[change], &[], false).unwrap();
    assert_eq!(a.applied, 1);
}

#[test]
fn a_block_reported_present_outlives_gc_until_its_manifest_arrives() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let body: Vec<u8> = (0..9_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let (source, change) = source_with_object(d1.path(), &body);
    let hashes = blocks_of(&change);
    let sink = open(d2.path(), 2);
    sink.create_bucket("b", "alice").unwrap();
    // Left over from an older version: stored, referenced by nothing, a GC candidate.
    for h in &hashes {
        sink.store_block(h, &source.read_block(h).unwrap()).unwrap();
    }
    // The source asks which it lacks: none. Without the hold, GC would now remove them
    // (grace zero) and the manifest would arrive to find them gone.
    assert!(sink.missing_blocks(&hashes).is_empty());
    let gc = sink.collect_garbage().unwrap();
    assert_eq!((gc.removed, gc.pinned), (0, hashes.len()));
    let a = sink.apply_changes_via(&[change], &[], true).unwrap();
    assert_eq!(a.applied, 1);
    sink.collect_garbage().unwrap();
    assert!(hashes.iter().all(|h| sink.has_block(h)));

    // A block nobody asked about and nothing references goes, as before.
    let stray = [7u8; 100];
    let h = strata_blockstore::BlockHash(sha2_of(&stray));
    sink.store_block(&h, &stray).unwrap();
    assert_eq!(sink.collect_garbage().unwrap().removed, 1);
    assert!(!sink.has_block(&h));
}

fn sha2_of(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}
