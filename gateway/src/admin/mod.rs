//! The admin API: a small JSON API on its own port, behind a bearer token, that the
//! `strata admin` commands talk to.

mod repl;
mod reply;
mod sessions;
mod site;
mod state;
mod ui;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use reply::{error, json, on_off, store_error};
use serde::{Deserialize, Serialize};
use strata_blockstore::{Change, Store, User};
use strata_repl::{NamespaceOp, ReplError};

pub use repl::{ConnectRequest, RealtimeRequest, VerifyRequest};
pub use site::SiteStatus;
pub use state::AdminState;
pub use ui::spawn_sampler;

/// A user as the admin API shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct UserView {
    pub name: String,
    pub access_key: String,
    pub secret_key: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            name: u.name,
            access_key: u.access_key,
            secret_key: u.secret_key,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CreateUser {
    pub name: String,
    #[serde(default)]
    pub access_key: Option<String>,
    #[serde(default)]
    pub secret_key: Option<String>,
}

pub fn service(state: AdminState) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/status", get(status))
        .route("/v1/read-only/{state}", post(read_only))
        .route("/v1/scrub", post(scrub))
        .route("/v1/metrics", get(metrics))
        .route("/v1/users", get(list_users).post(create_user))
        .route("/v1/users/{name}", delete(delete_user))
        .route("/v1/users/{name}/key/rotate", post(rotate_user_key))
        .route("/v1/repl/connections", get(repl::connections).post(repl::connect))
        .route("/v1/repl/connections/{site}", delete(repl::disconnect))
        .route("/v1/repl/realtime/{site}/{op}", post(repl::realtime))
        .route("/v1/repl/fullsync/{site}/{op}", post(repl::fullsync))
        .route("/v1/repl/proxy-get/{site}/{op}", post(repl::proxy_get))
        .route("/v1/repl/cascade/{state}", post(repl::cascade))
        .route("/v1/repl/verify/{site}", post(repl::verify))
        .route("/v1/repl/status", get(repl::status))
        .route("/v1/repl/authority", get(repl::authority))
        .route("/v1/repl/authority/{site}", post(repl::set_authority))
        .route("/metrics", get(repl::prometheus))
        .layer(axum::middleware::from_fn_with_state(state.clone(), require_token))
        // The page signs in with a form and a cookie, not the bearer token.
        .merge(ui::routes())
        .with_state(state)
}

async fn require_token(State(s): State<AdminState>, req: Request, next: axum::middleware::Next) -> Response {
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compared without stopping at the first difference: the time taken says nothing
    // about how much of a guess was right.
    if !given.is_some_and(|g| ui::constant_eq(g.as_bytes(), s.token.as_bytes())) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong admin token");
    }
    next.run(req).await
}

async fn health(State(s): State<AdminState>) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "site": s.site_name, "site_id": s.store.site_id().to_string() }),
    )
}

/// `strata admin scrub`: a whole scrub now (after the one in progress, if any); the
/// answer is its result.
async fn scrub(State(s): State<AdminState>) -> Response {
    match s.scrub.run().await {
        Ok(result) => json(StatusCode::OK, &result),
        Err(e) => store_error(e),
    }
}

/// `strata admin read-only on|off`.
async fn read_only(State(s): State<AdminState>, Path(state): Path<String>) -> Response {
    let on = match on_off(&state, "read-only") {
        Ok(on) => on,
        Err(why) => return error(StatusCode::NOT_FOUND, &why),
    };
    match s.store.run(move |st| st.set_read_only(on)).await {
        Ok(()) => {
            tracing::info!(read_only = on, "client writes {}", if on { "refused" } else { "taken" });
            json(StatusCode::OK, &serde_json::json!({ "read_only": on }))
        }
        Err(e) => store_error(e),
    }
}

async fn status(State(s): State<AdminState>) -> Response {
    match site::site_status(&s).await {
        Ok(st) => json(StatusCode::OK, &st),
        Err(r) => r,
    }
}

async fn metrics(State(s): State<AdminState>) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "operations": s.metrics.snapshot() }),
    )
}

async fn list_users(State(s): State<AdminState>) -> Response {
    match s.store.run(|st| st.list_users()).await.map_err(store_error) {
        Ok(users) => json(
            StatusCode::OK,
            &users.into_iter().map(UserView::from).collect::<Vec<_>>(),
        ),
        Err(r) => r,
    }
}

/// A user operation, decided by the namespace authority when the group has one that is
/// not this site (`forwarded`), else here (`local`). The user it leaves, if any.
async fn user_op(
    s: &AdminState,
    forwarded: NamespaceOp,
    local: impl FnOnce(&Store) -> strata_blockstore::Result<Option<User>> + Send + 'static,
) -> Result<Option<User>, Response> {
    if let Some(repl) = &s.repl {
        match repl.forward(forwarded).await {
            Ok(Some(changes)) => {
                return Ok(changes.into_iter().find_map(|c| match c {
                    Change::User(u) => Some(u),
                    _ => None,
                }))
            }
            Ok(None) => {}
            Err(ReplError::Store(e)) => return Err(store_error(e)),
            Err(e) => return Err(error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())),
        }
    }
    s.store.run(local).await.map_err(store_error)
}

fn user_answer(status: StatusCode, u: Result<Option<User>, Response>) -> Response {
    match u {
        Ok(Some(u)) => json(status, &UserView::from(u)),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

async fn create_user(State(s): State<AdminState>, body: axum::body::Bytes) -> Response {
    let req: CreateUser = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let op = NamespaceOp::CreateUser {
        name: req.name.clone(),
        access_key: req.access_key.clone(),
        secret_key: req.secret_key.clone(),
    };
    let made = user_op(&s, op, move |st| {
        st.create_user(&req.name, req.access_key.as_deref(), req.secret_key.as_deref())
            .map(Some)
    });
    user_answer(StatusCode::CREATED, made.await)
}

/// `strata admin user key rotate NAME [--grace SECS]`: a new key pair; the old key is
/// refused at once, or once the grace period is over.
async fn rotate_user_key(State(s): State<AdminState>, Path(name): Path<String>, RawQuery(q): RawQuery) -> Response {
    // `?grace_secs=N`: seconds the old key is still accepted.
    let grace_secs = match q
        .as_deref()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("grace_secs=")))
    {
        None => 0,
        Some(v) => match v.parse() {
            Ok(n) => n,
            Err(_) => return error(StatusCode::BAD_REQUEST, "grace_secs is a number of seconds"),
        },
    };
    let op = NamespaceOp::RotateUserKey {
        name: name.clone(),
        grace_secs,
    };
    let grace = std::time::Duration::from_secs(grace_secs);
    let rotated = user_op(&s, op, move |st| st.rotate_user_key(&name, grace).map(Some));
    user_answer(StatusCode::OK, rotated.await)
}

async fn delete_user(State(s): State<AdminState>, Path(name): Path<String>) -> Response {
    let op = NamespaceOp::DeleteUser { name: name.clone() };
    let deleted = user_op(&s, op, move |st| st.delete_user(&name).map(|()| None));
    user_answer(StatusCode::NO_CONTENT, deleted.await.map(|_| None))
}
