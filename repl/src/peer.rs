//! A peer site as this site knows it: the settings operators made (persisted, so they
//! survive restarts), the link to it, and the live state of streaming to and from it.

use crate::counters::{Counters, LatencyWindow, Traffic};
use crate::error::Result;
use crate::fullsync_record::{FullsyncRecord, FullsyncState};
use crate::link::Link;
use crate::locks::lock;
use crate::protocol::SiteInfo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use strata_blockstore::{LogEntry, Store};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// Realtime settings for a peer this site streams to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkSettings {
    /// Changes are recorded for the sink (its cursor holds the log).
    pub enabled: bool,
    /// The stream is open (a sender runs).
    pub started: bool,
    /// Blocks travel with the manifests that need them.
    pub blocks: bool,
    /// Fullsync runs for this sink (on enable, after a broken link, on the interval and
    /// on `start`).
    #[serde(default)]
    pub fullsync: bool,
    /// Fullsync sends the blocks the sink lacks (false: `--metadata-only`).
    #[serde(default = "yes")]
    pub fullsync_blocks: bool,
    /// The sink may fetch blocks it lacks from this site when a client reads them.
    #[serde(default)]
    pub proxy_get: bool,
    /// The log's last sequence when realtime was enabled: realtime carries what was
    /// logged after it; what came before is fullsync's to carry (see `carried`).
    #[serde(default)]
    pub realtime_since: u64,
}

fn yes() -> bool {
    true
}

impl Default for SinkSettings {
    fn default() -> Self {
        SinkSettings {
            enabled: false,
            started: false,
            blocks: true,
            fullsync: false,
            fullsync_blocks: true,
            proxy_get: false,
            realtime_since: 0,
        }
    }
}

/// What is persisted about a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// As the peer described itself at the last handshake.
    pub info: SiteInfo,
    /// Where this site reaches the peer (as given to `connect`: may be a proxy).
    pub addr: String,
    /// Present when this site is a source for the peer.
    pub sink: Option<SinkSettings>,
    /// The peer has connected to this site as a source.
    pub source: bool,
}

/// How far a sink has acknowledged the change log: the last entry it has, and the log
/// position (bytes) after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub seq: u64,
    pub position: u64,
}

impl Cursor {
    /// The cursor just past `entry`: acknowledging it and all before it.
    pub fn past(entry: &LogEntry) -> Cursor {
        Cursor {
            seq: entry.seq,
            position: entry.position,
        }
    }

    fn encode(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.seq.to_be_bytes());
        b[8..].copy_from_slice(&self.position.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Cursor> {
        let seq = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
        let position = u64::from_be_bytes(b.get(8..16)?.try_into().ok()?);
        Some(Cursor { seq, position })
    }
}

/// The sender's state, as status reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    Connecting,
    Syncing,
    Synced,
    Stopped,
}

pub struct Peer {
    pub name: String,
    pub record: Mutex<PeerRecord>,
    link: Mutex<Arc<Link>>,
    cursor: Mutex<Cursor>,
    pub state: Mutex<LinkState>,
    pub last_error: Mutex<Option<String>>,
    /// As a source: why its last batch was refused (its clock too far ahead), until
    /// one is taken again.
    pub held_back: Mutex<Option<String>>,
    /// As a source: changes of kinds this site does not take from it (`[repl] accept`),
    /// dropped since start.
    pub refused_changes: std::sync::atomic::AtomicU64,
    pub sent: Counters,
    pub received: Counters,
    pub latency: LatencyWindow,
    /// Set to true to stop the sender; the handle is the running sender, if any.
    pub sender: Mutex<Option<(watch::Sender<bool>, JoinHandle<()>)>>,
    /// The same for the fullsync runner.
    pub fullsync_task: Mutex<Option<(watch::Sender<bool>, JoinHandle<()>)>>,
    /// Fullsync's persisted progress and last result.
    pub fullsync: Mutex<FullsyncRecord>,
    /// What the fullsync runner is doing now, and why its last attempt failed.
    pub fullsync_state: Mutex<FullsyncState>,
    pub fullsync_error: Mutex<Option<String>>,
    /// Asks the runner for a run (`start`, a link that came back).
    pub fullsync_wake: Notify,
    /// Ends the run in progress (`stop`); it resumes at the next trigger.
    pub fullsync_cancel: Notify,
    /// The traffic figures last saved, so unchanged figures are not written again.
    saved_traffic: Mutex<Option<SavedTraffic>>,
}

/// Traffic counters as saved, so they survive a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct SavedTraffic {
    sent: Traffic,
    received: Traffic,
}

fn peer_key(name: &str) -> String {
    format!("peer/{name}")
}

fn cursor_key(name: &str) -> String {
    format!("cursor/{name}")
}

impl Peer {
    pub fn new(record: PeerRecord, link: Link, cursor: Cursor) -> Peer {
        Peer {
            name: record.info.name.clone(),
            record: Mutex::new(record),
            link: Mutex::new(Arc::new(link)),
            cursor: Mutex::new(cursor),
            state: Mutex::new(LinkState::Stopped),
            last_error: Mutex::new(None),
            held_back: Mutex::new(None),
            refused_changes: Default::default(),
            sent: Counters::default(),
            received: Counters::default(),
            latency: LatencyWindow::default(),
            sender: Mutex::new(None),
            fullsync_task: Mutex::new(None),
            fullsync: Mutex::new(FullsyncRecord::default()),
            fullsync_state: Mutex::new(FullsyncState::Idle),
            fullsync_error: Mutex::new(None),
            fullsync_wake: Notify::new(),
            fullsync_cancel: Notify::new(),
            saved_traffic: Mutex::new(None),
        }
    }

    pub fn link(&self) -> Arc<Link> {
        lock(&self.link).clone()
    }

    pub fn set_link(&self, link: Link) {
        *lock(&self.link) = Arc::new(link);
    }

    pub fn record(&self) -> PeerRecord {
        lock(&self.record).clone()
    }

    pub fn sink_settings(&self) -> Option<SinkSettings> {
        lock(&self.record).sink
    }

    pub fn cursor(&self) -> Cursor {
        *lock(&self.cursor)
    }

    /// How far this sink has carried the change log: every delete logged up to the
    /// returned sequence is on the sink, or among its dirty keys (to be sent again).
    /// The purge of graves waits for it. Realtime carries what was logged after it was
    /// enabled, up to its cursor; a complete fullsync, everything logged before it
    /// started. A sink that neither carries (both disabled) holds nothing back.
    pub fn carried(&self) -> u64 {
        let Some(s) = self.sink_settings() else {
            return u64::MAX;
        };
        let full = self.fullsync_record().last.map_or(0, |l| l.start_seq);
        match (s.enabled, s.fullsync) {
            (false, false) => u64::MAX,
            (false, true) => full,
            // What was logged before realtime began is still fullsync's to carry.
            (true, true) if full < s.realtime_since => full,
            (true, _) => self.cursor().seq.max(full),
        }
    }

    /// Moves the cursor forward (never back: an ack can arrive after overflow moved it
    /// past the acked entries) and persists it. Not flushed here: the next commit's
    /// flush carries it, and a cursor lost in a crash only resends changes the sink
    /// already has, which it finds stale. That keeps an fsync off every batch.
    pub fn advance(&self, store: &Store, to: Cursor) -> Result<()> {
        let mut c = lock(&self.cursor);
        if to.seq > c.seq {
            store.repl_put_soon(&cursor_key(&self.name), &to.encode())?;
            *c = to;
        }
        Ok(())
    }

    /// Takes the cursor another gateway of the site left in the store, unpersisted.
    pub fn set_cursor(&self, to: Cursor) {
        *lock(&self.cursor) = to;
    }

    /// Sets the cursor outright (realtime enable: recording starts now).
    pub fn reset_cursor(&self, store: &Store, to: Cursor) -> Result<()> {
        store.repl_put(&cursor_key(&self.name), &to.encode())?;
        *lock(&self.cursor) = to;
        Ok(())
    }

    pub fn set_state(&self, s: LinkState) {
        *lock(&self.state) = s;
    }

    pub fn set_error(&self, e: Option<String>) {
        *lock(&self.last_error) = e;
    }

    pub fn save(&self, store: &Store) -> Result<()> {
        put_json(store, &peer_key(&self.name), &*lock(&self.record))
    }
}

/// Whether changes applied from a source travel on to this site's other sinks
/// (`strata repl cascade on|off`; on unless turned off).
pub(crate) fn load_cascade(store: &Store) -> Result<bool> {
    Ok(get_json::<bool>(store, "site/cascade")?.unwrap_or(true))
}

pub(crate) fn save_cascade(store: &Store, on: bool) -> Result<()> {
    put_json(store, "site/cascade", &on)
}

/// Saves a replication record as JSON; durable on return.
pub(crate) fn put_json<T: Serialize>(store: &Store, key: &str, v: &T) -> Result<()> {
    let bytes = serde_json::to_vec(v).expect("records serialize");
    Ok(store.repl_put(key, &bytes)?)
}

/// Reads a replication record saved by [`put_json`]; an unreadable one is logged and
/// treated as absent.
pub(crate) fn get_json<T: DeserializeOwned>(store: &Store, key: &str) -> Result<Option<T>> {
    let Some(bytes) = store.repl_get(key)? else {
        return Ok(None);
    };
    match serde_json::from_slice(&bytes) {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            tracing::warn!(%key, error = %e, "ignoring an unreadable replication record");
            Ok(None)
        }
    }
}

fn traffic_key(name: &str) -> String {
    format!("traffic/{name}")
}

fn fullsync_key(name: &str) -> String {
    format!("fullsync/{name}")
}

/// Where the last `strata repl verify` of a sink is kept.
pub(crate) fn verify_key(name: &str) -> String {
    format!("verify/{name}")
}

impl Peer {
    pub fn fullsync_record(&self) -> FullsyncRecord {
        lock(&self.fullsync).clone()
    }

    /// Replaces fullsync's record and persists it (durable on return).
    pub fn save_fullsync(&self, store: &Store, record: FullsyncRecord) -> Result<()> {
        put_json(store, &fullsync_key(&self.name), &record)?;
        *lock(&self.fullsync) = record;
        Ok(())
    }

    pub fn load_fullsync(&self, store: &Store) -> Result<()> {
        if let Some(r) = get_json(store, &fullsync_key(&self.name))? {
            *lock(&self.fullsync) = r;
        }
        Ok(())
    }

    pub fn set_fullsync_state(&self, s: FullsyncState) {
        *lock(&self.fullsync_state) = s;
    }

    /// Saves the traffic counters if they moved since the last save (durable on return).
    pub fn save_traffic(&self, store: &Store) -> Result<()> {
        let now = SavedTraffic {
            sent: self.sent.view(),
            received: self.received.view(),
        };
        let mut saved = lock(&self.saved_traffic);
        if *saved != Some(now) {
            put_json(store, &traffic_key(&self.name), &now)?;
            *saved = Some(now);
        }
        Ok(())
    }

    /// Restores the counters saved before a restart.
    pub fn load_traffic(&self, store: &Store) -> Result<()> {
        if let Some(t) = get_json::<SavedTraffic>(store, &traffic_key(&self.name))? {
            self.sent.restore(t.sent);
            self.received.restore(t.received);
            *lock(&self.saved_traffic) = Some(t);
        }
        Ok(())
    }
}

/// Every peer record and cursor persisted in the store.
/// Whether the store knows any peer: the site replicates (with any of its gateways).
pub fn any(store: &Store) -> Result<bool> {
    Ok(!store.repl_scan(&peer_key(""))?.is_empty())
}

pub fn load_all(store: &Store) -> Result<Vec<(PeerRecord, Cursor)>> {
    let mut out = Vec::new();
    for (_, v) in store.repl_scan("peer/")? {
        let Ok(rec) = serde_json::from_slice::<PeerRecord>(&v) else {
            tracing::warn!("ignoring an unreadable peer record");
            continue;
        };
        let cursor = store
            .repl_get(&cursor_key(&rec.info.name))?
            .and_then(|b| Cursor::decode(&b))
            .unwrap_or_default();
        out.push((rec, cursor));
    }
    Ok(out)
}

/// Forgets everything persisted about a peer.
pub fn forget(store: &Store, name: &str) -> Result<()> {
    store.repl_remove(&peer_key(name))?;
    store.repl_remove(&cursor_key(name))?;
    store.repl_remove(&fullsync_key(name))?;
    store.repl_remove(&traffic_key(name))?;
    store.repl_remove(&verify_key(name))?;
    store.clear_dirty(name)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_encode_to_sixteen_bytes_and_back() {
        let c = Cursor {
            seq: 0x0102_0304_0506_0708,
            position: u64::MAX - 1,
        };
        let bytes = c.encode();
        assert_eq!(bytes.len(), 16);
        // Big-endian: cursors of one sink sort in log order.
        assert_eq!(&bytes[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(Cursor::decode(&bytes), Some(c));
        assert_eq!(Cursor::decode(&bytes[..15]), None, "a torn record is not a cursor");
    }
}
