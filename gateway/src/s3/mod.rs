//! The S3 API.

mod access;
pub mod authn;
mod authz;
mod blocks;
mod body;
mod checksum;
mod conditions;
pub mod error;
mod grants;
mod handlers;
mod meta_text;
mod operation;
mod policy;
mod request;
mod response;
mod router;
pub mod signed;
mod sigv2;
mod sigv4;
mod state;
pub mod uploads;
mod xml;

pub use state::S3State;

/// The S3 service: every path and method goes to the S3 router.
pub fn service(state: S3State) -> axum::Router {
    axum::Router::new().fallback(router::handle).with_state(state)
}
