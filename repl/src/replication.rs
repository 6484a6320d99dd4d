//! The replication of one site: its peers, the operator's commands on them, the
//! background work (senders, the log keeper) and the status.

use crate::auth::{Signer, Verifier};
use crate::error::{ReplError, Result};
use crate::link::Link;
use crate::peer::{self, lock, Cursor, Peer, PeerRecord, SinkSettings};
use crate::protocol::{SiteInfo, PROTOCOL_VERSION};
use crate::status::{self, PeerStatus, SinkStatus, SourceStatus};
use crate::{queue, sender, server};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_blockstore::{now_millis, SiteId, Store};
use tokio::sync::watch;

/// A site's replication settings (the `[repl]` section of its config).
#[derive(Debug, Clone)]
pub struct ReplConfig {
    pub site_name: String,
    /// The replication address peers reach this site at.
    pub advertise: String,
    pub access_key: String,
    pub secret_key: String,
    /// Bound on the change-log bytes kept for one sink.
    pub realtime_max_bytes: u64,
}

/// An operator's realtime command for one sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealtimeOp {
    Enable { blocks: bool },
    Disable,
    Start,
    Stop,
}

pub struct Replication {
    pub(crate) store: Arc<Store>,
    pub(crate) me: SiteInfo,
    signer: Arc<Signer>,
    pub(crate) max_bytes: u64,
    peers: Mutex<BTreeMap<String, Arc<Peer>>>,
    /// The newest committed sequence number: senders wait on it.
    pub(crate) commits: watch::Sender<u64>,
}

/// Runs a store call on a blocking thread.
pub(crate) async fn blocking<T, E>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> std::result::Result<T, E> + Send + 'static,
) -> Result<T>
where
    T: Send + 'static,
    E: Send + 'static,
    ReplError: From<E>,
{
    let store = store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(r) => r.map_err(ReplError::from),
        Err(e) => Err(ReplError::Invalid(format!("blocking task failed: {e}"))),
    }
}

impl Replication {
    /// Loads the persisted peers. Call [`Replication::start`] inside the runtime next.
    pub fn open(store: Arc<Store>, cfg: &ReplConfig) -> Result<Arc<Replication>> {
        let signer = Arc::new(Signer::new(&cfg.access_key, &cfg.secret_key));
        let mut peers = BTreeMap::new();
        for (record, cursor) in peer::load_all(&store)? {
            let link = Link::new(&record.addr, signer.clone());
            peers.insert(record.info.name.clone(), Arc::new(Peer::new(record, link, cursor)));
        }
        let (commits, _) = watch::channel(store.last_seq());
        Ok(Arc::new(Replication {
            me: SiteInfo {
                name: cfg.site_name.clone(),
                id: store.site_id(),
                repl_addr: cfg.advertise.clone(),
                protocol: PROTOCOL_VERSION,
            },
            store,
            signer,
            max_bytes: cfg.realtime_max_bytes,
            peers: Mutex::new(peers),
            commits,
        }))
    }

    /// Starts the senders of started sinks and the log keeper.
    pub fn start(self: &Arc<Self>) {
        let commits = self.commits.clone();
        self.store.set_commit_listener(move |seq| {
            commits.send_replace(seq);
        });
        for p in self.peers() {
            if p.sink_settings().is_some_and(|s| s.enabled && s.started) {
                self.spawn_sender(&p);
            }
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let Some(repl) = weak.upgrade() else { return };
                let r = tokio::task::spawn_blocking(move || queue::keep(&repl)).await;
                if let Ok(Err(e)) = r {
                    tracing::warn!(error = %e, "replication log keeping failed");
                }
            }
        });
    }

    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    pub fn me(&self) -> &SiteInfo {
        &self.me
    }

    /// The replication port's service; `verifier` checks request signatures.
    pub fn router(self: &Arc<Self>, verifier: Arc<dyn Verifier>) -> axum::Router {
        server::router(self.clone(), verifier)
    }

    pub(crate) fn peers(&self) -> Vec<Arc<Peer>> {
        lock(&self.peers).values().cloned().collect()
    }

    fn peer(&self, name: &str) -> Result<Arc<Peer>> {
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
    fn check_identity(&self, info: &SiteInfo) -> Result<()> {
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
    fn upsert_peer(&self, info: &SiteInfo, update: impl FnOnce(&mut PeerRecord)) -> (Arc<Peer>, bool) {
        let mut peers = lock(&self.peers);
        if let Some(p) = peers.get(&info.name) {
            let mut r = lock(&p.record);
            let before = r.clone();
            update(&mut r);
            if r.addr != before.addr {
                p.set_link(Link::new(&r.addr, self.signer.clone()));
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
        let link = Link::new(&record.addr, self.signer.clone());
        let p = Arc::new(Peer::new(record, link, Cursor::default()));
        peers.insert(info.name.clone(), p.clone());
        (p, true)
    }

    /// `strata repl connect`: handshakes with the site at `addr` and makes it a sink of
    /// this site (realtime still disabled).
    pub async fn connect(self: &Arc<Self>, addr: &str) -> Result<PeerRecord> {
        let link = Link::new(addr, self.signer.clone());
        let info = sender::say_hello(&link, &self.me).await?;
        self.check_identity(&info)?;
        let (peer, changed) = self.upsert_peer(&info, |r| {
            r.info = info.clone();
            r.addr = addr.to_owned();
            r.sink.get_or_insert_with(SinkSettings::default);
        });
        if changed {
            let p = peer.clone();
            blocking(&self.store, move |s| p.save(s)).await?;
        }
        tracing::info!(peer = %info.name, id = %info.id, %addr, "connected to a sink site");
        Ok(peer.record())
    }

    /// Records a site that connected to this one as its source (the hello handler).
    pub(crate) async fn accept_source(self: &Arc<Self>, info: SiteInfo) -> Result<()> {
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
        blocking(&self.store, move |s| peer.save(s)).await
    }

    /// `strata repl disconnect`: stops streaming to the peer and forgets it. A sink is
    /// told, so it forgets this site as a source; an unreachable one is not waited for
    /// long (it still lists this site as a source until told again or disconnected).
    pub async fn disconnect(self: &Arc<Self>, name: &str) -> Result<()> {
        let peer = self.peer(name)?;
        stop_sender(&peer).await;
        if peer.sink_settings().is_some() {
            let body = serde_json::to_vec(&self.me).expect("site info serializes");
            let told = tokio::time::timeout(
                Duration::from_secs(3),
                peer.link().call("POST", crate::protocol::GOODBYE, body.into()),
            )
            .await;
            if !matches!(told, Ok(Ok(_))) {
                tracing::warn!(peer = %name, "could not tell the sink about the disconnect; it still lists this site as a source");
            }
        }
        lock(&self.peers).remove(name);
        let name = name.to_owned();
        blocking(&self.store, move |s| peer::forget(s, &name)).await
    }

    /// A source said goodbye: it is no longer a source of this site. A peer that is
    /// not also this site's sink is forgotten.
    pub(crate) async fn forget_source(self: &Arc<Self>, info: SiteInfo) -> Result<()> {
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
            return blocking(&self.store, move |s| peer.save(s)).await;
        }
        lock(&self.peers).remove(&info.name);
        let name = info.name.clone();
        blocking(&self.store, move |s| peer::forget(s, &name)).await
    }

    pub fn connections(&self) -> Vec<PeerRecord> {
        self.peers().iter().map(|p| p.record()).collect()
    }

    /// `strata repl realtime enable|disable|start|stop <sink>`.
    pub async fn realtime(self: &Arc<Self>, name: &str, op: RealtimeOp) -> Result<PeerRecord> {
        let peer = self.peer(name)?;
        let Some(mut settings) = peer.sink_settings() else {
            return Err(ReplError::Invalid(format!(
                "{name} is not a sink of this site: run `strata repl connect` to it first"
            )));
        };
        match op {
            RealtimeOp::Enable { blocks } => {
                if !settings.enabled {
                    // Recording starts now; what came before is fullsync's to send.
                    let p = peer.clone();
                    blocking(&self.store, move |s| {
                        let seq = s.last_seq();
                        let position = s.log_position(seq)?.unwrap_or_else(|| s.log_bytes());
                        p.reset_cursor(s, Cursor { seq, position })
                    })
                    .await?;
                }
                settings.enabled = true;
                settings.blocks = blocks;
            }
            RealtimeOp::Disable => {
                stop_sender(&peer).await;
                settings.enabled = false;
                settings.started = false;
            }
            RealtimeOp::Start => {
                if !settings.enabled {
                    return Err(ReplError::Invalid(format!(
                        "realtime is not enabled for {name}: run `strata repl realtime enable {name}` first"
                    )));
                }
                settings.started = true;
            }
            RealtimeOp::Stop => {
                stop_sender(&peer).await;
                settings.started = false;
            }
        }
        lock(&peer.record).sink = Some(settings);
        let p = peer.clone();
        blocking(&self.store, move |s| p.save(s)).await?;
        if settings.enabled && settings.started {
            self.spawn_sender(&peer);
        }
        tracing::info!(sink = %name, ?op, "realtime setting changed");
        Ok(peer.record())
    }

    fn spawn_sender(self: &Arc<Self>, peer: &Arc<Peer>) {
        let mut slot = lock(&peer.sender);
        if slot.as_ref().is_some_and(|(_, h)| !h.is_finished()) {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(sender::run(self.clone(), peer.clone(), stopped));
        *slot = Some((stop, task));
    }

    /// Every peer's status.
    pub async fn status(self: &Arc<Self>) -> Result<Vec<PeerStatus>> {
        let peers = self.peers();
        blocking(&self.store, move |store| {
            let now = now_millis();
            let mut out = Vec::new();
            for p in peers {
                let record = p.record();
                let sink = match record.sink {
                    Some(settings) => Some(sink_status(store, &p, settings, now)?),
                    None => None,
                };
                let role = match (record.sink.is_some(), record.source) {
                    (true, true) => "both",
                    (true, false) => "sink",
                    _ => "source",
                };
                out.push(PeerStatus {
                    site: record.info.name.clone(),
                    site_id: record.info.id.to_string(),
                    address: record.addr.clone(),
                    role: role.to_owned(),
                    sink,
                    source: record.source.then(|| SourceStatus {
                        received: p.received.view(),
                        latency: p.latency.view(),
                    }),
                });
            }
            Ok::<_, ReplError>(out)
        })
        .await
    }

    pub async fn prometheus(self: &Arc<Self>) -> Result<String> {
        Ok(status::prometheus(&self.status().await?))
    }
}

fn sink_status(store: &Store, p: &Peer, settings: SinkSettings, now: u64) -> Result<SinkStatus> {
    let (state, reason) = status::state_and_reason(settings, *lock(&p.state));
    let cursor = p.cursor();
    let (mut pending_entries, mut pending_bytes, mut lag_ms) = (0, 0, 0);
    if settings.enabled {
        pending_entries = store.last_seq().saturating_sub(cursor.seq);
        pending_bytes = store.log_bytes().saturating_sub(cursor.position);
        if let Some(oldest) = store.changes_after(cursor.seq, 1, 0)?.pop() {
            lag_ms = now.saturating_sub(oldest.change.version().0.millis());
        }
    }
    Ok(SinkStatus {
        state,
        reason,
        realtime_enabled: settings.enabled,
        realtime_started: settings.started,
        realtime_blocks: settings.blocks,
        lag_ms,
        pending_entries,
        pending_bytes,
        dirty_keys: store.dirty_count(&p.name)?,
        sent: p.sent.view(),
        last_error: lock(&p.last_error).clone(),
    })
}

async fn stop_sender(peer: &Peer) {
    let running = lock(&peer.sender).take();
    if let Some((stop, task)) = running {
        let _ = stop.send(true);
        let _ = task.await;
    }
}
