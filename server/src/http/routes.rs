//! The HTTP routes of the running server: the JSON API, metrics,
//! Socket.IO (behind the per-IP handshake limit) and the static client, as
//! one axum [`Router`] testable without a socket.
//!
//! Decides only which handler answers a request; must not open or start
//! anything (that is `crate::server`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, Uri};
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use axum::Router;

use super::api::{self, ApiError};
use super::handshake_limit::HandshakeLimiter;
use super::state::AppState;
use super::static_files::StaticFiles;
use crate::socketio::SocketIo;

/// Whether `request` would open a new Engine.IO session: a GET without a
/// `sid` (read exactly as the engine reads it).
fn is_handshake(request: &Request) -> bool {
    let probe = crate::engineio::Handshake {
        uri: request.uri().clone(),
        headers: Default::default(),
        remote_addr: None,
    };
    request.method() == Method::GET && probe.query("sid").is_none_or(|sid| sid.is_empty())
}

/// 429 with an Engine.IO-style error body, for a refused handshake.
fn too_many_handshakes() -> axum::response::Response {
    let body =
        serde_json::json!({"code": 3, "message": "Too many handshakes, retry later"}).to_string();
    (
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        [
            (axum::http::header::CONTENT_TYPE, "application/json"),
            (axum::http::header::RETRY_AFTER, "1"),
        ],
        body,
    )
        .into_response()
}

/// The HTTP routes: the JSON API, metrics, Socket.IO (new sessions counted
/// by `limiter` when there is one), and the static client.
pub fn router(
    app: Arc<AppState>,
    io: SocketIo,
    static_files: StaticFiles,
    limiter: Option<Arc<HandshakeLimiter>>,
) -> Router {
    let socketio = any(
        move |ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request| {
            let io = io.clone();
            let limiter = limiter.clone();
            async move {
                if let Some(limiter) = limiter {
                    if is_handshake(&request)
                        && !limiter.allow(peer.ip(), std::time::Instant::now())
                    {
                        tracing::debug!(%peer, "engine.io handshake rate exceeded");
                        return too_many_handshakes();
                    }
                }
                io.handle(request, Some(peer)).await.map(Body::new)
            }
        },
    );
    Router::new()
        .route("/api/register", post(api::register))
        .route("/api/login", post(api::login))
        .route("/api/logout", post(api::logout))
        .route("/api/health", get(api::health))
        .route("/api/cluster", get(api::cluster))
        .route("/metrics", get(api::metrics))
        .route("/socket.io", socketio.clone())
        .route("/socket.io/", socketio)
        .fallback(
            move |State(_): State<Arc<AppState>>, method: Method, uri: Uri| {
                let files = static_files.clone();
                async move {
                    if uri.path().starts_with("/api/") {
                        return if method == Method::GET || method == Method::POST {
                            ApiError::NotFound.into_response()
                        } else {
                            ApiError::MethodNotAllowed.into_response()
                        };
                    }
                    files.serve(method, uri).await
                }
            },
        )
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(app)
}
