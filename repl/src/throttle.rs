//! A rate limit in bytes per second. A leaf.

use std::time::{Duration, Instant};

/// Holds a stream of work to a rate in bytes per second (0: no limit): fullsync's
/// traffic, so realtime and clients keep their share of the link; a scrub's reads, so
/// clients keep theirs of the disk.
pub struct Throttle {
    rate: u64,
    started: Instant,
    sent: u64,
}

impl Throttle {
    pub fn new(rate: u64) -> Self {
        Throttle {
            rate,
            started: Instant::now(),
            sent: 0,
        }
    }

    pub async fn wait(&mut self, bytes: u64) {
        if self.rate == 0 {
            return;
        }
        self.sent += bytes;
        let due = Duration::from_secs_f64(self.sent as f64 / self.rate as f64);
        if let Some(ahead) = due.checked_sub(self.started.elapsed()) {
            tokio::time::sleep(ahead).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_throttle_holds_the_rate() {
        let mut t = Throttle::new(1 << 20);
        let start = Instant::now();
        t.wait(256 << 10).await;
        t.wait(256 << 10).await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(450), "512 KiB at 1 MiB/s took {took:?}");
        let mut unlimited = Throttle::new(0);
        let start = Instant::now();
        unlimited.wait(1 << 40).await;
        assert!(start.elapsed() < Duration::from_millis(100), "no limit, no wait");
    }
}
