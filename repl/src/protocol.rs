//! What sites say to each other on the replication port. Requests are signed with the
//! replication credential (see `auth`); bodies are JSON for the small handshake
//! messages and bincode for change batches, which carry the engine's own records.

use crate::authority::AuthorityClaim;
use crate::error::{ReplError, Result};
use serde::{Deserialize, Serialize};
use strata_blockstore::{BlockHash, Change, SiteId, SyncEntry, SyncPosition};

/// Bumped when a message changes shape; a peer speaking another version is refused.
pub const PROTOCOL_VERSION: u32 = 5;

pub const HELLO: &str = "/repl/v1/hello";
/// A source that disconnects tells its sink, which then forgets it as a source.
pub const GOODBYE: &str = "/repl/v1/goodbye";
pub const CHANGES: &str = "/repl/v1/changes";
pub const MISSING_BLOCKS: &str = "/repl/v1/blocks/missing";
pub const BLOCKS: &str = "/repl/v1/blocks/";
/// Fullsync, descending the hash tree: the sink's group digests (bincode
/// `Vec<Digest16>`), the partition digests of one group (body: bincode `u16`; answer:
/// `Vec<(u16, PartitionDigest)>`), a page of the entries of some partitions (body:
/// bincode [`EntriesAsk`]; answer: [`EntriesPage`]).
/// Proxy-get: a sink asks for one block it lacks (`GET <prefix><hex>?from=<sink id>`);
/// the answer is the block's bytes. Refused unless proxy-get is enabled for that sink.
pub const FETCH_BLOCK: &str = "/repl/v1/fetch/";
/// Proxy-get's probe before a read answers: which of these blocks the source lacks
/// (`POST ...?from=<sink id>`, body and answer bincode `Vec<BlockHash>`), none sent.
/// Refused unless proxy-get is enabled for that sink.
pub const PROBE_BLOCKS: &str = "/repl/v1/fetch-probe";
/// Scrub: a peer (sink or source) asks for a good copy of a block its own copy of
/// which is damaged or missing (`GET <prefix><hex>?from=<site id>`); answered only with
/// bytes that hash to the name.
pub const REPAIR_BLOCK: &str = "/repl/v1/repair/";
pub const SYNC_GROUPS: &str = "/repl/v1/sync/groups";
pub const SYNC_PARTITIONS: &str = "/repl/v1/sync/partitions";
pub const SYNC_ENTRIES: &str = "/repl/v1/sync/entries";
/// Verify: the record summaries of some partitions (body: bincode `(Vec<u16>, bool)`,
/// the partitions and whether to list each object's blocks; answer:
/// `Vec<RecordSummary>`).
pub const SYNC_RECORDS: &str = "/repl/v1/sync/records";
/// A namespace operation forwarded to the authority (body: JSON `NamespaceOp`; answer:
/// bincode `Result<Vec<Change>, Refusal>`, the changes it made).
pub const NAMESPACE: &str = "/repl/v1/namespace";

/// Who a site is: exchanged on connect and on every reconnect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteInfo {
    pub name: String,
    pub id: SiteId,
    /// The address its replication port listens on.
    pub repl_addr: String,
    pub protocol: u32,
    /// In a hello only: which site this one takes as the namespace authority. Never
    /// stored with a peer's record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<AuthorityClaim>,
}

/// Changes from a source, in its commit order.
#[derive(Debug, Serialize, Deserialize)]
pub struct Batch {
    pub from: SiteId,
    pub changes: Vec<Change>,
    /// Per change, the sites it passed through before the sender (after its origin);
    /// the sink logs it with the sender added, and never sends it to any of them.
    pub via: Vec<Vec<SiteId>>,
    /// The source sent the blocks of these changes' objects first: the sink takes a
    /// live object only if it holds all its blocks (false: a metadata-only link).
    pub blocks: bool,
}

/// Sent only after the batch is durably applied.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ack {
    pub applied: u64,
    pub stale: u64,
    /// Keys the sink could not apply (their bucket, room or blocks missing there).
    pub skipped_keys: Vec<String>,
}

/// Fullsync asks for a page of the entries of some partitions (ascending), after a
/// position, at most `limit` of them (the sink may answer fewer).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntriesAsk {
    pub partitions: Vec<u16>,
    pub after: Option<SyncPosition>,
    pub limit: u32,
}

/// A page of entries in the tree's order, each with its partition; `more`: the page
/// stopped at its limit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntriesPage {
    pub entries: Vec<(u16, SyncEntry)>,
    pub more: bool,
}

/// Block names (hex SHA-256): asked about, or the ones the sink lacks.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct BlockList {
    pub blocks: Vec<String>,
}

/// A refusal's body, so the other side can log why.
#[derive(Debug, Serialize, Deserialize)]
pub struct Refusal {
    pub error: String,
}

/// A block's name on the wire (hex SHA-256) as a hash.
pub fn parse_hash(hex: &str) -> Result<BlockHash> {
    BlockHash::from_hex(hex).ok_or_else(|| ReplError::Protocol(format!("bad block name {hex:?}")))
}
