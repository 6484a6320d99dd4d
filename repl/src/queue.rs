//! The change log as the sinks see it: each sink's cursor holds the entries after it,
//! up to `realtime_max_bytes`. What overflows is not lost: the keys it touched go into
//! the sink's dirty set (persisted, counted in status, repaired by fullsync) before the
//! cursor moves past it. Entries every enabled sink has acknowledged are trimmed.

use crate::error::Result;
use crate::peer::Cursor;
use crate::site::Site;

/// One pass over the sinks: bound each one's backlog, then trim what none needs.
/// Blocking: run it on a blocking thread.
pub fn keep(site: &Site) -> Result<()> {
    let store = &site.store;
    let mut oldest_needed = store.last_seq();
    for peer in site.peers() {
        if !peer.sink_settings().is_some_and(|s| s.enabled) {
            continue;
        }
        let cursor = peer.cursor();
        let log_bytes = store.log_bytes();
        if log_bytes.saturating_sub(cursor.position) > site.max_bytes {
            let sink_id = peer.record().info.id;
            let (mut to, mut keys) = (cursor, Vec::new());
            'walk: loop {
                let entries = store.changes_after(to.seq, 1024, u64::MAX)?;
                if entries.is_empty() {
                    break;
                }
                for e in entries {
                    if log_bytes - to.position <= site.max_bytes {
                        break 'walk;
                    }
                    if e.goes_to(sink_id, site.cascade.load(std::sync::atomic::Ordering::SeqCst)) {
                        keys.push(e.change.key());
                    }
                    to = Cursor::past(&e);
                }
            }
            // Dirty keys are durable before the cursor passes their entries: a crash in
            // between repeats the walk, and adding a key twice counts it once.
            let dirty = store.add_dirty(&peer.name, &keys)?;
            peer.advance(store, to)?;
            tracing::warn!(
                sink = %peer.name,
                dropped_entries = to.seq - cursor.seq,
                dirty_keys = dirty,
                "realtime backlog over realtime_max_bytes: oldest changes recorded as dirty keys"
            );
        }
        oldest_needed = oldest_needed.min(peer.cursor().seq);
    }
    store.trim_changes(oldest_needed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Signer;
    use crate::link::Link;
    use crate::peer::{Peer, PeerRecord, SinkSettings};
    use crate::protocol::{SiteInfo, PROTOCOL_VERSION};
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use strata_blockstore::{ObjectHeaders, ObjectWriter, Precondition, SiteId, Store, StoreConfig};

    const SINK: SiteId = SiteId(7);

    fn info(name: &str, id: SiteId) -> SiteInfo {
        SiteInfo {
            name: name.into(),
            id,
            repl_addr: "127.0.0.1:9".into(),
            protocol: PROTOCOL_VERSION,
            authority: None,
        }
    }

    fn put(store: &Arc<Store>, key: &str) {
        let mut w = ObjectWriter::new(store.clone());
        w.write(&[b'x'; 200]).unwrap();
        let data = w.finish().unwrap();
        store
            .put_object("b", key, ObjectHeaders::default(), data, &Precondition::None)
            .unwrap();
    }

    #[test]
    fn a_backlog_over_the_bound_becomes_dirty_keys_and_the_log_is_trimmed() {
        let (dir, sink_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        let signer = Arc::new(Signer::new("repl", "repl-secret"));
        let record = PeerRecord {
            info: info("sink", SINK),
            addr: "127.0.0.1:9".into(),
            sink: Some(SinkSettings {
                enabled: true,
                ..SinkSettings::default()
            }),
            source: false,
        };
        let peer = Arc::new(Peer::new(
            record,
            Link::new("127.0.0.1:9", signer.clone(), None),
            Cursor::default(),
        ));
        let max_bytes = 4096;
        let site = Site {
            store: store.clone(),
            me: info("source", store.site_id()),
            credentials: crate::auth::Credentials {
                me: "source".into(),
                shared: ("repl".into(), "repl-secret".into()),
                peers: Default::default(),
            },
            max_bytes,
            fetches: Default::default(),
            proxy_window: 4,
            proxy_room: Arc::new(tokio::sync::Semaphore::new(0)),
            proxy_counters: Default::default(),
            fullsync_interval: std::time::Duration::ZERO,
            fullsync_max_bytes_per_sec: 0,
            peers: Mutex::new(BTreeMap::from([("sink".to_owned(), peer.clone())])),
            commits: tokio::sync::watch::channel(0).0,
            cascade: true.into(),
            tls: None,
            compression: 0,
            max_clock_skew_ms: 300_000,
            authority: Mutex::new(None),
            refusals: Default::default(),
            accept: Default::default(),
        };

        store.create_bucket("b", "alice").unwrap();
        // A change that came from the sink itself: it never needs sending back, so it
        // must not become a dirty key either.
        let mut cfg = StoreConfig::new(sink_dir.path());
        cfg.site_id = Some(SINK);
        let sink = Store::open(cfg).unwrap();
        sink.create_bucket("b", "alice").unwrap();
        put(&sink, "from-sink");
        let theirs = sink.changes_after(1, 10, u64::MAX).unwrap();
        store.apply_changes(&[theirs[0].change.clone()]).unwrap();
        for i in 0..40 {
            put(&store, &format!("k{i:02}"));
        }
        // Within the bound nothing overflows; past it the oldest entries go.
        let backlog = store.log_bytes();
        assert!(backlog > max_bytes, "the test must overflow ({backlog} bytes)");

        keep(&site).unwrap();

        let cursor = peer.cursor();
        assert!(store.log_bytes() - cursor.position <= max_bytes, "backlog bounded");
        let passed = cursor.seq as usize;
        assert!(passed > 2, "the bucket, the sink's object and some objects overflowed");
        let dirty = store.dirty_keys("sink", 1000).unwrap();
        assert_eq!(store.dirty_count("sink").unwrap() as usize, dirty.len());
        assert_eq!(dirty.len(), passed - 1, "every overflowed key but the sink's own");
        assert!(dirty.contains(&"bucket/b".to_owned()));
        assert!(!dirty.iter().any(|k| k.ends_with("from-sink")));
        // Entries the only sink no longer needs are gone from the log.
        assert_eq!(store.first_change().unwrap().unwrap().seq, cursor.seq + 1);

        // A second pass finds the backlog within the bound and changes nothing.
        keep(&site).unwrap();
        assert_eq!(peer.cursor(), cursor);
        assert_eq!(store.dirty_count("sink").unwrap() as usize, dirty.len());
    }
}
