//! Which gateway of a site feeds its sinks. A site of one process always does. The
//! gateways of a site over Ceph share one store and must not all send from it: the one
//! holding the `feeder` lease runs the senders, fullsync and the log keeper; the
//! others receive from sources, serve proxy-get and answer commands. A feeder that dies
//! stops renewing its lease, and another gateway takes over within `LEASE_SECS` and a
//! `TICK`, resuming from the cursors the store holds.
//!
//! Two gateways may feed at once only for the moment between a lease running out and
//! its old holder's next tick (a gateway stalled longer than the lease). That repeats
//! batches, which sinks apply idempotently; a cursor only ever records what a sink
//! acknowledged, so none is lost.

use crate::locks::lock;
use crate::peer::{self, Cursor, Peer, PeerRecord};
use crate::site::Site;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a lease lasts unless renewed.
pub(crate) const LEASE_SECS: u32 = 6;
/// How often the lease is renewed (or sought), and peer settings reread.
pub(crate) const TICK: Duration = Duration::from_millis(1500);
/// How often the feeder looks for changes other gateways committed.
pub(crate) const POLL: Duration = Duration::from_millis(100);
/// The lease's name in the store, and the record naming its holder.
pub(crate) const LEASE: &str = "feeder";
pub(crate) const HOLDER_KEY: &str = "site/feeder";
/// `fullsync start|stop` asked of a gateway that does not feed, for the feeder.
const REQUESTS: &str = "fullsync-request/";

/// What a fullsync request asks of the feeder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    Start,
    Stop,
}

/// Leaves `request` for `sink` in the store, for the feeder's next tick.
pub(crate) fn request_fullsync(site: &Site, sink: &str, request: Request) -> crate::error::Result<()> {
    let what: &[u8] = if request == Request::Start { b"start" } else { b"stop" };
    Ok(site.store.repl_put(&format!("{REQUESTS}{sink}"), what)?)
}

/// The fullsync requests other gateways left, taken out of the store.
pub(crate) fn take_fullsync_requests(site: &Site) -> crate::error::Result<Vec<(String, Request)>> {
    let mut taken = Vec::new();
    for (key, what) in site.store.repl_scan(REQUESTS)? {
        site.store.repl_remove(&key)?;
        let sink = key.strip_prefix(REQUESTS).unwrap_or(&key).to_owned();
        taken.push((sink, if what == b"stop" { Request::Stop } else { Request::Start }));
    }
    Ok(taken)
}

/// This gateway's part in feeding the site's sinks.
pub(crate) struct Feeder {
    /// Who this gateway is, to the lease: its replication address, process and start
    /// time (a restarted gateway is a new holder).
    pub(crate) holder: String,
    feeding: AtomicBool,
    /// The peers the store held at the last reload: only those can have been
    /// forgotten since (one connected meanwhile through this gateway is not yet
    /// in a listing read before).
    stored: Mutex<BTreeSet<String>>,
}

impl Feeder {
    pub(crate) fn new(advertise: &str) -> Feeder {
        Feeder {
            holder: format!("{advertise}/{}.{}", std::process::id(), strata_blockstore::now_millis()),
            feeding: AtomicBool::new(false),
            stored: Mutex::default(),
        }
    }

    pub(crate) fn feeding(&self) -> bool {
        self.feeding.load(Ordering::SeqCst)
    }

    /// Records whether this gateway feeds now; true when that changed.
    pub(crate) fn set_feeding(&self, on: bool) -> bool {
        self.feeding.swap(on, Ordering::SeqCst) != on
    }
}

/// Makes this gateway's peers those the store holds (another gateway may have
/// connected, changed or forgotten one). A sink's cursor and fullsync progress are
/// taken from the store for every sink with `all_cursors` (a gateway about to feed
/// resumes where the last feeder left off; one that does not feed follows the feeder,
/// for status), and for a sink this gateway did not know or whose realtime was enabled
/// anew elsewhere (it starts where that gateway said).
/// Returns the peers no longer stored, removed.
pub(crate) fn reload_peers(site: &Site, feeder: &Feeder, all_cursors: bool) -> crate::error::Result<Vec<Arc<Peer>>> {
    let stored: Vec<(PeerRecord, Cursor)> = peer::load_all(&site.store)?;
    let names: BTreeSet<String> = stored.iter().map(|(r, _)| r.info.name.clone()).collect();
    let before = std::mem::replace(&mut *lock(&feeder.stored), names.clone());
    for (record, cursor) in &stored {
        let since = |r: &PeerRecord| r.sink.filter(|s| s.enabled).map(|s| s.realtime_since);
        let known = lock(&site.peers).get(&record.info.name).map(|p| since(&p.record()));
        let (p, _) = site.upsert_peer(&record.info, |r| *r = record.clone());
        if all_cursors || known.is_none_or(|before| before != since(record)) {
            p.set_cursor(*cursor);
            p.load_fullsync(&site.store)?;
        }
    }
    let mut peers = lock(&site.peers);
    Ok(before
        .difference(&names)
        .filter_map(|name| peers.remove(name))
        .collect())
}
