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
use crate::peer::{self, Cursor, PeerRecord};
use crate::site::Site;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// This gateway's part in feeding the site's sinks.
pub(crate) struct Feeder {
    /// Who this gateway is, to the lease: its replication address, process and start
    /// time (a restarted gateway is a new holder).
    pub(crate) holder: String,
    feeding: AtomicBool,
}

impl Feeder {
    pub(crate) fn new(advertise: &str) -> Feeder {
        Feeder {
            holder: format!("{advertise}/{}.{}", std::process::id(), strata_blockstore::now_millis()),
            feeding: AtomicBool::new(false),
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
/// connected, changed or forgotten one). With `cursors`, each sink's cursor and
/// fullsync progress are taken from the store too: a gateway about to feed resumes
/// where the last feeder left off. Returns the names of peers no longer stored.
pub(crate) fn reload_peers(site: &Site, cursors: bool) -> crate::error::Result<Vec<String>> {
    let stored: Vec<(PeerRecord, Cursor)> = peer::load_all(&site.store)?;
    for (record, cursor) in &stored {
        let (p, _) = site.upsert_peer(&record.info, |r| *r = record.clone());
        if cursors {
            p.set_cursor(*cursor);
            p.load_fullsync(&site.store)?;
        }
    }
    let mut peers = lock(&site.peers);
    let gone: Vec<String> = peers
        .keys()
        .filter(|name| !stored.iter().any(|(r, _)| r.info.name == **name))
        .cloned()
        .collect();
    for name in &gone {
        peers.remove(name);
    }
    Ok(gone)
}
