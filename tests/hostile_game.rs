//! Hostile game input against the full server: non-finite and extreme
//! coordinates in JSON, and a move sent before an admin teleport that
//! arrives after it (the reset is written to the database file by
//! `AdminStore` while the server runs, as `locus admin reset` does).

mod support;

use locus::store::{AdminStore, ResetTarget, StoreConfig};
use support::bystander::Bystander;
use support::client::WsClient;
use support::player::Player;
use support::server::LocusServer;

const CENTRE: f64 = 2048.0;

#[tokio::test]
async fn non_finite_and_extreme_coordinates_never_move_a_player_out_of_the_world() {
    let server = LocusServer::start().await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    let (_, token) = server.account("cheater").await;

    // JSON has no NaN or Infinity; `1e999` overflows. Either the packet is
    // refused (and the connection closed) or the move dropped, never applied.
    for raw in [
        "{\"x\":1e999,\"y\":0,\"seq\":1}",
        "{\"x\":-1e999,\"y\":1e999,\"seq\":1}",
        "{\"x\":NaN,\"y\":0,\"seq\":1}",
        "{\"x\":Infinity,\"y\":0,\"seq\":1}",
    ] {
        let mut client = WsClient::joined(server.addr(), &token).await;
        client.send_text(&format!("42[\"position\",{raw}]")).await;
        client
            .send_text("42[\"position\",{\"x\":2049,\"y\":2048,\"seq\":2}]")
            .await;
        while let Some(text) = client.text_or_closed().await {
            if let Some(body) = text.strip_prefix("42[\"snapshot\",") {
                let snapshot: serde_json::Value =
                    serde_json::from_str(&body[..body.len() - 1]).unwrap();
                let (x, y) = (
                    snapshot["x"].as_f64().unwrap(),
                    snapshot["y"].as_f64().unwrap(),
                );
                assert!(
                    (0.0..=4096.0).contains(&x) && (0.0..=4096.0).contains(&y),
                    "{raw}: ({x}, {y})"
                );
                if snapshot["ack"].as_u64() >= Some(2) {
                    break;
                }
            }
        }
    }

    // One account each: a far move earns a `correction` teleport, and this
    // client does not follow it as a real one would.
    for (n, (x, y)) in [
        (1e308, -1e308),
        (f64::MAX, f64::MIN_POSITIVE),
        (-0.0, 5e-324),
    ]
    .into_iter()
    .enumerate()
    {
        let (_, token) = server.account(&format!("extreme{n}")).await;
        let mut player = Player::join(server.addr(), &token).await;
        player.wait_for("welcome", |_| true).await;
        let seq = player.move_to(x, y).await;
        let snapshot = player
            .wait_for("snapshot", |s| s["ack"].as_u64() >= Some(seq))
            .await;
        let (x, y) = (
            snapshot["x"].as_f64().unwrap(),
            snapshot["y"].as_f64().unwrap(),
        );
        assert!(
            (0.0..=4096.0).contains(&x) && (0.0..=4096.0).contains(&y),
            "({x}, {y})"
        );
        let teleport = player.wait_for("teleport", |_| true).await;
        assert_eq!(teleport["reason"], "correction");
    }
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_move_sent_before_an_admin_teleport_is_dropped_after_it() {
    let server = LocusServer::start().await;
    let (_, token) = server.account("runner").await;
    let mut player = Player::join(server.addr(), &token).await;
    player.wait_for("welcome", |_| true).await;
    // Heading east, far away.
    let first = player.move_to(CENTRE + 2000.0, CENTRE).await;
    player
        .wait_for("snapshot", |s| s["ack"].as_u64() >= Some(first))
        .await;

    let db = server.dir.path().join("locus.db");
    let outcome = tokio::task::spawn_blocking(move || {
        let mut admin = AdminStore::open_existing(&db, &StoreConfig::default())
            .expect("admin opens the live database");
        admin.reset_position(&ResetTarget::User("runner".into()), 100.0, 100.0)
    })
    .await
    .unwrap();
    outcome.expect("reset written");

    let teleport = player
        .wait_for("teleport", |t| t["reason"] == "admin_reset")
        .await;
    assert_eq!(
        (teleport["x"].as_f64(), teleport["y"].as_f64()),
        (Some(100.0), Some(100.0))
    );
    // A move the client sent before it saw the teleport: stale, dropped.
    let stale = player.move_to(CENTRE + 2000.0, CENTRE).await;
    // A move from the teleport point: accepted.
    let fresh = player.move_to(100.0, 110.0).await;
    let mark = player.events.len();
    let reached = player
        .wait_for("snapshot", |s| {
            s["ack"].as_u64() >= Some(fresh) && s["y"].as_f64() == Some(110.0)
        })
        .await;
    assert_eq!(reached["x"].as_f64(), Some(100.0));
    for (name, snapshot) in &player.events[mark..] {
        if name == "snapshot" {
            assert_ne!(
                snapshot["ack"].as_u64(),
                Some(stale),
                "the stale move was applied: {snapshot}"
            );
            assert_eq!(
                snapshot["x"].as_f64(),
                Some(100.0),
                "the player drifted toward the stale target: {snapshot}"
            );
        }
    }
    server.stop().await;
}

/// The value of counter line `name` in the `/metrics` text (0 when absent).
async fn counter(server: &LocusServer, name: &str) -> f64 {
    let text = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn chat_beyond_the_rate_is_dropped_and_position_floods_kicked() {
    let server = LocusServer::start_with(|c| {
        c.chat_rate = 1.0;
        c.position_rate = 5.0;
    })
    .await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    let (_, token) = server.account("chatty").await;
    let mut chatty = Player::join(server.addr(), &token).await;
    chatty.wait_for("welcome", |_| true).await;
    for i in 0..30 {
        chatty
            .emit("chat", serde_json::json!({ "text": format!("spam {i}") }))
            .await;
    }
    // The burst (5) gets through; the sender hears its own chat.
    chatty.wait_for("chat", |c| c["text"] == "spam 0").await;
    let mut dropped = 0.0;
    for _ in 0..100 {
        dropped = counter(&server, "locus_inputs_dropped_total{reason=\"chat_rate\"} ").await;
        if dropped > 0.0 {
            break;
        }
        support::raw::pause(std::time::Duration::from_millis(50)).await;
    }
    assert!(dropped >= 1.0, "chat beyond --chat-rate is dropped");

    // --position-rate 5: a burst of 10 passes, 100 at once is a flood.
    for _ in 0..100 {
        chatty.move_to(CENTRE + 1.0, CENTRE).await;
    }
    chatty.wait_for("kicked", |_| true).await;
    chatty.wait_closed().await;
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_reader_gets_merged_snapshots_and_the_rest_keep_playing() {
    use futures_util::StreamExt;
    use std::collections::BTreeMap;
    use tokio_tungstenite::tungstenite::Message;

    let server = LocusServer::start_with(|c| {
        c.tick_hz = 120;
        c.position_rate = 500.0;
        c.max_buffered_packets = 4;
    })
    .await;
    let (mover_id, mover_token) = server.account("mover").await;
    let (_, slow_token) = server.account("stalled").await;

    // The stalled reader: a tiny receive buffer, then no reads at all.
    let mut slow = WsClient::connect_with_recv_buffer(server.addr(), 2048).await;
    slow.join_world(&slow_token).await;

    let mut mover = Player::join(server.addr(), &mover_token).await;
    mover.wait_for("welcome", |_| true).await;
    let mut last = CENTRE;
    for i in 0..300 {
        last = CENTRE + f64::from(i % 40);
        let seq = mover.move_to(last, CENTRE).await;
        mover
            .wait_for("snapshot", |s| s["ack"].as_u64() >= Some(seq))
            .await;
    }
    mover
        .wait_for("snapshot", |s| s["x"].as_f64() == Some(last))
        .await;

    // Reading again, the stalled client converges on the mover's position.
    let mover_snapshots = mover.events.iter().filter(|(n, _)| n == "snapshot").count();
    let mut slow_snapshots = 0;
    let mut view: BTreeMap<u64, f64> = BTreeMap::new();
    let mut ws = slow.into_inner();
    let deadline = tokio::time::Instant::now() + support::PATIENCE;
    while view.get(&mover_id) != Some(&last) {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("converges within the patience");
        let Some(Ok(Message::Text(text))) = frame else {
            panic!("stalled client disconnected: {frame:?}")
        };
        let Some(body) = text.strip_prefix("42[\"snapshot\",") else {
            continue;
        };
        slow_snapshots += 1;
        let s: serde_json::Value = serde_json::from_str(&body[..body.len() - 1]).unwrap();
        for e in s["enter"].as_array().unwrap() {
            view.insert(e["id"].as_u64().unwrap(), e["x"].as_f64().unwrap());
        }
        for m in s["move"].as_array().unwrap() {
            view.insert(m[0].as_u64().unwrap(), m[1].as_f64().unwrap());
        }
        for l in s["leave"].as_array().unwrap() {
            view.remove(&l.as_u64().unwrap());
        }
    }
    // The queue filled and deltas were merged rather than queued.
    assert!(
        slow_snapshots < mover_snapshots / 2,
        "{slow_snapshots} snapshots for the stalled reader, {mover_snapshots} for the mover"
    );
    server.stop().await;
}
