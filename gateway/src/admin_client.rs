//! The client side of the admin API, for the `strata admin` commands.

use crate::config::Config;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the site's admin API at {0}: {1}")]
    Connect(std::net::SocketAddr, std::io::Error),
    #[error("admin API request failed: {0}")]
    Http(#[from] hyper::Error),
    #[error("admin API answered {status}: {body}")]
    Status { status: u16, body: String },
}

/// Sends one request to the admin API and returns the body of a 2xx answer.
pub async fn call(cfg: &Config, method: &str, path: &str, body: Option<String>) -> Result<Bytes, ClientError> {
    let addr = cfg.admin.listen;
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| ClientError::Connect(addr, e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("authorization", format!("Bearer {}", cfg.admin.token))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("valid request");
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        return Err(ClientError::Status {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    Ok(bytes)
}
