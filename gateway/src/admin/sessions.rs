//! The replication page's sign-ins: a session is a random id the site remembers until
//! it expires or is signed out (so signing out ends it, not just the browser's copy),
//! and wrong tokens are rate limited, so the form is no faster an oracle for the admin
//! token than the API.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// How long a sign-in lasts.
pub const SESSION_SECS: u64 = 12 * 3600;
/// Sessions remembered at once; past it the oldest goes.
const MAX_SESSIONS: usize = 1000;
/// Wrong tokens allowed per window before the form refuses (429) until the window
/// has passed: a guesser gets ten tries a minute. The bearer-token API is not affected.
const MAX_FAILURES: usize = 10;
const FAILURE_WINDOW_SECS: u64 = 60;

#[derive(Default)]
pub struct Sessions {
    /// Session id -> when it expires (Unix s).
    live: Mutex<HashMap<String, u64>>,
    /// When the recent wrong tokens were given (Unix s).
    failures: Mutex<VecDeque<u64>>,
}

impl Sessions {
    /// A new session's id.
    pub fn open(&self, now: u64) -> String {
        let id = hex::encode(rand::random::<[u8; 32]>());
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|_, expiry| *expiry > now);
        if live.len() >= MAX_SESSIONS {
            if let Some(oldest) = live.iter().min_by_key(|(_, e)| **e).map(|(k, _)| k.clone()) {
                live.remove(&oldest);
            }
        }
        live.insert(id.clone(), now + SESSION_SECS);
        id
    }

    pub fn is_live(&self, id: &str, now: u64) -> bool {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.get(id).is_some_and(|expiry| *expiry > now)
    }

    pub fn close(&self, id: &str) {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    /// Whether the form may check a token now (not too many wrong ones lately).
    pub fn may_try(&self, now: u64) -> bool {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        while f.front().is_some_and(|t| *t + FAILURE_WINDOW_SECS <= now) {
            f.pop_front();
        }
        f.len() < MAX_FAILURES
    }

    pub fn failed(&self, now: u64) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_or_expired_session_is_over_and_guessing_is_slowed() {
        let s = Sessions::default();
        let id = s.open(100);
        assert!(s.is_live(&id, 101));
        assert!(!s.is_live(&id, 100 + SESSION_SECS));
        s.close(&id);
        assert!(!s.is_live(&id, 101));
        for _ in 0..MAX_FAILURES {
            assert!(s.may_try(200));
            s.failed(200);
        }
        assert!(!s.may_try(230), "ten wrong tokens in a minute: refused");
        assert!(s.may_try(200 + FAILURE_WINDOW_SECS), "a minute later: allowed again");
    }
}
