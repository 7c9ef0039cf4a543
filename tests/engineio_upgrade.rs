//! The polling → WebSocket upgrade over real TCP: probe, noop for every
//! poll while upgrading, the switch and flush on `5`, what is refused
//! afterwards, and abandoned upgrades.

mod support;

use std::time::Duration;

use locus::engineio::{CloseReason, EngineConfig, Message, OutboundMessage, TransportKind};
use support::engine::*;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const BAD_REQUEST: &str = r#"{"code":3,"message":"Bad request"}"#;

/// Opens a polling session and a probe WebSocket for it, past `3probe`.
async fn probed(server: &EngineServer) -> (String, Ws) {
    let sid = server.open_polling().await;
    let mut ws = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(next_text(&mut ws).await, "3probe");
    (sid, ws)
}

#[tokio::test]
async fn upgrade_switches_transport_and_flushes_buffered_messages() {
    let mut server = EngineServer::start(config()).await;
    let (sid, mut ws) = probed(&server).await;
    assert_eq!(server.poll(&sid).await, (200, "6".to_owned()));
    // Queued while upgrading: neither polled out nor lost.
    server
        .socket(&sid)
        .send(OutboundMessage::text("buffered"))
        .unwrap();
    assert_eq!(server.poll(&sid).await, (200, "6".to_owned()));
    send_text(&mut ws, "5").await;
    assert_eq!(next_text(&mut ws).await, "4buffered");
    send_text(&mut ws, "4hello").await;
    assert_eq!(next_text(&mut ws).await, "4hello");
    assert_eq!(server.message(&sid).await, Message::Text("hello".into()));
    assert_eq!(server.socket(&sid).transport(), TransportKind::WebSocket);
}

#[tokio::test]
async fn every_poll_during_upgrade_gets_noop() {
    let server = EngineServer::start(config()).await;
    let (sid, mut ws) = probed(&server).await;
    for _ in 0..5 {
        assert_eq!(server.poll(&sid).await, (200, "6".to_owned()));
    }
    let concurrent = futures_util::future::join_all((0..5).map(|_| server.poll(&sid))).await;
    assert!(
        concurrent
            .iter()
            .all(|answer| *answer == (200, "6".to_owned())),
        "{concurrent:?}"
    );
    send_text(&mut ws, "5").await;
    send_text(&mut ws, "4still alive").await;
    assert_eq!(next_text(&mut ws).await, "4still alive");
}

#[tokio::test]
async fn pending_poll_is_released_by_the_probe() {
    let server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    let pending = server.poll(&sid);
    let probe = async {
        let mut ws = server
            .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
            .await;
        send_text(&mut ws, "2probe").await;
        assert_eq!(next_text(&mut ws).await, "3probe");
        ws
    };
    let (answer, _ws) = tokio::join!(pending, probe);
    assert_eq!(answer, (200, "6".to_owned()));
}

#[tokio::test]
async fn polling_after_upgrade_is_rejected_with_code_3() {
    let mut server = EngineServer::start(config()).await;
    let (sid, mut ws) = probed(&server).await;
    send_text(&mut ws, "5").await;
    // The echo of a message sent after `5` proves the switch happened.
    send_text(&mut ws, "4switched").await;
    assert_eq!(next_text(&mut ws).await, "4switched");
    assert_eq!(server.poll(&sid).await, (400, BAD_REQUEST.to_owned()));
    assert_eq!(server.post(&sid, "4x").await, (400, BAD_REQUEST.to_owned()));
    send_text(&mut ws, "4hello").await;
    assert_eq!(next_text(&mut ws).await, "4hello");
    assert_eq!(server.message(&sid).await, Message::Text("switched".into()));
}

#[tokio::test]
async fn second_websocket_after_upgrade_is_closed() {
    let server = EngineServer::start(config()).await;
    let (sid, mut ws) = probed(&server).await;
    send_text(&mut ws, "5").await;
    let mut second = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    assert!(close_code(&mut second).await.is_some());
    send_text(&mut ws, "4hello").await;
    assert_eq!(next_text(&mut ws).await, "4hello");
}

#[tokio::test]
async fn second_websocket_during_probe_is_closed() {
    let server = EngineServer::start(config()).await;
    let (sid, mut ws) = probed(&server).await;
    let mut second = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    assert!(close_code(&mut second).await.is_some());
    send_text(&mut ws, "5").await;
    send_text(&mut ws, "4hello").await;
    assert_eq!(next_text(&mut ws).await, "4hello");
}

#[tokio::test]
async fn websocket_for_websocket_session_is_closed() {
    let server = EngineServer::start(config()).await;
    let (mut ws, sid) = server.open_websocket().await;
    let mut second = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    assert!(close_code(&mut second).await.is_some());
    send_text(&mut ws, "4first still works").await;
    assert_eq!(next_text(&mut ws).await, "4first still works");
}

#[tokio::test]
async fn abandoned_upgrade_is_reclaimed_after_upgrade_timeout() {
    let mut server = EngineServer::start(EngineConfig {
        upgrade_timeout: Duration::from_millis(100),
        ..config()
    })
    .await;
    let (sid, mut ws) = probed(&server).await;
    // No `5`: the server gives up on the probe and closes it.
    assert_eq!(close_code(&mut ws).await, Some(1000));
    // The session carries on over polling.
    assert_eq!(server.socket(&sid).transport(), TransportKind::Polling);
    server
        .socket(&sid)
        .send(OutboundMessage::text("still polling"))
        .unwrap();
    assert_eq!(server.poll(&sid).await, (200, "4still polling".to_owned()));
    // And may try again.
    let mut retry = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut retry, "2probe").await;
    assert_eq!(next_text(&mut retry).await, "3probe");
    send_text(&mut retry, "5").await;
    send_text(&mut retry, "1").await;
    assert_eq!(server.closed(&sid).await, CloseReason::ClientClose);
    server.no_sessions_left().await;
}

#[tokio::test]
async fn abandoned_session_during_upgrade_is_reclaimed() {
    let config = EngineConfig {
        upgrade_timeout: Duration::from_millis(100),
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_millis(50),
        ..config()
    };
    let mut server = EngineServer::start(config).await;
    let (sid, _ws) = probed(&server).await;
    // The client vanished mid-upgrade (keeps the probe open, never polls):
    // the heartbeat ends the session and nothing stays behind.
    assert_eq!(server.closed(&sid).await, CloseReason::PingTimeout);
    server.no_sessions_left().await;
}

#[tokio::test]
async fn dropped_probe_frees_the_session_for_another_upgrade() {
    let server = EngineServer::start(config()).await;
    let (sid, ws) = probed(&server).await;
    drop(ws);
    let mut retry;
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts < 200, "the dropped probe was never detached");
        retry = server
            .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
            .await;
        send_text(&mut retry, "2probe").await;
        match next_ws(&mut retry).await {
            Some(WsMessage::Text(text)) if text == "3probe" => break,
            // The old probe was not detached yet: this one was refused.
            _ => continue,
        }
    }
    send_text(&mut retry, "5").await;
    send_text(&mut retry, "4upgraded").await;
    assert_eq!(next_text(&mut retry).await, "4upgraded");
}

#[tokio::test]
async fn unexpected_packet_on_probe_abandons_upgrade() {
    let server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    let mut ws = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "4too early").await;
    assert!(close_code(&mut ws).await.is_some());
    assert_eq!(
        server.post(&sid, "4polling still works").await,
        (200, "ok".to_owned())
    );
    assert_eq!(
        server.poll(&sid).await,
        (200, "4polling still works".to_owned())
    );
}

#[tokio::test]
async fn upgrade_refused_when_upgrades_disabled() {
    let server = EngineServer::start(EngineConfig {
        allow_upgrades: false,
        ..config()
    })
    .await;
    let sid = server.open_polling().await;
    match server
        .ws_with_origin(&format!("EIO=4&transport=websocket&sid={sid}"), "http://x")
        .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400)
        }
        other => panic!("upgrade was not refused: {:?}", other.map(|_| ())),
    }
    assert_eq!(server.post(&sid, "4x").await.0, 200);
}

#[tokio::test]
async fn heartbeat_continues_on_websocket_after_upgrade() {
    let config = EngineConfig {
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_secs(5),
        ..config()
    };
    let server = EngineServer::start(config).await;
    let (sid, mut ws) = probed(&server).await;
    // Polls during the upgrade only ever get noops, pings included.
    assert_eq!(server.poll(&sid).await, (200, "6".to_owned()));
    send_text(&mut ws, "5").await;
    assert_eq!(next_text(&mut ws).await, "2");
    send_text(&mut ws, "3").await;
    assert_eq!(next_text(&mut ws).await, "2");
}
