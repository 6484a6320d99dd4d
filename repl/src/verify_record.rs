//! What `strata repl verify` reports and keeps per sink (the last run shows in status
//! and on the page). A leaf: `verify` writes it, `status` reads it.

use serde::{Deserialize, Serialize};

/// Differences kept in a report: enough to act on, bounded whatever the damage.
pub const SHOWN: usize = 1000;

/// One key the two sites hold differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// The sync key: `user/<name>`, `bucket/<name>` or `object/<bucket>/<key>`.
    pub key: String,
    /// `missing` (live here, not on the sink), `extra` (live only on the sink),
    /// `differs` (both live, not the same) or `missing-blocks` (same record, blocks
    /// absent on the sink).
    pub kind: String,
    /// What differs, in words (versions, sizes, ETags, block lists, blocks missing).
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub sink: String,
    pub started_ms: u64,
    pub ended_ms: u64,
    /// Keys compared (live on either site).
    pub keys_compared: u64,
    /// Blocks whose presence on the sink was checked (`--blocks`).
    pub blocks_checked: u64,
    /// How many keys differ (all of them, though at most `SHOWN` are listed).
    pub differences: u64,
    pub shown: Vec<Difference>,
    pub repair: bool,
    /// Records sent again for `--repair` (the sink applies each by last-writer-wins: a
    /// newer write there is kept).
    pub repaired: u64,
    /// The sink's blocks were checked too.
    pub blocks: bool,
}
