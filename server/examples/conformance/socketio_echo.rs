//! `--layer socketio`: Socket.IO at `/socket.io/`, configured and behaving as
//! the socket.io-protocol suite expects: pingInterval 300 ms, pingTimeout
//! 200 ms, maxPayload 1,000,000, connectTimeout 1 s, any origin.
//!
//! * namespaces `/` and `/custom`; any other is refused ("Invalid namespace");
//! * on connect to either, emits `auth` with the client's auth payload (`{}`
//!   when none);
//! * on `/`: `message` → `message-back` with the same arguments (binaries
//!   included); `message-with-ack` → acknowledged with the same arguments.
//!
//! Owns only this wiring; the behaviour lives in `locus::socketio`. Also
//! included by the Rust integration tests (`tests/socketio_*.rs`).

use std::future::Future;
use std::time::Duration;

use locus::engineio::EngineConfig;
use locus::http::listener::{self, HttpLimits};
use locus::socketio::{Args, Parser, SocketIo, SocketIoConfig};
use tokio::net::TcpListener;

/// How long shutdown waits for connections to say goodbye.
const CLOSE_DEADLINE: Duration = Duration::from_secs(2);

/// The settings the suite assumes, with `parser`.
pub fn config(parser: Parser) -> SocketIoConfig {
    SocketIoConfig {
        engine: EngineConfig {
            path: "/socket.io/".to_owned(),
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(200),
            max_payload: 1_000_000,
            allowed_origins: None,
            ..EngineConfig::default()
        },
        parser,
        connect_timeout: Duration::from_secs(1),
        ..SocketIoConfig::default()
    }
}

/// The conformance server's namespaces and handlers on a fresh server.
pub fn build(config: SocketIoConfig) -> SocketIo {
    let io = SocketIo::new(config);
    for name in ["/", "/custom"] {
        io.namespace(name).on_connect(|socket, auth| async move {
            if let Err(error) = socket.emit_args("auth", Args::from(vec![auth])) {
                tracing::debug!(sid = socket.id(), %error, "could not emit auth");
            }
            Ok(())
        });
    }
    let main = io.namespace("/");
    main.on("message", |socket, args, _ack| {
        socket.emit_args("message-back", args)
    });
    main.on("message-with-ack", |_socket, args, ack| match ack {
        Some(ack) => ack.send_args(args),
        None => Ok(()),
    });
    io
}

/// Serves the conformance server speaking `parser` (`Parser::MsgPack` for
/// the msgpack variant of the suite) on `listener` until `shutdown` completes.
pub async fn serve_with_parser(
    listener: TcpListener,
    parser: Parser,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let io = build(config(parser));
    let app = io.engine().router();
    let closing = io.clone();
    let shutdown = async move {
        shutdown.await;
        closing.close_within(CLOSE_DEADLINE).await;
    };
    listener::serve(listener, app, HttpLimits::default(), shutdown).await
}
