//! A real `locus serve` process: stopped with SIGTERM and started again, or
//! killed with SIGKILL, the positions come back from the database, and a
//! SQLite file stays intact. Each test runs on both backends.

mod support;

use std::time::Duration;

use support::db::{integrity_check, stored_position};
use support::pg::{Backend, BackendDb};
use support::player::Player;
use support::process::LocusProcess;

/// How long the server may take to exit after a signal.
const EXIT_PATIENCE: Duration = Duration::from_secs(20);

/// `locus serve` with a short flush interval, on `db`.
async fn start(db: &std::path::Path) -> LocusProcess {
    LocusProcess::start(db, &["--flush-interval", "200ms"]).await
}

async fn walk_to(token: &str, addr: std::net::SocketAddr, x: f64, y: f64) -> Player {
    let mut p = Player::join(addr, token).await;
    p.wait_for("welcome", |_| true).await;
    let seq = p.move_to(x, y).await;
    p.wait_for("snapshot", |s| {
        s["ack"].as_u64() >= Some(seq) && s["x"] == x && s["y"] == y
    })
    .await;
    p
}

both_backends!(
    sigterm_flushes_positions_and_a_restart_restores_them,
    sigkill_loses_at_most_one_flush_and_never_corrupts,
);

/// `PRAGMA integrity_check` of a SQLite file; PostgreSQL keeps its own
/// (its transactions never leave a half-written row).
fn assert_intact(db: &BackendDb) {
    if db.backend == Backend::Sqlite {
        assert_eq!(integrity_check(&db.path), "ok");
    }
}

async fn sigterm_flushes_positions_and_a_restart_restores_them(backend: Backend) {
    let test = "sigterm_flushes_positions_and_a_restart_restores_them";
    let Some(dir) = BackendDb::new(backend, test) else {
        return;
    };
    let db = dir.path.clone();

    let mut server = start(&db).await;
    let (_, token) = server.account("persistent").await;
    let _player = walk_to(&token, server.addr, 2048.0 + 9.5, 2048.0 - 3.25).await;
    server.signal("-TERM").await;
    let status = server.wait_exit(EXIT_PATIENCE).await;
    assert!(status.success(), "graceful exit: {status}");
    assert_intact(&dir);

    let mut server = server.start_again().await;
    let mut again = Player::join(server.addr, &token).await;
    let welcome = again.wait_for("welcome", |_| true).await;
    assert_eq!(
        (
            welcome["x"].as_f64().unwrap(),
            welcome["y"].as_f64().unwrap()
        ),
        (2048.0 + 9.5, 2048.0 - 3.25)
    );
    server.signal("-TERM").await;
    assert!(server.wait_exit(EXIT_PATIENCE).await.success());
}

async fn sigkill_loses_at_most_one_flush_and_never_corrupts(backend: Backend) {
    let test = "sigkill_loses_at_most_one_flush_and_never_corrupts";
    let Some(dir) = BackendDb::new(backend, test) else {
        return;
    };
    let db = dir.path.clone();

    let mut server = start(&db).await;
    let (_, token) = server.account("crashy").await;
    let _player = walk_to(&token, server.addr, 2048.0 + 14.0, 2048.0).await;
    // The write-behind lands within a flush interval (200 ms here): wait for
    // it to be visible in the file, then kill the process without warning.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stored_position(&db, "crashy") != Some((2048.0 + 14.0, 2048.0)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "position never written: {:?}",
            stored_position(&db, "crashy")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.signal("-KILL").await;
    let status = server.wait_exit(EXIT_PATIENCE).await;
    assert!(!status.success());

    assert_intact(&dir);
    let mut server = server.start_again().await;
    let mut again = Player::join(server.addr, &token).await;
    let welcome = again.wait_for("welcome", |_| true).await;
    assert_eq!(
        (
            welcome["x"].as_f64().unwrap(),
            welcome["y"].as_f64().unwrap()
        ),
        (2048.0 + 14.0, 2048.0)
    );
    server.signal("-TERM").await;
    assert!(server.wait_exit(EXIT_PATIENCE).await.success());
}
