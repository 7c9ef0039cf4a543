//! The JSON HTTP API of the wire contract (`docs/protocol.md`): register, login, logout, health,
//! metrics and, on a cluster node, the cluster. Every failure is an [`ApiError`] answered as
//! `{"error": "..."}` with its status; internal errors are logged and
//! answered generically.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use super::state::AppState;
use crate::auth::{token, validate, AuthError};
use crate::cluster::Route;
use crate::metrics;
use crate::socketio::Parser;
use crate::store::StoreError;

/// A failed API request, mapped to its HTTP answer in one place.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed or invalid input; the message says what is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// Unknown user or wrong password (the two look the same).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Missing, unknown or expired token.
    #[error("unauthorized")]
    Unauthorized,
    /// The username is taken.
    #[error("username already taken")]
    UsernameTaken,
    /// Too many attempts; retry after the given time.
    #[error("too many attempts, retry in {} s", retry_after.as_secs().max(1))]
    TooManyRequests {
        /// When the client may try again.
        retry_after: Duration,
    },
    /// No such resource.
    #[error("not found")]
    NotFound,
    /// A cluster resource asked of a node started without `--cluster`.
    #[error("not a cluster node")]
    NotAClusterNode,
    /// The method is not supported on this path.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The server is shutting down or its database is unavailable.
    #[error("service unavailable, try again shortly")]
    Unavailable,
    /// A bug or an unexpected failure; logged, answered generically.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::InvalidCredentials | Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::UsernameTaken => StatusCode::CONFLICT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound | Self::NotAClusterNode => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            tracing::error!(%detail, "internal error answering an API request");
        }
        let mut response = (
            self.status(),
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response();
        if let Self::TooManyRequests { retry_after } = self {
            let secs = retry_after.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&secs) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidUsername(_) | AuthError::InvalidPassword(_) => {
                Self::BadRequest(error.to_string())
            }
            AuthError::RateLimited { retry_after } => Self::TooManyRequests { retry_after },
            AuthError::Overloaded => Self::Unavailable,
            AuthError::Hashing(detail) => Self::Internal(detail),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::UsernameTaken => Self::UsernameTaken,
            StoreError::Closed | StoreError::Busy { .. } => Self::Unavailable,
            other => Self::Internal(other.to_string()),
        }
    }
}

/// Body of register and login: `{"username": string, "password": string}`.
pub struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    /// Reads the body strictly: a JSON object with both fields as strings.
    fn from_body(body: Result<Json<Value>, JsonRejection>) -> Result<Self, ApiError> {
        let Json(value) = body?;
        let Value::Object(mut fields) = value else {
            return Err(ApiError::BadRequest(
                "expected a JSON object {\"username\", \"password\"}".to_owned(),
            ));
        };
        let mut take = |name: &str| match fields.remove(name) {
            Some(Value::String(text)) => Ok(text),
            Some(_) => Err(ApiError::BadRequest(format!("{name} must be a string"))),
            None => Err(ApiError::BadRequest(format!("{name} is missing"))),
        };
        Ok(Self {
            username: take("username")?,
            password: take("password")?,
        })
    }
}

#[derive(Serialize)]
struct Registered {
    id: u64,
    username: String,
}

#[derive(Serialize)]
struct LoggedIn {
    token: String,
    expires_in: u64,
    /// On a cluster node: the node the player's region lives on (absent
    /// while nobody holds it).
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

/// Body of `GET /api/health`.
#[derive(Serialize)]
pub struct Health {
    /// Always `"ok"` while the server answers.
    status: &'static str,
    /// Players in the world.
    players_online: usize,
    /// The world's tick number.
    tick: u64,
    /// `"ok"`, or `"failing"` while position writes fail (they are retried).
    persistence: &'static str,
    /// The Socket.IO packet format (`"json"` or `"msgpack"`), so a client
    /// such as the bundled page can pick the same parser before connecting.
    parser: &'static str,
    /// On a cluster node: `"ok"`, or `"degraded"` while the cluster's Redis
    /// cannot be reached (absent without `--cluster`).
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'static str>,
}

/// `POST /api/register`.
pub async fn register(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    state.throttle.check_ip(peer.ip(), Instant::now())?;
    let creds = Credentials::from_body(body)?;
    validate::credentials(&creds.username, &creds.password)?;
    let phc = state.passwords.hash(&creds.password).await?;
    let id = state.store.create_account(&creds.username, &phc).await?;
    let body = Registered {
        id,
        username: creds.username,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `POST /api/login`, in the order `auth` documents: IP throttle, input
/// rules, account throttle, verification (against a dummy hash for unknown
/// users, so both failures look and take the same).
pub async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let now = Instant::now();
    state.throttle.check_ip(peer.ip(), now).inspect_err(|_| {
        state.metrics.login_failures.inc();
    })?;
    let creds = Credentials::from_body(body)?;
    // Input that breaks the rules cannot match an account: no hashing spent.
    if validate::credentials(&creds.username, &creds.password).is_err() {
        state.metrics.login_failures.inc();
        return Err(ApiError::InvalidCredentials);
    }
    state
        .throttle
        .check_account(&creds.username, now)
        .inspect_err(|_| {
            state.metrics.login_failures.inc();
        })?;
    let account = state.store.account_by_username(&creds.username).await?;
    let verified = state
        .passwords
        .verify(
            &creds.password,
            account.as_ref().map(|a| a.password_phc.as_str()),
        )
        .await?;
    let Some(account) = account.filter(|_| verified) else {
        state
            .throttle
            .record_failure(&creds.username, Instant::now());
        state.metrics.login_failures.inc();
        return Err(ApiError::InvalidCredentials);
    };
    state.throttle.record_success(&creds.username);
    // The cluster's answer first, so that a failing read leaves no session
    // behind an error.
    let url = match &state.cluster {
        Some(node) => {
            let stored = state.store.load_position(account.id).await?;
            match node.route_stored(stored.map(|p| (p.x, p.y))) {
                Route::Here => Some(node.url().to_owned()),
                Route::Moved(url) => Some(url),
                Route::Unowned => None,
            }
        }
        None => None,
    };
    let issued = token::issue(SystemTime::now(), state.token_ttl);
    state
        .store
        .create_session(account.id, issued.hash, issued.expires_at)
        .await?;
    let body = LoggedIn {
        token: issued.token,
        expires_in: state.token_ttl.as_secs(),
        url,
    };
    Ok(Json(body).into_response())
}

/// `POST /api/logout` with `Authorization: Bearer TOKEN`: revokes the token
/// and disconnects the account's sockets.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(token::bearer);
    let hash = presented
        .and_then(token::hash_presented)
        .ok_or(ApiError::Unauthorized)?;
    let account = state
        .store
        .delete_session(hash)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    state.players.kick_account(account, "logged out");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/health`.
pub async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    let failing = !state.store.health().last_flush_ok;
    Json(Health {
        status: "ok",
        players_online: state.world.player_count() as usize,
        tick: state.world.tick(),
        persistence: if failing { "failing" } else { "ok" },
        parser: match state.parser {
            Parser::Json => "json",
            Parser::MsgPack => "msgpack",
        },
        cluster: state.cluster.as_ref().map(|node| node.health()),
    })
}

/// `GET /api/cluster`: the live nodes and the regions each holds (404
/// without `--cluster`).
pub async fn cluster(State(state): State<Arc<AppState>>) -> Response {
    match &state.cluster {
        Some(node) => Json(node.cluster_json()).into_response(),
        None => ApiError::NotAClusterNode.into_response(),
    }
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    state.refresh_gauges();
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_contract_statuses() {
        assert_eq!(
            ApiError::InvalidCredentials.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(ApiError::UsernameTaken.status(), StatusCode::CONFLICT);
        assert_eq!(
            ApiError::TooManyRequests {
                retry_after: Duration::from_secs(2)
            }
            .status(),
            429
        );
        assert_eq!(
            ApiError::InvalidCredentials.to_string(),
            "invalid credentials"
        );
    }
}
