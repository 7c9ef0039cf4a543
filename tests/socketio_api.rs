//! The Socket.IO server API seen from a raw client: async connect handlers
//! (queueing, refusal, emits before the reply), events and acks both ways,
//! rooms and broadcasts, typed socket data, disconnect reasons, connect
//! timeout, protocol-state violations, the error hook, backpressure
//! (`EmitError::Full`), server shutdown, and the msgpack parser.

mod support;

use std::sync::Arc;
use std::time::Duration;

use locus::engineio::EngineConfig;
use locus::socketio::{
    AckError, Args, ConnectError, DisconnectReason, EmitError, Parser, SocketIo, SocketIoConfig,
    NO_ARGS,
};
use serde_json::{json, Value};
use support::client::{Frame, PollClient, WsClient};
use support::msgpack as mp;
use support::socketio::SocketIoServer;
use tokio::sync::{mpsc, Notify};

/// What the handlers of the test server report.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Connected(String),
    Event(String, Value),
    Any(String, Value),
    Disconnected {
        sid: String,
        reason: DisconnectReason,
        rooms: Vec<String>,
    },
    Error(String, String),
}

/// The app's typed per-socket data.
#[derive(Debug)]
struct Who(String);

struct Fixture {
    server: SocketIoServer,
    seen: mpsc::UnboundedReceiver<Seen>,
    /// Releases connect handlers that were asked to wait.
    release: Arc<Notify>,
}

impl Fixture {
    async fn new() -> Self {
        Self::with(SocketIoConfig::default()).await
    }

    async fn with(config: SocketIoConfig) -> Self {
        let (tx, seen) = mpsc::unbounded_channel();
        let release = Arc::new(Notify::new());
        let io = SocketIo::new(config);
        for name in ["/", "/custom"] {
            install(&io, name, tx.clone(), release.clone());
        }
        Self {
            server: SocketIoServer::start(io).await,
            seen,
            release,
        }
    }

    fn io(&self) -> &SocketIo {
        &self.server.io
    }

    async fn client(&self) -> WsClient {
        WsClient::connect(self.server.addr).await
    }

    /// A client joined to `/` (welcome consumed); returns it and its sid.
    async fn joined(&mut self) -> (WsClient, String) {
        let mut client = self.client().await;
        let sid = client.join("/", None).await;
        assert_eq!(
            client.next_text().await,
            format!(r#"42["welcome",{{"sid":"{sid}","who":"anon"}}]"#)
        );
        assert_eq!(self.next_seen().await, Seen::Connected(sid.clone()));
        (client, sid)
    }

    async fn next_seen(&mut self) -> Seen {
        tokio::time::timeout(support::PATIENCE, self.seen.recv())
            .await
            .expect("no handler report within the wait")
            .expect("handlers gone")
    }
}

fn install(io: &SocketIo, name: &str, tx: mpsc::UnboundedSender<Seen>, release: Arc<Notify>) {
    let ns = io.namespace(name);
    let report = tx.clone();
    ns.on_connect(move |socket, auth| {
        let report = report.clone();
        let release = release.clone();
        async move {
            if auth["token"] == "bad" {
                return Err(ConnectError::new("unauthorized").with_data(json!({"code": 4001})));
            }
            if auth["wait"] == true {
                release.notified().await;
            }
            if auth["panic"] == true {
                panic!("connect handler exploded");
            }
            let who = auth["name"].as_str().unwrap_or("anon").to_owned();
            socket
                .emit("welcome", &json!({"sid": socket.id(), "who": who}))
                .unwrap();
            socket.set_data(Who(who));
            if auth["kick"] == true {
                socket.disconnect();
            }
            let _ = report.send(Seen::Connected(socket.id().to_owned()));
            Ok(())
        }
    });
    let report = tx.clone();
    ns.on("ev", move |_socket, args, _ack| {
        let _ = report.send(Seen::Event(
            "ev".into(),
            args.get(0).cloned().unwrap_or(Value::Null),
        ));
    });
    ns.on("echo", |socket, args, ack| match ack {
        Some(ack) => ack.send_args(args),
        None => socket.emit_args("echo", args),
    });
    ns.on(
        "join",
        |socket, args, ack| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            socket.join(args.parse::<String>(0)?);
            if let Some(ack) = ack {
                ack.send(&NO_ARGS)?;
            }
            Ok(())
        },
    );
    ns.on(
        "leave",
        |socket, args, ack| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            socket.leave(&args.parse::<String>(0)?);
            if let Some(ack) = ack {
                ack.send(&NO_ARGS)?;
            }
            Ok(())
        },
    );
    ns.on("rooms", |socket, _args, ack| {
        let mut rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
        rooms.sort();
        ack.map_or(Ok(()), |ack| ack.send(&(rooms,)))
    });
    ns.on(
        "shout",
        |socket, args, _ack| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            let room: String = args.parse(0)?;
            socket
                .to(room)
                .emit("shout", &(args.get(1).cloned().unwrap_or(Value::Null),))?;
            Ok(())
        },
    );
    ns.on("others", |socket, args, _ack| {
        socket.broadcast().emit("others", &(args.get(0),)).map(drop)
    });
    ns.on("whoami", |socket, _args, ack| {
        let who = socket.data::<Who>().map(|w| w.0.clone());
        ack.map_or(Ok(()), |ack| ack.send(&(who,)))
    });
    ns.on("fail", |_socket, _args, _ack| -> Result<(), String> {
        Err("boom".into())
    });
    ns.on("panic", |_socket, _args, _ack| -> Result<(), String> {
        panic!("kaboom")
    });
    ns.on_async("slow", |_socket, args, ack| async move {
        tokio::task::yield_now().await;
        if let Some(ack) = ack {
            ack.send_args(args)?;
        }
        Ok::<(), EmitError>(())
    });
    let report = tx.clone();
    ns.on_any(move |_socket, event, args, _ack| {
        let _ = report.send(Seen::Any(
            event.to_owned(),
            Value::Array(args.values().to_vec()),
        ));
    });
    let report = tx.clone();
    ns.on_disconnect(move |socket, reason| {
        let mut rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
        rooms.sort();
        let _ = report.send(Seen::Disconnected {
            sid: socket.id().to_owned(),
            reason,
            rooms,
        });
    });
    ns.on_error(move |_socket, event, error| {
        let _ = tx.send(Seen::Error(event.to_owned(), error.to_string()));
    });
}

#[tokio::test]
async fn async_connect_handler_queues_packets_in_order() {
    let mut fx = Fixture::new().await;
    let mut client = fx.client().await;
    client.send(r#"40{"wait":true,"name":"ada"}"#).await;
    for i in 1..=3 {
        client.send(&format!(r#"42["ev",{i}]"#)).await;
    }
    client.send(r#"420["whoami"]"#).await;
    // Nothing may be dispatched before the handler accepts.
    assert!(fx.seen.try_recv().is_err());
    fx.release.notify_one();
    let reply = client.next_text().await;
    let sid = reply
        .strip_prefix(r#"40{"sid":""#)
        .and_then(|s| s.strip_suffix(r#""}"#))
        .expect(&reply)
        .to_owned();
    // What the handler emitted comes right after the reply.
    assert_eq!(
        client.next_text().await,
        format!(r#"42["welcome",{{"sid":"{sid}","who":"ada"}}]"#)
    );
    assert_eq!(client.next_text().await, r#"430["ada"]"#);
    assert_eq!(fx.next_seen().await, Seen::Connected(sid));
    for i in 1..=3 {
        assert_eq!(fx.next_seen().await, Seen::Event("ev".into(), json!(i)));
    }
}

#[tokio::test]
async fn connect_handler_refuses_with_message_and_data() {
    let mut fx = Fixture::new().await;
    let mut client = fx.client().await;
    client.send(r#"40{"token":"bad"}"#).await;
    assert_eq!(
        client.next_text().await,
        r#"44{"message":"unauthorized","data":{"code":4001}}"#
    );
    client.send(r#"40/custom,{"token":"bad"}"#).await;
    assert_eq!(
        client.next_text().await,
        r#"44/custom,{"message":"unauthorized","data":{"code":4001}}"#
    );
    // The connection stays open and may try again.
    let sid = client.join("/", Some(r#"{"token":"good"}"#)).await;
    client.next_text().await;
    assert_eq!(fx.next_seen().await, Seen::Connected(sid));
    assert_eq!(fx.io().socket_count(), 1);
    // Refused sockets left no trace in the rooms.
    assert_eq!(fx.io().namespace("/").all().sockets().len(), 1);
}

#[tokio::test]
async fn connect_handler_panic_refuses_and_reports() {
    let mut fx = Fixture::new().await;
    let mut client = fx.client().await;
    client.send(r#"40{"panic":true}"#).await;
    assert_eq!(
        client.next_text().await,
        r#"44{"message":"Internal server error"}"#
    );
    let Seen::Error(event, error) = fx.next_seen().await else {
        panic!("expected an error report")
    };
    assert_eq!(event, "connect");
    assert!(error.contains("connect handler exploded"), "{error}");
    client.join("/", None).await;
}

#[tokio::test]
async fn disconnect_inside_connect_handler_follows_the_reply() {
    let mut fx = Fixture::new().await;
    let mut client = fx.client().await;
    client.send(r#"40{"kick":true}"#).await;
    let reply = client.next_text().await;
    assert!(reply.starts_with(r#"40{"sid":"#), "{reply}");
    assert!(client.next_text().await.starts_with(r#"42["welcome""#));
    assert_eq!(client.next_text().await, "41");
    let Seen::Connected(sid) = fx.next_seen().await else {
        panic!()
    };
    let Seen::Disconnected {
        sid: gone, reason, ..
    } = fx.next_seen().await
    else {
        panic!()
    };
    assert_eq!(
        (gone, reason),
        (sid, DisconnectReason::ServerNamespaceDisconnect)
    );
}

#[tokio::test]
async fn events_carry_arguments_and_acks() {
    let mut fx = Fixture::new().await;
    let (mut client, _) = fx.joined().await;
    client.send(r#"42["ev",{"x":1.5,"y":[null,"s"]}]"#).await;
    assert_eq!(
        fx.next_seen().await,
        Seen::Event("ev".into(), json!({"x":1.5,"y":[null,"s"]}))
    );
    client.send(r#"427["echo",1,"2",{"3":[false]}]"#).await;
    assert_eq!(client.next_text().await, r#"437[1,"2",{"3":[false]}]"#);
    client.send(r#"428["join","lobby"]"#).await;
    assert_eq!(client.next_text().await, "438[]");
    client.send(r#"42["echo","no ack"]"#).await;
    assert_eq!(client.next_text().await, r#"42["echo","no ack"]"#);
    client.send(r#"429["slow",{"a":1}]"#).await;
    assert_eq!(client.next_text().await, r#"439[{"a":1}]"#);
    client
        .send(r#"4210["echo",{"_placeholder":true,"num":0}]"#)
        .await;
    assert_eq!(
        client.next_text().await,
        r#"4310[{"_placeholder":true,"num":0}]"#,
        "placeholders in plain events are data"
    );
}

#[tokio::test]
async fn binary_events_and_acks_round_trip() {
    let mut fx = Fixture::new().await;
    let (mut client, _) = fx.joined().await;
    client
        .send(r#"451-3["echo",{"file":{"_placeholder":true,"num":0}}]"#)
        .await;
    client.send_binary(b"abc").await;
    assert_eq!(
        client.next_text().await,
        r#"461-3[{"file":{"_placeholder":true,"num":0}}]"#
    );
    assert_eq!(client.next().await, Frame::Binary(b"abc".to_vec()));
}

#[tokio::test]
async fn catch_all_gets_events_without_handler() {
    let mut fx = Fixture::new().await;
    let (mut client, _) = fx.joined().await;
    client.send(r#"42["unknown",1,{"a":2}]"#).await;
    assert_eq!(
        fx.next_seen().await,
        Seen::Any("unknown".into(), json!([1, {"a":2}]))
    );
    client.send(r#"42[7,"numeric name"]"#).await;
    assert_eq!(
        fx.next_seen().await,
        Seen::Any("7".into(), json!(["numeric name"]))
    );
}

#[tokio::test]
async fn server_emits_with_ack_and_routes_client_acks() {
    let mut fx = Fixture::new().await;
    let (mut client, sid) = fx.joined().await;
    let socket = fx.io().get_socket("/", &sid).expect("socket");
    let first = socket.emit_with_ack("question", &json!({"q": 1}));
    let second = socket.emit_with_ack("question", &(1, 2));
    assert_eq!(client.next_text().await, r#"420["question",{"q":1}]"#);
    assert_eq!(client.next_text().await, r#"421["question",1,2]"#);
    assert_eq!(socket.pending_acks(), 2);
    // Unknown ids are ignored; answers may come in any order.
    client.send("4399[]").await;
    client.send(r#"431["two"]"#).await;
    client
        .send(r#"461-0[{"_placeholder":true,"num":0},"one"]"#)
        .await;
    client.send_binary(&[9, 9]).await;
    let first = first.await.expect("first ack");
    assert_eq!(first.binary(0).map(|b| b.to_vec()), Some(vec![9, 9]));
    assert_eq!(first.get(1), Some(&json!("one")));
    assert_eq!(second.await.expect("second ack").values(), &[json!("two")]);
    assert_eq!(socket.pending_acks(), 0);
    // Still alive after the unknown ack.
    client.send(r#"42["echo","alive"]"#).await;
    assert_eq!(client.next_text().await, r#"42["echo","alive"]"#);
}

#[tokio::test]
async fn emit_with_ack_times_out_and_ignores_late_answers() {
    let mut fx = Fixture::new().await;
    let (mut client, sid) = fx.joined().await;
    let socket = fx.io().get_socket("/", &sid).unwrap();
    let wait = Duration::from_millis(50);
    let result = socket
        .emit_with_ack_timeout("question", &NO_ARGS, wait)
        .await;
    assert_eq!(result.unwrap_err(), AckError::Timeout(wait));
    assert_eq!(socket.pending_acks(), 0);
    assert_eq!(client.next_text().await, r#"420["question"]"#);
    client.send("430[]").await;
    client.send(r#"42["echo","alive"]"#).await;
    assert_eq!(client.next_text().await, r#"42["echo","alive"]"#);
}

#[tokio::test]
async fn emit_with_ack_fails_when_the_socket_leaves() {
    let mut fx = Fixture::new().await;
    let (mut client, sid) = fx.joined().await;
    let socket = fx.io().get_socket("/", &sid).unwrap();
    let pending = socket.emit_with_ack("question", &NO_ARGS);
    client.next_text().await;
    client.send("41").await;
    assert_eq!(pending.await.unwrap_err(), AckError::Disconnected);
}

#[tokio::test]
async fn pending_acks_are_bounded() {
    let config = SocketIoConfig {
        max_pending_acks: 2,
        ..SocketIoConfig::default()
    };
    let mut fx = Fixture::with(config).await;
    let (_client, sid) = fx.joined().await;
    let socket = fx.io().get_socket("/", &sid).unwrap();
    let _a = socket.emit_with_ack("q", &NO_ARGS);
    let _b = socket.emit_with_ack("q", &NO_ARGS);
    let third = socket.emit_with_ack("q", &NO_ARGS).await;
    assert_eq!(
        third.unwrap_err(),
        AckError::Emit(EmitError::TooManyPendingAcks)
    );
}

#[tokio::test]
async fn server_emits_binary_and_refuses_reserved_names() {
    let mut fx = Fixture::new().await;
    let (mut client, sid) = fx.joined().await;
    let socket = fx.io().get_socket("/", &sid).unwrap();
    let args = Args::new()
        .with(json!("name.bin"))
        .with_binary(bytes::Bytes::from_static(&[1, 2]));
    socket.emit_args("file", args).unwrap();
    assert_eq!(
        client.next_text().await,
        r#"451-["file","name.bin",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(client.next().await, Frame::Binary(vec![1, 2]));
    for name in ["connect", "disconnect", "connect_error"] {
        assert_eq!(
            socket.emit(name, &NO_ARGS),
            Err(EmitError::ReservedEvent(name.into()))
        );
    }
    socket.emit("tuple", &(1, "two", [3])).unwrap();
    assert_eq!(client.next_text().await, r#"42["tuple",1,"two",[3]]"#);
    socket.emit("list", &vec![1, 2]).unwrap();
    assert_eq!(client.next_text().await, r#"42["list",1,2]"#);
    socket.emit("one-list", &(vec![1, 2],)).unwrap();
    assert_eq!(client.next_text().await, r#"42["one-list",[1,2]]"#);
    socket.emit("none", &NO_ARGS).unwrap();
    assert_eq!(client.next_text().await, r#"42["none"]"#);
}

#[tokio::test]
async fn rooms_and_broadcasts_reach_the_right_sockets() {
    let mut fx = Fixture::new().await;
    let (mut a, sid_a) = fx.joined().await;
    let (mut b, sid_b) = fx.joined().await;
    let (mut c, sid_c) = fx.joined().await;
    for client in [&mut a, &mut b] {
        client.send(r#"421["join","red"]"#).await;
        assert_eq!(client.next_text().await, "431[]");
    }
    a.send(r#"422["rooms"]"#).await;
    let mut expected = vec!["red".to_owned(), sid_a.clone()];
    expected.sort();
    assert_eq!(
        a.next_text().await,
        format!("432[{}]", serde_json::to_string(&expected).unwrap())
    );

    // socket.to(room): the room minus the sender.
    a.send(r#"42["shout","red","hi"]"#).await;
    assert_eq!(b.next_text().await, r#"42["shout","hi"]"#);
    // socket.broadcast(): everyone but the sender.
    c.send(r#"42["others","o"]"#).await;
    assert_eq!(a.next_text().await, r#"42["others","o"]"#);
    assert_eq!(b.next_text().await, r#"42["others","o"]"#);
    // Namespace operators from the server.
    let ns = fx.io().namespace("/");
    assert_eq!(
        ns.to("red")
            .except(&*sid_b)
            .emit("x", &("red-but-b",))
            .unwrap()
            .delivered,
        1
    );
    assert_eq!(a.next_text().await, r#"42["x","red-but-b"]"#);
    assert_eq!(
        ns.except("red").emit("x", &("not-red",)).unwrap().delivered,
        1
    );
    assert_eq!(c.next_text().await, r#"42["x","not-red"]"#);
    assert_eq!(
        ns.to("red")
            .to(&*sid_c)
            .emit("x", &("red-or-c",))
            .unwrap()
            .delivered,
        3
    );
    assert_eq!(ns.to(&*sid_c).emit("x", &("just-c",)).unwrap().delivered, 1);
    assert_eq!(ns.emit("x", &("all",)).unwrap().delivered, 3);
    // Each client saw exactly what it should, in order: nothing leaked in between.
    assert_eq!(a.next_text().await, r#"42["x","red-or-c"]"#);
    assert_eq!(a.next_text().await, r#"42["x","all"]"#);
    assert_eq!(b.next_text().await, r#"42["x","red-or-c"]"#);
    assert_eq!(b.next_text().await, r#"42["x","all"]"#);
    assert_eq!(c.next_text().await, r#"42["x","red-or-c"]"#);
    assert_eq!(c.next_text().await, r#"42["x","just-c"]"#);
    assert_eq!(c.next_text().await, r#"42["x","all"]"#);
    // Sender excluded from its own shout; leaving works.
    b.send(r#"423["leave","red"]"#).await;
    assert_eq!(b.next_text().await, "433[]");
    a.send(r#"42["shout","red","alone"]"#).await;
    ns.emit("x", &("marker",)).unwrap();
    assert_eq!(a.next_text().await, r#"42["x","marker"]"#);
    assert_eq!(b.next_text().await, r#"42["x","marker"]"#);
    // Binary broadcast.
    let args = Args::new().with_binary(bytes::Bytes::from_static(b"zz"));
    assert_eq!(ns.to("red").emit_args("bin", args).unwrap().delivered, 1);
    assert_eq!(
        a.next_text().await,
        r#"451-["bin",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(a.next().await, Frame::Binary(b"zz".to_vec()));
}

#[tokio::test]
async fn broadcasts_stay_within_their_namespace() {
    let mut fx = Fixture::new().await;
    let (mut main, _) = fx.joined().await;
    let mut custom = fx.client().await;
    let custom_sid = custom.join("/custom", None).await;
    custom.next_text().await;
    fx.next_seen().await;
    fx.io().namespace("/custom").emit("x", &NO_ARGS).unwrap();
    fx.io().namespace("/").emit("y", &NO_ARGS).unwrap();
    assert_eq!(custom.next_text().await, r#"42/custom,["x"]"#);
    assert_eq!(main.next_text().await, r#"42["y"]"#);
    assert!(fx.io().get_socket("/", &custom_sid).is_none());
    assert!(fx.io().get_socket("/custom", &custom_sid).is_some());
}

#[tokio::test]
async fn typed_socket_data_is_per_socket() {
    let mut fx = Fixture::new().await;
    let mut ada = fx.client().await;
    ada.join("/", Some(r#"{"name":"ada"}"#)).await;
    ada.next_text().await;
    fx.next_seen().await;
    let (mut anon, sid) = fx.joined().await;
    ada.send(r#"421["whoami"]"#).await;
    assert_eq!(ada.next_text().await, r#"431["ada"]"#);
    anon.send(r#"421["whoami"]"#).await;
    assert_eq!(anon.next_text().await, r#"431["anon"]"#);
    let socket = fx.io().get_socket("/", &sid).unwrap();
    assert!(
        socket.data::<String>().is_none(),
        "another type is not there"
    );
    socket.clear_data();
    anon.send(r#"422["whoami"]"#).await;
    assert_eq!(anon.next_text().await, "432[null]");
}

#[tokio::test]
async fn client_namespace_disconnect_keeps_the_connection() {
    let mut fx = Fixture::new().await;
    let (mut client, sid) = fx.joined().await;
    client.send(r#"421["join","red"]"#).await;
    client.next_text().await;
    client.send("41").await;
    let mut rooms = vec!["red".to_owned(), sid.clone()];
    rooms.sort();
    assert_eq!(
        fx.next_seen().await,
        Seen::Disconnected {
            sid,
            reason: DisconnectReason::ClientNamespaceDisconnect,
            rooms
        }
    );
    assert_eq!(fx.io().socket_count(), 0);
    assert_eq!(fx.io().connection_count(), 1);
    assert_eq!(fx.io().namespace("/").adapter().rooms("red").len(), 0);
    client.join("/", None).await;
}

#[tokio::test]
async fn server_namespace_disconnect_sends_41_and_keeps_the_connection() {
    let mut fx = Fixture::new().await;
    let mut client = fx.client().await;
    let main = client.join("/", None).await;
    client.next_text().await;
    let custom = client.join("/custom", None).await;
    client.next_text().await;
    fx.next_seen().await;
    fx.next_seen().await;
    fx.io().get_socket("/custom", &custom).unwrap().disconnect();
    assert_eq!(client.next_text().await, "41/custom,");
    let Seen::Disconnected { sid, reason, .. } = fx.next_seen().await else {
        panic!()
    };
    assert_eq!(
        (sid, reason),
        (custom, DisconnectReason::ServerNamespaceDisconnect)
    );
    fx.io().get_socket("/", &main).unwrap().disconnect();
    assert_eq!(client.next_text().await, "41");
    fx.next_seen().await;
    assert_eq!(fx.io().connection_count(), 1);
    client.join("/", None).await;
}

#[tokio::test]
async fn transport_close_is_reported() {
    let mut fx = Fixture::new().await;
    let (client, sid) = fx.joined().await;
    drop(client);
    let Seen::Disconnected {
        sid: gone, reason, ..
    } = fx.next_seen().await
    else {
        panic!()
    };
    assert_eq!((gone, reason), (sid, DisconnectReason::TransportClose));
}

#[tokio::test]
async fn parse_error_closes_every_namespace_of_the_connection() {
    let mut fx = Fixture::new().await;
    let mut client = fx.client().await;
    client.join("/", None).await;
    client.next_text().await;
    client.join("/custom", None).await;
    client.next_text().await;
    fx.next_seen().await;
    fx.next_seen().await;
    client.send("4abc").await;
    client.expect_closed().await;
    for _ in 0..2 {
        let Seen::Disconnected { reason, .. } = fx.next_seen().await else {
            panic!()
        };
        assert_eq!(reason, DisconnectReason::ParseError);
    }
}

#[tokio::test]
async fn ping_timeout_is_reported() {
    let config = SocketIoConfig {
        engine: EngineConfig {
            ping_interval: Duration::from_millis(100),
            ping_timeout: Duration::from_millis(100),
            ..EngineConfig::default()
        },
        ..SocketIoConfig::default()
    };
    let mut fx = Fixture::with(config).await;
    let (mut client, sid) = fx.joined().await;
    // Never answer pings.
    while client.recv().await != Frame::Closed {}
    let Seen::Disconnected {
        sid: gone, reason, ..
    } = fx.next_seen().await
    else {
        panic!()
    };
    assert_eq!((gone, reason), (sid, DisconnectReason::PingTimeout));
}

#[tokio::test]
async fn packets_for_a_namespace_not_joined_close_the_connection() {
    let mut fx = Fixture::new().await;
    let (mut client, sid) = fx.joined().await;
    client.send(r#"42/custom,["ev",1]"#).await;
    client.expect_closed().await;
    let Seen::Disconnected {
        sid: gone, reason, ..
    } = fx.next_seen().await
    else {
        panic!()
    };
    assert_eq!((gone, reason), (sid, DisconnectReason::ForcedServerClose));
}

#[tokio::test]
async fn a_second_connect_closes_the_connection() {
    let mut fx = Fixture::new().await;
    let (mut client, _) = fx.joined().await;
    client.send("40").await;
    client.expect_closed().await;
}

#[tokio::test]
async fn a_client_connect_error_closes_the_connection() {
    let mut fx = Fixture::new().await;
    let (mut client, _) = fx.joined().await;
    client.send(r#"44{"message":"x"}"#).await;
    client.expect_closed().await;
}

#[tokio::test]
async fn connect_timeout_closes_idle_connections_only() {
    let config = SocketIoConfig {
        connect_timeout: Duration::from_millis(200),
        engine: EngineConfig {
            ping_interval: Duration::from_millis(100),
            ping_timeout: Duration::from_millis(1000),
            ..EngineConfig::default()
        },
        ..SocketIoConfig::default()
    };
    let mut fx = Fixture::with(config).await;
    let mut idle = fx.client().await;
    let (mut joined, _) = fx.joined().await;
    idle.expect_closed().await;
    // The joined one outlives the timeout by several pings.
    joined.expect_only_pings(6).await;
    // A refused CONNECT does not count as joining.
    let mut refused = fx.client().await;
    refused.send(r#"40{"token":"bad"}"#).await;
    assert!(refused.next_text().await.starts_with("44"));
    refused.expect_closed().await;
}

#[tokio::test]
async fn failing_handlers_reach_the_error_hook_and_the_connection_survives() {
    let mut fx = Fixture::new().await;
    let (mut client, _) = fx.joined().await;
    client.send(r#"42["fail"]"#).await;
    assert_eq!(
        fx.next_seen().await,
        Seen::Error("fail".into(), "boom".into())
    );
    client.send(r#"42["panic"]"#).await;
    let Seen::Error(event, error) = fx.next_seen().await else {
        panic!()
    };
    assert_eq!(event, "panic");
    assert!(error.contains("kaboom"), "{error}");
    client.send(r#"42["join",42]"#).await;
    let Seen::Error(event, _) = fx.next_seen().await else {
        panic!()
    };
    assert_eq!(event, "join", "a bad argument is a handler error");
    client.send(r#"42["echo","alive"]"#).await;
    assert_eq!(client.next_text().await, r#"42["echo","alive"]"#);
}

#[tokio::test]
async fn a_full_queue_is_reported_to_the_emitter() {
    let config = SocketIoConfig {
        engine: EngineConfig {
            max_buffered_packets: 4,
            ..EngineConfig::default()
        },
        ..SocketIoConfig::default()
    };
    let fx = Fixture::with(config).await;
    let client = PollClient::connect(fx.server.addr).await;
    assert_eq!(client.post(&["40"]).await, 200);
    let packets = client.collect(2).await;
    let sid: Value = serde_json::from_str(packets[0].strip_prefix("40").unwrap()).unwrap();
    let socket = fx
        .io()
        .get_socket("/", sid["sid"].as_str().unwrap())
        .unwrap();
    // The client does not poll: the queue fills up and says so.
    for i in 0..4 {
        socket.emit("tick", &(i,)).unwrap();
    }
    assert_eq!(socket.emit("tick", &(4,)), Err(EmitError::Full));
    let report = fx.io().namespace("/").emit("tick", &(5,)).unwrap();
    assert_eq!((report.delivered, report.full.len()), (0, 1));
    assert_eq!(&*report.full[0], socket.id());
    // Once drained, emits work again; nothing was half-sent.
    let (_, drained) = client.poll().await;
    assert_eq!(
        drained,
        [
            r#"42["tick",0]"#,
            r#"42["tick",1]"#,
            r#"42["tick",2]"#,
            r#"42["tick",3]"#
        ]
    );
    socket.emit("tick", &(6,)).unwrap();
    assert_eq!(client.collect(1).await, [r#"42["tick",6]"#]);
}

#[tokio::test]
async fn close_disconnects_everyone_with_server_shutting_down() {
    let mut fx = Fixture::new().await;
    let (mut a, _) = fx.joined().await;
    let (mut b, _) = fx.joined().await;
    assert_eq!(fx.io().socket_count(), 2);
    let io = fx.io().clone();
    let closing = tokio::spawn(async move { io.close_within(Duration::from_secs(5)).await });
    a.expect_closed().await;
    b.expect_closed().await;
    closing.await.unwrap();
    for _ in 0..2 {
        let Seen::Disconnected { reason, .. } = fx.next_seen().await else {
            panic!()
        };
        assert_eq!(reason, DisconnectReason::ServerShuttingDown);
    }
    assert_eq!(fx.io().socket_count(), 0);
    assert_eq!(fx.io().connection_count(), 0);
}

#[tokio::test]
async fn close_connection_forces_every_namespace_out() {
    let mut fx = Fixture::new().await;
    let (mut client, sid) = fx.joined().await;
    fx.io().get_socket("/", &sid).unwrap().close_connection();
    client.expect_closed().await;
    let Seen::Disconnected { reason, .. } = fx.next_seen().await else {
        panic!()
    };
    assert_eq!(reason, DisconnectReason::ForcedServerClose);
}

#[tokio::test]
async fn msgpack_parser_speaks_notepack() {
    use rmpv::Value as Mp;
    let config = SocketIoConfig {
        parser: Parser::MsgPack,
        ..SocketIoConfig::default()
    };
    let mut fx = Fixture::with(config).await;
    let mut client = fx.client().await;
    // CONNECT with `data: undefined` (fixext1 type 0).
    let mut connect = mp::packet(vec![("type", Mp::from(0)), ("nsp", Mp::from("/"))]);
    connect[0] = 0x83;
    connect.extend_from_slice(&[0xa4, b'd', b'a', b't', b'a', 0xd4, 0, 0]);
    client.send_binary(&connect).await;
    let Frame::Binary(reply) = client.next().await else {
        panic!("expected a binary reply")
    };
    let reply = mp::entries(&reply);
    let keys: Vec<_> = reply.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["type", "data", "nsp"]);
    assert_eq!(mp::get(&reply, "type"), Some(&Mp::from(0)));
    let sid = mp::get(&reply, "data").unwrap().as_map().unwrap()[0]
        .1
        .as_str()
        .unwrap()
        .to_owned();
    let Frame::Binary(welcome) = client.next().await else {
        panic!()
    };
    let welcome = mp::entries(&welcome);
    assert_eq!(mp::get(&welcome, "data").unwrap()[0], Mp::from("welcome"));
    assert_eq!(
        mp::get(&welcome, "data").unwrap()[1].as_map().unwrap()[0].1,
        Mp::from(sid.as_str())
    );
    assert_eq!(fx.next_seen().await, Seen::Connected(sid));

    // EVENT with an ack id, a Buffer (bin 8), an ArrayBuffer (ext 8, type
    // 0) and a float, plus the `options` key clients add; bytes as notepack
    // writes them.
    let mut data = vec![
        0x94, 0xa4, b'e', b'c', b'h', b'o', 0xc4, 2, 1, 2, 0xc7, 1, 0, 3, 0xcb,
    ];
    data.extend_from_slice(&1.5f64.to_be_bytes());
    let mut event = mp::packet(vec![
        ("type", Mp::from(2)),
        ("nsp", Mp::from("/")),
        ("id", Mp::from(12)),
        (
            "options",
            Mp::Map(vec![(Mp::from("compress"), Mp::from(true))]),
        ),
    ]);
    event[0] = 0x85;
    event.extend_from_slice(&[0xa4, b'd', b'a', b't', b'a']);
    event.extend_from_slice(&data);
    client.send_binary(&event).await;
    let Frame::Binary(ack) = client.next().await else {
        panic!()
    };
    let ack = mp::entries(&ack);
    assert_eq!(mp::get(&ack, "type"), Some(&Mp::from(3)));
    assert_eq!(mp::get(&ack, "id"), Some(&Mp::from(12)));
    assert_eq!(
        mp::get(&ack, "data"),
        Some(&Mp::Array(vec![
            Mp::Binary(vec![1, 2]),
            Mp::Binary(vec![3]),
            Mp::from(1.5)
        ]))
    );

    // Unknown namespace: CONNECT_ERROR map, connection kept.
    client
        .send_binary(&mp::packet(vec![
            ("type", Mp::from(0)),
            ("nsp", Mp::from("/nope")),
        ]))
        .await;
    let Frame::Binary(refusal) = client.next().await else {
        panic!()
    };
    let refusal = mp::entries(&refusal);
    assert_eq!(mp::get(&refusal, "type"), Some(&Mp::from(4)));
    assert_eq!(
        mp::get(&refusal, "data"),
        Some(&Mp::Map(vec![(
            Mp::from("message"),
            Mp::from("Invalid namespace")
        )]))
    );
    // A text frame is not msgpack: the connection closes.
    client.send(r#"42["echo"]"#).await;
    client.expect_closed().await;
}

#[tokio::test]
async fn get_socket_and_counts_follow_the_sockets() {
    let mut fx = Fixture::new().await;
    assert!(fx.io().of("/custom").is_some());
    assert!(fx.io().of("/nope").is_none());
    let (client, sid) = fx.joined().await;
    let socket = fx.io().get_socket("/", &sid).unwrap();
    assert!(socket.connected());
    assert_eq!(socket.namespace(), "/");
    assert_eq!(socket.connection_id(), client.sid);
    assert_eq!(socket.auth(), &json!({}));
    assert_eq!(fx.io().namespace("/").socket_count(), 1);
    assert_eq!(fx.io().socket_count(), 1);
    drop(client);
    fx.next_seen().await;
    assert!(!socket.connected());
    assert!(fx.io().get_socket("/", &sid).is_none());
    assert_eq!(socket.emit("x", &NO_ARGS), Err(EmitError::Closed));
    assert_eq!(fx.io().socket_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_broadcast_reaches_hundreds_of_sockets_once_each() {
    let mut fx = Fixture::new().await;
    const CLIENTS: usize = 300;
    let mut clients = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        let (mut client, _) = fx.joined().await;
        if i % 2 == 0 {
            client.send(r#"421["join","even"]"#).await;
            assert_eq!(client.next_text().await, "431[]");
        }
        clients.push(client);
    }
    let ns = fx.io().namespace("/");
    let report = ns.to("even").emit("tick", &json!({"n": 1})).unwrap();
    assert_eq!(
        (report.delivered, report.full.len(), report.closed),
        (CLIENTS / 2, 0, 0)
    );
    ns.emit("tick", &json!({"n": 2})).unwrap();
    for (i, client) in clients.iter_mut().enumerate() {
        if i % 2 == 0 {
            assert_eq!(client.next_text().await, r#"42["tick",{"n":1}]"#);
        }
        assert_eq!(client.next_text().await, r#"42["tick",{"n":2}]"#);
    }
}
