//! Latency and throughput figures of one benchmark run.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// What one worker measured for one kind of operation.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    pub latencies_us: Vec<u32>,
    pub bytes: u64,
}

impl Samples {
    pub fn record(&mut self, took: Duration, bytes: u64) {
        self.latencies_us.push(took.as_micros().min(u32::MAX as u128) as u32);
        self.bytes += bytes;
    }

    pub fn merge(&mut self, other: Samples) {
        self.latencies_us.extend(other.latencies_us);
        self.bytes += other.bytes;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OpFigures {
    pub count: u64,
    pub ops_per_sec: f64,
    pub mib_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx] as f64 / 1000.0
}

impl OpFigures {
    pub fn from(mut s: Samples, elapsed: Duration) -> Self {
        s.latencies_us.sort_unstable();
        let secs = elapsed.as_secs_f64().max(1e-9);
        OpFigures {
            count: s.latencies_us.len() as u64,
            ops_per_sec: s.latencies_us.len() as f64 / secs,
            mib_per_sec: s.bytes as f64 / (1 << 20) as f64 / secs,
            p50_ms: percentile(&s.latencies_us, 0.50),
            p90_ms: percentile(&s.latencies_us, 0.90),
            p99_ms: percentile(&s.latencies_us, 0.99),
            max_ms: s.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0,
        }
    }
}

/// Everything a run reports; `--json` prints exactly this.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub endpoint: String,
    pub op: String,
    pub workers: usize,
    pub object_size: u64,
    pub elapsed_secs: f64,
    /// Measured operations (the benchmark phase only).
    pub operations: BTreeMap<String, OpFigures>,
    /// Every S3 request sent, preparation and cleanup included, by S3 operation name:
    /// what the server's own counters should show.
    pub requests: BTreeMap<String, u64>,
}

impl Report {
    pub fn print_table(&self) {
        println!(
            "strata bench: {} against {}, {} workers, {} B objects, {:.1} s",
            self.op, self.endpoint, self.workers, self.object_size, self.elapsed_secs
        );
        println!(
            "{:<8} {:>9} {:>11} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "op", "count", "ops/s", "MiB/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for (name, f) in &self.operations {
            println!(
                "{:<8} {:>9} {:>11.1} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                name, f.count, f.ops_per_sec, f.mib_per_sec, f.p50_ms, f.p90_ms, f.p99_ms, f.max_ms
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut s = Samples::default();
        for ms in 1..=100u64 {
            s.record(Duration::from_millis(ms), 1 << 20);
        }
        let f = OpFigures::from(s, Duration::from_secs(10));
        assert_eq!(
            (f.count, f.p50_ms, f.p90_ms, f.p99_ms, f.max_ms),
            (100, 50.0, 90.0, 99.0, 100.0)
        );
        assert!((f.ops_per_sec - 10.0).abs() < 1e-9 && (f.mib_per_sec - 10.0).abs() < 1e-9);
    }
}
