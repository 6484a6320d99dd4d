//! A minimal S3 client for load generation: one keep-alive HTTP/1 connection, requests
//! signed with aws-sigv4 (UNSIGNED-PAYLOAD, so signing costs the same at any size), and
//! a count of every request sent, by S3 operation.

use crate::payload::Body;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot connect to {0}: {1}")]
    Connect(SocketAddr, std::io::Error),
    #[error("HTTP error: {0}")]
    Http(#[from] hyper::Error),
    #[error("{operation} {path} answered {status}: {body}")]
    Status {
        operation: &'static str,
        path: String,
        status: u16,
        body: String,
    },
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("{0}")]
    Other(String),
}

/// Endpoints and credentials, shared by every worker.
pub struct Target {
    endpoints: Vec<Endpoint>,
    /// The endpoint the next request goes to (modulo their number).
    next: AtomicUsize,
    pub region: String,
    identity: Identity,
    /// Requests sent, by S3 operation name.
    pub sent: Mutex<BTreeMap<&'static str, u64>>,
}

struct Endpoint {
    addr: SocketAddr,
    host: String,
}

impl Endpoint {
    fn parse(endpoint: &str) -> Result<Endpoint, BenchError> {
        let hostport = endpoint
            .strip_prefix("http://")
            .ok_or_else(|| BenchError::Other("only http:// endpoints are supported".into()))?
            .trim_end_matches('/');
        let addr = std::net::ToSocketAddrs::to_socket_addrs(hostport)
            .map_err(|e| BenchError::Other(format!("{hostport}: {e}")))?
            .next()
            .ok_or_else(|| BenchError::Other(format!("{hostport} resolves to nothing")))?;
        Ok(Endpoint {
            addr,
            host: hostport.to_owned(),
        })
    }
}

impl Target {
    pub fn new(
        endpoints: &[String],
        access_key: &str,
        secret_key: &str,
        region: &str,
    ) -> Result<Arc<Self>, BenchError> {
        let endpoints = endpoints
            .iter()
            .map(|e| Endpoint::parse(e))
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err(BenchError::Other("no endpoint given".into()));
        }
        let identity = Credentials::new(access_key, secret_key, None, None, "strata-bench").into();
        Ok(Arc::new(Target {
            endpoints,
            next: AtomicUsize::new(0),
            region: region.to_owned(),
            identity,
            sent: Mutex::new(BTreeMap::new()),
        }))
    }
}

/// What a response carried that callers look at.
pub struct Answer {
    pub body: Bytes,
    pub bytes: u64,
    pub etag: Option<String>,
}

/// One worker's connections, one per endpoint.
pub struct Client {
    target: Arc<Target>,
    conns: Vec<Option<SendRequest<Body>>>,
}

impl Client {
    pub fn new(target: Arc<Target>) -> Self {
        let conns = target.endpoints.iter().map(|_| None).collect();
        Client { target, conns }
    }

    async fn connection(&mut self, endpoint: usize) -> Result<&mut SendRequest<Body>, BenchError> {
        let conn = &mut self.conns[endpoint];
        let usable = match conn {
            Some(c) => c.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            let addr = self.target.endpoints[endpoint].addr;
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| BenchError::Connect(addr, e))?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            self.conns[endpoint] = Some(sender);
        }
        Ok(self.conns[endpoint].as_mut().expect("connection just made"))
    }

    /// Sends one signed request. `keep_body` reads the answer into memory (small XML);
    /// otherwise it is counted and dropped as it streams.
    pub async fn send(
        &mut self,
        operation: &'static str,
        method: &str,
        path_and_query: &str,
        body: Option<(Body, u64)>,
        keep_body: bool,
    ) -> Result<Answer, BenchError> {
        let endpoint = self.target.next.fetch_add(1, Ordering::Relaxed) % self.target.endpoints.len();
        let host = self.target.endpoints[endpoint].host.clone();
        let uri = format!("http://{host}{path_and_query}");
        let amz_date_headers = [("host", host.as_str()), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")];
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&self.target.identity)
            .region(&self.target.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| BenchError::Sign(e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            method,
            uri.as_str(),
            amz_date_headers.iter().copied(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| BenchError::Sign(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| BenchError::Sign(e.to_string()))?
            .into_parts();
        let mut req = http::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header("host", &host)
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .header("content-length", body.as_ref().map_or(0, |(_, len)| *len))
            .body(body.map_or_else(|| Full::new(Bytes::new()).boxed(), |(b, _)| b))
            .map_err(|e| BenchError::Other(e.to_string()))?;
        instructions.apply_to_request_http1x(&mut req);
        *self
            .target
            .sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(operation)
            .or_default() += 1;
        let resp = self.connection(endpoint).await?.send_request(req).await?;
        let status = resp.status();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = resp.into_body();
        let (mut kept, mut bytes) = (Vec::new(), 0u64);
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                bytes += data.len() as u64;
                if keep_body || !status.is_success() {
                    kept.extend_from_slice(&data);
                }
            }
        }
        if !status.is_success() {
            return Err(BenchError::Status {
                operation,
                path: path_and_query.to_owned(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&kept).into_owned(),
            });
        }
        Ok(Answer {
            body: Bytes::from(kept),
            bytes,
            etag,
        })
    }
}
