//! The HTTP accept loop: serves an axum [`Router`] over HTTP/1.1 (with
//! upgrades, for WebSocket) on a bound [`TcpListener`], under connection
//! limits, and shuts down gracefully.
//!
//! Owns TCP connections and their limits (total and per IP, request head
//! size and header count, header read timeout). Knows no routes: the router
//! decides what each request means. Each request carries the peer address
//! as `ConnectInfo<SocketAddr>`.
//!
//! A connection's slot (in the total and per-IP counts) lives as long as the
//! TCP stream itself, so a connection upgraded to WebSocket keeps counting
//! after hyper hands it over.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Limits on HTTP connections. Every field documents its default.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Open TCP connections at most, WebSockets included; beyond it the
    /// server stops accepting until one closes. Defaults to 20,000.
    pub max_connections: usize,
    /// Open TCP connections at most from one IP address; extra connections
    /// are closed at once. Defaults to 1,024 (raise it for load tests that
    /// connect from a single address).
    pub max_connections_per_ip: usize,
    /// Time a client has to send a complete request head, also the idle
    /// keep-alive limit between requests (slowloris). Defaults to 10 s.
    pub header_read_timeout: Duration,
    /// Largest request head (request line + headers) in bytes; larger heads
    /// get 431. Also caps hyper's read buffer (at least 8 KiB). Defaults to 16 KiB.
    pub max_request_head_bytes: usize,
    /// Most headers in one request; more get 431. Defaults to 64.
    pub max_headers: usize,
    /// After shutdown begins, how long open HTTP connections get to finish
    /// their in-flight requests. Defaults to 5 s.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 20_000,
            max_connections_per_ip: 1_024,
            header_read_timeout: Duration::from_secs(10),
            max_request_head_bytes: 16 * 1024,
            max_headers: 64,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Shortest and longest pause after a failed `accept` (e.g. EMFILE).
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `shutdown` completes; then stops
/// accepting, asks open HTTP connections to finish (graceful shutdown) and
/// returns once they have, or after `limits.shutdown_grace`.
///
/// Upgraded connections (WebSockets) are not HTTP connections any more:
/// whoever owns them closes them (e.g. `Engine::close_all` inside `shutdown`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    let per_ip = Arc::new(PerIpSlots::new(limits.max_connections_per_ip));
    let stopping = CancellationToken::new();
    // Every connection task holds a clone; `recv` ends once all are dropped.
    let (open_tx, mut all_done) = mpsc::channel::<()>(1);

    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_request_head_bytes.max(8 * 1024))
        .max_header_size(limits.max_request_head_bytes)
        .max_headers(limits.max_headers)
        .keep_alive(true);

    tokio::pin!(shutdown);
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = ACCEPT_BACKOFF_MIN;
                accepted
            }
            Err(error) if is_per_connection(&error) => continue,
            Err(error) => {
                // Out of descriptors or memory: retrying at once would spin.
                tracing::warn!(%error, pause = ?backoff, "accept failed; backing off");
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        let Some(ip_slot) = per_ip.acquire(peer.ip()) else {
            tracing::debug!(%peer, "too many connections from one address; closing");
            continue;
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, %peer, "could not set TCP_NODELAY");
        }
        let io = TokioIo::new(LimitedStream {
            stream,
            _slot: slot,
            _ip_slot: ip_slot,
        });
        let routes = TowerToHyperService::new(app.clone());
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            hyper::service::Service::call(&routes, request)
        });
        let connection = http.serve_connection(io, service).with_upgrades();
        let stopping = stopping.clone();
        let open = open_tx.clone();
        tokio::spawn(async move {
            let _open = open;
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stopping.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, %peer, "http connection ended with an error");
            }
        });
    }

    drop(listener);
    stopping.cancel();
    drop(open_tx);
    if tokio::time::timeout(limits.shutdown_grace, all_done.recv())
        .await
        .is_err()
    {
        tracing::warn!("http connections still open after the shutdown grace period");
    }
    Ok(())
}

/// Accept errors that concern only the connection being accepted.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Open connections per IP address.
struct PerIpSlots {
    /// Most connections one address may hold.
    max: usize,
    /// Open connections by address; an address leaves the map at zero.
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIpSlots {
    fn new(max: usize) -> Self {
        Self {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            slots: self.clone(),
            ip,
        })
    }
}

/// One connection's place in its address's count.
struct IpSlot {
    slots: Arc<PerIpSlots>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A TCP stream that holds its connection slots until it is dropped,
/// wherever it ends up (hyper, or an upgraded WebSocket).
struct LimitedStream {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    _ip_slot: IpSlot,
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_slots_are_bounded_and_released() {
        let slots = Arc::new(PerIpSlots::new(2));
        let ip: IpAddr = [127, 0, 0, 1].into();
        let first = slots.acquire(ip).unwrap();
        let _second = slots.acquire(ip).unwrap();
        assert!(slots.acquire(ip).is_none());
        assert!(slots.acquire([10, 0, 0, 1].into()).is_some());
        drop(first);
        assert!(slots.acquire(ip).is_some());
    }

    #[test]
    fn per_ip_map_forgets_idle_addresses() {
        let slots = Arc::new(PerIpSlots::new(1));
        drop(slots.acquire([127, 0, 0, 1].into()));
        assert!(slots.open.lock().unwrap().is_empty());
    }
}
