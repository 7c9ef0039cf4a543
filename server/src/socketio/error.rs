//! The Socket.IO layer's error and outcome types: why an emit or an ack
//! failed, how a connect handler refuses a client, why a socket left.
//!
//! Owns no state. Protocol errors live in `protocol::socketio::ParseError`.

use std::time::Duration;

use serde_json::Value;

use crate::engineio::{CloseReason, SendError};

/// Why an emit did not reach the socket's outbound queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// The connection's outbound queue is full (a slow reader). Nothing was
    /// queued; the caller decides whether to merge, drop or disconnect.
    #[error("outbound queue full")]
    Full,
    /// The socket has disconnected.
    #[error("socket disconnected")]
    Closed,
    /// The event name is reserved by Socket.IO (`connect`, `disconnect`, ...).
    #[error("reserved event name {0:?}")]
    ReservedEvent(String),
    /// The data could not be serialized.
    #[error("could not serialize the payload: {0}")]
    Serialize(String),
    /// The socket already waits for `max_pending_acks` acknowledgements.
    #[error("too many acknowledgements pending")]
    TooManyPendingAcks,
}

impl From<SendError> for EmitError {
    fn from(error: SendError) -> Self {
        match error {
            SendError::Full => Self::Full,
            SendError::Closed => Self::Closed,
        }
    }
}

/// Why an emit with acknowledgement produced no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// The emit itself failed.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// No reply within the timeout.
    #[error("no acknowledgement within {0:?}")]
    Timeout(Duration),
    /// The socket disconnected before replying.
    #[error("socket disconnected before acknowledging")]
    Disconnected,
}

/// A connect handler's refusal: the client receives CONNECT_ERROR
/// `{"message": message, "data": data}` (`data` omitted when `None`), which the
/// JavaScript client raises as `connect_error` with `err.message` / `err.data`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// Shown to the client as `err.message`.
    pub message: String,
    /// Shown to the client as `err.data`.
    pub data: Option<Value>,
}

impl ConnectError {
    /// A refusal with `message` and no data.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: None,
        }
    }

    /// Adds `data` to the refusal.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {}

/// Why a socket left its namespace. [`DisconnectReason::as_str`] gives the
/// reference server's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The client sent DISCONNECT for the namespace.
    ClientNamespaceDisconnect,
    /// The server called [`super::Socket::disconnect`].
    ServerNamespaceDisconnect,
    /// The connection closed underneath (or the client closed the session).
    TransportClose,
    /// The transport failed (bad framing, oversized message...).
    TransportError,
    /// The client stopped answering pings.
    PingTimeout,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The client sent a packet that does not parse.
    ParseError,
    /// The server closed the whole connection: a protocol violation (packet
    /// for a namespace not joined, second CONNECT, too many queued packets),
    /// or [`super::Socket::close_connection`].
    ForcedServerClose,
}

impl DisconnectReason {
    /// The reference server's name for the reason (`"ping timeout"`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientNamespaceDisconnect => "client namespace disconnect",
            Self::ServerNamespaceDisconnect => "server namespace disconnect",
            Self::TransportClose => "transport close",
            Self::TransportError => "transport error",
            Self::PingTimeout => "ping timeout",
            Self::ServerShuttingDown => "server shutting down",
            Self::ParseError => "parse error",
            Self::ForcedServerClose => "forced server close",
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<CloseReason> for DisconnectReason {
    fn from(reason: CloseReason) -> Self {
        match reason {
            CloseReason::TransportClose | CloseReason::ClientClose => Self::TransportClose,
            CloseReason::TransportError => Self::TransportError,
            CloseReason::PingTimeout => Self::PingTimeout,
            CloseReason::ServerClose => Self::ForcedServerClose,
            CloseReason::ServerShutdown => Self::ServerShuttingDown,
        }
    }
}

/// What an event handler may fail with; routed to the namespace's error hook.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// What event handlers return: `()` or a `Result<(), E>`.
pub trait IntoHandlerResult {
    /// The handler's outcome.
    fn into_handler_result(self) -> Result<(), HandlerError>;
}

impl IntoHandlerResult for () {
    fn into_handler_result(self) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl<E: Into<HandlerError>> IntoHandlerResult for Result<(), E> {
    fn into_handler_result(self) -> Result<(), HandlerError> {
        self.map_err(Into::into)
    }
}
