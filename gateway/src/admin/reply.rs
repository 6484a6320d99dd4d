//! JSON answers and errors of the admin API.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

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
