//! The replication port: what a site answers to its peers. Every request is checked
//! against the replication credential before its body is read, and the body against
//! its signed SHA-256 before anything in it is used.

use crate::auth::Verifier;
use crate::authority::{self, NamespaceOp};
use crate::compress;
use crate::error::ReplError;
use crate::locks::lock;
use crate::peer::Peer;
use crate::protocol::{self, parse_hash, Ack, Batch, BlockList, EntriesAsk, EntriesPage, Refusal, SiteInfo};
use crate::site::Site;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use strata_blockstore::{now_millis, BlockHash, Change, SiteId};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Largest body accepted: a change batch (a batch holds at least one change, however
/// large: the manifest of a 5 TiB object, the largest S3 allows, lists about 5.2 million
/// blocks at the default 1 MiB, ~190 MB) or one block (at most 64 MiB).
const MAX_BODY: usize = 256 << 20;
/// Bodies up to this size are hashed on the runtime's thread (tens of microseconds).
const CHECK_IN_PLACE: usize = 64 << 10;
/// Request bodies in memory at once, from every source together. Each source keeps up
/// to its window of blocks in flight (96 MiB), so a sink that many sources feed would
/// otherwise hold the sum; a request past this waits before its body is read, its
/// bytes held back in TCP. One source alone never reaches it.
const BODIES_IN_MEMORY: usize = MAX_BODY;

#[derive(Clone)]
struct ServerState {
    repl: Arc<Site>,
    verifier: Arc<dyn Verifier>,
    /// `BODIES_IN_MEMORY` in KiB.
    bodies: Arc<Semaphore>,
}

pub fn router(repl: Arc<Site>, verifier: Arc<dyn Verifier>) -> axum::Router {
    let bodies = Arc::new(Semaphore::new(BODIES_IN_MEMORY >> 10));
    axum::Router::new()
        .fallback(handle)
        .with_state(ServerState { repl, verifier, bodies })
}

/// Waits until the request's body fits in `BODIES_IN_MEMORY` beside the others; a
/// body of unstated length is counted at the largest accepted.
async fn hold_body<'a>(bodies: &'a Semaphore, headers: &http::HeaderMap) -> SemaphorePermit<'a> {
    let len = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .unwrap_or(MAX_BODY)
        .clamp(1, BODIES_IN_MEMORY);
    let kib = u32::try_from(len.div_ceil(1024)).expect("at most BODIES_IN_MEMORY");
    bodies.acquire_many(kib).await.expect("the semaphore is never closed")
}

fn answer(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("static header"));
    r
}

fn json<T: Serialize>(v: &T) -> Response {
    answer(StatusCode::OK, serde_json::to_vec(v).expect("serializes"))
}

fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    let body = serde_json::to_vec(&Refusal { error: why.into() }).expect("serializes");
    answer(status, body)
}

fn failed(e: ReplError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    refuse(status, e.to_string())
}

/// Checks a body against the SHA-256 its signature carries and expands it when it came
/// compressed. Returns the body, its size on the wire, and its hash when it is the
/// signed body itself (not expanded from it).
fn check_body(
    body: Bytes,
    signed_sha256: &str,
    encoding: Option<&http::HeaderValue>,
) -> std::result::Result<(Bytes, u64, Option<String>), (StatusCode, String)> {
    let digest = hex::encode(Sha256::digest(&body));
    if digest != signed_sha256 {
        return Err((
            StatusCode::BAD_REQUEST,
            "the body does not match its signed SHA-256".into(),
        ));
    }
    // What crossed the link; the body itself may come compressed.
    let wire = body.len() as u64;
    match encoding.map(|v| v.as_bytes()) {
        None => Ok((body, wire, Some(digest))),
        Some(e) if e == compress::ENCODING.as_bytes() => match compress::expand(&body, MAX_BODY) {
            Ok(b) => Ok((Bytes::from(b), wire, None)),
            Err(why) => Err((StatusCode::BAD_REQUEST, why)),
        },
        Some(e) => Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unknown content-encoding {:?}", String::from_utf8_lossy(e)),
        )),
    }
}

async fn handle(State(s): State<ServerState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let who = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|v| v.split('/').next())
        .unwrap_or("(none)");
    let payload_sha256 = match s.verifier.verify(&parts) {
        Ok(h) => {
            s.repl.refusals.heard(who);
            h
        }
        Err(why) => {
            tracing::warn!(path = %parts.uri.path(), access_key = who, reason = %why, "refused a replication request");
            s.repl.refusals.refused(who, &why);
            return refuse(StatusCode::FORBIDDEN, format!("replication credential refused: {why}"));
        }
    };
    // Held until the answer: the body stays in memory while it is checked and stored.
    let _body_held = hold_body(&s.bodies, &parts.headers).await;
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("cannot read the body: {e}")),
    };
    // Hashing and expanding a block-sized body take a millisecond or more: off the
    // runtime's threads. A small uncompressed one (a hello, a few changes) is checked
    // in place, sparing the lag-critical small batches a hop to another thread (a
    // small compressed one may expand to far more).
    let encoding = parts.headers.get("content-encoding").cloned();
    let checked = if body.len() <= CHECK_IN_PLACE && encoding.is_none() {
        check_body(body, &payload_sha256, encoding.as_ref())
    } else {
        match tokio::task::spawn_blocking(move || check_body(body, &payload_sha256, encoding.as_ref())).await {
            Ok(checked) => checked,
            Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("body check failed: {e}")),
        }
    };
    let (body, wire, as_signed) = match checked {
        Ok(checked) => checked,
        Err((status, why)) => return refuse(status, why),
    };
    let path = parts.uri.path();
    let r = match (&parts.method, path) {
        (&Method::POST, protocol::HELLO) => hello(&s.repl, &body).await,
        (&Method::POST, protocol::GOODBYE) => goodbye(&s.repl, &body).await,
        (&Method::POST, protocol::CHANGES) => changes(&s.repl, &body, wire).await,
        (&Method::POST, protocol::MISSING_BLOCKS) => missing_blocks(&s.repl, &body).await,
        (&Method::POST, protocol::SYNC_GROUPS) => sync_groups(&s.repl).await,
        (&Method::POST, protocol::SYNC_PARTITIONS) => sync_partitions(&s.repl, &body).await,
        (&Method::POST, protocol::SYNC_ENTRIES) => sync_entries(&s.repl, &body).await,
        (&Method::POST, protocol::SYNC_RECORDS) => sync_records(&s.repl, &body).await,
        (&Method::POST, protocol::NAMESPACE) => namespace(&s.repl, &body).await,
        (&Method::POST, protocol::PROBE_BLOCKS) => {
            let from = parts.uri.query().and_then(|q| q.strip_prefix("from="));
            probe_blocks(&s.repl, &body, from).await
        }
        (&Method::GET, p) if p.starts_with(protocol::FETCH_BLOCK) => {
            let from = parts.uri.query().and_then(|q| q.strip_prefix("from="));
            fetch_block(&s.repl, &p[protocol::FETCH_BLOCK.len()..], from).await
        }
        (&Method::GET, p) if p.starts_with(protocol::REPAIR_BLOCK) => {
            let from = parts.uri.query().and_then(|q| q.strip_prefix("from="));
            repair_block(&s.repl, &p[protocol::REPAIR_BLOCK.len()..], from).await
        }
        (&Method::PUT, p) if p.starts_with(protocol::BLOCKS) => {
            let from = parts.uri.query().and_then(|q| q.strip_prefix("from="));
            put_block(&s.repl, &p[protocol::BLOCKS.len()..], from, body, wire, as_signed).await
        }
        _ => {
            return refuse(
                StatusCode::NOT_FOUND,
                format!("no replication endpoint {} {path}", parts.method),
            )
        }
    };
    r.unwrap_or_else(failed)
}

type Handled = Result<Response, ReplError>;

fn decode_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ReplError> {
    serde_json::from_slice(body).map_err(|e| ReplError::Protocol(format!("malformed request: {e}")))
}

async fn hello(repl: &Arc<Site>, body: &[u8]) -> Handled {
    let caller: SiteInfo = decode_json(body)?;
    let caller = repl.observe_authority(caller)?;
    repl.accept_source(caller).await?;
    Ok(json(&repl.hello_info()))
}

/// The authority decides a namespace operation another site forwarded.
async fn namespace(repl: &Arc<Site>, body: &[u8]) -> Handled {
    let op: NamespaceOp = decode_json(body)?;
    if let Some(other) = repl.authority().filter(|c| c.site != repl.me.name) {
        return Err(ReplError::Invalid(format!(
            "{} is not the namespace authority; {} is (epoch {})",
            repl.me.name, other.site, other.epoch
        )));
    }
    let decided = repl
        .store
        .run(move |s| Ok::<_, ReplError>(authority::decide(s, op)))
        .await?;
    Ok(binary(&decided))
}

async fn goodbye(repl: &Arc<Site>, body: &[u8]) -> Handled {
    let caller: SiteInfo = decode_json(body)?;
    repl.forget_source(caller).await?;
    Ok(answer(StatusCode::NO_CONTENT, Vec::new()))
}

async fn changes(repl: &Arc<Site>, body: &Bytes, wire: u64) -> Handled {
    let batch: Batch =
        bincode::deserialize(body).map_err(|e| ReplError::Protocol(format!("malformed change batch: {e}")))?;
    let Some(peer) = repl.peer_by_id(batch.from).filter(|p| p.record().source) else {
        return Err(ReplError::Protocol(format!(
            "site {} has not said hello to this site",
            batch.from
        )));
    };
    hold_back_skew(repl, &peer, &batch.changes)?;
    // Kinds this site does not take from this source are dropped, and acknowledged so
    // the stream goes on: counted, logged, and shown in status.
    let mut batch = batch;
    let before = batch.changes.len();
    let mut kept_via = Vec::with_capacity(before);
    let mut kept = Vec::with_capacity(before);
    for (i, c) in std::mem::take(&mut batch.changes).into_iter().enumerate() {
        if repl.accepts(&peer.name, &c) {
            kept_via.push(batch.via.get(i).cloned().unwrap_or_default());
            kept.push(c);
        }
    }
    let refused = (before - kept.len()) as u64;
    if refused > 0 {
        peer.refused_changes
            .fetch_add(refused, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(source = %peer.name, refused, "dropped changes of kinds this site does not take from this source ([repl] accept)");
    }
    (batch.changes, batch.via) = (kept, kept_via);
    let objects = batch.changes.iter().filter(|c| matches!(c, Change::Object(_))).count() as u64;
    let n = batch.changes.len() as u64;
    let versions: Vec<u64> = batch.changes.iter().map(|c| c.version().0.millis()).collect();
    // Each change is logged here with the sites it passed through, the sender last.
    let via: Vec<Vec<SiteId>> = (0..batch.changes.len())
        .map(|i| {
            let mut path = batch.via.get(i).cloned().unwrap_or_default();
            path.push(batch.from);
            path
        })
        .collect();
    let applied = repl
        .store
        .run(move |s| s.apply_changes_via(&batch.changes, &via, batch.blocks))
        .await?;
    // Durable now: only this answer lets the source move its cursor.
    let now = now_millis();
    for v in versions {
        peer.latency.record(now.saturating_sub(v));
    }
    peer.received.add_sized(objects, n, wire, body.len() as u64);
    // Changes this site already had (in a mesh, a change also comes by a second path).
    peer.received.add_duplicates(applied.stale);
    if applied.refused_locked > 0 {
        peer.received.add_locked_refusals(applied.refused_locked);
        tracing::warn!(source = %peer.name, refused = applied.refused_locked, "deletes of versions Object Lock keeps here were refused");
    }
    Ok(json(&Ack {
        applied: applied.applied,
        stale: applied.stale,
        skipped_keys: applied.skipped_keys,
    }))
}

/// Refuses a batch stamped more than `max_clock_skew` ahead of this site's clock:
/// applied, it would move this site's clock (and so every later local write) into the
/// future for good. The source retries; its changes wait until the clocks agree.
fn hold_back_skew(repl: &Site, peer: &Peer, changes: &[Change]) -> Result<(), ReplError> {
    let now = now_millis();
    let newest = changes.iter().map(|c| c.version().0.millis()).max().unwrap_or(0);
    if newest <= now + repl.max_clock_skew_ms {
        if lock(&peer.held_back).take().is_some() {
            tracing::info!(source = %peer.name, "the source's clock agrees again; its changes are taken");
        }
        return Ok(());
    }
    let why = format!(
        "clock skew: changes from {} are stamped {} s ahead of {}'s clock (max_clock_skew {} s); they wait until the clocks agree",
        peer.name,
        (newest - now) / 1000,
        repl.me.name,
        repl.max_clock_skew_ms / 1000
    );
    if lock(&peer.held_back).replace(why.clone()).is_none() {
        tracing::warn!(source = %peer.name, "{why}");
    }
    Err(ReplError::ClockSkew(why))
}

async fn missing_blocks(repl: &Arc<Site>, body: &[u8]) -> Handled {
    let asked: BlockList = decode_json(body)?;
    let hashes = asked
        .blocks
        .iter()
        .map(|h| parse_hash(h))
        .collect::<Result<Vec<_>, _>>()?;
    let missing = repl
        .store
        .run(move |s| Ok::<_, ReplError>(s.missing_blocks(&hashes).iter().map(|h| h.to_hex()).collect()))
        .await?;
    Ok(json(&BlockList { blocks: missing }))
}

/// The sink a proxy-get request comes from, if proxy-get is enabled for it.
fn proxy_get_sink(repl: &Site, from: Option<&str>) -> Option<Arc<Peer>> {
    asking_peer(repl, from).filter(|p| p.sink_settings().is_some_and(|s| s.proxy_get))
}

fn proxy_get_refused(repl: &Site) -> Response {
    refuse(
        StatusCode::FORBIDDEN,
        format!("proxy-get is not enabled on {} for the asking site", repl.me.name),
    )
}

/// The most blocks one probe may ask about (a sink asks 16 384 at a time).
const MAX_PROBE_HASHES: usize = 65_536;

/// Proxy-get's probe: which of the asked blocks this site lacks.
async fn probe_blocks(repl: &Arc<Site>, body: &[u8], from: Option<&str>) -> Handled {
    if proxy_get_sink(repl, from).is_none() {
        return Ok(proxy_get_refused(repl));
    }
    let asked: Vec<BlockHash> = decode_bin(body)?;
    // Each hash costs a file check here: one probe's work stays bounded.
    if asked.len() > MAX_PROBE_HASHES {
        return Err(ReplError::Protocol(format!(
            "a probe asks about at most {MAX_PROBE_HASHES} blocks"
        )));
    }
    let lacking = repl
        .store
        .run(move |s| Ok::<_, ReplError>(s.absent_blocks(&asked)))
        .await?;
    Ok(binary(&lacking))
}

/// Proxy-get: a sink asks for a block it lacks. Answered only to a sink of this site
/// with proxy-get enabled.
async fn fetch_block(repl: &Arc<Site>, hex: &str, from: Option<&str>) -> Handled {
    let hash = parse_hash(hex)?;
    let Some(sink) = proxy_get_sink(repl, from) else {
        return Ok(proxy_get_refused(repl));
    };
    match repl.store.run(move |s| s.read_block(&hash)).await {
        Ok(data) => {
            sink.sent.add(0, 0, data.len() as u64);
            Ok(octets(data))
        }
        // Gone here too (the object was overwritten or deleted since): nothing to give.
        Err(strata_blockstore::Error::BlockCorrupt(_)) => {
            Ok(refuse(StatusCode::NOT_FOUND, format!("no block {hex} here")))
        }
        Err(e) => Err(e.into()),
    }
}

/// The peer a request names as its sender (`?from=<site id hex>`), if this site knows it.
fn asking_peer(repl: &Site, from: Option<&str>) -> Option<Arc<Peer>> {
    from.and_then(|f| u64::from_str_radix(f, 16).ok())
        .and_then(|id| repl.peer_by_id(SiteId(id)))
}

/// Scrub at a peer: a good copy of a block, to any site this one replicates with (as
/// sink or source). This site's own copy is checked first, so damage never spreads.
async fn repair_block(repl: &Arc<Site>, hex: &str, from: Option<&str>) -> Handled {
    let hash = parse_hash(hex)?;
    let Some(peer) = asking_peer(repl, from) else {
        return Ok(refuse(
            StatusCode::FORBIDDEN,
            format!("{} does not replicate with the asking site", repl.me.name),
        ));
    };
    match repl.store.run(move |s| s.read_good_block(&hash)).await? {
        Some(data) => {
            peer.sent.add(0, 0, data.len() as u64);
            Ok(octets(data))
        }
        None => Ok(refuse(
            StatusCode::NOT_FOUND,
            format!("no good copy of block {hex} here"),
        )),
    }
}

/// A 200 carrying raw bytes.
fn octets(body: Vec<u8>) -> Response {
    let mut r = answer(StatusCode::OK, body);
    r.headers_mut().insert(
        "content-type",
        "application/octet-stream".parse().expect("static header"),
    );
    r
}

fn binary<T: Serialize>(v: &T) -> Response {
    octets(bincode::serialize(v).expect("serializes"))
}

fn decode_bin<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ReplError> {
    bincode::deserialize(body).map_err(|e| ReplError::Protocol(format!("malformed request: {e}")))
}

/// Fullsync: this site's group digests.
async fn sync_groups(repl: &Arc<Site>) -> Handled {
    Ok(binary(&repl.store.run(|s| s.sync_groups()).await?))
}

/// Fullsync: the partition digests of one group.
async fn sync_partitions(repl: &Arc<Site>, body: &[u8]) -> Handled {
    let group: u16 = decode_bin(body)?;
    if group >= strata_blockstore::GROUPS {
        return Err(ReplError::Protocol(format!("no group {group}")));
    }
    Ok(binary(&repl.store.run(move |s| s.sync_partitions(group)).await?))
}

/// The most entries one page of fullsync's comparison holds (about 100 bytes each).
const MAX_ENTRIES_PAGE: u32 = 16_384;

/// Fullsync: a page of the entries of the listed partitions.
async fn sync_entries(repl: &Arc<Site>, body: &[u8]) -> Handled {
    let mut ask: EntriesAsk = decode_bin(body)?;
    ask.partitions.sort_unstable();
    ask.partitions.dedup();
    if ask.partitions.iter().any(|p| *p >= strata_blockstore::PARTITIONS) {
        return Err(ReplError::Protocol("no such partition".into()));
    }
    let limit = ask.limit.clamp(1, MAX_ENTRIES_PAGE) as usize;
    let (entries, more) = repl
        .store
        .run(move |s| s.sync_entries_page(&ask.partitions, ask.after.as_ref(), limit))
        .await?;
    Ok(binary(&EntriesPage { entries, more }))
}

/// Verify: the summaries of every record of the listed partitions.
async fn sync_records(repl: &Arc<Site>, body: &[u8]) -> Handled {
    let (partitions, with_blocks): (Vec<u16>, bool) = decode_bin(body)?;
    if partitions.iter().any(|p| *p >= strata_blockstore::PARTITIONS) {
        return Err(ReplError::Protocol("no such partition".into()));
    }
    let summaries = repl
        .store
        .run(move |s| s.record_summaries(&partitions, with_blocks))
        .await?;
    Ok(binary(&summaries))
}

/// `as_signed`: the body is the one whose SHA-256 the signature carries (it came
/// uncompressed), so when the block's name is that hash it is verified already.
async fn put_block(
    repl: &Arc<Site>,
    hex: &str,
    from: Option<&str>,
    body: Bytes,
    wire: u64,
    as_signed: Option<String>,
) -> Handled {
    let hash = parse_hash(hex)?;
    let len = body.len() as u64;
    let verified = as_signed.as_deref() == Some(hex);
    crate::proxy_get::store_arrived(repl, hash, body, verified).await?;
    if let Some(p) = asking_peer(repl, from) {
        p.received.add_sized(0, 0, wire, len);
    }
    Ok(answer(StatusCode::NO_CONTENT, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_blockstore::{BlockRef, Hlc, Manifest, ObjectHeaders, ObjectState, PartSpan};

    fn with_length(len: Option<usize>) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        if let Some(len) = len {
            h.insert(http::header::CONTENT_LENGTH, len.into());
        }
        h
    }

    /// `hold_body`, given 50 ms: None when the body would still be waiting.
    async fn within_50ms<'a>(bodies: &'a Semaphore, len: Option<usize>) -> Option<SemaphorePermit<'a>> {
        let wait = std::time::Duration::from_millis(50);
        tokio::time::timeout(wait, hold_body(bodies, &with_length(len)))
            .await
            .ok()
    }

    #[tokio::test]
    async fn bodies_in_memory_together_stay_within_the_budget() {
        let bodies = Semaphore::new(BODIES_IN_MEMORY >> 10);
        let first = within_50ms(&bodies, Some(200 << 20)).await.expect("room");
        let second = within_50ms(&bodies, Some(56 << 20)).await.expect("room");
        // Full: a third body, however small, waits for one of them to be answered.
        assert!(within_50ms(&bodies, Some(1)).await.is_none());
        drop(second);
        let small = within_50ms(&bodies, Some(1)).await.expect("room again");
        drop((first, small));
        // A body of unstated length counts as the largest accepted: it waits alone.
        let alone = within_50ms(&bodies, None).await.expect("room");
        assert!(within_50ms(&bodies, Some(1)).await.is_none());
        drop(alone);
        let huge = within_50ms(&bodies, Some(MAX_BODY * 4)).await;
        assert!(
            huge.is_some(),
            "one body past the budget takes it all, and does not wait forever"
        );
    }

    #[test]
    fn a_body_is_checked_against_its_signed_hash_and_vouches_for_a_block_only_uncompressed() {
        let block = Bytes::from(b"block bytes ".repeat(200));
        let digest = hex::encode(Sha256::digest(&block));
        let (body, wire, as_signed) = check_body(block.clone(), &digest, None).unwrap();
        assert_eq!((body, wire, as_signed), (block.clone(), 2400, Some(digest.clone())));

        // Any other signed hash: refused, whatever the path will name.
        let other = hex::encode(Sha256::digest(b"something else"));
        assert_eq!(
            check_body(block.clone(), &other, None).unwrap_err().0,
            StatusCode::BAD_REQUEST
        );

        // Compressed: the signed hash is the compressed body's, so it vouches for nothing
        // about the block; the store checks the expanded bytes itself.
        let packed = Bytes::from(compress::maybe_compress(&block, 3).unwrap());
        let zstd = http::HeaderValue::from_static(compress::ENCODING);
        let packed_digest = hex::encode(Sha256::digest(&packed));
        let (body, wire, as_signed) = check_body(packed.clone(), &packed_digest, Some(&zstd)).unwrap();
        assert_eq!((body, wire, as_signed), (block, packed.len() as u64, None));
        let gzip = http::HeaderValue::from_static("gzip");
        assert_eq!(
            check_body(packed, &packed_digest, Some(&gzip)).unwrap_err().0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }

    /// A batch of one manifest with `blocks` blocks and 10 000 parts, serialized.
    fn batch_bytes(blocks: usize) -> usize {
        let m = Manifest {
            bucket: "a-bucket-name-of-some-length".into(),
            key: "a/key/of/some/length/for/the/largest/object.bin".into(),
            version_id: uuid_like(),
            created: (Hlc(1), SiteId(1)),
            state: ObjectState::Active,
            size: 5 << 40,
            etag: "0123456789abcdef0123456789abcdef-10000".into(),
            last_modified_ms: 0,
            headers: ObjectHeaders::default(),
            block_size: 1 << 20,
            blocks: vec![
                BlockRef {
                    hash: BlockHash([7; 32]),
                    len: 1 << 20,
                };
                blocks
            ],
            inline: None,
            parts: (1..=10_000)
                .map(|n| PartSpan {
                    number: n,
                    size: 5 << 30,
                    etag: "0123456789abcdef0123456789abcdef".into(),
                    block_count: 5120,
                })
                .collect(),
            upload_id: Some(uuid_like()),
            hlc: Hlc(1),
            site: SiteId(1),
        };
        let batch = protocol::Batch {
            from: SiteId(1),
            changes: vec![Change::Object(Box::new(m))],
            via: vec![vec![SiteId(2), SiteId(3)]],
            blocks: true,
        };
        bincode::serialize(&batch).unwrap().len()
    }

    fn uuid_like() -> String {
        "01234567-89ab-cdef-0123-456789abcdef".into()
    }

    #[test]
    fn the_manifest_of_the_largest_object_fits_one_request() {
        // Measured on a small block list, extrapolated linearly (each block costs the
        // same), so the test does not build 190 MB.
        let (small, larger) = (batch_bytes(1000), batch_bytes(2000));
        let per_block = (larger - small) / 1000;
        let largest_object_blocks = (5usize << 40) / (1 << 20);
        let need = small + (largest_object_blocks - 1000) * per_block;
        assert!(
            need < MAX_BODY,
            "a 5 TiB object's batch is {need} bytes, over {MAX_BODY}"
        );
        assert!(need > 72 << 20, "the old limit was too small for it ({need} bytes)");
    }
}
