//! The official clients against our server: socket.io-client 4.x (Node) over
//! WebSocket only, polling only, and polling then upgrade, with the default
//! and the msgpack parser; python-socketio 5.x over both transports. The
//! scripts live in `tests/js/sio_*.mjs` and `tests/py/sio_client.py`; each
//! exits non-zero with a reason when anything differs.
//!
//! Skipped (with a message) when node / python are not installed, except in
//! CI where that is a failure (see `tests/support`).

mod support;

use std::time::Duration;

use locus::socketio::{ConnectError, Parser, SocketIo, SocketIoConfig, NO_ARGS};
use serde_json::json;
use support::socketio::SocketIoServer;

/// The server the client scripts expect.
fn app(parser: Parser) -> SocketIo {
    let io = SocketIo::new(SocketIoConfig {
        parser,
        ..SocketIoConfig::default()
    });
    let main = io.namespace("/");
    main.on_connect(|socket, auth| async move {
        // A real await, as a database lookup would be.
        tokio::time::sleep(Duration::from_millis(5)).await;
        if auth["token"] != "secret" {
            return Err(ConnectError::new("unauthorized").with_data(json!({"reason": "bad token"})));
        }
        socket
            .emit("welcome", &json!({"sid": socket.id()}))
            .map_err(|e| ConnectError::new(e.to_string()))?;
        Ok(())
    });
    main.on("echo", |_socket, args, ack| {
        ack.map_or(Ok(()), |ack| ack.send_args(args))
    });
    main.on_async("ask", |socket, args, ack| async move {
        let reply = socket
            .emit_args_with_ack("question", args, Duration::from_secs(5))
            .await?;
        if let Some(ack) = ack {
            ack.send_args(reply)?;
        }
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    });
    main.on(
        "join",
        |socket, args, ack| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            socket.join(args.parse::<String>(0)?);
            if let Some(ack) = ack {
                ack.send(&NO_ARGS)?;
            }
            Ok(())
        },
    );
    main.on(
        "shout",
        |socket, args, _ack| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            let room: String = args.parse(0)?;
            let message: serde_json::Value = args.parse(1)?;
            socket.to(room).emit("shouted", &(message, socket.id()))?;
            Ok(())
        },
    );
    let everyone = main.clone();
    main.on("broadcast", move |_socket, args, _ack| {
        everyone.emit("news", &(args.get(0),)).map(drop)
    });
    main.on("kick-me", |socket, _args, _ack| socket.disconnect());

    let admin = io.namespace("/admin");
    admin.on_connect(|socket, _auth| async move {
        socket
            .emit("hello-admin", &json!({"nsp": socket.namespace()}))
            .map_err(|e| ConnectError::new(e.to_string()))
    });
    admin.on("echo", |_socket, args, ack| {
        ack.map_or(Ok(()), |ack| ack.send_args(args))
    });
    io
}

async fn node_client(mode: &str, parser: Parser) {
    if !support::tools::node_modules_ready() {
        return;
    }
    let server = SocketIoServer::start(app(parser)).await;
    let parser_name = if parser == Parser::MsgPack {
        "msgpack"
    } else {
        "json"
    };
    let out = support::tools::run_node("sio_client.mjs", &[&server.url(), mode, parser_name]).await;
    assert!(out.contains(&format!("ok {mode} {parser_name}")), "{out}");
    assert_eq!(server.io.socket_count(), 0, "every socket left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_over_websocket() {
    node_client("websocket", Parser::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_over_polling() {
    node_client("polling", Parser::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_upgrading_from_polling() {
    node_client("upgrade", Parser::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_with_msgpack_over_websocket() {
    node_client("websocket", Parser::MsgPack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_with_msgpack_over_polling() {
    node_client("polling", Parser::MsgPack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_with_msgpack_upgrading() {
    node_client("upgrade", Parser::MsgPack).await;
}

async fn node_rooms(parser: Parser) {
    if !support::tools::node_modules_ready() {
        return;
    }
    let server = SocketIoServer::start(app(parser)).await;
    let parser_name = if parser == Parser::MsgPack {
        "msgpack"
    } else {
        "json"
    };
    let out = support::tools::run_node("sio_rooms.mjs", &[&server.url(), parser_name]).await;
    assert!(out.contains(&format!("ok rooms {parser_name}")), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_clients_broadcast_to_a_room() {
    node_rooms(Parser::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_clients_broadcast_to_a_room_with_msgpack() {
    node_rooms(Parser::MsgPack).await;
}

async fn python_client(transport: &str, parser: Parser) {
    let Some(python) = support::tools::python() else {
        return;
    };
    let server = SocketIoServer::start(app(parser)).await;
    let serializer = if parser == Parser::MsgPack {
        "msgpack"
    } else {
        "default"
    };
    let out = support::tools::run_python(
        &python,
        "sio_client.py",
        &[&server.url(), transport, serializer],
    )
    .await;
    assert!(
        out.contains(&format!("ok {transport} {serializer}")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_over_websocket() {
    python_client("websocket", Parser::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_over_polling() {
    python_client("polling", Parser::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_with_msgpack() {
    python_client("websocket", Parser::MsgPack).await;
}
