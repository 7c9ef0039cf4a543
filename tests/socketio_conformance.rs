//! The socket.io-protocol suite's Socket.IO part (research §3.4), byte for
//! byte, against the conformance example server (pingInterval 300 ms,
//! pingTimeout 200 ms, connectTimeout 1 s), over WebSocket and over
//! long-polling. The raw clients answer pings, so a close they see is the
//! server's decision, not a ping timeout.

mod support;

#[allow(dead_code)]
#[path = "../server/examples/conformance/socketio_echo.rs"]
mod socketio_echo;

use locus::socketio::Parser;
use support::client::{b64, Frame, PollClient, WsClient};
use support::socketio::SocketIoServer;

async fn server() -> SocketIoServer {
    SocketIoServer::start(socketio_echo::build(socketio_echo::config(Parser::Json))).await
}

/// The JSON of a CONNECT reply after its prefix, checked to be exactly `{"sid"}`.
fn connect_sid(reply: &str, prefix: &str) -> String {
    let body = reply
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{reply} does not start with {prefix}"));
    let value: serde_json::Value = serde_json::from_str(body).unwrap();
    let keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["sid"], "CONNECT reply keys");
    value["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn allows_connection_to_the_main_namespace() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    assert_eq!(client.open["pingInterval"], 300);
    assert_eq!(client.open["pingTimeout"], 200);
    assert_eq!(client.open["maxPayload"], 1_000_000);
    client.send("40").await;
    let sid = connect_sid(&client.next_text().await, "40");
    assert_ne!(
        sid, client.sid,
        "the Socket.IO sid must not be the Engine.IO sid"
    );
    assert_eq!(client.next_text().await, r#"42["auth",{}]"#);
}

#[tokio::test]
async fn allows_connection_to_the_main_namespace_with_a_payload() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    client.send(r#"40{"token":"123"}"#).await;
    connect_sid(&client.next_text().await, "40");
    assert_eq!(client.next_text().await, r#"42["auth",{"token":"123"}]"#);
}

#[tokio::test]
async fn allows_connection_to_a_custom_namespace() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    client.send("40/custom,").await;
    connect_sid(&client.next_text().await, "40/custom,");
    assert_eq!(client.next_text().await, r#"42/custom,["auth",{}]"#);
}

#[tokio::test]
async fn allows_connection_to_a_custom_namespace_with_a_payload() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    client.send(r#"40/custom,{"token":"abc"}"#).await;
    connect_sid(&client.next_text().await, "40/custom,");
    assert_eq!(
        client.next_text().await,
        r#"42/custom,["auth",{"token":"abc"}]"#
    );
}

#[tokio::test]
async fn accepts_a_namespace_without_trailing_comma() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    client.send("40/custom").await;
    connect_sid(&client.next_text().await, "40/custom,");
}

#[tokio::test]
async fn gives_each_namespace_a_fresh_sid() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    let main = client.join("/", None).await;
    client.next_text().await; // auth
    let custom = client.join("/custom", None).await;
    assert_ne!(main, custom);
    assert_ne!(custom, client.sid);
    assert_eq!(main.len(), 20);
    let mut other = WsClient::connect(server.addr).await;
    assert_ne!(other.join("/", None).await, main);
}

#[tokio::test]
async fn disallows_connection_to_an_unknown_namespace_and_stays_open() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    client.send("40/random").await;
    assert_eq!(
        client.next_text().await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
    // Still usable.
    client.send("40").await;
    connect_sid(&client.next_text().await, "40");
}

#[tokio::test]
async fn disallows_connection_with_an_invalid_handshake() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    client.send("4abc").await;
    client.expect_closed().await;
}

#[tokio::test]
async fn closes_the_connection_if_no_handshake_is_received() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    // Pings are answered, so only the connect timeout can close it.
    client.expect_closed().await;
}

#[tokio::test]
async fn disconnecting_from_the_main_namespace_keeps_the_session() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    client.join("/", None).await;
    assert_eq!(client.next_text().await, r#"42["auth",{}]"#);
    client.send("41").await;
    assert_eq!(client.recv().await, Frame::Text("2".into()));
    client.send("3").await;
    // Past the connect timeout, still alive and able to join again.
    for _ in 0..5 {
        client.expect_ping().await;
    }
    client.join("/", None).await;
}

#[tokio::test]
async fn connects_then_disconnects_from_a_custom_namespace() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    client.join("/", None).await;
    client.next_text().await;
    client.expect_ping().await;
    client.send("40/custom").await;
    connect_sid(&client.next_text().await, "40/custom,");
    assert_eq!(client.next_text().await, r#"42/custom,["auth",{}]"#);
    client.send("41/custom").await;
    client
        .send(r#"42["message","message to main namespace"]"#)
        .await;
    assert_eq!(
        client.next_text().await,
        r#"42["message-back","message to main namespace"]"#
    );
}

#[tokio::test]
async fn sends_a_plain_text_packet() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    client.join("/", None).await;
    client.next_text().await;
    client.send(r#"42["message",1,"2",{"3":[true]}]"#).await;
    assert_eq!(
        client.next_text().await,
        r#"42["message-back",1,"2",{"3":[true]}]"#
    );
}

#[tokio::test]
async fn sends_a_packet_with_binary_attachments() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    client.join("/", None).await;
    client.next_text().await;
    client
        .send(r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        .await;
    client.send_binary(&[1, 2, 3]).await;
    client.send_binary(&[4, 5, 6]).await;
    assert_eq!(
        client.next_text().await,
        r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(client.next().await, Frame::Binary(vec![1, 2, 3]));
    assert_eq!(client.next().await, Frame::Binary(vec![4, 5, 6]));
}

#[tokio::test]
async fn sends_a_plain_text_packet_with_an_ack() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    client.join("/", None).await;
    client.next_text().await;
    client
        .send(r#"42456["message-with-ack",1,"2",{"3":[false]}]"#)
        .await;
    assert_eq!(client.next_text().await, r#"43456[1,"2",{"3":[false]}]"#);
}

#[tokio::test]
async fn sends_a_packet_with_binary_attachments_and_an_ack() {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    client.join("/", None).await;
    client.next_text().await;
    client.send(r#"452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#).await;
    client.send_binary(&[1, 2, 3]).await;
    client.send_binary(&[4, 5, 6]).await;
    assert_eq!(
        client.next_text().await,
        r#"462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(client.next().await, Frame::Binary(vec![1, 2, 3]));
    assert_eq!(client.next().await, Frame::Binary(vec![4, 5, 6]));
}

async fn closes_upon(packet: &str) {
    let server = server().await;
    let mut client = WsClient::connect(server.addr).await;
    client.join("/", None).await;
    client.next_text().await;
    client.send(packet).await;
    client.expect_closed().await;
}

#[tokio::test]
async fn closes_the_connection_upon_invalid_format_unknown_packet_type() {
    closes_upon("4abc").await;
}

#[tokio::test]
async fn closes_the_connection_upon_invalid_format_invalid_payload_format() {
    closes_upon("42{}").await;
}

#[tokio::test]
async fn closes_the_connection_upon_invalid_format_invalid_ack_id() {
    closes_upon(r#"42abc["message-with-ack",1,"2",{"3":[false]}]"#).await;
}

#[tokio::test]
async fn polling_connects_and_batches_the_reply_with_the_auth_event() {
    let server = server().await;
    let client = PollClient::connect(server.addr).await;
    assert_eq!(client.post(&[r#"40{"token":"123"}"#]).await, 200);
    let packets = client.collect(2).await;
    connect_sid(&packets[0], "40");
    assert_eq!(packets[1], r#"42["auth",{"token":"123"}]"#);
}

#[tokio::test]
async fn polling_carries_binary_attachments_both_ways() {
    let server = server().await;
    let client = PollClient::connect(server.addr).await;
    assert_eq!(client.post(&["40"]).await, 200);
    client.collect(2).await;
    let header = r#"452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    assert_eq!(
        client
            .post(&[header, &b64(&[1, 2, 3]), &b64(&[4, 5, 6])])
            .await,
        200
    );
    let packets = client.collect(3).await;
    assert_eq!(
        packets,
        [
            r#"462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
            "bAQID",
            "bBAUG"
        ]
    );
}

#[tokio::test]
async fn polling_closes_the_session_upon_invalid_packet() {
    let server = server().await;
    let client = PollClient::connect(server.addr).await;
    assert_eq!(client.post(&["40"]).await, 200);
    client.collect(2).await;
    assert_eq!(client.post(&["42{}"]).await, 200);
    // The session is gone: the next poll gets the close packet or 400.
    let (status, packets) = client.poll().await;
    assert!(status == 400 || packets == ["1"], "{status} {packets:?}");
}
