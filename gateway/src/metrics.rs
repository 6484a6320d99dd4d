//! Counters of what the site served, per S3 operation, for operators and for checking
//! load generators against. Shared by the S3 service (which counts) and the admin API
//! (which reports).

use http::StatusCode;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OperationCounts {
    /// Requests answered, whatever the outcome.
    pub requests: u64,
    /// Of those, answered with a 4xx status.
    pub client_errors: u64,
    /// Of those, answered with a 5xx status.
    pub server_errors: u64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    ops: Mutex<BTreeMap<&'static str, OperationCounts>>,
}

impl Metrics {
    pub fn record(&self, operation: &'static str, status: StatusCode) {
        let mut ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        let c = ops.entry(operation).or_default();
        c.requests += 1;
        if status.is_client_error() {
            c.client_errors += 1;
        } else if status.is_server_error() {
            c.server_errors += 1;
        }
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, OperationCounts> {
        self.ops.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
