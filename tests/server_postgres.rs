//! Real `locus serve` processes on one PostgreSQL database: the later login
//! on another server kicks the earlier one; an admin reset, a revoked token
//! and a deleted account reach a player on either server; PostgreSQL
//! stopped while the world runs (saves retried, `/api/health` failing, the
//! world still playing, everything written once it is back, the pool
//! reconnected); a wrong URL, host, password or database at start is one
//! line and a non-zero exit for `serve` and `admin` alike.

mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::accounts::{self, PASSWORD};
use support::admin::{admin, ok};
use support::pg::{self, OwnInstance, TestDb};
use support::player::Player;
use support::process::LocusProcess;

/// The stored (x, y) of `name`, read straight from the database.
fn stored(db: &TestDb, name: &str) -> Option<(f64, f64)> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_locus"))
        .args(["admin", "--db", &db.url, "users", "--json"])
        .env_remove("LOCUS_DB")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let users: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let user = users.iter().find(|u| u["username"] == name)?;
    if user["placed"] != true {
        return None;
    }
    Some((user["x"].as_f64()?, user["y"].as_f64()?))
}

#[tokio::test]
async fn the_later_login_on_another_server_kicks_the_first() {
    let test = "the_later_login_on_another_server_kicks_the_first";
    let Some(admin_url) = pg::postgres_url(test) else {
        return;
    };
    let db = TestDb::create(&admin_url);
    let a = LocusProcess::start(&db.path(), &[]).await;
    let b = LocusProcess::start(&db.path(), &[]).await;
    let http = reqwest::Client::new();
    let (_, on_a) = a.account("alice").await;
    let mut first = Player::join(a.addr, &on_a).await;
    // "Later" is in the order the servers publish who is online (within a
    // poll, 250 ms): wait until A has published alice.
    let deadline = tokio::time::Instant::now() + support::PATIENCE;
    while !ok(&admin(&db.path(), &["users", "--online", "--json"]).await).contains("alice") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "A never published alice"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The account and its password are shared: log in on B.
    let on_b = accounts::login(&http, &b.url(""), "alice", PASSWORD).await;
    let mut second = Player::join(b.addr, &on_b).await;
    let kicked = first
        .wait_for("kicked", |v| v["reason"] == "logged in elsewhere")
        .await;
    assert_eq!(kicked["reason"], "logged in elsewhere");
    first.wait_closed().await;
    // The later login plays on; a revoke from the CLI reaches it on B.
    second.move_to(2000.0, 2001.0).await;
    ok(&admin(&db.path(), &["revoke-tokens", "alice"]).await);
    second
        .wait_for("kicked", |v| v["reason"] == "tokens revoked")
        .await;
}

#[tokio::test]
async fn resets_and_deletes_reach_players_on_either_server() {
    let test = "resets_and_deletes_reach_players_on_either_server";
    let Some(admin_url) = pg::postgres_url(test) else {
        return;
    };
    let db = TestDb::create(&admin_url);
    let a = LocusProcess::start(&db.path(), &[]).await;
    let b = LocusProcess::start(&db.path(), &[]).await;
    let (_, bob) = a.account("bob").await;
    let (_, carol) = b.account("carol").await;
    let mut bob = Player::join(a.addr, &bob).await;
    let mut carol = Player::join(b.addr, &carol).await;

    ok(&admin(&db.path(), &["reset", "carol", "--to", "10,20"]).await);
    let teleport = carol
        .wait_for("teleport", |v| v["x"] == 10.0 && v["y"] == 20.0)
        .await;
    assert_eq!(teleport["y"], 20.0);
    ok(&admin(&db.path(), &["reset", "--all", "--to", "30,40"]).await);
    bob.wait_for("teleport", |v| v["x"] == 30.0).await;
    carol.wait_for("teleport", |v| v["x"] == 30.0).await;

    ok(&admin(&db.path(), &["delete-user", "bob", "--yes"]).await);
    bob.wait_for("kicked", |v| v["reason"] == "account deleted")
        .await;
    // Both servers list who is online, for the CLI.
    let out = ok(&admin(&db.path(), &["users", "--online", "--json"]).await);
    assert!(out.contains("carol") && !out.contains("bob"), "{out}");
}

#[tokio::test]
async fn postgres_stopped_while_the_world_runs_then_back() {
    let test = "postgres_stopped_while_the_world_runs_then_back";
    if pg::postgres_url(test).is_none() {
        return;
    }
    let Some(instance) = OwnInstance::start(test) else {
        return;
    };
    let db = TestDb::create(&instance.url);
    let server = LocusProcess::start(&db.path(), &["--flush-interval", "200ms"]).await;
    let http = reqwest::Client::new();
    let health = |http: reqwest::Client, url: String| async move {
        let v: Value = http.get(url).send().await.unwrap().json().await.unwrap();
        v["persistence"].as_str().unwrap().to_owned()
    };
    let (_, token) = server.account("dora").await;
    let mut dora = Player::join(server.addr, &token).await;
    assert_eq!(health(http.clone(), server.url("/api/health")).await, "ok");

    instance.stop();
    // The world keeps running: moves are answered by snapshots.
    let mut x = 2048.0;
    let mut failing = false;
    for _ in 0..100 {
        x += 5.0;
        dora.move_to(x, 2048.0).await;
        dora.wait_for("snapshot", |_| true).await;
        if health(http.clone(), server.url("/api/health")).await == "failing" {
            failing = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(failing, "health never said failing");
    dora.move_to(x + 5.0, 2048.0).await;
    dora.wait_for("snapshot", |_| true).await;
    let last_x = x + 5.0;

    instance.start_again();
    let mut back = false;
    for _ in 0..100 {
        if health(http.clone(), server.url("/api/health")).await == "ok" {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "health never came back to ok");
    // Everything kept in memory was written, and the pool serves logins
    // again without a restart of the server.
    let stored = stored(&db, "dora").expect("dora's position is stored");
    assert!((stored.0 - last_x).abs() < 1e-6, "{stored:?} vs {last_x}");
    accounts::login(&http, &server.url(""), "dora", PASSWORD).await;
}

#[tokio::test]
async fn a_wrong_url_host_password_or_database_is_one_line_and_exit_non_zero() {
    let test = "a_wrong_url_host_password_or_database_is_one_line_and_exit_non_zero";
    let Some(admin_url) = pg::postgres_url(test) else {
        return;
    };
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cases = [
        (
            "postgres://locus:pw-secret@127.0.0.1:notaport/x".to_owned(),
            "invalid PostgreSQL URL",
        ),
        (
            format!("postgres://locus:pw-secret@127.0.0.1:{free_port}/x"),
            "cannot connect to PostgreSQL",
        ),
        (
            admin_url.replacen("locus:locus@", "locus:pw-secret@", 1),
            "password authentication failed",
        ),
        (
            pg::with_dbname(&admin_url, "locus_missing_db"),
            "does not exist",
        ),
    ];
    for (url, needle) in cases {
        for args in [
            vec!["serve", "--listen", "127.0.0.1:0", "--db", &url],
            vec!["admin", "--db", &url, "users"],
        ] {
            let out = tokio::time::timeout(
                Duration::from_secs(60),
                tokio::process::Command::new(env!("CARGO_BIN_EXE_locus"))
                    .args(&args)
                    .env_remove("LOCUS_DB")
                    .env("LOCUS_LOG", "warn")
                    .stdin(Stdio::null())
                    .output(),
            )
            .await
            .expect("exits instead of hanging")
            .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} succeeded");
            assert!(stderr.contains(needle), "{args:?}: {stderr}");
            assert!(!stderr.contains("pw-secret"), "password shown: {stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
            let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            assert!(lines.len() <= 2, "one clear line: {stderr}");
        }
    }
    assert!(!pg::database_exists(&admin_url, "locus_missing_db"));
}
