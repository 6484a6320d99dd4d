//! What fullsync persists per sink and shows in status: the run in progress (so a run
//! cut by a crash of either site resumes at the group it had reached) and the last
//! run's result. A leaf: peers hold it, `fullsync` writes it, `status` reads it.

use serde::{Deserialize, Serialize};

/// What a run has done so far, or did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullsyncFigures {
    /// Keys covered by the comparison: by equal digests, or entry by entry.
    pub keys_compared: u64,
    /// Keys the sink lacked or held older.
    pub differences: u64,
    pub objects_sent: u64,
    pub bytes_sent: u64,
    /// Every byte of the run's requests and answers, both ways: digests and entries
    /// compared as well as what was sent.
    #[serde(default)]
    pub bytes_exchanged: u64,
}

/// A run in progress. Saved after every group of partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullsyncRun {
    pub started_ms: u64,
    /// The change log's last sequence when the run started: once it completes, the
    /// sink has carried everything logged up to there (see `purge`).
    #[serde(default)]
    pub start_seq: u64,
    /// The first group not finished yet.
    pub next_group: u16,
    pub partitions_done: u32,
    #[serde(flatten)]
    pub figures: FullsyncFigures,
    /// Where this run resumed after it was cut (partitions already done then).
    pub resumed_at_partition: Option<u32>,
    /// The operator stopped it: it waits for the next trigger instead of resuming at
    /// start-up.
    pub stopped: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullsyncResult {
    pub started_ms: u64,
    #[serde(default)]
    pub start_seq: u64,
    pub ended_ms: u64,
    pub duration_ms: u64,
    /// `complete`, or why it did not.
    pub result: String,
    #[serde(flatten)]
    pub figures: FullsyncFigures,
    pub resumed_at_partition: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullsyncRecord {
    pub running: Option<FullsyncRun>,
    pub last: Option<FullsyncResult>,
    /// The last runs' results, newest first (at most `HISTORY`).
    #[serde(default)]
    pub history: Vec<FullsyncResult>,
}

/// Runs remembered per sink.
pub const HISTORY: usize = 10;

/// What the runner is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FullsyncState {
    /// Waiting for a trigger.
    Idle,
    Running,
    /// The last attempt failed (see the error); it tries again.
    Retrying,
    /// Stopped by the operator in the middle of a run; resumes at the next trigger.
    Stopped,
}
