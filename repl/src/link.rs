//! The client side of the link to one peer: signed requests over a few kept-alive
//! HTTP/1 connections (TLS when the site trusts a CA for its peers), each request
//! bounded by a timeout so a dead link is noticed.

use crate::auth::Signer;
use crate::error::{ReplError, Result};
use crate::protocol::Refusal;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

/// The TLS settings of this site's links: the CAs its peers' certificates must chain
/// to, and this site's own certificate when peers ask for one (mutual TLS).
pub type TlsClient = Arc<rustls::ClientConfig>;

/// A request body: its bytes, their `content-encoding` when compressed, and their hex
/// SHA-256 when the caller knows it (else signing computes it).
pub struct Payload {
    pub body: Bytes,
    pub encoding: Option<&'static str>,
    pub sha256: Option<String>,
}

impl Payload {
    pub fn plain(body: Bytes) -> Self {
        Payload {
            body,
            encoding: None,
            sha256: None,
        }
    }
}

pub struct Link {
    addr: String,
    signer: Arc<Signer>,
    tls: Option<TlsClient>,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl Link {
    pub fn new(addr: &str, signer: Arc<Signer>, tls: Option<TlsClient>) -> Self {
        Link {
            addr: addr.to_owned(),
            signer,
            tls,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn connection(&self) -> Result<SendRequest<Full<Bytes>>> {
        loop {
            let Some(mut c) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() else {
                break;
            };
            if c.ready().await.is_ok() {
                return Ok(c);
            }
        }
        let stream = tokio::net::TcpStream::connect(&self.addr)
            .await
            .map_err(|e| ReplError::Connect(self.addr.clone(), e))?;
        let _ = stream.set_nodelay(true);
        let Some(tls) = &self.tls else {
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| ReplError::Http(self.addr.clone(), e))?;
            tokio::spawn(conn);
            return Ok(sender);
        };
        // The peer's certificate must name the host its address names.
        let host = self.addr.rsplit_once(':').map_or(self.addr.as_str(), |(h, _)| h);
        let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
            .map_err(|e| ReplError::Invalid(format!("{}: not a host name for TLS: {e}", self.addr)))?;
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, stream)
            .await
            .map_err(|e| ReplError::Tls(self.addr.clone(), e.to_string()))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ReplError::Http(self.addr.clone(), e))?;
        tokio::spawn(conn);
        Ok(sender)
    }

    /// Sends one signed request and returns the body of a 2xx answer.
    pub async fn call(&self, method: &str, path: &str, body: Bytes) -> Result<Bytes> {
        self.call_encoded(method, path, Payload::plain(body)).await
    }

    /// A POST whose answer is bincode (fullsync's and verify's exchanges); adds the
    /// bytes of both ways to `exchanged`.
    pub async fn call_bincode<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
        exchanged: &mut u64,
    ) -> Result<T> {
        let sent = body.len() as u64;
        let answer = self.call("POST", path, body.into()).await?;
        *exchanged += sent + answer.len() as u64;
        bincode::deserialize(&answer).map_err(|e| ReplError::Protocol(format!("bad answer to {path}: {e}")))
    }

    /// [`Link::call`] with a body that may be compressed or already hashed.
    pub async fn call_encoded(&self, method: &str, path: &str, body: Payload) -> Result<Bytes> {
        match tokio::time::timeout(TIMEOUT, self.call_inner(method, path, body)).await {
            Ok(r) => r,
            Err(_) => Err(ReplError::Timeout(self.addr.clone(), TIMEOUT.as_secs())),
        }
    }

    async fn call_inner(&self, method: &str, path: &str, payload: Payload) -> Result<Bytes> {
        let Payload { body, encoding, sha256 } = payload;
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.addr)
            .header("content-length", body.len());
        if let Some(e) = encoding {
            builder = builder.header("content-encoding", e);
        }
        let mut req = builder
            .body(Full::new(body.clone()))
            .map_err(|e| ReplError::Protocol(e.to_string()))?;
        match sha256 {
            Some(known) => self.signer.sign_hashed(&mut req, known),
            None => self.signer.sign(&mut req, &body),
        }
        .map_err(ReplError::Protocol)?;
        let mut conn = self.connection().await?;
        let http_err = |e| ReplError::Http(self.addr.clone(), e);
        let resp = conn.send_request(req).await.map_err(http_err)?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await.map_err(http_err)?.to_bytes();
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
        if !status.is_success() {
            let reason = serde_json::from_slice::<Refusal>(&bytes)
                .map(|r| r.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            return Err(ReplError::Refused {
                peer: self.addr.clone(),
                status: status.as_u16(),
                reason,
            });
        }
        Ok(bytes)
    }
}
