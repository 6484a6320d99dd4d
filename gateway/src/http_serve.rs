//! Serving the S3 port's HTTP/1.1 with what `axum::serve` lacks: a deadline for a
//! request's headers. A client that trickles its headers (or opens a connection and
//! sends nothing) would otherwise hold a connection and a task for ever; past
//! `header_read_timeout_secs` hyper closes it. Bodies have their own deadline
//! (`body_read_timeout_secs`, in `s3::body`). On shutdown the listener stops, each
//! connection finishes the request it is serving, and the call returns once all have.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tower::ServiceExt;

pub async fn serve<L>(mut listener: L, app: Router, header_read_timeout: Duration, shutdown: impl Future<Output = ()>)
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (io, remote) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let (app, mut stopped) = (app.clone(), stopped.clone());
        connections.spawn(async move {
            // The client's address is a fact bucket policies test (aws:SourceIp).
            let service = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(remote));
                app.clone().oneshot(req.map(Body::new))
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let conn = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stopped.changed() => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
        while connections.try_join_next().is_some() {}
    }
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}
