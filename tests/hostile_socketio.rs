//! The socket.io-parser hostile corpus and namespace abuse against the full
//! game server (JSON parser): every malformed packet closes that one
//! connection, names that alias nothing are ignored, unknown namespaces get
//! CONNECT_ERROR, and a connection that never joins is closed after the
//! connect timeout. The same corpus against the bare Socket.IO layer is in
//! `tests/socketio_echo_hostile.rs`.

mod support;

use std::time::Duration;

use support::bystander::*;
use support::client::WsClient;
use support::server::*;

/// Socket.IO packets (without the Engine.IO `4`) that must close a joined connection.
const CLOSING_CORPUS: [&str; 20] = [
    "42[\"some\",\"data\"",
    "0/admin,\"invalid\"",
    "0[]",
    "1/admin,{}",
    "2/admin,\"invalid",
    "2/admin,{}",
    "2[{\"toString\":\"foo\"}]",
    "2[true,\"foo\"]",
    "2[null,\"bar\"]",
    "2[\"connect\"]",
    "2[\"disconnect\",\"123\"]",
    "2[\"newListener\"]",
    "999",
    "4abc",
    "2{}",
    "299999999999999999999999[\"position\",{}]",
    "2-1[\"position\",{}]",
    "2abc[\"position\",{}]",
    "50-[\"position\",{}]",
    "51000000-[\"position\",{}]",
];

#[tokio::test]
async fn the_parser_corpus_closes_only_the_offending_connection() {
    let server = LocusServer::start().await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    let (_, token) = server.account("attacker").await;
    for packet in CLOSING_CORPUS {
        let mut attacker = WsClient::joined(server.addr(), &token).await;
        attacker.send_text(&format!("4{packet}")).await;
        let seen = attacker.closed_by_server().await;
        assert!(
            seen.iter().all(|t| !t.starts_with("43")),
            "{packet}: no handler answered: {seen:?}"
        );
    }
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn attachment_lies_close_the_connection() {
    let server = LocusServer::start().await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    let (_, token) = server.account("attacker").await;
    let placeholder =
        |num: &str| format!("451-[\"position\",{{\"_placeholder\":true,\"num\":{num}}}]");
    for num in ["\"splice\"", "-1", "5", "1.5", "null"] {
        let mut attacker = WsClient::joined(server.addr(), &token).await;
        attacker.send_text(&placeholder(num)).await;
        attacker.send_bytes(vec![1, 2, 3]).await;
        attacker.closed_by_server().await;
    }
    // A binary message that no packet announced.
    let mut attacker = WsClient::joined(server.addr(), &token).await;
    attacker.send_bytes(vec![9; 16]).await;
    attacker.closed_by_server().await;
    // A text packet while attachments are still awaited.
    let mut attacker = WsClient::joined(server.addr(), &token).await;
    attacker.send_text(&placeholder("0")).await;
    attacker
        .send_text("42[\"position\",{\"x\":1,\"y\":1,\"seq\":1}]")
        .await;
    attacker.closed_by_server().await;
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn names_that_alias_nothing_are_ignored_and_acks_never_issued_too() {
    let server = LocusServer::start().await;
    let (_, token) = server.account("prober").await;
    let mut prober = Bystander::join(&server, "bystander").await;
    let mut attacker = WsClient::joined(server.addr(), &token).await;
    let huge_name = format!("42[\"{}\"]", "n".repeat(100_000));
    for packet in [
        "42[\"error\"]",
        "42[\"__proto__\"]",
        "42[\"constructor\",{}]",
        "42[\"\"]",
        "42[7]",
        huge_name.as_str(),
        "431[]",
        "43999[\"x\"]",
    ] {
        attacker.send_text(packet).await;
    }
    // Still connected: a good move is acknowledged.
    attacker
        .send_text("42[\"position\",{\"x\":2050,\"y\":2048,\"seq\":1}]")
        .await;
    let mut acked = false;
    while let Some(text) = attacker.text_or_closed().await {
        if text.starts_with("42[\"snapshot\"") && text.contains("\"ack\":1") {
            acked = true;
            break;
        }
    }
    assert!(acked, "the connection survived ignorable packets");
    prober.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn unknown_namespaces_are_refused_and_the_connection_kept() {
    let server = LocusServer::start().await;
    let (_, token) = server.account("visitor").await;
    let mut client = WsClient::connect(server.addr()).await;
    for nsp in ["/nope", "/admin", "/__proto__"] {
        client.send_text(&format!("40{nsp},")).await;
        let reply = client.text_or_closed().await.expect("CONNECT_ERROR");
        assert_eq!(
            reply,
            format!("44{nsp},{{\"message\":\"Invalid namespace\"}}")
        );
    }
    // The same connection can still join the game.
    client
        .send_text(&format!("40{}", serde_json::json!({ "token": token })))
        .await;
    assert!(client
        .text_or_closed()
        .await
        .is_some_and(|t| t.starts_with("40{")));
    server.stop().await;
}

#[tokio::test]
async fn events_before_connect_close_the_connection() {
    let server = LocusServer::start().await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    for packet in [
        "42[\"position\",{\"x\":1,\"y\":1,\"seq\":1}]",
        "42[\"chat\",{\"text\":\"hi\"}]",
        "43[]",
    ] {
        let mut client = WsClient::connect(server.addr()).await;
        client.send_text(packet).await;
        client.closed_by_server().await;
    }
    // A refused CONNECT does not join either: moving afterwards closes too.
    let mut client = WsClient::connect(server.addr()).await;
    client.send_text("40{\"token\":\"forged\"}").await;
    let reply = client.text_or_closed().await.expect("CONNECT_ERROR");
    assert_eq!(reply, "44{\"message\":\"unauthorized\"}");
    client
        .send_text("42[\"position\",{\"x\":1,\"y\":1,\"seq\":1}]")
        .await;
    client.closed_by_server().await;
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn connections_that_never_send_connect_are_closed() {
    let server = LocusServer::start_with(|c| c.connect_timeout = Duration::from_millis(300)).await;
    let mut idle = WsClient::connect(server.addr()).await;
    idle.closed_by_server().await;
    let sid = polling_session(&server).await;
    let mut gone = false;
    for _ in 0..100 {
        let res = server
            .http
            .get(poll_url(&server, &sid))
            .send()
            .await
            .unwrap();
        let (status, body) = (res.status(), res.text().await.unwrap());
        if status != 200 || body.split('\u{1e}').any(|p| p == "1") {
            gone = true;
            break;
        }
    }
    assert!(gone, "a polling session that never joins is closed");
    newcomer_plays(&server, "newcomer").await;
    server.stop().await;
}

#[tokio::test]
async fn the_attachment_cap_follows_the_flag() {
    let server = LocusServer::start_with(|c| c.max_attachments = 2).await;
    let (_, token) = server.account("binary").await;
    let placeholders = |n: usize| {
        (0..n)
            .map(|i| format!("{{\"_placeholder\":true,\"num\":{i}}}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    // Two attachments: within the cap; the event is merely malformed input.
    let mut client = WsClient::joined(server.addr(), &token).await;
    client
        .send_text(&format!("452-[\"position\",{}]", placeholders(2)))
        .await;
    client.send_bytes(vec![1]).await;
    client.send_bytes(vec![2]).await;
    client
        .send_text("42[\"position\",{\"x\":2049,\"y\":2048,\"seq\":1}]")
        .await;
    let mut acked = false;
    while let Some(text) = client.text_or_closed().await {
        if text.starts_with("42[\"snapshot\"") && text.contains("\"ack\":1") {
            acked = true;
            break;
        }
    }
    assert!(
        acked,
        "a packet within --max-attachments keeps the connection"
    );
    // Three: over the cap, closed before any attachment is buffered.
    let mut client = WsClient::joined(server.addr(), &token).await;
    client
        .send_text(&format!("453-[\"position\",{}]", placeholders(3)))
        .await;
    client.closed_by_server().await;
    server.stop().await;
}
