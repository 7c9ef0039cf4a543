//! The Engine.IO layer's error type and the one place where errors become
//! HTTP answers, byte-compatible with the Node reference server: status 400
//! (403 for a refused origin) with `{"code":N,"message":"..."}`, and 413
//! with no body for an oversized payload.
//!
//! Knows nothing of sessions; callers decide what an error does to a session.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

/// The HTTP response body type the engine answers with.
pub type EngineBody = Full<Bytes>;

/// Why the engine refused an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// `transport` is missing or not `polling`/`websocket` (code 0).
    #[error("transport unknown")]
    UnknownTransport,
    /// `sid` names no open session (code 1).
    #[error("session id unknown")]
    UnknownSid,
    /// A handshake that is not a GET (code 2).
    #[error("bad handshake method")]
    BadHandshakeMethod,
    /// A request the protocol does not allow here (code 3); the reason is
    /// only logged, the client sees `Bad request`.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The `Origin` is not on the allowlist (code 4, HTTP 403).
    #[error("forbidden origin")]
    Forbidden,
    /// `EIO` is missing or not `4` (code 5).
    #[error("unsupported protocol version")]
    UnsupportedProtocolVersion,
    /// A polling body longer than `max_payload` (HTTP 413, no body).
    #[error("payload larger than {max} bytes")]
    PayloadTooLarge {
        /// The configured limit.
        max: usize,
    },
    /// The request path is not the engine's.
    #[error("not found")]
    NotFound,
    /// The engine is shutting down and opens no new sessions (HTTP 503).
    #[error("shutting down")]
    ShuttingDown,
}

impl EngineError {
    /// The Engine.IO error code and message, for errors that carry one.
    fn code(&self) -> Option<(u8, &'static str)> {
        Some(match self {
            Self::UnknownTransport => (0, "Transport unknown"),
            Self::UnknownSid => (1, "Session ID unknown"),
            Self::BadHandshakeMethod => (2, "Bad handshake method"),
            Self::BadRequest(_) => (3, "Bad request"),
            Self::Forbidden => (4, "Forbidden"),
            Self::UnsupportedProtocolVersion => (5, "Unsupported protocol version"),
            Self::PayloadTooLarge { .. } | Self::NotFound | Self::ShuttingDown => return None,
        })
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The HTTP answer for this error.
    pub fn into_response(self) -> Response<EngineBody> {
        let mut response = match self.code() {
            Some((code, message)) => {
                let body = serde_json::json!({ "code": code, "message": message }).to_string();
                let mut response = Response::new(Full::new(Bytes::from(body)));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
            None => Response::new(Full::new(Bytes::new())),
        };
        *response.status_mut() = self.status();
        response
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn body_of(response: Response<EngineBody>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn error_codes_are_json_numbers_like_node() {
        let response = EngineError::UnknownSid.into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            body_of(response).await,
            r#"{"code":1,"message":"Session ID unknown"}"#
        );
        let response = EngineError::BadRequest("transport mismatch").into_response();
        assert_eq!(
            body_of(response).await,
            r#"{"code":3,"message":"Bad request"}"#
        );
    }

    #[tokio::test]
    async fn forbidden_is_403_with_code_4() {
        let response = EngineError::Forbidden.into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            body_of(response).await,
            r#"{"code":4,"message":"Forbidden"}"#
        );
    }

    #[tokio::test]
    async fn payload_too_large_is_413_without_body() {
        let response = EngineError::PayloadTooLarge { max: 10 }.into_response();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body_of(response).await.is_empty());
    }
}
