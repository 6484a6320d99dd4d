//! Counters kept while a site runs: traffic per peer and the window of recent
//! replication delays. A leaf: peers hold them, status reads them.

use crate::locks::lock;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Objects (manifest and tombstone changes), all changes, and bytes on the wire.
#[derive(Debug, Default)]
pub struct Counters {
    pub objects: AtomicU64,
    pub changes: AtomicU64,
    pub bytes: AtomicU64,
    /// Changes received that this site already held (stale by last-writer-wins).
    pub duplicates: AtomicU64,
    /// Bytes before compression (equal to `bytes` on an uncompressed link).
    pub raw_bytes: AtomicU64,
    /// Deletes of versions Object Lock keeps here, refused.
    pub locked_refusals: AtomicU64,
}

impl Counters {
    pub fn add(&self, objects: u64, changes: u64, bytes: u64) {
        self.add_sized(objects, changes, bytes, bytes);
    }

    /// `wire` bytes on the link that were `raw` bytes before compression.
    pub fn add_sized(&self, objects: u64, changes: u64, wire: u64, raw: u64) {
        self.objects.fetch_add(objects, Ordering::Relaxed);
        self.changes.fetch_add(changes, Ordering::Relaxed);
        self.bytes.fetch_add(wire, Ordering::Relaxed);
        self.raw_bytes.fetch_add(raw, Ordering::Relaxed);
    }

    pub fn add_duplicates(&self, n: u64) {
        self.duplicates.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_locked_refusals(&self, n: u64) {
        self.locked_refusals.fetch_add(n, Ordering::Relaxed);
    }

    /// Starts from saved figures (a restart).
    pub fn restore(&self, t: Traffic) {
        self.objects.store(t.objects, Ordering::Relaxed);
        self.changes.store(t.changes, Ordering::Relaxed);
        self.bytes.store(t.bytes, Ordering::Relaxed);
        self.duplicates.store(t.duplicates, Ordering::Relaxed);
        self.locked_refusals.store(t.locked_refusals, Ordering::Relaxed);
        // Saved before compression was counted: every byte went as it was.
        self.raw_bytes.store(t.raw_bytes.max(t.bytes), Ordering::Relaxed);
    }

    pub fn view(&self) -> Traffic {
        Traffic {
            objects: self.objects.load(Ordering::Relaxed),
            changes: self.changes.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            raw_bytes: self.raw_bytes.load(Ordering::Relaxed),
            locked_refusals: self.locked_refusals.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Traffic {
    pub objects: u64,
    pub changes: u64,
    pub bytes: u64,
    /// Received changes this site already held (not applied again).
    #[serde(default)]
    pub duplicates: u64,
    /// `bytes` before compression: their ratio is what compression saves.
    #[serde(default)]
    pub raw_bytes: u64,
    /// Replicated deletes of versions Object Lock keeps on this site: refused.
    #[serde(default)]
    pub locked_refusals: u64,
}

const WINDOW: usize = 65_536;

/// The most recent replication delays seen by a sink: from the source's commit (the
/// change's HLC) to the durable apply here, in milliseconds.
#[derive(Debug, Default)]
pub struct LatencyWindow {
    samples: Mutex<VecDeque<u64>>,
}

impl LatencyWindow {
    pub fn record(&self, ms: u64) {
        let mut s = lock(&self.samples);
        if s.len() == WINDOW {
            s.pop_front();
        }
        s.push_back(ms);
    }

    pub fn view(&self) -> Option<Latency> {
        let mut v: Vec<u64> = lock(&self.samples).iter().copied().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        Some(Latency {
            samples: v.len(),
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: *v.last().expect("not empty"),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

/// Proxy-get on a sink: object reads that needed blocks from a source, the blocks and
/// bytes fetched, and blocks that could not be had.
#[derive(Debug, Default)]
pub struct ProxyCounters {
    pub requests: AtomicU64,
    pub blocks: AtomicU64,
    pub bytes: AtomicU64,
    pub failures: AtomicU64,
    /// Reads that had begun answering and were cut because a block could not be had.
    pub cut_reads: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ProxyGetStatus {
    pub requests: u64,
    pub blocks: u64,
    pub bytes: u64,
    pub failures: u64,
    #[serde(default)]
    pub cut_reads: u64,
}

impl ProxyCounters {
    pub fn view(&self) -> ProxyGetStatus {
        ProxyGetStatus {
            requests: self.requests.load(Ordering::Relaxed),
            blocks: self.blocks.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            cut_reads: self.cut_reads.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_come_from_the_recent_window() {
        let w = LatencyWindow::default();
        assert_eq!(w.view(), None);
        for ms in (1..=100).rev() {
            w.record(ms);
        }
        let l = w.view().unwrap();
        assert_eq!((l.samples, l.p50_ms, l.p99_ms, l.max_ms), (100, 51, 99, 100));

        // The window keeps the newest samples only.
        for _ in 0..WINDOW {
            w.record(7);
        }
        let l = w.view().unwrap();
        assert_eq!((l.samples, l.p50_ms, l.max_ms), (WINDOW, 7, 7));
    }

    #[test]
    fn traffic_adds_up() {
        let c = Counters::default();
        c.add(1, 2, 300);
        c.add(0, 1, 50);
        assert_eq!(
            c.view(),
            Traffic {
                objects: 1,
                changes: 3,
                bytes: 350,
                duplicates: 0,
                raw_bytes: 350,
                locked_refusals: 0,
            }
        );
    }
}
