//! Everything that crosses sites: site identity, the signed link between sites,
//! realtime streaming of the change log with per-sink cursors, the bounded log with its
//! dirty sets, and replication status.
//!
//! A source streams every committed change to each sink in commit order; the sink
//! applies it idempotently by last-writer-wins (HLC, then site id), durably, then acks;
//! the source's cursor moves only on ack and is persisted.

mod auth;
mod authority;
mod compress;
mod counters;
mod error;
mod feeder;
mod fullsync;
mod fullsync_record;
mod link;
mod locks;
mod peer;
mod protocol;
mod proxy_get;
mod queue;
mod repair;
mod replication;
mod sender;
mod server;
mod site;
mod status;
mod throttle;
mod verify;
mod verify_record;

pub use auth::{Verifier, REGION, SERVICE};
pub use authority::{AuthorityClaim, NamespaceOp};
pub use counters::{Latency, ProxyGetStatus, Traffic};
pub use error::{ReplError, Result};
pub use fullsync_record::{FullsyncFigures, FullsyncRecord, FullsyncResult, FullsyncRun, FullsyncState};
pub use link::TlsClient;
pub use peer::{any as has_peers, PeerRecord, SinkSettings};
pub use protocol::{SiteInfo, PROTOCOL_VERSION};
pub use proxy_get::ProxyRead;
pub use replication::{ReplConfig, Replication, SinkOp};
pub use status::{FullsyncStatus, PeerStatus, SinkStatus, SourceStatus};
pub use throttle::Throttle;
pub use verify_record::{Difference, VerifyReport};
