//! Engine.IO server settings: every limit and timeout of the engine, each
//! with its documented default. Plain data; no behaviour beyond defaults and
//! the derived WebSocket codec settings.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The default of [`EngineConfig::max_unsent_bytes`]: two or three
/// snapshots with 40 players in view. Measured by `tests/server_slow_reader.rs`
/// (stale snapshots a reader with a 4 KiB receive buffer reads after an
/// 80-tick stall): 512 B: 10, 1 KiB: 12, 2 KiB: 14, 4 KiB: 25, 64 KiB: 74
/// (everything); the reader's own receive buffer is most of what is left.
pub const DEFAULT_MAX_UNSENT_BYTES: usize = 2 * 1024;

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
    /// [`EngineSocket::send_all`](super::EngineSocket::send_all) counts as one);
    /// sends beyond it fail with `SendError::Full`. A WebSocket connection
    /// also holds the one batch it is writing, so at most twice this many
    /// items wait for a slow client. Defaults to 256.
    pub max_buffered_packets: usize,
    /// Encoded bytes a session may queue while its WebSocket writer holds a
    /// write the kernel has not taken (the client is not reading); beyond
    /// it sends fail with `SendError::Full`, so a stalled reader is seen
    /// within a few messages and not after `max_buffered_packets`. The
    /// writer takes nothing more while a write is pending, so what waits
    /// in the process for a stalled WebSocket is this plus one write. A
    /// client that keeps up never meets it. Defaults to 2 KiB (the
    /// listener bounds unsent bytes in the kernel by the same figure:
    /// `TCP_NOTSENT_LOWAT`).
    pub max_unsent_bytes: usize,
    /// Allowed `Origin`s, checked on polling and on the WebSocket upgrade.
    /// `None` allows any origin. Defaults to `None`.
    pub allowed_origins: Option<Vec<String>>,
    /// Whether polling sessions may upgrade to WebSocket. Defaults to true.
    pub allow_upgrades: bool,
    /// How long a session closed by the server waits for the client's next
    /// poll to hand it the `1` packet, and how long a WebSocket close
    /// handshake may take before the TCP connection is dropped. Defaults to 5 s.
    pub close_timeout: Duration,
    /// How long a polling POST may take to deliver its body; a stalled body
    /// (e.g. a lying `Content-Length`) closes the session. Defaults to 10 s.
    pub body_read_timeout: Duration,
    /// Bytes each WebSocket connection reserves for reading frames (allocated
    /// up front, so it dominates idle memory; larger messages still fit, up
    /// to `max_payload`). Defaults to 4 KiB.
    pub ws_read_buffer_size: usize,
    /// Bytes of outgoing frames a WebSocket connection gathers before writing
    /// mid-batch; every batch is flushed at its end anyway. Defaults to 8 KiB.
    pub ws_write_buffer_size: usize,
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
            max_unsent_bytes: DEFAULT_MAX_UNSENT_BYTES,
            allowed_origins: None,
            allow_upgrades: true,
            close_timeout: Duration::from_secs(5),
            body_read_timeout: Duration::from_secs(10),
            ws_read_buffer_size: 4 * 1024,
            ws_write_buffer_size: 8 * 1024,
        }
    }
}

impl EngineConfig {
    /// Whether `path` (a request URI path) is the engine's endpoint, with or
    /// without the trailing slash.
    pub(crate) fn matches_path(&self, path: &str) -> bool {
        let own = self.path.trim_end_matches('/');
        path.trim_end_matches('/') == own && (path.len() - own.len()) <= 1
    }

    /// The tungstenite settings for every WebSocket of this engine.
    pub(crate) fn websocket(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.ws_read_buffer_size)
            .write_buffer_size(self.ws_write_buffer_size)
            .max_write_buffer_size(usize::MAX)
            .max_message_size(Some(self.max_payload))
            .max_frame_size(Some(self.max_payload))
            .accept_unmasked_frames(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_matches_with_and_without_trailing_slash() {
        let config = EngineConfig {
            path: "/engine.io/".into(),
            ..EngineConfig::default()
        };
        assert!(config.matches_path("/engine.io/"));
        assert!(config.matches_path("/engine.io"));
        assert!(!config.matches_path("/engine.io//"));
        assert!(!config.matches_path("/engine.iox"));
        assert!(!config.matches_path("/"));
    }
}
