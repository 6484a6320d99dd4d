//! Hybrid logical clock: wall-clock milliseconds in the high 48 bits, a counter in the
//! low 16. Timestamps from one site are strictly increasing even if the wall clock steps
//! back, and they order changes across sites for last-writer-wins.

use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Hlc(pub u64);

impl Hlc {
    pub fn millis(self) -> u64 {
        self.0 >> 16
    }
}

#[derive(Debug, Default)]
pub struct Clock {
    last: Mutex<u64>,
}

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Clock {
    /// A timestamp after both this clock's last and `floor` (the version of the record
    /// a write replaces): taken inside the commit, it makes a key's live record carry
    /// the greatest timestamp of the writes committed to it here.
    pub fn now_after(&self, floor: Option<Hlc>) -> Hlc {
        let wall = now_millis() << 16;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let floor = floor.map_or(0, |f| f.0);
        *last = wall.max(*last + 1).max(floor + 1);
        Hlc(*last)
    }

    /// The newest timestamp the clock has issued or observed.
    pub fn last(&self) -> Hlc {
        Hlc(*self.last.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Moves the clock past a timestamp seen from elsewhere (another site, or the
    /// newest record found on disk at start-up).
    pub fn observe(&self, seen: Hlc) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        *last = (*last).max(seen.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_increasing_even_after_observing_the_future() {
        let c = Clock::default();
        let a = c.now_after(None);
        c.observe(Hlc(a.0 + (10_000 << 16)));
        let b = c.now_after(None);
        assert!(b > a);
        assert!(b.millis() >= a.millis() + 10_000);
        assert!(c.now_after(None) > b);
    }

    #[test]
    fn a_stamp_passes_the_record_it_replaces() {
        let c = Clock::default();
        let ahead = Hlc(c.now_after(None).0 + (5_000 << 16));
        let s = c.now_after(Some(ahead));
        assert!(s > ahead);
        assert!(c.now_after(None) > s, "the clock moved past it");
    }
}
