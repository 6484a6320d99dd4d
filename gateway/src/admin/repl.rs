//! Admin endpoints for replication: connections, realtime commands, status (JSON and
//! Prometheus text).

use crate::admin::reply::{error, json, on_off, options, text};
use crate::admin::state::AdminState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use strata_repl::{PeerRecord, ReplError, Replication, SinkOp};

#[derive(Debug, Serialize, Deserialize)]
pub struct ConnectRequest {
    pub address: String,
    /// The peer's site name: needed when this site signs with per-peer secrets.
    #[serde(default)]
    pub peer: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RealtimeRequest {
    /// For enable: stream blocks with the manifests (default true).
    #[serde(default)]
    pub blocks: Option<bool>,
}

/// `strata repl verify`'s options.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct VerifyRequest {
    /// Send this site's record for each difference.
    #[serde(default)]
    pub repair: bool,
    /// Also check that the sink holds every block of the objects both hold.
    #[serde(default)]
    pub blocks: bool,
}

fn repl_error(e: ReplError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error(status, &e.to_string())
}

fn not_configured() -> Response {
    error(
        StatusCode::CONFLICT,
        "replication is not configured on this site: add a [repl] section to its config",
    )
}

pub async fn connections(State(s): State<AdminState>) -> Response {
    match &s.repl {
        Some(r) => json(StatusCode::OK, &r.connections()),
        None => not_configured(),
    }
}

pub async fn connect(State(s): State<AdminState>, body: axum::body::Bytes) -> Response {
    let Some(r) = &s.repl else {
        return not_configured();
    };
    let req: ConnectRequest = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match r.connect(&req.address, req.peer.as_deref()).await {
        Ok(peer) => json(StatusCode::OK, &peer),
        Err(e) => repl_error(e),
    }
}

pub async fn disconnect(State(s): State<AdminState>, Path(site): Path<String>) -> Response {
    let Some(r) = &s.repl else {
        return not_configured();
    };
    match r.disconnect(&site).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => repl_error(e),
    }
}

/// An operator's command for a sink's realtime or fullsync: enable (with `blocks`,
/// default true), disable, start, stop.
fn sink_op(op: &str, body: &[u8], what: &str) -> Result<SinkOp, (StatusCode, String)> {
    let req: RealtimeRequest = options(body)?;
    Ok(match op {
        "enable" => SinkOp::Enable {
            blocks: req.blocks.unwrap_or(true),
        },
        "disable" => SinkOp::Disable,
        "start" => SinkOp::Start,
        "stop" => SinkOp::Stop,
        other => return Err((StatusCode::NOT_FOUND, format!("no {what} command {other:?}"))),
    })
}

fn peer_reply(r: strata_repl::Result<PeerRecord>) -> Response {
    match r {
        Ok(peer) => json(StatusCode::OK, &peer),
        Err(e) => repl_error(e),
    }
}

pub async fn realtime(
    State(s): State<AdminState>,
    Path((site, op)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Some(r) = &s.repl else {
        return not_configured();
    };
    match sink_op(&op, &body, "realtime") {
        Ok(op) => peer_reply(r.realtime(&site, op).await),
        Err((status, why)) => error(status, &why),
    }
}

pub async fn fullsync(
    State(s): State<AdminState>,
    Path((site, op)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Some(r) = &s.repl else {
        return not_configured();
    };
    match sink_op(&op, &body, "fullsync") {
        Ok(op) => peer_reply(r.fullsync(&site, op).await),
        Err((status, why)) => error(status, &why),
    }
}

pub async fn proxy_get(State(s): State<AdminState>, Path((site, op)): Path<(String, String)>) -> Response {
    let Some(r) = &s.repl else {
        return not_configured();
    };
    let enable = match op.as_str() {
        "enable" => true,
        "disable" => false,
        other => return error(StatusCode::NOT_FOUND, &format!("no proxy-get command {other:?}")),
    };
    peer_reply(r.proxy_get(&site, enable).await)
}

pub async fn cascade(State(s): State<AdminState>, Path(state): Path<String>) -> Response {
    let Some(r) = &s.repl else {
        return not_configured();
    };
    let on = match on_off(&state, "cascade") {
        Ok(on) => on,
        Err(why) => return error(StatusCode::NOT_FOUND, &why),
    };
    match r.set_cascade(on).await {
        Ok(()) => json(StatusCode::OK, &serde_json::json!({ "cascade": on })),
        Err(e) => repl_error(e),
    }
}

pub async fn verify(State(s): State<AdminState>, Path(site): Path<String>, body: axum::body::Bytes) -> Response {
    let Some(r) = &s.repl else {
        return not_configured();
    };
    let req: VerifyRequest = match options(&body) {
        Ok(v) => v,
        Err((status, why)) => return error(status, &why),
    };
    match r.verify(&site, req.repair, req.blocks).await {
        Ok(report) => json(StatusCode::OK, &report),
        Err(e) => repl_error(e),
    }
}

/// What `strata repl status --json` and the replication page show.
pub async fn view(r: &std::sync::Arc<Replication>) -> strata_repl::Result<serde_json::Value> {
    let peers = r.status().await?;
    Ok(serde_json::json!({
        "site": r.me().name,
        "site_id": r.me().id.to_string(),
        "cascade": r.cascade(),
        // A site of many gateways over Ceph: whether this one feeds the sinks.
        "feeding": r.feeding(),
        "feeder": r.feeder().await?,
        "authority": r.authority(),
        "plain_text_warning": r.plain_text_warning(),
        "refused_credentials": r.refused_credentials(),
        "peers": peers,
        "proxy_get": r.proxy_get_status(),
    }))
}

/// `strata repl authority`: the namespace authority this site follows.
pub async fn authority(State(s): State<AdminState>) -> Response {
    match &s.repl {
        Some(r) => json(StatusCode::OK, &r.authority()),
        None => not_configured(),
    }
}

/// `strata repl authority SITE`: makes SITE the namespace authority.
pub async fn set_authority(State(s): State<AdminState>, Path(site): Path<String>) -> Response {
    let Some(r) = &s.repl else {
        return not_configured();
    };
    match r.set_authority(&site).await {
        Ok(claim) => json(StatusCode::OK, &claim),
        Err(e) => repl_error(e),
    }
}

pub async fn status(State(s): State<AdminState>) -> Response {
    let Some(r) = &s.repl else {
        return not_configured();
    };
    match view(r).await {
        Ok(v) => json(StatusCode::OK, &v),
        Err(e) => repl_error(e),
    }
}

/// Prometheus text: the data disk's space, then replication figures when replication
/// is configured.
pub async fn prometheus(State(s): State<AdminState>) -> Response {
    let mut out = match crate::admin::site::site_status(&s).await {
        Ok(site) => site.prometheus(),
        Err(r) => return r,
    };
    if let Some(r) = &s.repl {
        match r.prometheus().await {
            Ok(t) => out.push_str(&t),
            Err(e) => return repl_error(e),
        }
    }
    text(out)
}
