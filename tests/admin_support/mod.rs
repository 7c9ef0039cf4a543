//! Shared helpers for the `locus admin` tests: run the real binary against a
//! database file, read that file directly, and wait for a condition on it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How long a test waits for a condition before failing.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Runs `locus admin --db DB ARGS...` with no standard input.
pub async fn admin(db: &Path, args: &[&str]) -> Output {
    admin_with_stdin(db, args, None).await
}

/// Runs `locus admin --db DB ARGS...`, writing `stdin` (then closing it).
pub async fn admin_with_stdin(db: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_locus"))
        .arg("admin")
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("LOCUS_DB")
        .env_remove("LOCUS_WORLD_SIZE")
        .env_remove("LOCUS_LOG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("locus admin starts");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
        drop(pipe);
    }
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("locus admin finishes")
        .unwrap()
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the command succeeded; returns its standard output.
pub fn ok(out: &Output) -> String {
    assert!(out.status.success(), "locus admin failed: {}", stderr(out));
    stdout(out)
}

/// Asserts the command failed with exactly one line on stderr containing
/// `needle`.
pub fn refused(out: &Output, needle: &str) {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "expected a failure, got success: {}",
        stdout(out)
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line on stderr: {err:?}"
    );
    assert!(
        err.contains(needle),
        "stderr {err:?} should mention {needle:?}"
    );
}

/// A read-only connection to the database (the test reads, never writes).
pub fn read_db(db: &Path) -> rusqlite::Connection {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

/// The stored position and reset epoch of `name`, if placed.
pub fn stored(db: &Path, name: &str) -> Option<(f64, f64, i64)> {
    use rusqlite::OptionalExtension;
    read_db(db)
        .query_row(
            "SELECT p.x, p.y, p.reset_epoch FROM positions p JOIN accounts a ON a.id = p.account_id WHERE a.username = ?1",
            [name],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .unwrap()
}

/// Waits until `check` holds, polling every 50 ms, at most [`PATIENCE`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Async variant of [`eventually`].
pub async fn eventually_async<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
