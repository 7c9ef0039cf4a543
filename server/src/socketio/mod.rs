//! The Socket.IO v5 server API on top of [`crate::engineio`]: namespaces with
//! connect / event / catch-all / disconnect handlers, sockets with emits and
//! acknowledgements both ways, rooms and broadcasts through an [`Adapter`],
//! typed per-socket data, and graceful shutdown. Modelled on Flask-SocketIO
//! (handlers registered per namespace) and Node's socket.io (operators,
//! reasons, wire behaviour).
//!
//! Owns everything between Engine.IO messages and the application's
//! handlers. Does not own HTTP routing (the caller mounts
//! [`SocketIo::handle`]) nor any game logic.
//!
//! ```no_run
//! use locus::socketio::{ConnectError, SocketIo, SocketIoConfig};
//! use serde_json::json;
//!
//! let io = SocketIo::new(SocketIoConfig::default());
//! let ns = io.namespace("/");
//! ns.on_connect(|socket, auth| async move {
//!     let token = auth.get("token").and_then(|t| t.as_str()).map(str::to_owned);
//!     match token {
//!         Some(token) if token == "secret" => {
//!             socket.join("lobby");
//!             socket.emit("welcome", &json!({"id": socket.id()})).ok();
//!             Ok(())
//!         }
//!         _ => Err(ConnectError::new("unauthorized").with_data(json!({"retry": false}))),
//!     }
//! });
//! ns.on("chat", |socket, args, ack| {
//!     let text: String = args.parse(0)?;
//!     socket.to("lobby").emit("chat", &json!({"from": socket.id(), "text": text}))?;
//!     if let Some(ack) = ack {
//!         ack.send(&("ok",))?;
//!     }
//!     Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! });
//! ```

mod adapter;
mod client;
mod encode;
mod error;
mod namespace;
mod socket;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response};

pub use self::adapter::{Adapter, BroadcastReport, BroadcastTarget, InMemoryAdapter, Room};
pub use self::client::{Connection, SocketIoHandler};
pub use self::encode::EncodedPacket;
pub use self::error::{
    AckError, ConnectError, DisconnectReason, EmitError, HandlerError, IntoHandlerResult,
};
pub use self::namespace::{BroadcastOperator, Namespace};
pub use self::socket::{AckSender, BinaryEventHeader, Socket};
pub use crate::protocol::socketio::Args;

use self::namespace::Settings;
use crate::engineio::{Engine, EngineBody, EngineConfig};

/// Pass as `data` to emit (or acknowledge) with no argument at all.
pub const NO_ARGS: [u8; 0] = [];

/// The wire format of Socket.IO packets. Both ends must use the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Parser {
    /// The default `socket.io-parser` text format (JSON + binary attachments).
    #[default]
    Json,
    /// The `socket.io-msgpack-parser` format (one binary message per packet).
    MsgPack,
}

/// How long a new connection may take to join its first namespace, unless
/// configured otherwise: the one default of `locus serve --connect-timeout`
/// and of [`SocketIoConfig::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Socket.IO server settings. Every field documents its default.
#[derive(Debug, Clone)]
pub struct SocketIoConfig {
    /// The Engine.IO layer's settings (path `/socket.io/`, ping 25 s / 20 s,
    /// 1 MB max payload...). Defaults to [`EngineConfig::default`].
    pub engine: EngineConfig,
    /// The packet format. Defaults to [`Parser::Json`].
    pub parser: Parser,
    /// How long a new connection may take to join its first namespace before
    /// it is closed. Defaults to [`DEFAULT_CONNECT_TIMEOUT`] (10 s; Node's
    /// `connectTimeout` is 45 s, but a socket that has not joined in 10 s is
    /// almost always a dead client holding a session).
    pub connect_timeout: Duration,
    /// How long [`Socket::emit_with_ack`] waits for the client. Defaults to 5 s.
    pub ack_timeout: Duration,
    /// Attachments one binary packet may declare (more closes the
    /// connection). Defaults to 10 (Node's `maxAttachments`).
    pub max_attachments: usize,
    /// Emits one socket may have awaiting acknowledgement; past it
    /// `emit_with_ack` fails with [`EmitError::TooManyPendingAcks`].
    /// Defaults to 64.
    pub max_pending_acks: usize,
    /// Packets a client may send to a namespace while its connect handler
    /// runs; past it the connection is closed. Defaults to 64.
    pub max_queued_while_connecting: usize,
    /// Packets the server may emit to a socket while its connect handler
    /// runs (sent after the CONNECT reply); past it emits fail with
    /// [`EmitError::Full`]. Capped below `engine.max_buffered_packets`.
    /// Defaults to 64.
    pub max_early_packets: usize,
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            parser: Parser::Json,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            ack_timeout: Duration::from_secs(5),
            max_attachments: crate::protocol::socketio::DEFAULT_MAX_ATTACHMENTS,
            max_pending_acks: 64,
            max_queued_while_connecting: 64,
            max_early_packets: 64,
        }
    }
}

/// Builds the adapter of a namespace, given its name.
type AdapterFactory = dyn Fn(&str) -> Arc<dyn Adapter> + Send + Sync;

pub(crate) struct ServerInner {
    /// The settings as given.
    config: SocketIoConfig,
    /// What sockets read from the settings, shared.
    settings: Arc<Settings>,
    /// Registered namespaces by name.
    namespaces: RwLock<HashMap<Arc<str>, Namespace>>,
    /// Makes each namespace's adapter.
    adapter_factory: Box<AdapterFactory>,
}

impl ServerInner {
    fn namespace(&self, name: &str) -> Option<Namespace> {
        read(&self.namespaces).get(name).cloned()
    }
}

/// The Socket.IO server. Cheap to clone; clones share the server.
#[derive(Clone)]
pub struct SocketIo {
    /// Namespaces and settings.
    server: Arc<ServerInner>,
    /// The Engine.IO server carrying the connections.
    engine: Arc<Engine<SocketIoHandler>>,
}

impl std::fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIo")
            .field("config", &self.server.config)
            .finish_non_exhaustive()
    }
}

impl SocketIo {
    /// A server with in-memory adapters.
    pub fn new(config: SocketIoConfig) -> Self {
        Self::with_adapter(config, |_| Arc::new(InMemoryAdapter::new()))
    }

    /// A server whose namespaces get their adapter from `factory`.
    pub fn with_adapter(
        config: SocketIoConfig,
        factory: impl Fn(&str) -> Arc<dyn Adapter> + Send + Sync + 'static,
    ) -> Self {
        let settings = Arc::new(Settings {
            parser: config.parser,
            ack_timeout: config.ack_timeout,
            max_pending_acks: config.max_pending_acks,
            // Early packets are flushed right after the CONNECT reply: they
            // must fit in the engine's queue beside it.
            max_early_packets: config
                .max_early_packets
                .min(config.engine.max_buffered_packets.saturating_sub(1)),
        });
        let server = Arc::new(ServerInner {
            config: config.clone(),
            settings,
            namespaces: RwLock::new(HashMap::new()),
            adapter_factory: Box::new(factory),
        });
        let engine = Engine::new(
            config.engine,
            Arc::new(SocketIoHandler::new(server.clone())),
        );
        Self { server, engine }
    }

    /// The namespace `name` (a leading `/` is added if missing), created on
    /// first use. Clients may only join created namespaces; others get
    /// CONNECT_ERROR `{"message":"Invalid namespace"}`.
    pub fn namespace(&self, name: &str) -> Namespace {
        let name = normalize(name);
        if let Some(ns) = self.server.namespace(&name) {
            return ns;
        }
        let mut namespaces = write(&self.server.namespaces);
        namespaces
            .entry(name.clone())
            .or_insert_with(|| {
                let adapter = (self.server.adapter_factory)(&name);
                Namespace::new(name.clone(), self.server.settings.clone(), adapter)
            })
            .clone()
    }

    /// The namespace `name`, if created.
    pub fn of(&self, name: &str) -> Option<Namespace> {
        self.server.namespace(&normalize(name))
    }

    /// A connected socket by namespace and socket id.
    pub fn get_socket(&self, namespace: &str, id: &str) -> Option<Socket> {
        self.of(namespace)?.get_socket(id)
    }

    /// Connected sockets, all namespaces together.
    pub fn socket_count(&self) -> usize {
        read(&self.server.namespaces)
            .values()
            .map(Namespace::socket_count)
            .sum()
    }

    /// Open Engine.IO connections.
    pub fn connection_count(&self) -> usize {
        self.engine.session_count()
    }

    /// The settings the server was built with.
    pub fn config(&self) -> &SocketIoConfig {
        &self.server.config
    }

    /// The Engine.IO server, to mount under the configured path.
    pub fn engine(&self) -> &Arc<Engine<SocketIoHandler>> {
        &self.engine
    }

    /// Answers one HTTP request for the Socket.IO path (`/socket.io` and
    /// `/socket.io/`, polling and WebSocket upgrade).
    pub async fn handle<B>(
        &self,
        request: Request<B>,
        remote_addr: Option<SocketAddr>,
    ) -> Response<EngineBody>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.engine.handle(request, remote_addr).await
    }

    /// Closes every connection (their sockets disconnect with
    /// [`DisconnectReason::ServerShuttingDown`]) and waits for them to be
    /// gone, at most 10 s.
    pub async fn close(&self) {
        self.close_within(Duration::from_secs(10)).await;
    }

    /// [`SocketIo::close`] with an explicit deadline.
    pub async fn close_within(&self, deadline: Duration) {
        self.engine.close_all(deadline).await;
    }
}

fn normalize(name: &str) -> Arc<str> {
    if name.starts_with('/') {
        name.into()
    } else {
        format!("/{name}").into()
    }
}

/// A fresh socket id: 120 random bits as 20 URL-safe characters.
pub(crate) fn random_id() -> String {
    let bytes: [u8; 15] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Locks, ignoring poisoning: handlers run outside every lock, so a poisoned
/// lock only means a panic elsewhere, never half-written state of ours.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
