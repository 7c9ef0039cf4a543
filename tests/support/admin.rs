//! Running the real `locus admin` binary against a database file, with or
//! without standard input, and checking how it answered (success, or one
//! clear line on stderr).

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

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
        match pipe.write_all(input.as_bytes()).await {
            // A command that refuses its arguments exits before it reads
            // its input: the pipe is then closed, and its output is what
            // the test checks.
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
            written => written.expect("locus admin's standard input takes the text"),
        }
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
