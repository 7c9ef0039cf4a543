//! The HTTP accept loop (`net::listener::serve`) under hostile clients:
//! connection limits, oversized or slow request heads, peer addresses,
//! and shutdown.

mod support;

use std::time::Duration;

use locus::http::listener::HttpLimits;
use support::engine::*;
use support::raw::{raw_request, read_text_until_closed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn handshake_request(server: &EngineServer, extra_headers: &str) -> String {
    format!("GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{extra_headers}\r\n", server.addr)
}

#[tokio::test]
async fn serves_handshake_with_default_limits() {
    let server = EngineServer::start(config()).await;
    let answer = raw_request(server.addr, handshake_request(&server, "").as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn too_many_headers_get_431() {
    let server = EngineServer::start_with(
        config(),
        HttpLimits {
            max_headers: 8,
            ..HttpLimits::default()
        },
        true,
    )
    .await;
    let headers: String = (0..20).map(|i| format!("X-Filler-{i}: {i}\r\n")).collect();
    let answer = raw_request(server.addr, handshake_request(&server, &headers).as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert_eq!(server.engine.session_count(), 0);
}

#[tokio::test]
async fn oversized_request_head_gets_431() {
    let server = EngineServer::start_with(
        config(),
        HttpLimits {
            max_request_head_bytes: 8 * 1024,
            ..HttpLimits::default()
        },
        true,
    )
    .await;
    let header = format!("X-Huge: {}\r\n", "h".repeat(64 * 1024));
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The server may stop reading (and close) before the whole head is sent.
    let _ = stream
        .write_all(handshake_request(&server, &header).as_bytes())
        .await;
    let answer = read_text_until_closed(&mut stream).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    assert_eq!(server.engine.session_count(), 0);
}

#[tokio::test]
async fn slow_request_head_is_cut_off_by_header_timeout() {
    let server = EngineServer::start_with(
        config(),
        HttpLimits {
            header_read_timeout: Duration::from_millis(100),
            ..HttpLimits::default()
        },
        true,
    )
    .await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The head never completes: the server hangs up on its own.
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(PATIENCE, slow.read(&mut buf))
            .await
            .expect("server closed the slow connection")
        {
            Ok(0) | Err(_) => break,
            Ok(_) => continue,
        }
    }
    // A well-behaved client is still served.
    let answer = raw_request(server.addr, handshake_request(&server, "").as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn per_ip_limit_closes_extra_connections() {
    let server = EngineServer::start_with(
        config(),
        HttpLimits {
            max_connections_per_ip: 2,
            ..HttpLimits::default()
        },
        true,
    )
    .await;
    let mut held = vec![
        TcpStream::connect(server.addr).await.unwrap(),
        TcpStream::connect(server.addr).await.unwrap(),
    ];
    // Prove both are accepted and served (keep-alive keeps them open).
    for stream in &mut held {
        let request = format!(
            "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {}\r\n\r\n",
            server.addr
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    }
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    let _ = third
        .write_all(handshake_request(&server, "").as_bytes())
        .await;
    assert_eq!(
        read_text_until_closed(&mut third).await,
        "",
        "a third connection from one address was served"
    );
    drop(held.pop());
    // The freed slot is reusable (the server notices the close asynchronously).
    wait_until_served(&server).await;
}

async fn wait_until_served(server: &EngineServer) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let answer = raw_request(server.addr, handshake_request(server, "").as_bytes()).await;
        if answer.starts_with("HTTP/1.1 200") {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn total_connection_limit_holds_new_connections_until_one_closes() {
    let server = EngineServer::start_with(
        config(),
        HttpLimits {
            max_connections: 1,
            ..HttpLimits::default()
        },
        true,
    )
    .await;
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    );
    first.write_all(request.as_bytes()).await.unwrap();
    let mut buf = [0u8; 512];
    assert!(
        tokio::time::timeout(PATIENCE, first.read(&mut buf))
            .await
            .unwrap()
            .unwrap()
            > 0
    );
    let request = handshake_request(&server, "");
    let second = raw_request(server.addr, request.as_bytes());
    tokio::pin!(second);
    // While the only slot is taken the second request gets no answer...
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut second)
            .await
            .is_err()
    );
    // ...and is served once it frees up.
    drop(first);
    let answer = tokio::time::timeout(PATIENCE, second).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn handlers_see_the_peer_address() {
    let mut server = EngineServer::start(config()).await;
    let (_ws, sid) = server.open_websocket().await;
    let peer = server
        .socket(&sid)
        .handshake()
        .remote_addr
        .expect("peer address");
    assert!(peer.ip().is_loopback());
    let sid = server.open_polling().await;
    assert!(server.socket(&sid).handshake().remote_addr.is_some());
    assert!(matches!(server.next_event().await, Event::Open(_)));
}

#[tokio::test]
async fn handshake_query_is_exposed_percent_decoded() {
    let server = EngineServer::start(config()).await;
    let (_, body) = server
        .get_url(&server.url("EIO=4&transport=polling&token=a%20b%2Bc&name=x+y"))
        .await;
    let sid = open_packet_sid(&body);
    let handshake = server.socket(&sid).handshake().clone();
    assert_eq!(handshake.query("token").as_deref(), Some("a b+c"));
    assert_eq!(handshake.query("name").as_deref(), Some("x y"));
    assert_eq!(handshake.query("missing"), None);
}

#[tokio::test]
async fn shutdown_closes_websockets_and_stops_accepting() {
    let server = EngineServer::start(config()).await;
    let addr = server.addr;
    let (mut ws, _sid) = server.open_websocket().await;
    let (code, ()) = tokio::join!(close_code(&mut ws), server.shutdown());
    assert_eq!(code, Some(1001));
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}
