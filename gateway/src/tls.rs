//! TLS on the S3 and replication ports (rustls, ring): certificates read from PEM files
//! and read again when the files change or on SIGHUP, without a restart; a listener
//! whose handshakes run beside each other and whose refusals (plain HTTP on a TLS port,
//! an untrusted or missing client certificate) are logged with the reason and counted;
//! and the client side of replication links (the CA peers must chain to, and this
//! site's certificate for mutual TLS).

use rustls::crypto::ring::default_provider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

pub type TlsError = Box<dyn std::error::Error + Send + Sync>;

/// How long a client may take over its handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// How often certificate files are checked for changes.
const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// Handshakes refused on this site's TLS ports since start, and the last reason.
#[derive(Default)]
pub struct Refusals {
    pub count: AtomicU64,
    pub last: RwLock<Option<String>>,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()).into())
}

fn certs(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut &pem[..]).collect::<Result<Vec<_>, _>>()?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", path.display()).into());
    }
    Ok(certs)
}

fn key(pem: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut &pem[..])?
        .ok_or_else(|| format!("{}: no private key in it", path.display()).into())
}

/// A certificate and key from PEM files, replaced when the files change.
pub struct Certs {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    stamp: RwLock<(Option<SystemTime>, Option<SystemTime>)>,
}

fn stamps(cert: &Path, key: &Path) -> (Option<SystemTime>, Option<SystemTime>) {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (m(cert), m(key))
}

impl Certs {
    pub fn load(cert: &Path, key_path: &Path) -> Result<Arc<Certs>, TlsError> {
        let certified = Self::read_pair(cert, key_path)?;
        Ok(Arc::new(Certs {
            cert: cert.to_owned(),
            key: key_path.to_owned(),
            current: RwLock::new(certified),
            stamp: RwLock::new(stamps(cert, key_path)),
        }))
    }

    fn read_pair(cert: &Path, key_path: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
        let chain = certs(&read(cert)?, cert)?;
        let key = key(&read(key_path)?, key_path)?;
        let signing = default_provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| format!("{}: {e}", key_path.display()))?;
        Ok(Arc::new(CertifiedKey::new(chain, signing)))
    }

    fn get(&self) -> Arc<CertifiedKey> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the files again when they changed (or when `force`); a pair that does not
    /// load is logged and the one in use kept.
    pub fn reload(&self, force: bool) {
        let now = stamps(&self.cert, &self.key);
        if !force && *self.stamp.read().unwrap_or_else(|e| e.into_inner()) == now {
            return;
        }
        *self.stamp.write().unwrap_or_else(|e| e.into_inner()) = now;
        match Self::read_pair(&self.cert, &self.key) {
            Ok(c) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = c;
                tracing::info!(cert = %self.cert.display(), "TLS certificate loaded again");
            }
            Err(e) => {
                tracing::warn!(cert = %self.cert.display(), error = %e, "TLS certificate not reloaded; the one in use stays")
            }
        }
    }
}

impl std::fmt::Debug for Certs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Certs({})", self.cert.display())
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

impl rustls::client::ResolvesClientCert for Certs {
    fn resolve(&self, _issuers: &[&[u8]], _schemes: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Reloads every certificate set when its files change, and all of them on SIGHUP.
pub fn watch(all: Vec<Arc<Certs>>) {
    if all.is_empty() {
        return;
    }
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(RELOAD_EVERY);
        loop {
            #[cfg(unix)]
            let forced = match hup.as_mut() {
                Some(h) => tokio::select! {
                    _ = tick.tick() => false,
                    _ = h.recv() => true,
                },
                None => {
                    tick.tick().await;
                    false
                }
            };
            #[cfg(not(unix))]
            let forced = {
                tick.tick().await;
                false
            };
            for c in &all {
                c.reload(forced);
            }
        }
    });
}

fn roots(ca: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in certs(&read(ca)?, ca)? {
        roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    Ok(roots)
}

/// The server side of a TLS port; with `client_ca`, clients must present a certificate
/// that chains to it (mutual TLS).
pub fn server_config(certs: Arc<Certs>, client_ca: Option<&Path>) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(ca) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider).build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(certs);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The client side of replication links: peers' certificates must chain to `ca` and
/// name the host dialled; with `own`, this site presents it when asked (mutual TLS).
pub fn client_config(ca: &Path, own: Option<Arc<Certs>>) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca)?);
    Ok(Arc::new(match own {
        Some(c) => builder.with_client_cert_resolver(c),
        None => builder.with_no_client_auth(),
    }))
}

/// A listener that hands axum TLS streams: it accepts TCP connections and runs their
/// handshakes beside each other, so a slow or silent client holds up no one. A failed
/// handshake is logged with the client's address and the reason, and counted.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>, port: &'static str, refusals: Arc<Refusals>) -> Self {
        let local = tcp.local_addr().expect("a bound listener has an address");
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (stream, addr) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(port, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, tx, refusals) = (acceptor.clone(), tx.clone(), refusals.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        outcome => {
                            let why = match outcome {
                                // The first bytes were not a TLS record.
                                Ok(Err(e)) if e.to_string().contains("InvalidContentType") => {
                                    format!("not TLS: plain HTTP on a TLS port? ({e})")
                                }
                                Ok(Err(e)) => e.to_string(),
                                _ => "no handshake within 10 s".to_owned(),
                            };
                            tracing::warn!(port, client = %addr, reason = %why, "TLS handshake refused");
                            refusals.count.fetch_add(1, Ordering::Relaxed);
                            *refusals.last.write().unwrap_or_else(|e| e.into_inner()) =
                                Some(format!("{port} port, {addr}: {why}"));
                        }
                    }
                });
            }
        });
        TlsListener { ready, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept loop never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
