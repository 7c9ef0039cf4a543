//! HTTP long-polling over real TCP: batching, body limits, malformed
//! bodies, overlapping requests, both directions of close, and the
//! heartbeat.

mod support;

use std::time::Duration;

use locus::engineio::{CloseReason, EngineConfig, Message, OutboundMessage};
use support::engine::*;
use support::raw::read_text_until_closed;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const UNKNOWN_SID: &str = r#"{"code":1,"message":"Session ID unknown"}"#;
const BAD_REQUEST: &str = r#"{"code":3,"message":"Bad request"}"#;

#[tokio::test]
async fn polling_echoes_several_text_packets_in_one_payload() {
    let server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    assert_eq!(
        server.post(&sid, "4test1\x1e4test2\x1e4test3").await,
        (200, "ok".to_owned())
    );
    assert_eq!(
        server.poll(&sid).await,
        (200, "4test1\x1e4test2\x1e4test3".to_owned())
    );
}

#[tokio::test]
async fn polling_echoes_text_and_binary_packets() {
    let mut server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    assert_eq!(
        server.post(&sid, "4hello\x1ebAQIDBA==").await,
        (200, "ok".to_owned())
    );
    assert_eq!(
        server.poll(&sid).await,
        (200, "4hello\x1ebAQIDBA==".to_owned())
    );
    assert_eq!(server.message(&sid).await, Message::Text("hello".into()));
    assert_eq!(
        server.message(&sid).await,
        Message::Binary(vec![1, 2, 3, 4].into())
    );
}

#[tokio::test]
async fn post_answers_ok_as_text_html() {
    let server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    let response = server
        .http
        .post(server.url(&format!("EIO=4&transport=polling&sid={sid}")))
        .body("4x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert_eq!(response.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn pending_poll_is_answered_when_a_message_is_sent() {
    let server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    let socket = server.socket(&sid);
    let poll = tokio::spawn({
        let (http, url) = (
            server.http.clone(),
            server.url(&format!("EIO=4&transport=polling&sid={sid}")),
        );
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    });
    socket.send(OutboundMessage::text("from server")).unwrap();
    socket
        .send(OutboundMessage::binary(vec![0xff, 0].into()))
        .unwrap();
    let body = tokio::time::timeout(PATIENCE, poll).await.unwrap().unwrap();
    // Depending on timing the poll carries the first message or both.
    assert!(
        body == "4from server" || body == "4from server\x1eb/wA=",
        "{body}"
    );
}

#[tokio::test]
async fn send_all_group_arrives_adjacent() {
    let server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    let socket = server.socket(&sid);
    socket.send(OutboundMessage::text("a")).unwrap();
    socket
        .send_all(vec![
            OutboundMessage::text("b"),
            OutboundMessage::binary(vec![1].into()),
            OutboundMessage::binary(vec![2].into()),
        ])
        .unwrap();
    assert_eq!(server.poll(&sid).await.1, "4a\x1e4b\x1ebAQ==\x1ebAg==");
}

/// A POST with a raw head, for bodies an HTTP client would not send.
async fn raw_post(
    server: &EngineServer,
    sid: &str,
    headers: &str,
    body: &[u8],
) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {}\r\n{headers}\r\n",
        server.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let answer = read_text_until_closed(&mut stream).await;
    (stream, answer)
}

fn small_payload_config() -> EngineConfig {
    EngineConfig {
        max_payload: 1_000,
        ..config()
    }
}

#[tokio::test]
async fn rejects_body_over_max_payload_by_content_length_with_413() {
    let mut server = EngineServer::start(small_payload_config()).await;
    let sid = server.open_polling().await;
    // Only the head is sent: the answer must come before any body is read.
    let (_, answer) = raw_post(&server, &sid, "Content-Length: 10000000\r\n", b"").await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("content-length: 0"), "{answer}");
    assert_eq!(server.closed(&sid).await, CloseReason::TransportError);
}

#[tokio::test]
async fn rejects_chunked_body_over_max_payload_with_413() {
    let mut server = EngineServer::start(small_payload_config()).await;
    let sid = server.open_polling().await;
    let chunk = format!("190\r\n4{}\r\n", "x".repeat(399));
    let body = chunk.repeat(3);
    let (_, answer) = raw_post(
        &server,
        &sid,
        "Transfer-Encoding: chunked\r\n",
        body.as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(server.closed(&sid).await, CloseReason::TransportError);
    assert_eq!(server.poll(&sid).await, (400, UNKNOWN_SID.to_owned()));
}

#[tokio::test]
async fn accepts_body_of_exactly_max_payload() {
    let server = EngineServer::start(small_payload_config()).await;
    let sid = server.open_polling().await;
    let body = format!("4{}", "y".repeat(999));
    assert_eq!(
        server.post(&sid, body.clone()).await,
        (200, "ok".to_owned())
    );
    assert_eq!(server.poll(&sid).await.1, body);
}

#[tokio::test]
async fn closes_session_when_body_stalls_short_of_content_length() {
    let mut server = EngineServer::start(EngineConfig {
        body_read_timeout: Duration::from_millis(100),
        ..config()
    })
    .await;
    let sid = server.open_polling().await;
    let (_, answer) = raw_post(&server, &sid, "Content-Length: 100\r\n", b"4only ten").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(server.closed(&sid).await, CloseReason::TransportError);
}

#[tokio::test]
async fn understated_content_length_never_reads_past_declared_body() {
    let mut server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    let (_, answer) = raw_post(
        &server,
        &sid,
        "Content-Length: 6\r\n",
        b"4helloGARBAGE GARBAGE\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("HTTP/1.1 400"),
        "the trailing bytes were not refused: {answer}"
    );
    assert_eq!(server.message(&sid).await, Message::Text("hello".into()));
}

#[tokio::test]
async fn closes_session_on_malformed_body() {
    let mut server = EngineServer::start(config()).await;
    let bodies: [&[u8]; 7] = [
        b"abc",
        b"",
        b"b!!!",
        b"4ok\x1e\x1e4ok",
        b"\x1e\x1e\x1e\x1e",
        b"4\xff\xfe",
        b"4\xc3\x1e4\xa9",
    ];
    for body in bodies {
        let sid = server.open_polling().await;
        assert_eq!(
            server.post(&sid, body.to_vec()).await,
            (400, BAD_REQUEST.to_owned()),
            "body {body:?}"
        );
        assert_eq!(server.closed(&sid).await, CloseReason::TransportError);
        assert_eq!(server.poll(&sid).await, (400, UNKNOWN_SID.to_owned()));
    }
}

#[tokio::test]
async fn malformed_body_delivers_none_of_its_messages() {
    let mut server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    assert_eq!(server.post(&sid, "4first\x1ezzz").await.0, 400);
    assert!(matches!(server.next_event().await, Event::Open(_)));
    assert_eq!(
        server.next_event().await,
        Event::Close(sid, CloseReason::TransportError)
    );
}

#[tokio::test]
async fn closes_session_on_binary_content_type() {
    let mut server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    let url = server.url(&format!("EIO=4&transport=polling&sid={sid}"));
    let response = server
        .http
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(vec![4u8, 1, 2])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(server.closed(&sid).await, CloseReason::TransportError);
}

#[tokio::test]
async fn closes_session_on_ping_from_client() {
    let mut server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    assert_eq!(server.post(&sid, "2").await.0, 400);
    assert_eq!(server.closed(&sid).await, CloseReason::TransportError);
}

#[tokio::test]
async fn closes_session_on_overlapping_polls() {
    let mut server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    let (first, second) = tokio::join!(server.poll(&sid), server.poll(&sid));
    // Whichever the server saw second is refused; the pending one gets `1`.
    let mut answers = [first, second];
    answers.sort();
    assert_eq!(
        answers,
        [(200, "1".to_owned()), (400, BAD_REQUEST.to_owned())]
    );
    assert_eq!(server.closed(&sid).await, CloseReason::TransportError);
    assert_eq!(server.poll(&sid).await, (400, UNKNOWN_SID.to_owned()));
}

#[tokio::test]
async fn client_close_ends_session_and_later_requests_fail() {
    let mut server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    assert_eq!(server.post(&sid, "1").await, (200, "ok".to_owned()));
    assert_eq!(server.closed(&sid).await, CloseReason::ClientClose);
    assert_eq!(server.poll(&sid).await, (400, UNKNOWN_SID.to_owned()));
    assert_eq!(server.post(&sid, "4late").await.0, 400);
    server.no_sessions_left().await;
}

#[tokio::test]
async fn client_close_releases_pending_poll_with_noop() {
    let mut server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    let (poll, post) = tokio::join!(server.poll(&sid), server.post(&sid, "1"));
    assert_eq!(post, (200, "ok".to_owned()));
    // The reference answers a pending poll `6`; a poll that arrives after
    // the close finds no session (the same race exists in Node).
    assert!(
        poll == (200, "6".to_owned()) || poll == (400, UNKNOWN_SID.to_owned()),
        "{poll:?}"
    );
    assert_eq!(server.closed(&sid).await, CloseReason::ClientClose);
}

#[tokio::test]
async fn messages_before_client_close_are_delivered_in_order() {
    let mut server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    assert_eq!(
        server
            .post(&sid, "4a\x1ebAQ==\x1e4b\x1e1\x1e4after close")
            .await
            .0,
        200
    );
    assert!(matches!(server.next_event().await, Event::Open(_)));
    assert_eq!(
        server.next_event().await,
        Event::Message(sid.clone(), Message::Text("a".into()))
    );
    assert_eq!(
        server.next_event().await,
        Event::Message(sid.clone(), Message::Binary(vec![1].into()))
    );
    assert_eq!(
        server.next_event().await,
        Event::Message(sid.clone(), Message::Text("b".into()))
    );
    assert_eq!(
        server.next_event().await,
        Event::Close(sid, CloseReason::ClientClose)
    );
}

#[tokio::test]
async fn server_close_sends_close_packet_to_pending_or_next_poll() {
    let mut server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    let socket = server.socket(&sid);
    let (poll, ()) = tokio::join!(server.poll(&sid), async {
        socket.close(CloseReason::ServerClose)
    });
    assert_eq!(poll, (200, "1".to_owned()));
    assert_eq!(server.closed(&sid).await, CloseReason::ServerClose);
    server.no_sessions_left().await;
}

#[tokio::test]
async fn server_close_flushes_queued_messages_before_close_packet() {
    let mut server = EngineServer::start(config()).await;
    let sid = server.open_polling().await;
    let socket = server.socket(&sid);
    socket.send(OutboundMessage::text("last words")).unwrap();
    socket.close(CloseReason::ServerClose);
    assert_eq!(server.closed(&sid).await, CloseReason::ServerClose);
    assert_eq!(
        server.poll(&sid).await,
        (200, "4last words\x1e1".to_owned())
    );
    assert_eq!(server.poll(&sid).await, (400, UNKNOWN_SID.to_owned()));
    server.no_sessions_left().await;
}

#[tokio::test]
async fn polling_heartbeat_pings_and_accepts_pongs() {
    let server = EngineServer::start(EngineConfig {
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_secs(5),
        ..config()
    })
    .await;
    let sid = server.open_polling().await;
    for _ in 0..3 {
        // Exactly one ping per interval, never a double first ping.
        assert_eq!(server.poll(&sid).await, (200, "2".to_owned()));
        assert_eq!(server.post(&sid, "3").await, (200, "ok".to_owned()));
    }
    assert_eq!(server.engine.session_count(), 1);
}

#[tokio::test]
async fn polling_session_closes_on_ping_timeout() {
    let mut server = EngineServer::start(EngineConfig {
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_millis(50),
        ..config()
    })
    .await;
    let sid = server.open_polling().await;
    assert_eq!(server.closed(&sid).await, CloseReason::PingTimeout);
    assert_eq!(server.poll(&sid).await, (400, UNKNOWN_SID.to_owned()));
    server.no_sessions_left().await;
}

#[tokio::test]
async fn polling_pending_poll_gets_close_on_ping_timeout() {
    let mut server = EngineServer::start(EngineConfig {
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_millis(50),
        ..config()
    })
    .await;
    let sid = server.open_polling().await;
    assert_eq!(server.poll(&sid).await, (200, "2".to_owned()));
    // No pong: the next poll waits, then learns the session is over.
    let answer = server.poll(&sid).await;
    assert!(
        answer == (200, "1".to_owned()) || answer == (400, UNKNOWN_SID.to_owned()),
        "{answer:?}"
    );
    assert_eq!(server.closed(&sid).await, CloseReason::PingTimeout);
}
