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
//! # Files, and who imports whom
//!
//! Every file imports only files above it in this list (the graph has no
//! cycle; `mod` is the public face and the only importer of `session`):
//!
//! * `config`: [`EngineConfig`] and its defaults. Imports nothing here.
//! * `errors`: [`EngineError`], [`EngineBody`] and the HTTP answers.
//!   Imports nothing here.
//! * `handshake`: [`Handshake`], query parameters, origin/CORS, upgrade
//!   headers. Imports `config`, `errors`.
//! * `socket`: [`EngineSocket`], [`OutboundMessage`], the vocabulary
//!   ([`Message`], [`CloseReason`], [`SendError`], [`TransportKind`],
//!   [`Traffic`], [`EngineHandler`]) and the shared session state, whose
//!   phase changes only through its checked transitions (`begin_upgrade`,
//!   `abandon_upgrade`, `complete_upgrade`, `close`); the held wake-ups of
//!   a thread that sends in bursts ([`hold_wakes`], [`HeldWakes`]) and the
//!   `DirectWrite` trait they write through. Imports `handshake`. Knows no
//!   transport and no driver.
//! * `heartbeat`: ping/pong timing and applying a timer expiry. Imports
//!   `socket`.
//! * `polling`: long-polling GET/POST and the driver's wait while polling.
//!   Imports `config`, `errors`, `socket`, `heartbeat`.
//! * `websocket`: the 101 answer, the upgrade probe, the connection loop
//!   (whose writer it lends to the session as its `DirectWrite`), the
//!   goodbye. Imports `config`, `errors`, `handshake`, `socket`,
//!   `heartbeat`.
//! * `session`: the session table, opening a session on either transport
//!   and the per-session driver that sequences both. Imports everything
//!   above.
//! * `mod`: [`Engine`], routing requests to `session`, `polling` and
//!   `websocket`.
//!
//! ```text
//! config   errors
//!    \      /
//!    handshake
//!        |
//!      socket ---- heartbeat
//!      /    \        /   \
//!  polling  websocket     |
//!      \      |          /
//!       session ---------
//!          |
//!         mod (Engine)
//! ```

mod config;
mod errors;
mod handshake;
mod heartbeat;
mod polling;
mod session;
mod socket;
mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};

pub use config::{EngineConfig, DEFAULT_MAX_UNSENT_BYTES};
pub use errors::{EngineBody, EngineError};
pub use handshake::Handshake;
pub use socket::{
    hold_wakes, take_held_wakes, CloseReason, EngineHandler, EngineSocket, HeldWakes, Message,
    OutboundMessage, SendError, Traffic, TransportKind,
};

use handshake::{EngineQuery, OriginVerdict, RequestedTransport};
use session::Sessions;

/// The Engine.IO server: routes requests under its path to sessions.
pub struct Engine<H: EngineHandler> {
    /// The sessions, their settings and the layer above.
    sessions: Arc<Sessions<H>>,
}

impl<H: EngineHandler> Engine<H> {
    /// Creates an engine that calls `handler` for its sessions.
    pub fn new(config: EngineConfig, handler: Arc<H>) -> Arc<Self> {
        Arc::new(Self {
            sessions: Sessions::new(config, handler),
        })
    }

    /// Messages and bytes through every session so far.
    pub fn traffic(&self) -> &Arc<Traffic> {
        self.sessions.traffic()
    }

    /// The handler given to [`Engine::new`].
    pub fn handler(&self) -> &Arc<H> {
        self.sessions.handler()
    }

    /// The settings given to [`Engine::new`].
    pub fn config(&self) -> &EngineConfig {
        self.sessions.config()
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
        let bare = self.config().path.trim_end_matches('/');
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
        if !self.config().matches_path(request.uri().path()) {
            return EngineError::NotFound.into_response();
        }
        let origin = handshake::check_origin(self.config(), request.headers());
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
            let sessions = &self.sessions;
            return match (query.transport, upgrade) {
                (RequestedTransport::WebSocket, true) => {
                    websocket::upgrade(sessions.config(), sessions.ws_config(), socket, request)
                }
                (RequestedTransport::Polling, false) => match *request.method() {
                    Method::GET => polling::poll(&socket).await,
                    Method::POST => {
                        let handler = sessions.handler().as_ref();
                        polling::post(sessions.config(), handler, &socket, request).await
                    }
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
        if self.sessions.shutting_down() {
            return Err(EngineError::ShuttingDown);
        }
        match query.transport {
            RequestedTransport::WebSocket => {
                session::open_on_websocket(&self.sessions, request, remote_addr)
            }
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
                session::open_on_polling(&self.sessions, handshake)
            }
        }
    }

    /// Number of open sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.count()
    }

    /// The open session with id `sid`.
    pub fn session(&self, sid: &str) -> Option<Arc<EngineSocket<H::Data>>> {
        self.sessions.get(sid)
    }

    /// Closes every session with [`CloseReason::ServerShutdown`] (polling
    /// clients receive `1`, WebSocket clients a close frame) and waits until
    /// they are gone, their goodbyes included, or `deadline` passes. No
    /// session opens afterwards.
    pub async fn close_all(&self, deadline: Duration) {
        self.sessions.close_all(deadline).await;
    }
}
