//! The change log as the sinks see it: each sink's cursor holds the entries after it,
//! up to `realtime_max_bytes`. What overflows is not lost: the keys it touched go into
//! the sink's dirty set (persisted, counted in status, repaired by fullsync) before the
//! cursor moves past it. Entries every enabled sink has acknowledged are trimmed.

use crate::error::Result;
use crate::peer::Cursor;
use crate::replication::Replication;

/// One pass over the sinks: bound each one's backlog, then trim what none needs.
/// Blocking: run it on a blocking thread.
pub fn keep(repl: &Replication) -> Result<()> {
    let store = &repl.store;
    let mut oldest_needed = store.last_seq();
    for peer in repl.peers() {
        if !peer.sink_settings().is_some_and(|s| s.enabled) {
            continue;
        }
        let cursor = peer.cursor();
        let log_bytes = store.log_bytes();
        if log_bytes.saturating_sub(cursor.position) > repl.max_bytes {
            let sink_id = peer.record().info.id;
            let (mut to, mut keys) = (cursor, Vec::new());
            'walk: loop {
                let entries = store.changes_after(to.seq, 1024, u64::MAX)?;
                if entries.is_empty() {
                    break;
                }
                for e in entries {
                    if log_bytes - to.position <= repl.max_bytes {
                        break 'walk;
                    }
                    if e.change.origin() != sink_id {
                        keys.push(e.change.key());
                    }
                    to = Cursor {
                        seq: e.seq,
                        position: e.position,
                    };
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
