//! The replication page at `/` of the admin port. A login form takes the admin token
//! (POSTed, never in a URL) and sets a session cookie; the page (HTML, CSS and script
//! embedded in the binary: no CDN) shows per peer state, lag, queue, dirty keys,
//! fullsync progress and history, proxy-get counters and throughput charts, refreshed
//! every 2 s from `/ui/data`.

use crate::admin::repl::view;
use crate::admin::reply::{error, json};
use crate::admin::sessions::SESSION_SECS;
use crate::admin::site::site_status;
use crate::admin::state::{AdminState, PeerTraffic, Sample};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::time::Duration;

const PAGE: &str = include_str!("ui/page.html");
const LOGIN: &str = include_str!("ui/login.html");
const COOKIE: &str = "strata_session";
/// Throughput samples kept: one every `SAMPLE_EVERY`, five minutes' worth.
const SAMPLES: usize = 150;
const SAMPLE_EVERY: Duration = Duration::from_secs(2);

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/", get(page))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/ui/data", get(data))
}

fn now_secs() -> u64 {
    strata_blockstore::now_millis() / 1000
}

/// The session ids the request's cookies carry (kept in memory: a restart signs
/// everyone out).
fn session_ids(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

fn signed_in(s: &AdminState, headers: &HeaderMap) -> bool {
    let now = now_secs();
    session_ids(headers).any(|id| s.sessions.is_live(id, now))
}

/// The cookie's attributes: `Secure` when the page was reached over TLS (a proxy in
/// front of the admin port that says so), so the browser never sends it in the clear.
fn cookie_attributes(headers: &HeaderMap) -> &'static str {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    match https {
        true => "Path=/; HttpOnly; SameSite=Strict; Secure",
        false => "Path=/; HttpOnly; SameSite=Strict",
    }
}

/// Compares without stopping at the first difference (tokens and MACs).
pub(super) fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert("content-type", "text/html; charset=utf-8".parse().expect("static"));
    h.insert("cache-control", "no-store".parse().expect("static"));
    // Everything the page needs is in it; nothing may load from elsewhere.
    h.insert(
        "content-security-policy",
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:"
            .parse()
            .expect("static"),
    );
    r
}

fn redirect_home(cookie: String) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut().insert("location", "/".parse().expect("static"));
    if let Ok(v) = cookie.parse() {
        r.headers_mut().insert("set-cookie", v);
    }
    r
}

async fn page(State(s): State<AdminState>, headers: HeaderMap) -> Response {
    match signed_in(&s, &headers) {
        true => html(StatusCode::OK, PAGE.to_owned()),
        false => html(StatusCode::OK, LOGIN.to_owned()),
    }
}

/// The form's `token` field, from an `application/x-www-form-urlencoded` body.
fn form_token(body: &[u8]) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "token").then(|| {
            let v = v.replace('+', " ");
            percent_encoding::percent_decode_str(&v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

async fn login(State(s): State<AdminState>, headers: HeaderMap, body: Bytes) -> Response {
    let now = now_secs();
    if !s.sessions.may_try(now) {
        tracing::warn!("replication page: sign-in refused, too many wrong tokens in the last minute");
        let page = LOGIN.replace(
            "<!--ERROR-->",
            "<div class=\"error\">Too many wrong tokens: try again in a minute.</div>",
        );
        return html(StatusCode::TOO_MANY_REQUESTS, page);
    }
    let given = form_token(&body).unwrap_or_default();
    if !constant_eq(given.as_bytes(), s.token.as_bytes()) {
        s.sessions.failed(now);
        tracing::warn!("replication page: sign-in with a wrong admin token");
        let page = LOGIN.replace(
            "<!--ERROR-->",
            "<div class=\"error\">That is not this site's admin token.</div>",
        );
        return html(StatusCode::UNAUTHORIZED, page);
    }
    let id = s.sessions.open(now);
    redirect_home(format!(
        "{COOKIE}={id}; {}; Max-Age={SESSION_SECS}",
        cookie_attributes(&headers)
    ))
}

/// Ends the session on the site, not only in the browser: a copy of the cookie taken
/// before no longer signs in.
async fn logout(State(s): State<AdminState>, headers: HeaderMap) -> Response {
    for id in session_ids(&headers) {
        s.sessions.close(id);
    }
    redirect_home(format!("{COOKIE}=; {}; Max-Age=0", cookie_attributes(&headers)))
}

/// The page's figures: the site, replication as `strata repl status --json` shows it,
/// and the throughput samples.
async fn data(State(s): State<AdminState>, headers: HeaderMap) -> Response {
    if !signed_in(&s, &headers) {
        return error(StatusCode::UNAUTHORIZED, "sign in first");
    }
    let site = match site_status(&s).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let repl = match &s.repl {
        Some(r) => match view(r).await {
            Ok(v) => Some(v),
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        None => None,
    };
    let history: Vec<Sample> = s
        .history
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    json(
        StatusCode::OK,
        &serde_json::json!({ "site": site, "repl": repl, "history": history }),
    )
}

/// Samples every peer's traffic every 2 s for the page's charts.
pub fn spawn_sampler(s: AdminState) {
    let Some(repl) = s.repl.clone() else { return };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        loop {
            tick.tick().await;
            let Ok(peers) = repl.status().await else { continue };
            let sample = Sample {
                t_ms: strata_blockstore::now_millis(),
                peers: peers
                    .iter()
                    .map(|p| {
                        let sent = p.sink.as_ref().map(|k| k.sent).unwrap_or_default();
                        let received = p.source.as_ref().map(|k| k.received).unwrap_or_default();
                        let t = PeerTraffic {
                            sent_bytes: sent.bytes,
                            received_bytes: received.bytes,
                            sent_changes: sent.changes,
                            received_changes: received.changes,
                        };
                        (p.site.clone(), t)
                    })
                    .collect(),
            };
            let mut h = s.history.lock().unwrap_or_else(|e| e.into_inner());
            if h.len() == SAMPLES {
                h.pop_front();
            }
            h.push_back(sample);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_comparisons() {
        assert_eq!(form_token(b"token=a%2Bb+c&x=1").as_deref(), Some("a+b c"));
        assert_eq!(form_token(b"x=1"), None);
        assert!(constant_eq(b"abc", b"abc") && !constant_eq(b"abc", b"abd") && !constant_eq(b"ab", b"abc"));
    }
}
