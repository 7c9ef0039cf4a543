//! The Engine.IO v4 server: sessions, HTTP long-polling, WebSocket, the
//! upgrade from polling, the server heartbeat and the reference server's
//! error answers.
//!
//! Owns every Engine.IO session and its transport. Knows nothing of
//! Socket.IO: the layer above plugs in through [`EngineHandler`] and sends
//! through [`EngineSocket`]. Packet bytes come from
//! [`crate::protocol::engineio`]; accepting TCP connections is
//! `crate::http::listener`'s job.
//!
//! # Files
//!
//! * `config`: [`EngineConfig`] and its defaults.
//! * `errors`: [`EngineError`] and its HTTP answers.
//! * `handshake`: [`Handshake`], query parameters, origin/CORS, upgrade headers.
//! * `socket`: [`EngineSocket`], [`OutboundMessage`], the shared session state.
//! * `session`: the per-session driver task and the heartbeat.
//! * `polling`: long-polling GET/POST.
//! * `websocket`: WebSocket sessions, the upgrade probe, the connection loop.

mod config;
mod errors;
mod handshake;
mod polling;
mod session;
mod socket;
mod websocket;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::Full;
use rand::RngCore;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub use config::EngineConfig;
pub use errors::EngineError;
pub use handshake::Handshake;
pub use socket::{EngineSocket, OutboundMessage};

use handshake::{EngineQuery, OriginVerdict, RequestedTransport};

/// One application message received through Engine.IO (a `message` packet),
/// without the Engine.IO type prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The connection closed or reset underneath.
    TransportClose,
    /// The transport failed: bad framing, oversized message, protocol error.
    TransportError,
    /// The client did not answer a ping in time.
    PingTimeout,
    /// The client sent a `close` packet.
    ClientClose,
    /// The layer above called [`EngineSocket::close`].
    ServerClose,
    /// The server is shutting down.
    ServerShutdown,
}

/// Why a send was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The session's outbound queue is at `max_buffered_packets`.
    #[error("outbound queue full")]
    Full,
    /// The session is closed.
    #[error("session closed")]
    Closed,
}

/// The transport a session currently uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

/// The layer above Engine.IO (Socket.IO, or the conformance echo server).
///
/// Calls for one session never overlap and arrive in order: `on_open`, then
/// `on_message` for each message in the order the client sent them, then
/// `on_close` exactly once.
pub trait EngineHandler: Send + Sync + 'static {
    /// Per-session state owned by the layer above.
    type Data: Default + Send + Sync + 'static;
    /// A session completed its handshake.
    fn on_open(&self, socket: &Arc<EngineSocket<Self::Data>>);
    /// A message arrived.
    fn on_message(&self, socket: &Arc<EngineSocket<Self::Data>>, message: Message);
    /// The session ended.
    fn on_close(&self, socket: &Arc<EngineSocket<Self::Data>>, reason: CloseReason);
}

/// The HTTP response body type the engine answers with.
pub type EngineBody = Full<Bytes>;

/// The open sessions, by sid.
type SessionMap<D> = HashMap<Box<str>, Arc<EngineSocket<D>>>;

/// The Engine.IO server: routes requests under its path to sessions.
pub struct Engine<H: EngineHandler> {
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

/// Application messages (`message` packets) through an engine, in and out,
/// for metrics. A broadcast counts once per recipient.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Messages received from clients.
    pub messages_in: AtomicU64,
    /// Payload bytes received from clients.
    pub bytes_in: AtomicU64,
    /// Messages queued for clients.
    pub messages_out: AtomicU64,
    /// Encoded bytes queued for clients.
    pub bytes_out: AtomicU64,
}

impl Traffic {
    pub(crate) fn count_out(&self, bytes: usize) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn count_in(&self, message: &Message) {
        let bytes = match message {
            Message::Text(text) => text.len(),
            Message::Binary(data) => data.len(),
        };
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

impl<H: EngineHandler> Engine<H> {
    /// Creates an engine that calls `handler` for its sessions.
    pub fn new(config: EngineConfig, handler: Arc<H>) -> Arc<Self> {
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

    /// Messages and bytes through every session so far.
    pub fn traffic(&self) -> &Arc<Traffic> {
        &self.traffic
    }

    /// The handler given to [`Engine::new`].
    pub fn handler(&self) -> &Arc<H> {
        &self.handler
    }

    /// The settings given to [`Engine::new`].
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// An axum router answering on the engine's path, with and without the
    /// trailing slash. The peer address comes from
    /// [`axum::extract::ConnectInfo`] when the server provides it (as
    /// `crate::http::listener::serve` does).
    pub fn router(self: &Arc<Self>) -> axum::Router {
        let engine = self.clone();
        let endpoint = move |request: axum::extract::Request| {
            let engine = engine.clone();
            async move {
                let peer = request
                    .extensions()
                    .get::<axum::extract::ConnectInfo<SocketAddr>>()
                    .map(|info| info.0);
                engine.handle(request, peer).await
            }
        };
        let bare = self.config.path.trim_end_matches('/');
        if bare.is_empty() {
            return axum::Router::new().route("/", axum::routing::any(endpoint));
        }
        axum::Router::new()
            .route(bare, axum::routing::any(endpoint.clone()))
            .route(&format!("{bare}/"), axum::routing::any(endpoint))
    }

    /// Answers one HTTP request under the engine's path: handshake, poll,
    /// post, or WebSocket upgrade (via `hyper::upgrade::on`).
    pub async fn handle<B>(
        self: &Arc<Self>,
        request: Request<B>,
        remote_addr: Option<SocketAddr>,
    ) -> Response<EngineBody>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if !self.config.matches_path(request.uri().path()) {
            return EngineError::NotFound.into_response();
        }
        let origin = handshake::check_origin(&self.config, request.headers());
        if request.method() == Method::OPTIONS {
            return match origin {
                Ok(verdict) => handshake::preflight(&verdict, request.headers()),
                Err(error) => error.into_response(),
            };
        }
        let upgrade = handshake::wants_upgrade(request.headers());
        let result = self
            .route(request, remote_addr, origin.as_ref().map_err(Clone::clone))
            .await;
        let mut response = result.unwrap_or_else(|error| {
            tracing::debug!(%error, peer = ?remote_addr, "engine.io request refused");
            let end_connection = upgrade || matches!(error, EngineError::PayloadTooLarge { .. });
            let mut response = error.into_response();
            if end_connection {
                // Like the reference: a refused upgrade (or an unread body)
                // ends the connection.
                response.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            response
        });
        if let Ok(verdict) = &origin {
            if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
                handshake::apply_cors(verdict, response.headers_mut());
            }
        }
        response
    }

    /// Validates a request in the reference server's order (transport,
    /// origin, session, method, protocol version) and hands it to its
    /// transport.
    async fn route<B>(
        self: &Arc<Self>,
        request: Request<B>,
        remote_addr: Option<SocketAddr>,
        origin: Result<&OriginVerdict, EngineError>,
    ) -> Result<Response<EngineBody>, EngineError>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let query = EngineQuery::parse(request.uri())?;
        origin?;
        let upgrade = handshake::wants_upgrade(request.headers());

        if let Some(sid) = &query.sid {
            let socket = self.session(sid).ok_or(EngineError::UnknownSid)?;
            return match (query.transport, upgrade) {
                (RequestedTransport::WebSocket, true) => websocket::upgrade(self, socket, request),
                (RequestedTransport::Polling, false) => match *request.method() {
                    Method::GET => polling::poll(&socket).await,
                    Method::POST => polling::post(self, &socket, request).await,
                    _ => Err(EngineError::BadRequest("polling method")),
                },
                _ => Err(EngineError::BadRequest("transport mismatch")),
            };
        }

        if request.method() != Method::GET {
            return Err(EngineError::BadHandshakeMethod);
        }
        if query.transport == RequestedTransport::WebSocket && !upgrade {
            return Err(EngineError::BadRequest(
                "websocket handshake without upgrade",
            ));
        }
        if !query.eio4 {
            return Err(EngineError::UnsupportedProtocolVersion);
        }
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(EngineError::ShuttingDown);
        }
        match query.transport {
            RequestedTransport::WebSocket => websocket::handshake(self, request, remote_addr),
            RequestedTransport::Polling if upgrade => {
                Err(EngineError::BadRequest("upgrade on polling transport"))
            }
            RequestedTransport::Polling => {
                let (parts, _body) = request.into_parts();
                let handshake = Handshake {
                    uri: parts.uri,
                    headers: parts.headers,
                    remote_addr,
                };
                polling::handshake(self, handshake)
            }
        }
    }

    /// Number of open sessions.
    pub fn session_count(&self) -> usize {
        self.lock_sessions().len()
    }

    /// The open session with id `sid`.
    pub fn session(&self, sid: &str) -> Option<Arc<EngineSocket<H::Data>>> {
        self.lock_sessions().get(sid).cloned()
    }

    /// Closes every session with [`CloseReason::ServerShutdown`] (polling
    /// clients receive `1`, WebSocket clients a close frame) and waits until
    /// they are gone, their goodbyes included, or `deadline` passes. No
    /// session opens afterwards.
    pub async fn close_all(&self, deadline: Duration) {
        self.shutting_down.store(true, Ordering::Release);
        let sockets: Vec<_> = self.lock_sessions().values().cloned().collect();
        for socket in &sockets {
            socket.close(CloseReason::ServerShutdown);
        }
        drop(sockets);
        let all_gone = async {
            loop {
                let removed = self.session_removed.notified();
                if self.session_count() == 0 && self.drivers.load(Ordering::Acquire) == 0 {
                    return;
                }
                removed.await;
            }
        };
        if tokio::time::timeout(deadline, all_gone).await.is_err() {
            tracing::warn!(
                left = self.session_count(),
                "engine.io sessions still open after the shutdown deadline"
            );
        }
    }

    fn lock_sessions(&self) -> MutexGuard<'_, SessionMap<H::Data>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn ws_config(&self) -> WebSocketConfig {
        self.ws_config
    }

    /// Registers a new session under a fresh, hard-to-guess sid.
    pub(crate) fn create_session(
        &self,
        handshake: Handshake,
        transport: TransportKind,
    ) -> Result<Arc<EngineSocket<H::Data>>, EngineError> {
        let mut sessions = self.lock_sessions();
        if self.shutting_down.load(Ordering::Acquire) {
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
            self.config.max_buffered_packets,
            transport,
            self.traffic.clone(),
        ));
        sessions.insert(sid.into_boxed_str(), socket.clone());
        tracing::debug!(sid = socket.id(), ?transport, "engine.io session opened");
        Ok(socket)
    }

    pub(crate) fn driver_started(&self) {
        self.drivers.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn driver_finished(&self) {
        self.drivers.fetch_sub(1, Ordering::AcqRel);
        self.session_removed.notify_waiters();
    }

    pub(crate) fn remove_session(&self, sid: &str) {
        if self.lock_sessions().remove(sid).is_some() {
            self.session_removed.notify_waiters();
        }
    }

    /// The open packet (`0{...}`) for a new session, keys in the reference order.
    pub(crate) fn open_packet(&self, sid: &str, transport: TransportKind) -> String {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Open<'a> {
            sid: &'a str,
            upgrades: &'a [&'a str],
            ping_interval: u128,
            ping_timeout: u128,
            max_payload: usize,
        }
        let upgrades: &[&str] = if transport == TransportKind::Polling && self.config.allow_upgrades
        {
            &["websocket"]
        } else {
            &[]
        };
        let open = Open {
            sid,
            upgrades,
            ping_interval: self.config.ping_interval.as_millis(),
            ping_timeout: self.config.ping_timeout.as_millis(),
            max_payload: self.config.max_payload,
        };
        let json = serde_json::to_string(&open).unwrap_or_default();
        format!("0{json}")
    }

    pub(crate) fn dispatch_open(&self, socket: &Arc<EngineSocket<H::Data>>) {
        let gate = socket.lock_gate();
        if !gate.closed {
            self.handler.on_open(socket);
        }
    }

    pub(crate) fn dispatch_message(&self, socket: &Arc<EngineSocket<H::Data>>, message: Message) {
        let gate = socket.lock_gate();
        if !gate.closed && !socket.is_closed() {
            self.traffic.count_in(&message);
            self.handler.on_message(socket, message);
        }
    }

    pub(crate) fn dispatch_close(&self, socket: &Arc<EngineSocket<H::Data>>, reason: CloseReason) {
        let mut gate = socket.lock_gate();
        if !std::mem::replace(&mut gate.closed, true) {
            self.handler.on_close(socket, reason);
        }
    }
}

/// A session id: 15 random bytes from a CSPRNG, base64url (20 characters).
fn new_sid() -> String {
    let mut bytes = [0u8; 15];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
