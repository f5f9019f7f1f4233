//! The HTTP/1.1 accept loop. `axum::serve` gives hyper no timer, and without one hyper cannot
//! bound how long a client takes to send its headers: a client that sends them a byte at a
//! time holds its connection, and a file descriptor, for ever (slowloris). This loop is
//! `axum::serve` with that bound, TCP_NODELAY, and the same graceful shutdown.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// What every connection is held to.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// From the connection's start, or the end of the previous request, to the end of the
    /// next request's headers.
    pub header_read_timeout: Duration,
}

impl ConnectionLimits {
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(config.http.header_read_timeout_secs),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets each connection finish
/// the request it is on (keep-alive ends) and returns once every connection has closed. The
/// peer's address reaches handlers as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // Connections watch `stop`; `open_tx.closed()` resolves once every connection has dropped
    // its clone of `open`.
    let (stop_tx, stop) = watch::channel(false);
    let (open_tx, open) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are written whole; waiting to coalesce them with more only adds latency.
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let (mut stop, open) = (stop.clone(), open.clone());
        tokio::spawn(async move {
            let mut connection = pin!(connection);
            let stopping = async move {
                let _ = stop.wait_for(|stop| *stop).await;
            };
            tokio::select! {
                served = connection.as_mut() => log_end(served),
                () = stopping => {
                    connection.as_mut().graceful_shutdown();
                    log_end(connection.await);
                }
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open);
    open_tx.closed().await;
}

fn log_end(served: Result<(), hyper::Error>) {
    if let Err(e) = served {
        // A client that went away, or one cut off by the header timeout: nothing to act on.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Errors of the accepted connection itself (reset before accept) are the client's; anything
/// else, out of file descriptors first of all, would repeat at once: wait a moment.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
