//! Session lifecycle over real TCP: the outbound queue bound, graceful
//! shutdown, and that nothing stays behind after clients vanish.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use locus::engineio::{CloseReason, EngineConfig, OutboundMessage, SendError};
use support::engine::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Makes dropping `stream` send a TCP reset instead of a clean close.
fn reset_on_drop(stream: &TcpStream) {
    // A zero linger never blocks on drop, which is what the deprecation warns about.
    #[allow(deprecated)]
    stream.set_linger(Some(Duration::ZERO)).unwrap();
}

#[tokio::test]
async fn send_returns_full_when_polling_client_does_not_poll() {
    let server = EngineServer::start(EngineConfig {
        max_buffered_packets: 4,
        ..config()
    })
    .await;
    let sid = server.open_polling().await;
    let socket = server.socket(&sid);
    for i in 0..3 {
        socket
            .send(OutboundMessage::text(&format!("m{i}")))
            .unwrap();
    }
    // A group counts once, however many messages it holds.
    socket
        .send_all(vec![
            OutboundMessage::text("g1"),
            OutboundMessage::text("g2"),
            OutboundMessage::text("g3"),
        ])
        .unwrap();
    assert_eq!(
        socket.send(OutboundMessage::text("overflow")),
        Err(SendError::Full)
    );
    assert_eq!(
        socket.send_all(vec![OutboundMessage::text("overflow")]),
        Err(SendError::Full)
    );
    // Draining the queue makes room again.
    assert_eq!(
        server.poll(&sid).await.1,
        "4m0\x1e4m1\x1e4m2\x1e4g1\x1e4g2\x1e4g3"
    );
    socket.send(OutboundMessage::text("room")).unwrap();
}

#[tokio::test]
async fn send_returns_full_when_websocket_client_does_not_read() {
    let server = EngineServer::start(EngineConfig {
        max_buffered_packets: 8,
        ..config()
    })
    .await;
    let (_ws, sid) = server.open_websocket().await;
    let socket = server.socket(&sid);
    let chunk = OutboundMessage::text(&"z".repeat(64 * 1024));
    let mut sent = 0usize;
    loop {
        match socket.send(chunk.clone()) {
            Ok(()) => sent += 1,
            Err(SendError::Full) => break,
            Err(SendError::Closed) => panic!("session closed under backpressure"),
        }
        assert!(
            sent < 20_000,
            "the queue never filled although the client reads nothing"
        );
        // Let the connection task write what the socket takes.
        tokio::task::yield_now().await;
    }
    assert!(!socket.is_closed());
}

#[tokio::test]
async fn send_returns_closed_after_close() {
    let mut server = EngineServer::start(config()).await;
    let (_ws, sid) = server.open_websocket().await;
    let socket = server.socket(&sid);
    socket.close(CloseReason::ServerClose);
    assert_eq!(
        socket.send(OutboundMessage::text("late")),
        Err(SendError::Closed)
    );
    assert!(socket.is_closed());
    assert_eq!(server.closed(&sid).await, CloseReason::ServerClose);
}

#[tokio::test]
async fn close_all_closes_polling_and_websocket_sessions() {
    let mut server = EngineServer::start(config()).await;
    let polling_sid = server.open_polling().await;
    let (mut ws, ws_sid) = server.open_websocket().await;
    let engine = server.engine.clone();
    let (poll, code, ()) = tokio::join!(
        server.poll(&polling_sid),
        close_code(&mut ws),
        engine.close_all(PATIENCE)
    );
    assert_eq!(poll, (200, "1".to_owned()));
    assert_eq!(code, Some(1001));
    assert_eq!(server.engine.session_count(), 0);
    let mut closed = Vec::new();
    while closed.len() < 2 {
        if let Event::Close(sid, reason) = server.next_event().await {
            closed.push((sid, reason));
        }
    }
    closed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![
        (polling_sid, CloseReason::ServerShutdown),
        (ws_sid, CloseReason::ServerShutdown),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(closed, expected);
}

#[tokio::test]
async fn close_all_returns_at_deadline_when_a_client_never_polls() {
    let server = EngineServer::start(config()).await;
    let _sid = server.open_polling().await;
    // Nobody fetches the `1`: close_all gives up at its deadline.
    tokio::time::timeout(PATIENCE, server.engine.close_all(Duration::from_millis(50)))
        .await
        .expect("close_all kept its deadline");
}

#[tokio::test]
async fn shutdown_answers_pending_poll_and_serve_returns() {
    let server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    let poll = tokio::spawn({
        let (http, url) = (
            server.http.clone(),
            server.url(&format!("EIO=4&transport=polling&sid={sid}")),
        );
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    });
    let engine = server.engine.clone();
    server.shutdown().await;
    assert_eq!(
        tokio::time::timeout(PATIENCE, poll).await.unwrap().unwrap(),
        "1"
    );
    assert_eq!(engine.session_count(), 0);
}

#[tokio::test]
async fn reset_mid_websocket_handshake_leaves_no_session() {
    let server = EngineServer::start(config()).await;
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let request = format!(
            "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            server.addr
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        reset_on_drop(&stream);
        drop(stream);
    }
    server.no_sessions_left().await;
}

#[tokio::test]
async fn reset_after_polling_handshake_is_reclaimed_by_heartbeat() {
    let mut server = EngineServer::start(EngineConfig {
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_millis(50),
        ..config()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let Event::Open(sid) = server.next_event().await else {
        panic!("no session opened")
    };
    reset_on_drop(&stream);
    drop(stream);
    assert_eq!(server.closed(&sid).await, CloseReason::PingTimeout);
    server.no_sessions_left().await;
}

#[tokio::test]
async fn churn_leaves_no_session_behind() {
    let mut server = EngineServer::start(EngineConfig {
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_millis(50),
        ..config()
    })
    .await;
    let mut sids = Vec::new();
    for round in 0..10 {
        let (mut ws, sid) = server.open_websocket().await;
        match round % 3 {
            0 => send_text(&mut ws, "1").await,
            1 => drop(ws.close(None).await),
            _ => drop(ws),
        }
        sids.push(sid);
        let sid = server.open_polling().await;
        if round % 2 == 0 {
            assert_eq!(server.post(&sid, "1").await.0, 200);
        }
        sids.push(sid);
    }
    let mut open: std::collections::HashSet<String> = sids.into_iter().collect();
    while !open.is_empty() {
        if let Event::Close(sid, _) = server.next_event().await {
            assert!(open.remove(&sid), "second close for {sid}");
        }
    }
    server.no_sessions_left().await;
}

#[tokio::test]
async fn handler_sees_open_then_messages_then_one_close() {
    let mut server = EngineServer::start(config()).await;
    let (mut ws, sid) = server.open_websocket().await;
    send_text(&mut ws, "4a").await;
    send_text(&mut ws, "4b").await;
    server.socket(&sid).close(CloseReason::ServerClose);
    server.socket(&sid).close(CloseReason::ServerShutdown);
    while ws.next().await.is_some() {}
    let mut events = Vec::new();
    loop {
        let event = server.next_event().await;
        let done = matches!(event, Event::Close(..));
        events.push(event);
        if done {
            break;
        }
    }
    assert_eq!(events.first(), Some(&Event::Open(sid.clone())));
    assert_eq!(
        events.last(),
        Some(&Event::Close(sid.clone(), CloseReason::ServerClose))
    );
    // The echoes of `a`/`b` may or may not have raced the close; nothing follows the close.
    assert!(
        tokio::time::timeout(Duration::from_millis(20), server.events.recv())
            .await
            .is_err()
    );
}
