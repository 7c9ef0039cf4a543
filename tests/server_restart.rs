//! A real `locus serve` process: stopped with SIGTERM and started again, or
//! killed with SIGKILL, the positions come back from the SQLite file and the
//! file stays intact.

mod game_support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use game_support::Player;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A `locus serve` child process and the address it listens on.
struct LocusProcess {
    child: Child,
    addr: std::net::SocketAddr,
}

impl LocusProcess {
    async fn start(db: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_locus"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--flush-interval",
                "200ms",
                "--db",
            ])
            .arg(db)
            .env("LOCUS_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("locus starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap();
                    return addr.parse().unwrap();
                }
            }
            panic!("locus exited before listening");
        })
        .await
        .expect("locus listens within 30 s");
        // Keep draining stderr so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    async fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .await
            .unwrap();
        assert!(status.success());
    }

    async fn wait_exit(mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("exits")
            .unwrap()
    }
}

async fn account(http: &reqwest::Client, server: &LocusProcess, name: &str) -> String {
    let creds = json!({"username": name, "password": "password1"});
    let res = http
        .post(server.url("/api/register"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert!(res.status() == 201 || res.status() == 409);
    let res = http
        .post(server.url("/api/login"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn stored_position(db: &Path, name: &str) -> Option<(f64, f64)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.query_row(
        "SELECT p.x, p.y FROM positions p JOIN accounts a ON a.id = p.account_id WHERE a.username = ?1",
        [name],
        |row| Ok((row.get::<_, f64>(0)?, row.get::<_, f64>(1)?)),
    )
    .ok()
}

fn integrity_check(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
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

#[tokio::test]
async fn sigterm_flushes_positions_and_a_restart_restores_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locus.db");
    let http = reqwest::Client::new();

    let server = LocusProcess::start(&db).await;
    let token = account(&http, &server, "persistent").await;
    let _player = walk_to(&token, server.addr, 2048.0 + 9.5, 2048.0 - 3.25).await;
    server.signal("-TERM").await;
    let status = server.wait_exit().await;
    assert!(status.success(), "graceful exit: {status}");
    assert_eq!(integrity_check(&db), "ok");

    let server = LocusProcess::start(&db).await;
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
    assert!(server.wait_exit().await.success());
}

#[tokio::test]
async fn sigkill_loses_at_most_one_flush_and_never_corrupts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locus.db");
    let http = reqwest::Client::new();

    let server = LocusProcess::start(&db).await;
    let token = account(&http, &server, "crashy").await;
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
    let status = server.wait_exit().await;
    assert!(!status.success());

    assert_eq!(integrity_check(&db), "ok");
    let server = LocusProcess::start(&db).await;
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
    assert!(server.wait_exit().await.success());
}
