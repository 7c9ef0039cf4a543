//! Hostile Socket.IO input (reliability list B7 items 15-20 and the CVEs of
//! B3) against the conformance server: each bad connection gets the
//! protocol's answer or is closed, a bystander connection carries on, and
//! no server code panics.

mod support;

#[allow(dead_code)]
#[path = "../server/examples/conformance/socketio_echo.rs"]
mod socketio_echo;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use bytes::Bytes;
use locus::socketio::{Args, EmitError, Parser, SocketIoConfig};
use support::client::{b64, Frame, PollClient, WsClient};
use support::socketio::SocketIoServer;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Panics raised from the library's own code, across all tests here.
static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);

fn watch_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info
                .location()
                .is_some_and(|l| l.file().starts_with("server/src"))
            {
                SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// A server (default engine timings, so closes are the server's decision)
/// and a joined bystander.
async fn server(parser: Parser) -> (SocketIoServer, WsClient) {
    watch_panics();
    let config = SocketIoConfig {
        parser,
        ..socketio_echo::config(parser)
    };
    let config = SocketIoConfig {
        engine: locus::engineio::EngineConfig::default(),
        ..config
    };
    let server = SocketIoServer::start(socketio_echo::build(config)).await;
    let mut bystander = WsClient::connect(server.addr).await;
    if parser == Parser::Json {
        bystander.join("/", None).await;
        assert_eq!(bystander.next_text().await, r#"42["auth",{}]"#);
    }
    (server, bystander)
}

/// The bystander still gets its echo, and nothing in the library panicked.
async fn bystander_carries_on(bystander: &mut WsClient) {
    bystander.send(r#"42["message","still here"]"#).await;
    assert_eq!(
        bystander.next_text().await,
        r#"42["message-back","still here"]"#
    );
    assert_eq!(
        SERVER_PANICS.load(Ordering::SeqCst),
        0,
        "server code panicked"
    );
}

/// A fresh client joined to `/`.
async fn joined(server: &SocketIoServer) -> WsClient {
    let mut client = WsClient::connect(server.addr).await;
    client.join("/", None).await;
    assert_eq!(client.next_text().await, r#"42["auth",{}]"#);
    client
}

/// Each input, sent by a fresh joined client, closes that client.
async fn each_closes(inputs: &[&[WsMessage]]) {
    let (server, mut bystander) = server(Parser::Json).await;
    for input in inputs {
        let mut client = joined(&server).await;
        for message in input.iter() {
            client.send_raw(message.clone()).await;
        }
        client.expect_closed().await;
    }
    bystander_carries_on(&mut bystander).await;
}

fn text(s: &str) -> WsMessage {
    WsMessage::text(s)
}

fn bin(data: &[u8]) -> WsMessage {
    WsMessage::binary(data.to_vec())
}

#[tokio::test]
async fn rejects_the_parser_corpus() {
    let corpus = [
        r#"4442["some","data""#,
        r#"40/admin,"invalid""#,
        "40[]",
        "41/admin,{}",
        "42/admin,{}",
        r#"42/admin,"invalid"#,
        r#"42[true,"foo"]"#,
        r#"42[null,"bar"]"#,
        "4999",
        "4abc",
        "42{}",
        "42[]",
        "42",
        "4",
        r#"42["a",]"#,
        "42[1e999999]",
        r#"43["no id"]"#,
        r#"431{"not":"array"}"#,
        "44[1]",
    ];
    let inputs: Vec<Vec<WsMessage>> = corpus.iter().map(|s| vec![text(s)]).collect();
    let inputs: Vec<&[WsMessage]> = inputs.iter().map(Vec::as_slice).collect();
    each_closes(&inputs).await;
}

#[tokio::test]
async fn rejects_non_string_event_names() {
    each_closes(&[
        &[text(r#"42[{"toString":"foo"}]"#)],
        &[text(r#"42[["x"]]"#)],
        &[text("42[false]")],
    ])
    .await;
}

#[tokio::test]
async fn rejects_reserved_event_names() {
    for name in [
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    ] {
        each_closes(&[
            &[text(&format!(r#"42["{name}"]"#))],
            &[text(&format!(r#"427["{name}",1]"#))],
        ])
        .await;
    }
}

#[tokio::test]
async fn ignores_event_names_that_alias_nothing() {
    let (server, mut bystander) = server(Parser::Json).await;
    let mut client = joined(&server).await;
    let long = format!(r#"42["{}"]"#, "x".repeat(900_000));
    for input in [
        r#"42["error"]"#,
        r#"42["error",{"message":"x"}]"#,
        r#"42["__proto__"]"#,
        r#"42[""]"#,
        r#"42["toString"]"#,
        r#"42["constructor",1]"#,
        &long,
    ] {
        client.send(input).await;
    }
    client.send(r#"42["message","alive"]"#).await;
    assert_eq!(client.next_text().await, r#"42["message-back","alive"]"#);
    bystander_carries_on(&mut bystander).await;
}

#[tokio::test]
async fn rejects_ack_id_overflow() {
    each_closes(&[
        &[text(r#"4299999999999999999999999["message",{}]"#)],
        &[text(r#"42-1["message"]"#)],
    ])
    .await;
}

#[tokio::test]
async fn ignores_unknown_ack_ids() {
    let (server, mut bystander) = server(Parser::Json).await;
    let mut client = joined(&server).await;
    client.send("43999[]").await;
    client.send(r#"4318446744073709551615["x"]"#).await;
    client.send(r#"461-5[{"_placeholder":true,"num":0}]"#).await;
    client.send_binary(&[1]).await;
    client.send(r#"42["message","alive"]"#).await;
    assert_eq!(client.next_text().await, r#"42["message-back","alive"]"#);
    bystander_carries_on(&mut bystander).await;
}

const PH0: &str = r#"{"_placeholder":true,"num":0}"#;
const PH1: &str = r#"{"_placeholder":true,"num":1}"#;

#[tokio::test]
async fn rejects_lying_attachment_counts() {
    let zero = format!(r#"450-["message",{PH0}]"#);
    let million = format!(r#"451000000-["message",{PH0}]"#);
    let eleven = format!(r#"4511-["message",{PH0}]"#);
    let more_placeholders = format!(r#"451-["message",{PH0},{PH1}]"#);
    let one = format!(r#"451-["message",{PH0}]"#);
    let two = format!(r#"452-["message",{PH0},{PH1}]"#);
    each_closes(&[
        &[text(&zero)],
        &[text(&million)],
        &[text(&eleven)],
        &[text(&more_placeholders), bin(&[1])],
        // A binary frame with no binary packet pending.
        &[bin(&[1, 2, 3])],
        // One binary too many.
        &[text(&one), bin(&[1]), bin(&[2])],
        // A text packet while attachments are pending.
        &[text(&two), bin(&[1]), text(r#"42["message","x"]"#)],
    ])
    .await;
}

#[tokio::test]
async fn rejects_illegal_placeholders() {
    let cases: Vec<String> = [r#""splice""#, "-1", "1", "5", "0.5", "null", r#""0""#]
        .iter()
        .map(|num| format!(r#"451-["message",{{"_placeholder":true,"num":{num}}}]"#))
        .collect();
    let inputs: Vec<Vec<WsMessage>> = cases.iter().map(|c| vec![text(c), bin(&[1])]).collect();
    let inputs: Vec<&[WsMessage]> = inputs.iter().map(Vec::as_slice).collect();
    each_closes(&inputs).await;
}

#[tokio::test]
async fn a_partial_binary_packet_waits_without_dispatching() {
    let (server, mut bystander) = server(Parser::Json).await;
    let mut client = joined(&server).await;
    client
        .send(&format!(r#"452-["message",{PH0},{PH1}]"#))
        .await;
    client.send_binary(&[1]).await;
    // Nothing is dispatched before the last attachment; then all of it is.
    bystander_carries_on(&mut bystander).await;
    client.send_binary(&[2]).await;
    assert_eq!(
        client.next_text().await,
        format!(r#"452-["message-back",{PH0},{PH1}]"#)
    );
    assert_eq!(client.next().await, Frame::Binary(vec![1]));
    assert_eq!(client.next().await, Frame::Binary(vec![2]));
}

#[tokio::test]
async fn rejects_invalid_utf8() {
    let frame = WsFrame::message(
        Bytes::from_static(&[b'4', b'2', 0xff, 0xfe]),
        OpCode::Data(Data::Text),
        true,
    );
    each_closes(&[&[WsMessage::Frame(frame)]]).await;

    let (server, mut bystander) = server(Parser::Json).await;
    let client = PollClient::connect(server.addr).await;
    assert_eq!(client.post(&["40"]).await, 200);
    client.collect(2).await;
    let status = client
        .post_bytes(vec![b'4', b'2', b'[', b'"', 0xc3, 0x28, b'"', b']'])
        .await;
    assert_eq!(status, 400);
    let (status, packets) = client.poll().await;
    assert!(status == 400 || packets == ["1"], "{status} {packets:?}");
    bystander_carries_on(&mut bystander).await;
}

#[tokio::test]
async fn unknown_namespaces_leave_no_state() {
    let (server, mut bystander) = server(Parser::Json).await;
    let mut client = WsClient::connect(server.addr).await;
    for i in 0..300 {
        client.send(&format!("40/nope{i},")).await;
        assert_eq!(
            client.next_text().await,
            format!(r#"44/nope{i},{{"message":"Invalid namespace"}}"#)
        );
    }
    assert_eq!(server.io.socket_count(), 1);
    assert!(server.io.of("/nope0").is_none());
    client.join("/", None).await;
    bystander_carries_on(&mut bystander).await;
}

#[tokio::test]
async fn binary_attachments_stay_adjacent_under_concurrent_emits() {
    let (server, mut bystander) = server(Parser::Json).await;
    let mut client = WsClient::connect(server.addr).await;
    let sid = client.join("/", None).await;
    client.next_text().await;
    let socket = server.io.get_socket("/", &sid).unwrap();
    const EACH: usize = 200;
    let emitters: Vec<_> = (0..2)
        .map(|task| {
            let socket = socket.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    loop {
                        let result = if task == 0 {
                            let args = Args::new()
                                .with_binary(Bytes::from(vec![0xb0, i as u8]))
                                .with_binary(Bytes::from(vec![0xb1, i as u8]));
                            socket.emit_args("bin", args)
                        } else {
                            socket.emit("txt", &(i,))
                        };
                        match result {
                            Ok(()) => break,
                            Err(EmitError::Full) => tokio::task::yield_now().await,
                            Err(error) => panic!("{error}"),
                        }
                    }
                }
            })
        })
        .collect();
    let (mut binaries, mut texts) = (0, 0);
    while binaries < EACH || texts < EACH {
        match client.next().await {
            Frame::Text(header) if header.starts_with("452-") => {
                let i = binaries as u8;
                assert_eq!(
                    client.recv().await,
                    Frame::Binary(vec![0xb0, i]),
                    "first attachment of {i}"
                );
                assert_eq!(
                    client.recv().await,
                    Frame::Binary(vec![0xb1, i]),
                    "second attachment of {i}"
                );
                binaries += 1;
            }
            Frame::Text(event) => {
                assert_eq!(event, format!(r#"42["txt",{texts}]"#));
                texts += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for emitter in emitters {
        emitter.await.unwrap();
    }
    bystander_carries_on(&mut bystander).await;
}

/// A msgpack EVENT whose `data` is `data` (raw msgpack bytes).
fn msgpack_event(data: &[u8]) -> Vec<u8> {
    let mut out = vec![
        0x83, 0xa4, b't', b'y', b'p', b'e', 2, 0xa3, b'n', b's', b'p', 0xa1, b'/',
    ];
    out.extend_from_slice(&[0xa4, b'd', b'a', b't', b'a']);
    out.extend_from_slice(data);
    out
}

#[tokio::test]
async fn msgpack_rejects_hostile_payloads() {
    let (server, mut bystander) = server(Parser::MsgPack).await;
    let connect = [
        0x82, 0xa4, b't', b'y', b'p', b'e', 0, 0xa3, b'n', b's', b'p', 0xa1, b'/',
    ];
    bystander.send_binary(&connect).await;
    assert!(matches!(bystander.next().await, Frame::Binary(_)));
    assert!(
        matches!(bystander.next().await, Frame::Binary(_)),
        "auth event"
    );

    let mut deep = vec![0x92, 0xa7];
    deep.extend_from_slice(b"message");
    deep.extend(std::iter::repeat_n(0x91, 100_000));
    deep.push(0xc0);
    let mut deep_maps = vec![0x92, 0xa7];
    deep_maps.extend_from_slice(b"message");
    for _ in 0..100_000 {
        deep_maps.extend_from_slice(&[0x81, 0xa1, b'k']);
    }
    deep_maps.push(0xc0);
    let huge_array = [0x92, 0xa1, b'm', 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0];
    let huge_map = [0x92, 0xa1, b'm', 0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0];
    let huge_bin = [0x92, 0xa1, b'm', 0xc6, 0xff, 0xff, 0xff, 0xff, 1];
    let mut trailing = msgpack_event(&[0x91, 0xa1, b'm']);
    trailing.push(0xc0);
    let inputs: Vec<Vec<u8>> = vec![
        msgpack_event(&deep),
        msgpack_event(&deep_maps),
        msgpack_event(&huge_array),
        msgpack_event(&huge_map),
        msgpack_event(&huge_bin),
        trailing,
        msgpack_event(&[0x80]),       // data not an array
        msgpack_event(&[0x91, 0xc3]), // event name not a string
        msgpack_event(&[0x91, 0xa7, b'c', b'o', b'n', b'n', b'e', b'c', b't']),
        vec![0x92, 1, 2],                            // not a map
        vec![0x81, 0xa4, b't', b'y', b'p', b'e', 5], // type 5 (no binary types in msgpack)
        vec![0xc1],
    ];
    for input in &inputs {
        let mut client = WsClient::connect(server.addr).await;
        client.send_binary(&connect).await;
        assert!(matches!(client.next().await, Frame::Binary(_)));
        assert!(matches!(client.next().await, Frame::Binary(_)));
        client.send_binary(input).await;
        client.expect_closed().await;
    }
    // NaN and infinities are accepted as null.
    let nan = [
        0x92, 0xa7, b'm', b'e', b's', b's', b'a', b'g', b'e', 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0,
    ];
    bystander.send_binary(&msgpack_event(&nan)).await;
    let Frame::Binary(echo) = bystander.next().await else {
        panic!("expected an echo")
    };
    let echo = rmpv::decode::read_value(&mut &echo[..]).unwrap();
    let data = echo
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_str() == Some("data"))
        .unwrap()
        .1
        .clone();
    assert_eq!(
        data,
        rmpv::Value::Array(vec!["message-back".into(), rmpv::Value::Nil])
    );
    assert_eq!(SERVER_PANICS.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn polling_rejects_attachment_lies_too() {
    let (server, mut bystander) = server(Parser::Json).await;
    for body in [
        vec![format!(r#"451-["message",{PH1}]"#), b64(&[1])],
        vec![b64(&[1])],
        vec![format!(r#"450-["message",{PH0}]"#)],
    ] {
        let client = PollClient::connect(server.addr).await;
        assert_eq!(client.post(&["40"]).await, 200);
        client.collect(2).await;
        let parts: Vec<&str> = body.iter().map(String::as_str).collect();
        client.post(&parts).await;
        let (status, packets) = client.poll().await;
        assert!(status == 400 || packets == ["1"], "{status} {packets:?}");
    }
    bystander_carries_on(&mut bystander).await;
}
