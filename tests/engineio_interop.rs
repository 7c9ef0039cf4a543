//! Interop with the official `engine.io-client` (Node): the engine serves
//! on 127.0.0.1:0 and `tests/js/engineio_interop.mjs` echoes text and
//! binary over WebSocket only, polling only, and polling upgraded to
//! WebSocket. Skipped (with a message) when node or `tests/node_modules`
//! is missing, failed instead in CI.

mod support;

use std::time::Duration;

use locus::engineio::{CloseReason, EngineConfig, TransportKind};
use support::engine::*;

async fn run_official_client(mode: &str) -> Option<(EngineServer, String)> {
    if !support::tools::node_modules_ready() {
        return None;
    }
    // Short pings so the client answers a few within the run.
    let config = EngineConfig {
        ping_interval: Duration::from_millis(100),
        ping_timeout: Duration::from_secs(5),
        ..config()
    };
    let mut server = EngineServer::start(config).await;
    let url = format!("http://{}", server.addr);
    let output = support::tools::run_node("engineio_interop.mjs", &[&url, mode]).await;
    assert!(output.contains(&format!("ok {mode}")), "{output}");
    let Event::Open(sid) = server.next_event().await else {
        panic!("no session opened")
    };
    Some((server, sid))
}

#[tokio::test]
async fn official_client_over_websocket_only() {
    let Some((mut server, sid)) = run_official_client("websocket").await else {
        return;
    };
    assert_eq!(server.closed(&sid).await, CloseReason::TransportClose);
    server.no_sessions_left().await;
}

#[tokio::test]
async fn official_client_over_polling_only() {
    let Some((mut server, sid)) = run_official_client("polling").await else {
        return;
    };
    assert_eq!(server.closed(&sid).await, CloseReason::ClientClose);
    server.no_sessions_left().await;
}

#[tokio::test]
async fn official_client_upgrades_from_polling_to_websocket() {
    let Some((mut server, sid)) = run_official_client("upgrade").await else {
        return;
    };
    let session = server.engine.session(&sid);
    if let Some(session) = session {
        assert_eq!(session.transport(), TransportKind::WebSocket);
    }
    assert_eq!(server.closed(&sid).await, CloseReason::TransportClose);
    server.no_sessions_left().await;
}
