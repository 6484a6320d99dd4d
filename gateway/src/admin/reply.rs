//! JSON answers and errors of the admin API.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

/// Store errors answer with the status of the one store-error mapping (the S3 one)
/// and the store's own words.
pub fn store_error(e: strata_blockstore::Error) -> Response {
    let message = e.to_string();
    let (_, status, _) = crate::s3::error::S3Error::Store(e).parts();
    error(status, &message)
}

/// The `on` or `off` of a switch's path; otherwise why not (`what` names the switch).
pub fn on_off(word: &str, what: &str) -> Result<bool, String> {
    match word {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("{what} is on or off, not {other:?}")),
    }
}

/// An optional JSON request body: its options, or the defaults when it is empty.
pub fn options<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, (StatusCode, String)> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
}

pub fn error(status: StatusCode, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

pub fn json<T: Serialize>(status: StatusCode, v: &T) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(v).unwrap_or_default()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("static header"));
    r
}

pub fn text(body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        "content-type",
        "text/plain; version=0.0.4".parse().expect("static header"),
    );
    r
}
