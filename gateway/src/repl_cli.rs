//! `strata repl ...`: the operator's replication commands, spoken to the local site's
//! admin API.

use crate::admin::{ConnectRequest, RealtimeRequest, VerifyRequest};
use crate::admin_client;
use crate::config::Config;
use crate::server::AnyError;
use clap::Subcommand;
use strata_repl::{FullsyncStatus, PeerRecord, PeerStatus, VerifyReport};

#[derive(Subcommand)]
pub enum ReplCommand {
    /// Make the site at <host:port> (its [repl] listen address) a sink of this site.
    Connect {
        address: String,
        /// The peer's site name: required when this site signs with per-peer secrets
        /// (`[repl] peer_secrets`), whose secret for that peer the link then uses.
        #[arg(long)]
        peer: Option<String>,
    },
    /// Stop replicating to and from a peer site and forget it.
    Disconnect { site: String },
    /// The peer sites this site knows, with their realtime settings.
    Connections,
    /// Realtime streaming of changes to a sink.
    Realtime {
        #[command(subcommand)]
        command: SinkCommand,
    },
    /// Fullsync to a sink: compares hash trees, sends only what differs.
    Fullsync {
        #[command(subcommand)]
        command: SinkCommand,
    },
    /// Whether a sink may fetch blocks it lacks from this site when clients read them
    /// (run on the source).
    ProxyGet {
        #[command(subcommand)]
        command: ProxyGetCommand,
    },
    /// Whether changes this site applied from a source travel on to its other sinks
    /// (default on). Off: only changes made here are sent.
    Cascade {
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Shows the namespace authority (the site that decides user and bucket creation
    /// and deletion), or makes SITE the authority with a new epoch, which peers adopt
    /// at their next hello. Failover: run it on every site that remains.
    Authority { site: Option<String> },
    /// Compares what this site and SINK hold (every live key's version, size, ETag
    /// and block list; users and buckets with their settings) and lists each
    /// difference. Exits 0 when they agree, 1 when they differ.
    Verify {
        sink: String,
        /// Send this site's record (with its blocks) for each difference.
        #[arg(long)]
        repair: bool,
        /// Also check that the sink holds every block of the objects both hold.
        #[arg(long)]
        blocks: bool,
        #[arg(long)]
        json: bool,
    },
    /// Per peer: state, lag, pending entries and bytes, dirty keys, traffic, last error.
    Status {
        #[arg(long)]
        json: bool,
    },
}

/// `realtime` and `fullsync` take the same four commands.
#[derive(Subcommand)]
pub enum SinkCommand {
    /// realtime: record changes for the sink from now on; fullsync: run for the sink now,
    /// after a broken link, every fullsync_interval and on start.
    Enable {
        sink: String,
        /// Send manifests without blocks (they come later by fullsync or proxy-get).
        #[arg(long)]
        metadata_only: bool,
    },
    /// realtime: stop recording and streaming; fullsync: no more runs.
    Disable { sink: String },
    /// realtime: open the stream; fullsync: run now (or resume a stopped run).
    Start { sink: String },
    /// realtime: close the stream (changes keep being recorded up to
    /// realtime_max_bytes); fullsync: end the run in progress (it resumes later).
    Stop { sink: String },
}

impl SinkCommand {
    /// The sink, the admin API's op and its body.
    fn request(self) -> Result<(String, &'static str, Option<String>), AnyError> {
        Ok(match self {
            SinkCommand::Enable { sink, metadata_only } => {
                let body = serde_json::to_string(&RealtimeRequest {
                    blocks: Some(!metadata_only),
                })?;
                (sink, "enable", Some(body))
            }
            SinkCommand::Disable { sink } => (sink, "disable", None),
            SinkCommand::Start { sink } => (sink, "start", None),
            SinkCommand::Stop { sink } => (sink, "stop", None),
        })
    }
}

#[derive(Subcommand)]
pub enum ProxyGetCommand {
    /// SINK may fetch blocks from this site.
    Enable { sink: String },
    /// SINK may not; its reads of objects it lacks blocks of answer 503.
    Disable { sink: String },
}

pub async fn run(cfg: &Config, cmd: ReplCommand) -> Result<(), AnyError> {
    match cmd {
        ReplCommand::Connect { address, peer } => {
            let body = serde_json::to_string(&ConnectRequest { address, peer })?;
            let out = admin_client::call(cfg, "POST", "/v1/repl/connections", Some(body)).await?;
            let peer: PeerRecord = serde_json::from_slice(&out)?;
            println!(
                "connected to site {} ({}) at {}; realtime is disabled until `strata repl realtime enable {}`",
                peer.info.name, peer.info.id, peer.addr, peer.info.name
            );
        }
        ReplCommand::Disconnect { site } => {
            admin_client::call(cfg, "DELETE", &format!("/v1/repl/connections/{site}"), None).await?;
            println!("disconnected {site}");
        }
        ReplCommand::Cascade { state } => {
            admin_client::call(cfg, "POST", &format!("/v1/repl/cascade/{state}"), None).await?;
            println!("cascade {state}");
        }
        ReplCommand::Authority { site } => {
            let out = match site {
                Some(site) => admin_client::call(cfg, "POST", &format!("/v1/repl/authority/{site}"), None).await?,
                None => admin_client::call(cfg, "GET", "/v1/repl/authority", None).await?,
            };
            println!("{}", authority_line(&serde_json::from_slice(&out)?));
        }
        ReplCommand::Connections => {
            let out = admin_client::call(cfg, "GET", "/v1/repl/connections", None).await?;
            let peers: Vec<PeerRecord> = serde_json::from_slice(&out)?;
            println!("{:<16} {:<18} {:<22} {:<8} REALTIME", "SITE", "ID", "ADDRESS", "ROLE");
            for p in peers {
                let realtime = match p.sink {
                    Some(s) => format!(
                        "{}, {}{}",
                        if s.enabled { "enabled" } else { "disabled" },
                        if s.started { "started" } else { "stopped" },
                        if s.blocks { "" } else { ", metadata only" }
                    ),
                    None => "-".into(),
                };
                println!(
                    "{:<16} {:<18} {:<22} {:<8} {realtime}",
                    p.info.name,
                    p.info.id.to_string(),
                    p.addr,
                    roles(p.sink.is_some(), p.source)
                );
            }
        }
        ReplCommand::Realtime { command } => {
            let (sink, op, body) = command.request()?;
            admin_client::call(cfg, "POST", &format!("/v1/repl/realtime/{sink}/{op}"), body).await?;
            println!("realtime {op}: {sink}");
        }
        ReplCommand::Fullsync { command } => {
            let (sink, op, body) = command.request()?;
            admin_client::call(cfg, "POST", &format!("/v1/repl/fullsync/{sink}/{op}"), body).await?;
            println!("fullsync {op}: {sink}");
        }
        ReplCommand::ProxyGet { command } => {
            let (sink, op) = match command {
                ProxyGetCommand::Enable { sink } => (sink, "enable"),
                ProxyGetCommand::Disable { sink } => (sink, "disable"),
            };
            admin_client::call(cfg, "POST", &format!("/v1/repl/proxy-get/{sink}/{op}"), None).await?;
            println!("proxy-get {op}: {sink}");
        }
        ReplCommand::Verify {
            sink,
            repair,
            blocks,
            json,
        } => {
            let body = serde_json::to_string(&VerifyRequest { repair, blocks })?;
            let out = admin_client::call(cfg, "POST", &format!("/v1/repl/verify/{sink}"), Some(body)).await?;
            let report: VerifyReport = serde_json::from_slice(&out)?;
            if json {
                println!("{}", String::from_utf8_lossy(&out));
            } else {
                print_verify(&report);
            }
            if report.differences > 0 {
                // The exit status is the answer scripts read: the sites differ.
                std::process::exit(1);
            }
        }
        ReplCommand::Status { json } => {
            let out = admin_client::call(cfg, "GET", "/v1/repl/status", None).await?;
            if json {
                println!("{}", String::from_utf8_lossy(&out));
            } else {
                let v: serde_json::Value = serde_json::from_slice(&out)?;
                let peers: Vec<PeerStatus> = serde_json::from_value(v["peers"].clone())?;
                println!("{}", authority_line(&v["authority"]));
                if let Some(feeder) = v["feeder"].as_str().filter(|_| v["feeding"] == false) {
                    println!("this gateway does not feed the sinks (the one at {feeder} does): cursors and lag below are the site's, link states this gateway's");
                }
                if let Some(w) = v["plain_text_warning"].as_str() {
                    println!("WARNING: {w}");
                }
                for r in v["refused_credentials"].as_array().into_iter().flatten() {
                    println!("REFUSED: requests signed as {} ({})", r["access_key"], r["reason"]);
                }
                print_status(&peers);
                let p = &v["proxy_get"];
                if p["requests"].as_u64().unwrap_or(0) > 0 {
                    println!(
                        "proxy-get: {} reads needed blocks from a source; {} blocks, {} bytes fetched; {} failures",
                        p["requests"], p["blocks"], p["bytes"], p["failures"]
                    );
                }
            }
        }
    }
    Ok(())
}

fn print_verify(r: &VerifyReport) {
    for d in &r.shown {
        println!("{:<15} {}  {}", d.kind, d.key, d.detail);
    }
    if r.differences > r.shown.len() as u64 {
        println!("... and {} more", r.differences - r.shown.len() as u64);
    }
    let blocks = if r.blocks {
        format!(", {} blocks checked", r.blocks_checked)
    } else {
        String::new()
    };
    let repaired = if r.repair {
        format!("; {} records sent again (run verify again to confirm)", r.repaired)
    } else {
        String::new()
    };
    println!(
        "{}: {} keys compared{blocks}, {} differences in {} ms{repaired}",
        r.sink,
        r.keys_compared,
        r.differences,
        r.ended_ms.saturating_sub(r.started_ms)
    );
}

fn roles(sink: bool, source: bool) -> &'static str {
    match (sink, source) {
        (true, true) => "both",
        (true, false) => "sink",
        (false, true) => "source",
        (false, false) => "-",
    }
}

fn authority_line(claim: &serde_json::Value) -> String {
    match claim["site"].as_str() {
        Some(site) => format!("namespace authority: {site} (epoch {})", claim["epoch"]),
        None => "namespace authority: none (each site decides its own users and buckets)".into(),
    }
}

fn print_status(peers: &[PeerStatus]) {
    println!(
        "{:<16} {:<7} {:<11} {:>9} {:>9} {:>11} {:>7} {:>22}  LAST ERROR / REASON",
        "PEER", "ROLE", "STATE", "LAG", "PENDING", "PENDING_B", "DIRTY", "OBJECTS/BYTES"
    );
    for p in peers {
        if let Some(s) = &p.sink {
            println!(
                "{:<16} {:<7} {:<11} {:>7}ms {:>9} {:>11} {:>7} {:>22}  {}",
                p.site,
                "sink",
                s.state,
                s.lag_ms,
                s.pending_entries,
                s.pending_bytes,
                s.dirty_keys,
                format!("sent {}/{}", s.sent.objects, s.sent.bytes),
                s.reason.as_deref().or(s.last_error.as_deref()).unwrap_or("")
            );
            if s.sent.raw_bytes > s.sent.bytes {
                println!(
                    "{:<16} compression: {} bytes sent for {} ({:.2}x)",
                    "",
                    s.sent.bytes,
                    s.sent.raw_bytes,
                    s.sent.raw_bytes as f64 / s.sent.bytes.max(1) as f64
                );
            }
        }
        if let Some(s) = p.sink.as_ref().filter(|s| s.not_carried > 0) {
            println!(
                "{:<16} purge watermark: {} changes not carried yet (their deletes keep their graves)",
                "", s.not_carried
            );
        }
        if let Some(v) = p.sink.as_ref().and_then(|s| s.last_verify.as_ref()) {
            println!(
                "{:<16} verify: {} keys compared, {} differences{}",
                "",
                v.keys_compared,
                v.differences,
                if v.repair {
                    format!(", {} records sent again", v.repaired)
                } else {
                    String::new()
                }
            );
        }
        if let Some(f) = p
            .sink
            .as_ref()
            .map(|s| &s.fullsync)
            .filter(|f| f.enabled || f.last.is_some())
        {
            println!("{:<16} fullsync {}", "", fullsync_line(f));
        }
        if let Some(s) = &p.source {
            let latency = s
                .latency
                .map(|l| format!("apply delay p50 {} ms, p99 {} ms", l.p50_ms, l.p99_ms))
                .unwrap_or_default();
            println!(
                "{:<16} {:<7} {:<11} {:>9} {:>9} {:>11} {:>7} {:>22}  {latency}",
                p.site,
                "source",
                "receiving",
                "-",
                "-",
                "-",
                "-",
                format!("recv {}/{}", s.received.objects, s.received.bytes),
            );
            if let Some(why) = &s.held_back {
                println!("{:<16} HELD BACK: {why}", "");
            }
        }
    }
}

/// One line of fullsync progress or, between runs, the last result.
fn fullsync_line(f: &FullsyncStatus) -> String {
    let state = serde_json::to_value(f.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut line = state;
    if !f.enabled {
        line.push_str(" (disabled)");
    }
    if f.started_ms.is_some() {
        line.push_str(&format!(
            ": {}/{} partitions ({:.1}%), {} keys compared, {} different, {} objects / {} bytes sent",
            f.partitions_done,
            f.partitions_total,
            f.percent,
            f.figures.keys_compared,
            f.figures.differences,
            f.figures.objects_sent,
            f.figures.bytes_sent
        ));
        if let Some(eta) = f.eta_secs {
            line.push_str(&format!(", about {eta} s left"));
        }
        if let Some(p) = f.resumed_at_partition {
            line.push_str(&format!(", resumed at partition {p}"));
        }
    }
    if let Some(l) = &f.last {
        line.push_str(&format!(
            "; last: {} in {} ms, {} keys compared, {} different, {} objects / {} bytes sent",
            l.result,
            l.duration_ms,
            l.figures.keys_compared,
            l.figures.differences,
            l.figures.objects_sent,
            l.figures.bytes_sent
        ));
    }
    if let Some(e) = &f.last_error {
        line.push_str(&format!("; last error: {e}"));
    }
    line
}
