//! One server per database file, with real `locus serve` processes: a
//! second server on a file a running one holds exits non-zero at once with
//! one `locus: ...` line naming the file, before touching it; the first
//! keeps answering `/api/health`, a client keeps playing on it, and
//! `locus admin` still works against the held file. After `kill -9` of the
//! first, a new server starts on the same file (no stale lock).

mod support;

use std::time::Duration;

use support::player::Player;
use support::process::{assert_serve_refused, run_locus, LocusProcess};

/// Runs `locus ARGS...` to completion (bounded: a refused server must exit,
/// not serve).
async fn token(server: &LocusProcess, name: &str) -> String {
    server.account(name).await.1
}

async fn assert_healthy(http: &reqwest::Client, server: &LocusProcess) {
    let res = http.get(server.url("/api/health")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the first server stopped answering");
}

/// Joins, moves to (`x`, `y`) and waits for the acknowledging snapshot.
async fn walk_to(token: &str, addr: std::net::SocketAddr, x: f64, y: f64) -> Player {
    let mut player = Player::join(addr, token).await;
    player.wait_for("welcome", |_| true).await;
    let seq = player.move_to(x, y).await;
    player
        .wait_for("snapshot", |s| {
            s["ack"].as_u64() >= Some(seq) && s["x"] == x && s["y"] == y
        })
        .await;
    player
}

#[tokio::test]
async fn second_server_on_a_held_file_is_refused_and_the_first_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("world.db");
    let http = reqwest::Client::new();
    let first = LocusProcess::start(&db, &[]).await;
    let alice = token(&first, "alice").await;
    let mut player = walk_to(&alice, first.addr, 3.0, 4.0).await;

    assert_serve_refused(&db, "in use by another running locus server").await;

    // The first keeps serving: health, the same player keeps moving, a new
    // player joins.
    assert_healthy(&http, &first).await;
    let seq = player.move_to(5.0, 6.0).await;
    player
        .wait_for("snapshot", |s| {
            s["ack"].as_u64() >= Some(seq) && s["x"] == 5.0 && s["y"] == 6.0
        })
        .await;
    let bob = token(&first, "bob").await;
    walk_to(&bob, first.addr, 1.0, 1.0).await.close().await;

    // The admin CLI writes the same file by design and is not locked out.
    let listed = run_locus(&["admin", "users", "--db"], &db).await;
    assert!(
        listed.status.success(),
        "admin refused: {}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(String::from_utf8_lossy(&listed.stdout).contains("alice"));
    let reset = run_locus(&["admin", "reset", "alice", "--to", "9,9", "--db"], &db).await;
    assert!(
        reset.status.success(),
        "admin reset refused: {}",
        String::from_utf8_lossy(&reset.stderr)
    );
    // The running server sees the admin's write: alice is teleported.
    player
        .wait_for("snapshot", |s| s["x"] == 9.0 && s["y"] == 9.0)
        .await;
    player.close().await;
}

#[tokio::test]
async fn a_server_killed_with_sigkill_leaves_no_stale_lock() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("world.db");
    let http = reqwest::Client::new();
    let mut first = LocusProcess::start(&db, &[]).await;
    let carol = token(&first, "carol").await;
    walk_to(&carol, first.addr, 2.0, 2.0).await.close().await;
    first.signal("-KILL").await;
    first.wait_exit(Duration::from_secs(20)).await;

    let next = LocusProcess::start(&db, &[]).await;
    assert_healthy(&http, &next).await;
    // The restarted server serves a new player.
    let dave = token(&next, "dave").await;
    walk_to(&dave, next.addr, 7.0, 7.0).await.close().await;
}
