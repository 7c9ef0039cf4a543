//! `--layer engineio`: plain Engine.IO at `/engine.io/`, echoing every
//! message back unchanged (text as text, binary as binary), configured as
//! the engine.io-protocol suite expects: pingInterval 300 ms, pingTimeout
//! 200 ms, maxPayload 1,000,000, any origin.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use locus::engineio::{
    CloseReason, Engine, EngineConfig, EngineHandler, EngineSocket, Message, OutboundMessage,
};
use locus::http::listener::{self, HttpLimits};
use tokio::net::TcpListener;

/// How long shutdown waits for sessions to say goodbye.
const CLOSE_ALL_DEADLINE: Duration = Duration::from_secs(2);

/// Sends every message back to its sender.
struct Echo;

impl EngineHandler for Echo {
    type Data = ();

    fn on_open(&self, _socket: &Arc<EngineSocket<()>>) {}

    fn on_message(&self, socket: &Arc<EngineSocket<()>>, message: Message) {
        let reply = match message {
            Message::Text(text) => OutboundMessage::text(&text),
            Message::Binary(data) => OutboundMessage::binary(data),
        };
        if let Err(error) = socket.send(reply) {
            tracing::debug!(sid = socket.id(), %error, "echo dropped");
        }
    }

    fn on_close(&self, _socket: &Arc<EngineSocket<()>>, _reason: CloseReason) {}
}

/// The engine settings the suite assumes.
pub fn config() -> EngineConfig {
    EngineConfig {
        path: "/engine.io/".to_owned(),
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_payload: 1_000_000,
        allowed_origins: None,
        ..EngineConfig::default()
    }
}

/// Serves the echo engine on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let engine = Engine::new(config(), Arc::new(Echo));
    let app = engine.router();
    let closing = engine.clone();
    let shutdown = async move {
        shutdown.await;
        closing.close_all(CLOSE_ALL_DEADLINE).await;
    };
    listener::serve(listener, app, HttpLimits::default(), shutdown).await
}
