//! The game as clients see it, over real WebSocket connections to a server
//! on 127.0.0.1:0: authentication, welcome, delta snapshots between two
//! players, movement rules, bad input, floods, chat, duplicate logins,
//! logout, and positions restored on reconnect.

mod support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use support::player::Player;
use support::server::LocusServer;

const CENTRE: f64 = 2048.0;

fn xy(v: &Value) -> (f64, f64) {
    (v["x"].as_f64().unwrap(), v["y"].as_f64().unwrap())
}

#[tokio::test]
async fn connect_without_a_valid_token_is_unauthorized() {
    let server = LocusServer::start().await;
    for auth in [json!({}), json!({"token": "forged"}), json!({"token": 42})] {
        Player::assert_unauthorized(server.addr(), auth).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn welcome_describes_the_world_and_the_spawn_point() {
    let server = LocusServer::start().await;
    let (id, token) = server.account("alice").await;
    let mut alice = Player::join(server.addr(), &token).await;
    let welcome = alice.wait_for("welcome", |_| true).await;
    assert_eq!(welcome["id"], id);
    assert_eq!(welcome["name"], "alice");
    assert_eq!(xy(&welcome), (CENTRE, CENTRE));
    assert_eq!(welcome["world"]["width"].as_f64(), Some(4096.0));
    assert_eq!(welcome["world"]["height"].as_f64(), Some(4096.0));
    assert_eq!(welcome["tick_rate"].as_f64(), Some(20.0));
    assert_eq!(welcome["speed"].as_f64(), Some(300.0));
    assert_eq!(welcome["view_radius"].as_f64(), Some(600.0));
    server.stop().await;
}

/// Applies snapshots as a client must: returns the view (id -> (x, y)).
fn apply(view: &mut BTreeMap<u64, (f64, f64)>, snapshot: &Value) {
    for e in snapshot["enter"].as_array().unwrap() {
        let id = e["id"].as_u64().unwrap();
        assert!(
            view.insert(id, xy(e)).is_none(),
            "enter for a player already in view: {snapshot}"
        );
    }
    for m in snapshot["move"].as_array().unwrap() {
        let id = m[0].as_u64().unwrap();
        let entry = view
            .get_mut(&id)
            .unwrap_or_else(|| panic!("move for a player not in view: {snapshot}"));
        *entry = (m[1].as_f64().unwrap(), m[2].as_f64().unwrap());
    }
    for l in snapshot["leave"].as_array().unwrap() {
        let id = l.as_u64().unwrap();
        assert!(
            view.remove(&id).is_some(),
            "leave for a player not in view: {snapshot}"
        );
    }
}

#[tokio::test]
async fn two_players_see_each_other_enter_move_and_leave() {
    let server = LocusServer::start().await;
    let (alice_id, alice_token) = server.account("alice").await;
    let (bob_id, bob_token) = server.account("bob").await;
    let mut alice = Player::join(server.addr(), &alice_token).await;
    alice.wait_for("welcome", |_| true).await;
    let mut bob = Player::join(server.addr(), &bob_token).await;
    bob.wait_for("welcome", |_| true).await;

    // Both spawn at the centre: each sees the other enter.
    let mut alice_view = BTreeMap::new();
    let snap = alice
        .wait_for("snapshot", |s| {
            s["enter"].as_array().is_some_and(|e| !e.is_empty())
        })
        .await;
    apply(&mut alice_view, &snap);
    assert_eq!(alice_view.get(&bob_id), Some(&(CENTRE, CENTRE)));
    assert_eq!(snap["enter"][0]["name"], "bob");
    let snap = bob
        .wait_for("snapshot", |s| {
            s["enter"].as_array().is_some_and(|e| !e.is_empty())
        })
        .await;
    assert_eq!(snap["enter"][0]["id"], alice_id);

    // Bob takes a step; Alice sees it as a move, Bob gets the ack.
    let seq = bob.move_to(CENTRE + 10.0, CENTRE).await;
    let ack = bob
        .wait_for("snapshot", |s| s["ack"].as_u64() >= Some(seq))
        .await;
    assert_eq!(xy(&ack), (CENTRE + 10.0, CENTRE));
    let moved = alice
        .wait_for("snapshot", |s| {
            s["move"]
                .as_array()
                .is_some_and(|m| m.iter().any(|e| e[0] == bob_id && e[1] == CENTRE + 10.0))
        })
        .await;
    assert_eq!(
        moved["x"], CENTRE,
        "alice's own position is in every snapshot"
    );

    // Bob walks out of view (beyond 700 units): Alice gets `leave`.
    let far = CENTRE + 750.0;
    let mut last = 0;
    for step in 1..=75 {
        last = bob.move_to(CENTRE + 10.0 * step as f64, CENTRE).await;
    }
    bob.wait_for("snapshot", |s| {
        s["ack"].as_u64() >= Some(last) && s["x"].as_f64() >= Some(far)
    })
    .await;
    alice
        .wait_for("snapshot", |s| {
            s["leave"]
                .as_array()
                .is_some_and(|l| l.contains(&json!(bob_id)))
        })
        .await;

    // Bob disconnecting while in view (walk back first) makes him leave too.
    let last = bob.move_to(CENTRE + 100.0, CENTRE).await;
    bob.wait_for("snapshot", |s| {
        s["ack"].as_u64() >= Some(last) && s["x"].as_f64() == Some(CENTRE + 100.0)
    })
    .await;
    alice
        .wait_for("snapshot", |s| {
            s["enter"]
                .as_array()
                .is_some_and(|e| e.iter().any(|p| p["id"] == bob_id))
        })
        .await;
    bob.close().await;
    alice
        .wait_for("snapshot", |s| {
            s["leave"]
                .as_array()
                .is_some_and(|l| l.contains(&json!(bob_id)))
        })
        .await;

    // Every snapshot Alice received applies cleanly as a delta.
    let mut view = BTreeMap::new();
    for (name, payload) in &alice.events {
        if name == "snapshot" {
            apply(&mut view, payload);
        }
    }
    assert!(view.is_empty(), "{view:?}");
    server.stop().await;
}

#[tokio::test]
async fn moves_are_clamped_to_speed_and_world() {
    let server = LocusServer::start().await;
    let (_, token) = server.account("runner").await;
    let mut p = Player::join(server.addr(), &token).await;
    p.wait_for("welcome", |_| true).await;

    // A far target is approached at no more than 300 units/s: 15 per tick,
    // and the client is told where it really is.
    let seq = p.move_to(4000.0, CENTRE).await;
    let first = p
        .wait_for("snapshot", |s| s["ack"].as_u64() >= Some(seq))
        .await;
    let (x, _) = xy(&first);
    assert!(
        x > CENTRE && x <= CENTRE + 15.0 + 1e-9,
        "moved {x} in one tick"
    );
    let correction = p.wait_for("teleport", |_| true).await;
    assert_eq!(correction["reason"], "correction");

    // Out-of-world targets end at the border, never beyond.
    let (_, token) = server.account("escaper").await;
    let mut q = Player::join(server.addr(), &token).await;
    q.wait_for("welcome", |_| true).await;
    let seq = q.move_to(1e308, -1e308).await;
    q.wait_for("snapshot", |s| s["ack"].as_u64() >= Some(seq))
        .await;
    let corner = q
        .wait_for("snapshot", |s| s["y"].as_f64() == Some(0.0))
        .await;
    let (x, y) = xy(&corner);
    assert!((0.0..=4096.0).contains(&x) && y == 0.0, "{x},{y}");
    server.stop().await;
}

#[tokio::test]
async fn malformed_positions_are_dropped_and_garbage_floods_kick() {
    let server = LocusServer::start().await;
    let (_, token) = server.account("fuzzer").await;
    let mut p = Player::join(server.addr(), &token).await;
    p.wait_for("welcome", |_| true).await;
    for bad in [
        json!({"x": "1", "y": 2, "seq": 1}),
        json!({"x": 1}),
        json!(null),
        json!([1, 2, 3]),
        json!({"x": 1, "y": 2, "seq": -1}),
    ] {
        p.emit("position", bad).await;
    }
    // Still connected and still playing: a good move is acknowledged.
    let seq = p.move_to(CENTRE + 5.0, CENTRE).await;
    p.wait_for("snapshot", |s| s["ack"].as_u64() >= Some(seq))
        .await;

    for _ in 0..500 {
        p.emit("position", json!({"x": "nope"})).await;
    }
    let kicked = p.wait_for("kicked", |_| true).await;
    assert!(kicked["reason"].as_str().is_some_and(|r| !r.is_empty()));
    p.wait_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn position_floods_are_kicked() {
    let server = LocusServer::start().await;
    let (_, token) = server.account("flooder").await;
    let mut p = Player::join(server.addr(), &token).await;
    p.wait_for("welcome", |_| true).await;
    for _ in 0..1000 {
        p.move_to(CENTRE, CENTRE + 1.0).await;
    }
    p.wait_for("kicked", |_| true).await;
    p.wait_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn chat_reaches_players_in_view_only() {
    let server = LocusServer::start().await;
    let (alice_id, alice_token) = server.account("alice").await;
    let (_, bob_token) = server.account("bob").await;
    let (_, carol_token) = server.account("carol").await;
    let mut alice = Player::join(server.addr(), &alice_token).await;
    alice.wait_for("welcome", |_| true).await;
    let mut bob = Player::join(server.addr(), &bob_token).await;
    bob.wait_for("welcome", |_| true).await;
    let mut carol = Player::join(server.addr(), &carol_token).await;
    carol.wait_for("welcome", |_| true).await;
    // Carol walks far away (beyond the view radius of 600).
    let mut last = 0;
    for step in 1..=60 {
        last = carol.move_to(CENTRE - 14.0 * step as f64, CENTRE).await;
    }
    carol
        .wait_for("snapshot", |s| {
            s["ack"].as_u64() >= Some(last) && s["x"].as_f64() <= Some(CENTRE - 800.0)
        })
        .await;

    alice.emit("chat", json!({"text": "hello there"})).await;
    let heard = bob.wait_for("chat", |_| true).await;
    assert_eq!(
        heard,
        json!({"id": alice_id, "name": "alice", "text": "hello there"})
    );
    alice.wait_for("chat", |c| c["text"] == "hello there").await;
    // Carol is out of range: a marker message she can hear proves ordering.
    carol.emit("chat", json!({"text": "anyone?"})).await;
    carol.wait_for("chat", |c| c["text"] == "anyone?").await;
    assert!(!carol
        .events
        .iter()
        .any(|(n, v)| n == "chat" && v["text"] == "hello there"));

    // Invalid chat is ignored, not relayed.
    alice.emit("chat", json!({"text": ""})).await;
    alice.emit("chat", json!({"text": "x".repeat(201)})).await;
    alice.emit("chat", json!({"text": "after"})).await;
    bob.wait_for("chat", |c| c["text"] == "after").await;
    assert_eq!(bob.events.iter().filter(|(n, _)| n == "chat").count(), 2);
    server.stop().await;
}

#[tokio::test]
async fn second_login_kicks_the_first_and_keeps_the_position() {
    let server = LocusServer::start().await;
    let (_, token) = server.account("twin").await;
    let mut first = Player::join(server.addr(), &token).await;
    first.wait_for("welcome", |_| true).await;
    let seq = first.move_to(CENTRE + 12.0, CENTRE + 3.0).await;
    first
        .wait_for("snapshot", |s| {
            s["ack"].as_u64() >= Some(seq) && s["x"] == CENTRE + 12.0
        })
        .await;

    let token2 = server.login("twin", "password1").await;
    let mut second = Player::join(server.addr(), &token2).await;
    let welcome = second.wait_for("welcome", |_| true).await;
    assert_eq!(xy(&welcome), (CENTRE + 12.0, CENTRE + 3.0));
    let kicked = first.wait_for("kicked", |_| true).await;
    assert_eq!(kicked["reason"], "logged in elsewhere");
    first.wait_closed().await;

    // The new connection keeps playing.
    let seq = second.move_to(CENTRE + 20.0, CENTRE + 3.0).await;
    second
        .wait_for("snapshot", |s| s["ack"].as_u64() >= Some(seq))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn logout_disconnects_the_accounts_socket() {
    let server = LocusServer::start().await;
    let (_, token) = server.account("leaver").await;
    let mut p = Player::join(server.addr(), &token).await;
    p.wait_for("welcome", |_| true).await;
    let res = server
        .http
        .post(server.url("/api/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    p.wait_for("kicked", |_| true).await;
    p.wait_closed().await;
    Player::assert_unauthorized(server.addr(), json!({ "token": token })).await;
    server.stop().await;
}

#[tokio::test]
async fn position_is_restored_on_reconnect() {
    let server = LocusServer::start().await;
    let (_, token) = server.account("homebody").await;
    let mut p = Player::join(server.addr(), &token).await;
    p.wait_for("welcome", |_| true).await;
    let seq = p.move_to(CENTRE - 7.5, CENTRE + 4.25).await;
    p.wait_for("snapshot", |s| {
        s["ack"].as_u64() >= Some(seq) && s["x"] == CENTRE - 7.5
    })
    .await;
    p.close().await;

    // Reconnect until the server has processed the disconnect; the welcome
    // position is the stored one either way.
    let mut again = Player::join(server.addr(), &token).await;
    let welcome = again.wait_for("welcome", |_| true).await;
    assert_eq!(xy(&welcome), (CENTRE - 7.5, CENTRE + 4.25));
    server.stop().await;
}

#[tokio::test]
async fn expired_tokens_are_unauthorized() {
    let server = LocusServer::start_with(|c| c.token_ttl = std::time::Duration::ZERO).await;
    let (_, token) = server.account("mayfly").await;
    Player::assert_unauthorized(server.addr(), json!({ "token": token })).await;
    server.stop().await;
}
