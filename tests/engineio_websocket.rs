//! The WebSocket transport over real TCP: echo, framing violations, size
//! cap, heartbeat, and both directions of close.

mod support;

use std::time::Duration;

use futures_util::SinkExt;
use locus::engineio::{CloseReason, EngineConfig, Message, OutboundMessage, TransportKind};
use support::engine::*;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[tokio::test]
async fn websocket_echoes_text_and_binary() {
    let mut server = EngineServer::start(config()).await;
    let (mut ws, sid) = server.open_websocket().await;
    assert_eq!(server.socket(&sid).transport(), TransportKind::WebSocket);
    send_text(&mut ws, "4hello").await;
    assert_eq!(next_text(&mut ws).await, "4hello");
    ws.send(WsMessage::Binary(vec![1, 2, 3, 4].into()))
        .await
        .unwrap();
    assert_eq!(
        next_ws(&mut ws).await,
        Some(WsMessage::Binary(vec![1, 2, 3, 4].into()))
    );
    send_text(&mut ws, "4").await;
    assert_eq!(next_text(&mut ws).await, "4");
    assert_eq!(server.message(&sid).await, Message::Text("hello".into()));
    assert_eq!(
        server.message(&sid).await,
        Message::Binary(vec![1, 2, 3, 4].into())
    );
}

#[tokio::test]
async fn websocket_delivers_messages_in_order() {
    let mut server = EngineServer::start_with(config(), Default::default(), false).await;
    let (mut ws, sid) = server.open_websocket().await;
    for i in 0..200 {
        ws.feed(WsMessage::Text(format!("4m{i}").into()))
            .await
            .unwrap();
    }
    ws.flush().await.unwrap();
    send_text(&mut ws, "1").await;
    assert_eq!(server.next_event().await, Event::Open(sid.clone()));
    for i in 0..200 {
        assert_eq!(
            server.next_event().await,
            Event::Message(sid.clone(), Message::Text(format!("m{i}")))
        );
    }
    assert_eq!(
        server.next_event().await,
        Event::Close(sid, CloseReason::ClientClose)
    );
}

#[tokio::test]
async fn websocket_closes_with_1002_on_malformed_packet() {
    for bad in ["abc", "", "bAQID", "7x"] {
        let mut server = EngineServer::start(config()).await;
        let (mut ws, sid) = server.open_websocket().await;
        send_text(&mut ws, bad).await;
        assert_eq!(close_code(&mut ws).await, Some(1002), "packet {bad:?}");
        assert_eq!(server.closed(&sid).await, CloseReason::TransportError);
        server.no_sessions_left().await;
    }
}

#[tokio::test]
async fn websocket_closes_with_1002_on_ping_from_client() {
    let mut server = EngineServer::start(config()).await;
    let (mut ws, sid) = server.open_websocket().await;
    send_text(&mut ws, "2").await;
    assert_eq!(close_code(&mut ws).await, Some(1002));
    assert_eq!(server.closed(&sid).await, CloseReason::TransportError);
}

#[tokio::test]
async fn websocket_closes_with_1007_on_invalid_utf8_text() {
    let mut server = EngineServer::start(config()).await;
    let (mut ws, sid) = server.open_websocket().await;
    let frame = Frame::message(vec![b'4', 0xff, 0xfe], OpCode::Data(Data::Text), true);
    ws.send(WsMessage::Frame(frame)).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1007));
    assert_eq!(server.closed(&sid).await, CloseReason::TransportError);
}

#[tokio::test]
async fn websocket_closes_with_1009_on_oversize_message() {
    let config = EngineConfig {
        max_payload: 1_000,
        ..config()
    };
    let mut server = EngineServer::start(config.clone()).await;
    let (mut ws, sid) = server.open_websocket().await;
    send_text(&mut ws, &format!("4{}", "x".repeat(999))).await;
    assert_eq!(next_text(&mut ws).await.len(), 1_000);
    send_text(&mut ws, &format!("4{}", "x".repeat(2_000))).await;
    assert_eq!(close_code(&mut ws).await, Some(1009));
    assert_eq!(server.closed(&sid).await, CloseReason::TransportError);

    let (mut ws, sid) = server.open_websocket().await;
    ws.send(WsMessage::Binary(vec![0u8; 5_000].into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1009));
    assert_eq!(server.closed(&sid).await, CloseReason::TransportError);
}

#[tokio::test]
async fn websocket_closes_with_1009_on_fragmented_oversize_message() {
    let mut server = EngineServer::start(EngineConfig {
        max_payload: 1_000,
        ..config()
    })
    .await;
    let (mut ws, sid) = server.open_websocket().await;
    ws.feed(WsMessage::Frame(Frame::message(
        vec![b'4'; 600],
        OpCode::Data(Data::Text),
        false,
    )))
    .await
    .unwrap();
    ws.feed(WsMessage::Frame(Frame::message(
        vec![b'x'; 600],
        OpCode::Data(Data::Continue),
        true,
    )))
    .await
    .unwrap();
    ws.flush().await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1009));
    assert_eq!(server.closed(&sid).await, CloseReason::TransportError);
}

#[tokio::test]
async fn websocket_heartbeat_pings_and_accepts_pongs() {
    let server = EngineServer::start(EngineConfig {
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_secs(5),
        ..config()
    })
    .await;
    let (mut ws, _sid) = server.open_websocket().await;
    for _ in 0..3 {
        assert_eq!(next_text(&mut ws).await, "2");
        send_text(&mut ws, "3").await;
    }
    assert_eq!(server.engine.session_count(), 1);
}

#[tokio::test]
async fn websocket_session_closes_on_ping_timeout() {
    let mut server = EngineServer::start(EngineConfig {
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_millis(50),
        ..config()
    })
    .await;
    let (mut ws, sid) = server.open_websocket().await;
    assert_eq!(next_text(&mut ws).await, "2");
    assert_eq!(close_code(&mut ws).await, Some(1000));
    assert_eq!(server.closed(&sid).await, CloseReason::PingTimeout);
    server.no_sessions_left().await;
}

#[tokio::test]
async fn websocket_client_close_packet_closes_session() {
    let mut server = EngineServer::start(config()).await;
    let (mut ws, sid) = server.open_websocket().await;
    send_text(&mut ws, "1").await;
    assert_eq!(close_code(&mut ws).await, Some(1000));
    assert_eq!(server.closed(&sid).await, CloseReason::ClientClose);
    server.no_sessions_left().await;
}

#[tokio::test]
async fn websocket_close_frame_from_client_closes_session() {
    let mut server = EngineServer::start(config()).await;
    let (mut ws, sid) = server.open_websocket().await;
    ws.close(None).await.unwrap();
    assert_eq!(server.closed(&sid).await, CloseReason::TransportClose);
    server.no_sessions_left().await;
}

#[tokio::test]
async fn websocket_dropped_connection_closes_session() {
    let mut server = EngineServer::start(config()).await;
    let (ws, sid) = server.open_websocket().await;
    drop(ws);
    assert_eq!(server.closed(&sid).await, CloseReason::TransportClose);
    server.no_sessions_left().await;
}

#[tokio::test]
async fn websocket_server_close_flushes_queue_then_sends_close_frame() {
    let mut server = EngineServer::start(config()).await;
    let (mut ws, sid) = server.open_websocket().await;
    let socket = server.socket(&sid);
    socket.send(OutboundMessage::text("last words")).unwrap();
    socket
        .send(OutboundMessage::binary(vec![9].into()))
        .unwrap();
    socket.close(CloseReason::ServerClose);
    assert_eq!(next_text(&mut ws).await, "4last words");
    assert_eq!(
        next_ws(&mut ws).await,
        Some(WsMessage::Binary(vec![9].into()))
    );
    assert_eq!(close_code(&mut ws).await, Some(1000));
    assert_eq!(server.closed(&sid).await, CloseReason::ServerClose);
    server.no_sessions_left().await;
}

#[tokio::test]
async fn websocket_send_all_group_arrives_adjacent_and_in_order() {
    let server = EngineServer::start(config()).await;
    let (mut ws, sid) = server.open_websocket().await;
    let socket = server.socket(&sid);
    socket
        .send_all(vec![
            OutboundMessage::text(r#"51-["x",{"_placeholder":true,"num":0}]"#),
            OutboundMessage::binary(vec![1, 2].into()),
        ])
        .unwrap();
    socket.send(OutboundMessage::text("after")).unwrap();
    assert_eq!(
        next_text(&mut ws).await,
        r#"451-["x",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(
        next_ws(&mut ws).await,
        Some(WsMessage::Binary(vec![1, 2].into()))
    );
    assert_eq!(next_text(&mut ws).await, "4after");
}

#[tokio::test]
async fn broadcast_message_is_shared_between_sessions() {
    let server = EngineServer::start(config()).await;
    let (mut first, first_sid) = server.open_websocket().await;
    let (mut second, second_sid) = server.open_websocket().await;
    let message = OutboundMessage::text("to everyone");
    server.socket(&first_sid).send(message.clone()).unwrap();
    server.socket(&second_sid).send(message).unwrap();
    assert_eq!(next_text(&mut first).await, "4to everyone");
    assert_eq!(next_text(&mut second).await, "4to everyone");
}
