//! The engine's sessions and the driver of each: the table of open
//! sessions (created at handshake under a fresh sid, removed when their
//! driver ends), opening a session on polling or directly on WebSocket,
//! and the one task that owns a session's lifetime: it runs the server
//! heartbeat, carries the session from polling to WebSocket when an
//! upgrade completes, calls `on_close` exactly once, says goodbye on the
//! transport, and removes the session.
//!
//! Does not parse HTTP (see `polling`) or WebSocket frames (see
//! `websocket`); it only sequences them. Knows nothing of routing (`mod`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures_util::SinkExt;
use http::{Request, Response};
use rand::RngCore;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};

use super::config::EngineConfig;
use super::errors::{EngineBody, EngineError};
use super::handshake::Handshake;
use super::heartbeat::Heartbeat;
use super::polling;
use super::socket::{
    CloseReason, EngineHandler, EngineSocket, Phase, Traffic, TransportKind, WsStream,
};
use super::websocket;

/// The open sessions, by sid.
type SessionMap<D> = HashMap<Box<str>, Arc<EngineSocket<D>>>;

/// Every session of one engine, with the settings and the layer above they
/// run with.
pub(crate) struct Sessions<H: EngineHandler> {
    /// Limits, timeouts and path.
    config: EngineConfig,
    /// tungstenite settings derived once from `config`.
    ws_config: WebSocketConfig,
    /// The layer above.
    handler: Arc<H>,
    /// Every session from handshake until its driver ends.
    sessions: Mutex<SessionMap<H::Data>>,
    /// Session drivers still running (a closed session's driver may still
    /// be saying goodbye on its connection).
    drivers: AtomicUsize,
    /// Signalled whenever a session leaves `sessions` or a driver ends (for `close_all`).
    session_removed: Notify,
    /// Set by `close_all`: no new sessions.
    shutting_down: AtomicBool,
    /// Application messages and bytes through every session.
    traffic: Arc<Traffic>,
}

impl<H: EngineHandler> Sessions<H> {
    pub(crate) fn new(config: EngineConfig, handler: Arc<H>) -> Arc<Self> {
        Arc::new(Self {
            ws_config: config.websocket(),
            config,
            handler,
            sessions: Mutex::new(HashMap::new()),
            drivers: AtomicUsize::new(0),
            session_removed: Notify::new(),
            shutting_down: AtomicBool::new(false),
            traffic: Arc::default(),
        })
    }

    pub(crate) fn traffic(&self) -> &Arc<Traffic> {
        &self.traffic
    }

    pub(crate) fn handler(&self) -> &Arc<H> {
        &self.handler
    }

    pub(crate) fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub(crate) fn ws_config(&self) -> WebSocketConfig {
        self.ws_config
    }

    /// Whether `close_all` has begun: no new sessions.
    pub(crate) fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    pub(crate) fn count(&self) -> usize {
        self.lock_sessions().len()
    }

    pub(crate) fn get(&self, sid: &str) -> Option<Arc<EngineSocket<H::Data>>> {
        self.lock_sessions().get(sid).cloned()
    }

    /// See `Engine::close_all`.
    pub(crate) async fn close_all(&self, deadline: Duration) {
        self.shutting_down.store(true, Ordering::Release);
        let sockets: Vec<_> = self.lock_sessions().values().cloned().collect();
        for socket in &sockets {
            socket.close(CloseReason::ServerShutdown);
        }
        drop(sockets);
        let all_gone = async {
            loop {
                let removed = self.session_removed.notified();
                if self.count() == 0 && self.drivers.load(Ordering::Acquire) == 0 {
                    return;
                }
                removed.await;
            }
        };
        if tokio::time::timeout(deadline, all_gone).await.is_err() {
            tracing::warn!(
                left = self.count(),
                "engine.io sessions still open after the shutdown deadline"
            );
        }
    }

    fn lock_sessions(&self) -> MutexGuard<'_, SessionMap<H::Data>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new session under a fresh, hard-to-guess sid.
    pub(crate) fn create(
        &self,
        handshake: Handshake,
        transport: TransportKind,
    ) -> Result<Arc<EngineSocket<H::Data>>, EngineError> {
        let mut sessions = self.lock_sessions();
        if self.shutting_down() {
            return Err(EngineError::ShuttingDown);
        }
        let sid = loop {
            let sid = new_sid();
            if !sessions.contains_key(sid.as_str()) {
                break sid;
            }
        };
        let socket = Arc::new(EngineSocket::new(
            sid.clone(),
            handshake,
            H::Data::default(),
            (
                self.config.max_buffered_packets,
                self.config.max_unsent_bytes,
            ),
            transport,
            self.traffic.clone(),
        ));
        sessions.insert(sid.into_boxed_str(), socket.clone());
        tracing::debug!(sid = socket.id(), ?transport, "engine.io session opened");
        Ok(socket)
    }

    fn driver_started(&self) {
        self.drivers.fetch_add(1, Ordering::AcqRel);
    }

    fn driver_finished(&self) {
        self.drivers.fetch_sub(1, Ordering::AcqRel);
        self.session_removed.notify_waiters();
    }

    fn remove(&self, sid: &str) {
        if self.lock_sessions().remove(sid).is_some() {
            self.session_removed.notify_waiters();
        }
    }
}

/// A session id: 15 random bytes from a CSPRNG, base64url (20 characters).
fn new_sid() -> String {
    let mut bytes = [0u8; 15];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The open packet (`0{...}`) for a new session, keys in the reference order.
fn open_packet(config: &EngineConfig, sid: &str, transport: TransportKind) -> String {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Open<'a> {
        sid: &'a str,
        upgrades: &'a [&'a str],
        ping_interval: u128,
        ping_timeout: u128,
        max_payload: usize,
    }
    let upgrades: &[&str] = if transport == TransportKind::Polling && config.allow_upgrades {
        &["websocket"]
    } else {
        &[]
    };
    let open = Open {
        sid,
        upgrades,
        ping_interval: config.ping_interval.as_millis(),
        ping_timeout: config.ping_timeout.as_millis(),
        max_payload: config.max_payload,
    };
    let json = serde_json::to_string(&open).unwrap_or_default();
    format!("0{json}")
}

/// Opens a polling session: answers the handshake GET with the open packet
/// (followed by whatever `on_open` queued) and starts the session driver.
pub(crate) fn open_on_polling<H: EngineHandler>(
    sessions: &Arc<Sessions<H>>,
    handshake: Handshake,
) -> Result<Response<EngineBody>, EngineError> {
    let opened_at = Instant::now();
    let socket = sessions.create(handshake, TransportKind::Polling)?;
    socket.dispatch_open(sessions.handler.as_ref());
    let open = open_packet(&sessions.config, socket.id(), TransportKind::Polling);
    let queued = socket.lock().take_queue();
    let response = polling::open_response(&open, &queued);
    tokio::spawn(drive(sessions.clone(), socket, None, opened_at));
    Ok(response)
}

/// Opens a session directly on WebSocket: answers 101 now, then (in its
/// own task) sends the open packet and runs the session.
pub(crate) fn open_on_websocket<H: EngineHandler, B>(
    sessions: &Arc<Sessions<H>>,
    mut request: Request<B>,
    remote_addr: Option<SocketAddr>,
) -> Result<Response<EngineBody>, EngineError> {
    let response = websocket::switching_protocols(&request)?;
    let on_upgrade = hyper::upgrade::on(&mut request);
    let handshake = Handshake {
        uri: request.uri().clone(),
        headers: request.headers().clone(),
        remote_addr,
    };
    let sessions = sessions.clone();
    tokio::spawn(async move {
        let opened_at = Instant::now();
        let deadline = opened_at + sessions.config.upgrade_timeout;
        let Some(mut ws) = websocket::accept(on_upgrade, sessions.ws_config, deadline).await else {
            return;
        };
        let Ok(socket) = sessions.create(handshake, TransportKind::WebSocket) else {
            let frame = CloseFrame {
                code: CloseCode::Away,
                reason: Utf8Bytes::from_static("shutting down"),
            };
            let _ =
                tokio::time::timeout(sessions.config.close_timeout, ws.close(Some(frame))).await;
            return;
        };
        let open = open_packet(&sessions.config, socket.id(), TransportKind::WebSocket);
        if ws.send(WsMessage::Text(open.into())).await.is_err() {
            // Gone before the handshake completed: the layer above never saw it.
            sessions.remove(socket.id());
            return;
        }
        socket.dispatch_open(sessions.handler.as_ref());
        drive(sessions, socket, Some(Box::new(ws)), opened_at).await;
    });
    Ok(response)
}

/// How the session's last transport ended.
enum LastTransport {
    Polling,
    WebSocket(Box<WsStream>, websocket::WsEnd),
    /// The WebSocket was dropped (a panic while it was lent out): no goodbye.
    Lost,
}

/// Removes the session from the engine however the driver ends, a panic in
/// the layer above included, and counts the driver as running meanwhile.
struct Registration<'a, H: EngineHandler> {
    sessions: &'a Sessions<H>,
    socket: &'a Arc<EngineSocket<H::Data>>,
}

impl<'a, H: EngineHandler> Registration<'a, H> {
    fn new(sessions: &'a Sessions<H>, socket: &'a Arc<EngineSocket<H::Data>>) -> Self {
        sessions.driver_started();
        Self { sessions, socket }
    }
}

impl<H: EngineHandler> Drop for Registration<'_, H> {
    fn drop(&mut self) {
        self.socket.close(CloseReason::TransportError);
        self.sessions.remove(self.socket.id());
        self.sessions.driver_finished();
    }
}

/// Runs one session from its handshake to its removal. `ws` is the
/// WebSocket of a session opened directly on WebSocket (its open packet
/// already sent, `on_open` already called).
async fn drive<H: EngineHandler>(
    sessions: Arc<Sessions<H>>,
    socket: Arc<EngineSocket<H::Data>>,
    ws: Option<Box<WsStream>>,
    opened_at: Instant,
) {
    let _registration = Registration::new(&sessions, &socket);
    let config = sessions.config();
    let handler = sessions.handler.as_ref();
    let mut heartbeat = Heartbeat::new(opened_at, config.ping_interval, config.ping_timeout);
    let sleep = tokio::time::sleep_until(heartbeat.deadline());
    tokio::pin!(sleep);

    let mut ws = ws;
    let last = loop {
        match ws.take() {
            Some(stream) => {
                let (stream, end) =
                    websocket::run(handler, &socket, stream, &mut heartbeat, sleep.as_mut()).await;
                break match stream {
                    Some(stream) => LastTransport::WebSocket(stream, end),
                    None => LastTransport::Lost,
                };
            }
            None => match polling::wait(&socket, &mut heartbeat, sleep.as_mut()).await {
                polling::DriverEvent::Upgraded(stream) => ws = Some(stream),
                polling::DriverEvent::Closed => break LastTransport::Polling,
            },
        }
    };

    let reason = match socket.lock().phase() {
        Phase::Closed(reason) => reason,
        _ => CloseReason::TransportError,
    };
    tracing::debug!(sid = socket.id(), ?reason, "engine.io session closed");
    socket.dispatch_close(handler, reason);

    match last {
        LastTransport::WebSocket(stream, end) => {
            // The session is over; only the connection's goodbye remains.
            sessions.remove(socket.id());
            websocket::finish(stream, end, config.close_timeout).await;
        }
        LastTransport::Lost => sessions.remove(socket.id()),
        LastTransport::Polling => {
            if reason.flushes_queue() {
                polling::linger(&socket, config.close_timeout).await;
            }
            // A probe still attached sees the close and ends itself.
        }
    }
}
