//! The Engine.IO v4 server: sessions, HTTP long-polling, WebSocket, the
//! upgrade from polling, the server heartbeat and the reference server's
//! error answers.
//!
//! Owns every Engine.IO session and its transport. Knows nothing of
//! Socket.IO: the layer above plugs in through [`EngineHandler`] and sends
//! through [`EngineSocket`].
//!
//! INTERFACE STUB written by the lead: the public items below are the
//! contract the Socket.IO layer codes against. Bodies are to be implemented;
//! signatures may grow (new methods, new config fields) but not change
//! without telling the Socket.IO layer's owner.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, Uri};
use http_body_util::Full;

/// Engine.IO server settings. Every field documents its default.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Path prefix the engine answers on, e.g. `/socket.io/` or `/engine.io/`
    /// (matched with and without the trailing slash). Defaults to `/socket.io/`.
    pub path: String,
    /// Interval between server pings. Defaults to 25 s.
    pub ping_interval: Duration,
    /// How long the client has to answer a ping. Defaults to 20 s.
    pub ping_timeout: Duration,
    /// How long an upgrade may stay between probe and `5`. Defaults to 10 s.
    pub upgrade_timeout: Duration,
    /// Largest HTTP body and WebSocket message accepted, in bytes (413 / close
    /// 1009 above it). Advertised as `maxPayload`. Defaults to 1,000,000.
    pub max_payload: usize,
    /// Outbound queue bound per session, in queued items (a batch sent with
    /// [`EngineSocket::send_all`] counts as one). Defaults to 256.
    pub max_buffered_packets: usize,
    /// Allowed `Origin`s, checked on polling and on the WebSocket upgrade.
    /// `None` allows any origin. Defaults to `None`.
    pub allowed_origins: Option<Vec<String>>,
    /// Whether polling sessions may upgrade to WebSocket. Defaults to true.
    pub allow_upgrades: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            path: "/socket.io/".to_owned(),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            upgrade_timeout: Duration::from_secs(10),
            max_payload: 1_000_000,
            max_buffered_packets: 256,
            allowed_origins: None,
            allow_upgrades: true,
        }
    }
}

/// One application message received through Engine.IO (a `message` packet),
/// without the Engine.IO type prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
}

/// A `message` packet encoded once for the wire and shared by every
/// recipient: cloning it copies no payload bytes.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    _todo: (),
}

impl OutboundMessage {
    /// A text message; `payload` excludes the Engine.IO `4` prefix.
    pub fn text(payload: &str) -> Self {
        let _ = payload;
        todo!()
    }

    /// A binary message.
    pub fn binary(payload: Bytes) -> Self {
        let _ = payload;
        todo!()
    }
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

/// The HTTP request that opened a session.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// Request URI, with its query string.
    pub uri: Uri,
    /// Request headers.
    pub headers: HeaderMap,
    /// Peer address, when known.
    pub remote_addr: Option<SocketAddr>,
}

impl Handshake {
    /// The first value of query parameter `name`, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let _ = name;
        todo!()
    }
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

/// One Engine.IO session, as seen by the layer above.
pub struct EngineSocket<D> {
    data: D,
}

impl<D> EngineSocket<D> {
    /// The Engine.IO session id (`sid`).
    pub fn id(&self) -> &str {
        todo!()
    }

    /// The layer above's per-session state.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// The request that opened the session.
    pub fn handshake(&self) -> &Handshake {
        todo!()
    }

    /// The current transport.
    pub fn transport(&self) -> TransportKind {
        todo!()
    }

    /// Queues one message without waiting. Fails with [`SendError::Full`]
    /// when the outbound queue is at its bound: never blocks, never grows
    /// memory past the bound.
    pub fn send(&self, message: OutboundMessage) -> Result<(), SendError> {
        let _ = message;
        todo!()
    }

    /// Queues several messages that must reach the wire adjacent and in
    /// order (a Socket.IO binary packet and its attachments). All or none.
    pub fn send_all(&self, messages: Vec<OutboundMessage>) -> Result<(), SendError> {
        let _ = messages;
        todo!()
    }

    /// Closes the session; `on_close` follows with `reason`.
    pub fn close(&self, reason: CloseReason) {
        let _ = reason;
        todo!()
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        todo!()
    }
}

/// The HTTP response body type the engine answers with.
pub type EngineBody = Full<Bytes>;

/// The Engine.IO server: routes requests under its path to sessions.
pub struct Engine<H: EngineHandler> {
    handler: Arc<H>,
}

impl<H: EngineHandler> Engine<H> {
    /// Creates an engine that calls `handler` for its sessions.
    pub fn new(config: EngineConfig, handler: Arc<H>) -> Arc<Self> {
        let _ = config;
        Arc::new(Self { handler })
    }

    /// The handler given to [`Engine::new`].
    pub fn handler(&self) -> &Arc<H> {
        &self.handler
    }

    /// Answers one HTTP request under the engine's path: handshake, poll,
    /// post, or WebSocket upgrade (via `hyper::upgrade::on`).
    pub async fn handle<B>(self: &Arc<Self>, request: Request<B>, remote_addr: Option<SocketAddr>) -> Response<EngineBody>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let _ = (request, remote_addr);
        todo!()
    }

    /// Number of open sessions.
    pub fn session_count(&self) -> usize {
        todo!()
    }

    /// Closes every session with [`CloseReason::ServerShutdown`] (polling
    /// clients receive `1`, WebSocket clients a close frame) and waits until
    /// they are gone or `deadline` passes.
    pub async fn close_all(&self, deadline: Duration) {
        let _ = deadline;
        todo!()
    }
}
