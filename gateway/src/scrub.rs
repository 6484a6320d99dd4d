//! The site's scrub: every block a record references is read back and checked against
//! its SHA-256 name; a bad one (missing, or damaged on disk) is replaced by a good copy
//! from a peer site when replication is configured. It runs in the background every
//! `scrub_interval` at most `scrub_max_bytes_per_sec`, and on `strata admin scrub`.
//! Its place is saved as it goes, so a run cut by a restart resumes where it was.

use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_blockstore::{now_millis, BlockFault, BlockHash, Store};
use strata_repl::{Replication, Throttle};

/// Blocks read per step: the place is saved after each.
const STEP: usize = 256;
/// Unrepairable blocks listed (with their keys) in a result.
const LISTED: usize = 100;
/// Keys named per unrepairable block.
const KEYS_PER_BLOCK: usize = 10;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubFigures {
    pub blocks_checked: u64,
    pub bytes_checked: u64,
    /// Bad blocks found: missing plus corrupt.
    pub bad_found: u64,
    pub missing: u64,
    pub corrupt: u64,
    pub repaired: u64,
    pub unrepairable: u64,
}

/// A block no peer could give a good copy of, and the objects that use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unrepairable {
    pub block: String,
    pub fault: BlockFault,
    /// `bucket/key` of (up to ten) live objects that use it.
    pub keys: Vec<String>,
    pub why: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubRun {
    pub started_ms: u64,
    /// The last block checked (hex); the next step starts after it.
    pub after: Option<String>,
    /// Referenced blocks when the run started: the run's size.
    pub blocks_total: u64,
    #[serde(flatten)]
    pub figures: ScrubFigures,
    pub unrepairable_blocks: Vec<Unrepairable>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubResult {
    pub started_ms: u64,
    pub ended_ms: u64,
    #[serde(flatten)]
    pub figures: ScrubFigures,
    pub unrepairable_blocks: Vec<Unrepairable>,
}

/// What is saved: the run in progress and the last run's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ScrubRecord {
    running: Option<ScrubRun>,
    last: Option<ScrubResult>,
}

/// Scrub as status shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScrubStatus {
    pub interval_secs: u64,
    pub max_bytes_per_sec: u64,
    /// The run in progress, if one is.
    pub running: Option<ScrubRun>,
    pub last: Option<ScrubResult>,
}

const RECORD: &str = "scrub";

pub struct Scrubber {
    store: Arc<Store>,
    repl: Option<Arc<Replication>>,
    interval: Duration,
    rate: u64,
    record: Mutex<ScrubRecord>,
    /// One run at a time: a command waits for the background run, then runs its own.
    running: tokio::sync::Mutex<()>,
}

impl Scrubber {
    pub async fn open(
        store: Arc<Store>,
        repl: Option<Arc<Replication>>,
        interval: Duration,
        rate: u64,
    ) -> strata_blockstore::Result<Arc<Scrubber>> {
        let saved = store.run(|s| s.site_record(RECORD)).await?;
        let record = saved.and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        Ok(Arc::new(Scrubber {
            store,
            repl,
            interval,
            rate,
            record: Mutex::new(record),
            running: tokio::sync::Mutex::new(()),
        }))
    }

    fn record(&self) -> std::sync::MutexGuard<'_, ScrubRecord> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> ScrubStatus {
        let r = self.record().clone();
        ScrubStatus {
            interval_secs: self.interval.as_secs(),
            max_bytes_per_sec: self.rate,
            running: r.running,
            last: r.last,
        }
    }

    /// The background scrub: a run cut by a restart resumes at once; otherwise one
    /// starts `scrub_interval` after the last ended (never, with the interval zero).
    pub fn spawn(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            let since = now_millis();
            loop {
                let (resume, last_end) = {
                    let r = me.record();
                    (r.running.is_some(), r.last.as_ref().map_or(since, |l| l.ended_ms))
                };
                if !resume {
                    if me.interval.is_zero() {
                        return;
                    }
                    let due = last_end + me.interval.as_millis() as u64;
                    tokio::time::sleep(Duration::from_millis(due.saturating_sub(now_millis()))).await;
                }
                if let Err(e) = me.run().await {
                    tracing::warn!(error = %e, "scrub failed; it resumes in a minute");
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
            }
        });
    }

    /// One whole run (or the rest of one cut short), waiting for a run in progress to
    /// end first. Returns its result.
    pub async fn run(&self) -> strata_blockstore::Result<ScrubResult> {
        let _one = self.running.lock().await;
        let resumed = self.record().running.clone();
        let mut run = match resumed {
            Some(r) => r,
            None => ScrubRun {
                started_ms: now_millis(),
                blocks_total: self.store.run(|s| s.referenced_blocks()).await?,
                ..ScrubRun::default()
            },
        };
        tracing::info!(blocks = run.blocks_total, after = ?run.after, "scrub starts");
        let mut throttle = Throttle::new(self.rate);
        loop {
            let after = run.after.as_deref().and_then(BlockHash::from_hex);
            let step = self.store.run(move |s| s.scrub_step(after, STEP)).await?;
            run.figures.blocks_checked += step.checked;
            run.figures.bytes_checked += step.bytes;
            for (hash, fault) in step.bad {
                self.mend(&mut run, hash, fault).await?;
            }
            run.after = step.next.map(|h| h.to_hex());
            let done = step.next.is_none();
            if !done {
                self.save(Some(run.clone()), None).await?;
            }
            throttle.wait(step.bytes).await;
            if done {
                break;
            }
        }
        let result = ScrubResult {
            started_ms: run.started_ms,
            ended_ms: now_millis(),
            figures: run.figures,
            unrepairable_blocks: run.unrepairable_blocks,
        };
        let f = &result.figures;
        tracing::info!(
            checked = f.blocks_checked,
            bad = f.bad_found,
            repaired = f.repaired,
            unrepairable = f.unrepairable,
            "scrub complete"
        );
        self.save(None, Some(result.clone())).await?;
        Ok(result)
    }

    /// A bad block: a good copy from a peer, or, when none has one, the objects that
    /// use it named in the result.
    async fn mend(&self, run: &mut ScrubRun, hash: BlockHash, fault: BlockFault) -> strata_blockstore::Result<()> {
        let f = &mut run.figures;
        f.bad_found += 1;
        match fault {
            BlockFault::Missing => f.missing += 1,
            BlockFault::Corrupt => f.corrupt += 1,
        }
        let why = match &self.repl {
            Some(r) => match r.repair_block(hash).await {
                Ok(()) => {
                    tracing::warn!(block = %hash.to_hex(), ?fault, "scrub replaced a bad block with a peer's copy");
                    f.repaired += 1;
                    return Ok(());
                }
                Err(e) => e.to_string(),
            },
            None => "replication is not configured: no peer to copy it from".to_owned(),
        };
        f.unrepairable += 1;
        let keys = self
            .store
            .run(move |s| s.keys_using_block(&hash, KEYS_PER_BLOCK))
            .await?;
        tracing::error!(block = %hash.to_hex(), ?fault, ?keys, %why, "scrub found a bad block no peer could replace");
        if run.unrepairable_blocks.len() < LISTED {
            run.unrepairable_blocks.push(Unrepairable {
                block: hash.to_hex(),
                fault,
                keys,
                why,
            });
        }
        Ok(())
    }

    async fn save(&self, running: Option<ScrubRun>, last: Option<ScrubResult>) -> strata_blockstore::Result<()> {
        let record = {
            let mut r = self.record();
            r.running = running;
            if last.is_some() {
                r.last = last;
            }
            r.clone()
        };
        let bytes = serde_json::to_vec(&record).expect("serializes");
        self.store.run(move |s| s.put_site_record(RECORD, &bytes)).await
    }
}
