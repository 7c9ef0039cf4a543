//! Hostile MessagePack against the full server started with
//! `--parser msgpack`: 100,000-deep nesting, length headers declaring 2^32
//! items or bytes, trailing bytes, unknown packet types (each closes only
//! its connection, without allocating from the declared length), and
//! wrong-typed or non-finite positions (dropped, the player stays put and
//! keeps playing). The same decoder is fuzzed by `server/fuzz`
//! (`msgpack_packet`).

mod support;

use locus::config::ParserKind;
use rmpv::Value as Mp;
use support::client::WsClient;
use support::msgpack::{decode, encode, field, map};
use support::server::LocusServer;

/// An EVENT packet on `/`.
fn event(name: &str, arg: Mp) -> Vec<u8> {
    encode(&map(vec![
        ("type", Mp::from(2)),
        ("nsp", Mp::from("/")),
        ("data", Mp::Array(vec![Mp::from(name), arg])),
    ]))
}

fn position(x: Mp, y: Mp, seq: u64) -> Vec<u8> {
    event(
        "position",
        map(vec![("x", x), ("y", y), ("seq", Mp::from(seq))]),
    )
}

/// The header of an EVENT packet whose `data` follows as raw bytes.
fn event_prefix() -> Vec<u8> {
    let mut out = vec![0x83];
    out.extend(encode(&Mp::from("type")));
    out.push(0x02);
    out.extend(encode(&Mp::from("nsp")));
    out.extend(encode(&Mp::from("/")));
    out.extend(encode(&Mp::from("data")));
    out
}

/// Joins `/` over msgpack with `token`; returns the client after `welcome`.
async fn join(server: &LocusServer, token: &str) -> WsClient {
    let mut client = WsClient::connect(server.addr()).await;
    let connect = map(vec![
        ("type", Mp::from(0)),
        ("nsp", Mp::from("/")),
        ("data", map(vec![("token", Mp::from(token))])),
    ]);
    client.send_bytes(encode(&connect)).await;
    let reply = decode(&client.binary_or_closed().await.expect("CONNECT reply"));
    assert_eq!(
        field(&reply, "type").as_u64(),
        Some(0),
        "CONNECT reply: {reply}"
    );
    let welcome = decode(&client.binary_or_closed().await.expect("welcome"));
    assert_eq!(event_name(&welcome), Some("welcome"));
    client
}

fn event_name(packet: &Mp) -> Option<&str> {
    field(packet, "data").as_array()?.first()?.as_str()
}

/// Waits for a snapshot acknowledging `seq`; returns its (x, y).
async fn acked(client: &mut WsClient, seq: u64) -> (f64, f64) {
    while let Some(bytes) = client.binary_or_closed().await {
        let packet = decode(&bytes);
        if event_name(&packet) == Some("snapshot") {
            let snapshot = &field(&packet, "data")[1];
            if field(snapshot, "ack").as_u64() >= Some(seq) {
                return (
                    field(snapshot, "x").as_f64().unwrap(),
                    field(snapshot, "y").as_f64().unwrap(),
                );
            }
        }
    }
    panic!("connection closed before seq {seq} was acknowledged");
}

async fn msgpack_server() -> LocusServer {
    LocusServer::start_with(|c| c.parser = ParserKind::Msgpack).await
}

#[tokio::test]
async fn hostile_msgpack_closes_only_its_connection() {
    let server = msgpack_server().await;
    let (_, bystander_token) = server.account("bystander").await;
    let mut bystander = join(&server, &bystander_token).await;
    let (_, token) = server.account("attacker").await;

    let with_data = |data: &[u8]| [event_prefix(), data.to_vec()].concat();
    let mut deep = vec![0x91u8; 100_000];
    deep.push(0xc0);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("100k-deep nesting", with_data(&deep)),
        (
            "array32 of 2^32-1 items",
            with_data(&[0xdd, 0xff, 0xff, 0xff, 0xff]),
        ),
        (
            "map32 of 2^32-1 entries",
            with_data(&[0xdf, 0xff, 0xff, 0xff, 0xff]),
        ),
        (
            "str32 of 4 GiB",
            with_data(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'x']),
        ),
        (
            "bin32 of 4 GiB",
            with_data(&[0xc6, 0xff, 0xff, 0xff, 0xff, 1]),
        ),
        (
            "packet map32 of 2^32-1 entries",
            vec![0xdf, 0xff, 0xff, 0xff, 0xff],
        ),
        (
            "trailing bytes",
            [
                event("chat", map(vec![("text", Mp::from("hi"))])),
                vec![0x00],
            ]
            .concat(),
        ),
        (
            "unknown packet type",
            encode(&map(vec![("type", Mp::from(9)), ("nsp", Mp::from("/"))])),
        ),
        (
            "non-string namespace",
            encode(&map(vec![
                ("type", Mp::from(2)),
                ("nsp", Mp::from(5)),
                ("data", Mp::Array(vec![Mp::from("x")])),
            ])),
        ),
        ("reserved event name", event("disconnect", Mp::Nil)),
        ("never-valid byte", vec![0xc1]),
        ("empty message", vec![]),
    ];
    // The names document the cases; a case the server does not close
    // panics in `next_binary` after the patience.
    for (_name, bytes) in cases {
        let mut attacker = join(&server, &token).await;
        attacker.send_bytes(bytes).await;
        while attacker.binary_or_closed().await.is_some() {}
    }
    let (x, _) = {
        bystander
            .send_bytes(position(Mp::from(2050.0), Mp::from(2048.0), 1))
            .await;
        acked(&mut bystander, 1).await
    };
    assert_eq!(x, 2050.0, "the bystander still plays");
    server.stop().await;
}

#[tokio::test]
async fn wrong_types_and_non_finite_positions_are_dropped() {
    let server = msgpack_server().await;
    let (_, token) = server.account("player").await;
    let mut player = join(&server, &token).await;
    let bad = [
        (Mp::from("2050"), Mp::from("2048")),
        (Mp::F64(f64::NAN), Mp::from(2048.0)),
        (Mp::F64(f64::INFINITY), Mp::from(2048.0)),
        (Mp::F32(f32::NEG_INFINITY), Mp::F32(f32::NAN)),
        (Mp::Nil, Mp::Boolean(true)),
        (Mp::Array(vec![]), Mp::Map(vec![])),
        (Mp::Ext(0, vec![0; 8]), Mp::Binary(vec![0; 8])),
    ];
    for (seq, (x, y)) in bad.into_iter().enumerate() {
        player.send_bytes(position(x, y, seq as u64 + 1)).await;
    }
    // Huge but finite numbers are clamped into the world.
    player
        .send_bytes(position(Mp::F64(1e308), Mp::F64(-1e308), 50))
        .await;
    let (x, y) = acked(&mut player, 50).await;
    assert!(
        x.is_finite()
            && y.is_finite()
            && (0.0..=4096.0).contains(&x)
            && (0.0..=4096.0).contains(&y),
        "({x}, {y})"
    );
    server.stop().await;
}
