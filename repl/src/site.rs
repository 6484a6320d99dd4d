//! The shared state of one site's replication, and the peer registry on it.

use crate::auth::Credentials;
use crate::authority::AuthorityClaim;
use crate::error::{ReplError, Result};
use crate::link::Link;
use crate::locks::lock;
use crate::peer::{self, Cursor, Peer, PeerRecord};
use crate::protocol::{SiteInfo, PROTOCOL_VERSION};
use futures_util::future::{BoxFuture, Shared};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use strata_blockstore::{BlockHash, SiteId, Store};
use tokio::sync::watch;

/// One block on its way here (a proxy-get fetch, or a block replication is storing):
/// its checked bytes once stored, for every reader waiting for it.
pub type SharedFetch = Shared<BoxFuture<'static, std::result::Result<bytes::Bytes, String>>>;

/// The blocks on their way here, one fetch each.
pub type Fetches = Mutex<HashMap<BlockHash, SharedFetch>>;

/// What every part of a site's replication shares: the store, who this site is, the
/// known peers and the commit signal. The commands (`replication`), the senders, the
/// log keeper and the replication port all work on it; it imports none of them.
pub struct Site {
    pub(crate) store: Arc<Store>,
    pub(crate) me: SiteInfo,
    pub(crate) credentials: Credentials,
    pub(crate) max_bytes: u64,
    pub(crate) peers: Mutex<BTreeMap<String, Arc<Peer>>>,
    /// How often fullsync runs for each sink that has it (zero: only on triggers).
    pub(crate) fullsync_interval: std::time::Duration,
    /// Cap on one fullsync's traffic (zero: none).
    pub(crate) fullsync_max_bytes_per_sec: u64,
    /// Blocks being fetched by proxy-get, shared by every reader waiting for one.
    pub(crate) fetches: Fetches,
    /// The most blocks one proxy-get read fetches ahead of its client.
    pub(crate) proxy_window: usize,
    /// Room for the blocks all proxy-get reads together hold beyond their first few.
    pub(crate) proxy_room: Arc<tokio::sync::Semaphore>,
    pub(crate) proxy_counters: crate::counters::ProxyCounters,
    /// The newest committed sequence number: senders wait on it.
    pub(crate) commits: watch::Sender<u64>,
    /// Changes applied from a source travel on to the other sinks (persisted).
    pub(crate) cascade: std::sync::atomic::AtomicBool,
    /// TLS for the links to peers.
    pub(crate) tls: Option<crate::link::TlsClient>,
    /// zstd level for what this site sends (0: off).
    pub(crate) compression: i32,
    /// Changes stamped further ahead of this site's clock are refused.
    pub(crate) max_clock_skew_ms: u64,
    /// The namespace authority this site follows (see `authority`), if any.
    pub(crate) authority: Mutex<Option<AuthorityClaim>>,
    /// Replication credentials refused lately, for status.
    pub(crate) refusals: Refusals,
    /// Per source name, the kinds of change taken from it (`users`, `buckets`,
    /// `objects`); a source not named sends any.
    pub(crate) accept: BTreeMap<String, Vec<String>>,
}

impl Site {
    /// Whether this site takes `change` from the source `peer`. A source allowed only
    /// objects cannot push user records (with their secret keys) or buckets.
    pub(crate) fn accepts(&self, peer: &str, change: &strata_blockstore::Change) -> bool {
        use strata_blockstore::Change;
        let kind = match change {
            Change::User(_) | Change::UserDeleted { .. } | Change::UserKeyRetired { .. } => "users",
            Change::Bucket(_) | Change::BucketDeleted { .. } => "buckets",
            Change::Object(_) => "objects",
        };
        self.accept
            .get(peer)
            .is_none_or(|kinds| kinds.iter().any(|k| k == kind))
    }
}

/// The credentials (access keys: a peer's name under per-peer secrets) whose requests
/// this site refused, with why and when, until one of them is heard again.
#[derive(Default)]
pub struct Refusals(Mutex<BTreeMap<String, RefusedCredential>>);

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RefusedCredential {
    pub access_key: String,
    pub reason: String,
    pub last_ms: u64,
}

impl Refusals {
    /// Entries kept: a flood of made-up keys cannot grow it.
    const MAX: usize = 64;

    pub(crate) fn refused(&self, who: &str, why: &str) {
        let mut m = lock(&self.0);
        if m.len() >= Self::MAX && !m.contains_key(who) {
            return;
        }
        m.insert(
            who.to_owned(),
            RefusedCredential {
                access_key: who.to_owned(),
                reason: why.to_owned(),
                last_ms: strata_blockstore::now_millis(),
            },
        );
    }

    pub(crate) fn heard(&self, who: &str) {
        lock(&self.0).remove(who);
    }

    pub fn view(&self) -> Vec<RefusedCredential> {
        lock(&self.0).values().cloned().collect()
    }
}

/// Where the authority claim is persisted.
pub(crate) const AUTHORITY_KEY: &str = "authority";

impl Site {
    pub(crate) fn authority(&self) -> Option<AuthorityClaim> {
        lock(&self.authority).clone()
    }

    /// This site as a hello presents it: with the authority it follows.
    pub(crate) fn hello_info(&self) -> SiteInfo {
        SiteInfo {
            authority: self.authority(),
            ..self.me.clone()
        }
    }

    /// Takes a peer's claim if it is newer (a higher epoch) than this site's, and
    /// persists it; returns the peer's info without it, as peer records keep it.
    pub(crate) fn observe_authority(&self, mut info: SiteInfo) -> Result<SiteInfo> {
        if let Some(claim) = info.authority.take() {
            let newer = self.authority().is_none_or(|mine| claim.epoch > mine.epoch);
            if newer {
                crate::peer::put_json(&self.store, AUTHORITY_KEY, &claim)?;
                tracing::info!(authority = %claim.site, epoch = claim.epoch, from = %info.name, "namespace authority learnt from a peer");
                *lock(&self.authority) = Some(claim);
            }
        }
        Ok(info)
    }

    pub(crate) fn peers(&self) -> Vec<Arc<Peer>> {
        lock(&self.peers).values().cloned().collect()
    }

    pub(crate) fn peer(&self, name: &str) -> Result<Arc<Peer>> {
        lock(&self.peers)
            .get(name)
            .cloned()
            .ok_or_else(|| ReplError::UnknownPeer(name.to_owned()))
    }

    pub(crate) fn peer_by_id(&self, id: SiteId) -> Option<Arc<Peer>> {
        lock(&self.peers).values().find(|p| p.record().info.id == id).cloned()
    }

    /// Refuses a peer that speaks another protocol, is this site, or would clash with
    /// a known peer (same name, other site, or the reverse).
    pub(crate) fn check_identity(&self, info: &SiteInfo) -> Result<()> {
        if info.protocol != PROTOCOL_VERSION {
            return Err(ReplError::Protocol(format!(
                "{} ({}) speaks replication protocol {}, this site {PROTOCOL_VERSION}",
                info.name, info.repl_addr, info.protocol
            )));
        }
        if info.id == self.me.id {
            return Err(ReplError::Invalid(format!(
                "{} is this site ({}): a site cannot replicate to itself",
                info.repl_addr, self.me.name
            )));
        }
        for p in self.peers() {
            let known = p.record().info;
            if (known.name == info.name) != (known.id == info.id) {
                return Err(ReplError::Invalid(format!(
                    "peer {} ({}) clashes with the known peer {} ({}): names and ids must both match",
                    info.name, info.id, known.name, known.id
                )));
            }
        }
        Ok(())
    }

    /// The peer named `info.name` with `update` applied to its record, or a new peer
    /// whose record is `update` applied to a blank one for `info`. The link follows the
    /// record's address. Also returns whether the record changed (and needs saving).
    pub(crate) fn upsert_peer(&self, info: &SiteInfo, update: impl FnOnce(&mut PeerRecord)) -> (Arc<Peer>, bool) {
        let mut peers = lock(&self.peers);
        if let Some(p) = peers.get(&info.name) {
            let mut r = lock(&p.record);
            let before = r.clone();
            update(&mut r);
            if r.addr != before.addr {
                p.set_link(Link::new(
                    &r.addr,
                    self.credentials.signer_for(Some(&info.name)),
                    self.tls.clone(),
                ));
            }
            return (p.clone(), *r != before);
        }
        let mut record = PeerRecord {
            info: info.clone(),
            addr: info.repl_addr.clone(),
            sink: None,
            source: false,
        };
        update(&mut record);
        let link = Link::new(
            &record.addr,
            self.credentials.signer_for(Some(&info.name)),
            self.tls.clone(),
        );
        let p = Arc::new(Peer::new(record, link, Cursor::default()));
        peers.insert(info.name.clone(), p.clone());
        (p, true)
    }

    /// Records a site that connected to this one as its source (the hello handler).
    pub(crate) async fn accept_source(&self, info: SiteInfo) -> Result<()> {
        self.check_identity(&info)?;
        let (peer, changed) = self.upsert_peer(&info, |r| {
            r.source = true;
            // A sink's address is the one the operator connected to; keep it.
            if r.sink.is_none() {
                r.addr = info.repl_addr.clone();
            }
            r.info = info.clone();
        });
        if !changed {
            return Ok(());
        }
        tracing::info!(peer = %info.name, id = %info.id, "a source site connected");
        self.store.run(move |s| peer.save(s)).await
    }

    /// A source said goodbye: it is no longer a source of this site. A peer that is
    /// not also this site's sink is forgotten.
    pub(crate) async fn forget_source(&self, info: SiteInfo) -> Result<()> {
        let Some(peer) = self.peer_by_id(info.id).filter(|p| p.name == info.name) else {
            return Ok(());
        };
        let keep = {
            let mut r = lock(&peer.record);
            r.source = false;
            r.sink.is_some()
        };
        tracing::info!(peer = %info.name, "a source site disconnected");
        if keep {
            return self.store.run(move |s| peer.save(s)).await;
        }
        lock(&self.peers).remove(&info.name);
        let name = info.name.clone();
        self.store.run(move |s| peer::forget(s, &name)).await
    }
}
