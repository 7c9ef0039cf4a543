//! [`LocusProcess`]: a real `locus serve` child process on 127.0.0.1:0
//! for the tests that stop, kill and restart the server: start and wait
//! until it listens, send SIGTERM / SIGKILL, wait for the exit, start again
//! on the same database, and every line it wrote to stderr. Also this test
//! process's own file descriptors and memory, for leak checks. Talks to
//! the server only as a client would (accounts through [`super::accounts`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{accounts, lock};

/// A `locus serve` child process, the address it listens on, and every line
/// it wrote to stderr so far.
pub struct LocusProcess {
    /// The child; killed when this is dropped.
    pub child: Child,
    /// Where it listens (read from its "listening on" line).
    pub addr: SocketAddr,
    /// Every stderr line so far.
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// The database file, for [`Self::start_again`].
    pub db: PathBuf,
    /// The extra `serve` arguments, for [`Self::start_again`].
    extra: Vec<String>,
    /// Drains stderr into `stderr` until the process closes it.
    drain: Option<tokio::task::JoinHandle<()>>,
}

impl LocusProcess {
    /// Starts `locus serve --listen 127.0.0.1:0 --db DB EXTRA...` and waits
    /// for "listening on http://ADDR" (panics if it exits first).
    pub async fn start(db: &Path, extra: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", db, extra).await
    }

    /// [`Self::start`] listening on `listen` (a cluster node must know its
    /// port before it starts, for its `--public-url`).
    pub async fn start_on(listen: &str, db: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_locus"))
            .args(["serve", "--listen", listen, "--db"])
            .arg(db)
            .args(extra)
            // The cluster's handoffs at debug: a failed cluster test prints them.
            .env("LOCUS_LOG", "info,locus::cluster=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("locus starts");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let seen = stderr.clone();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                lock(&seen).push(line.clone());
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap();
                    return addr.parse().unwrap();
                }
            }
            panic!("locus exited before listening: {:?}", lock(&seen));
        })
        .await
        .expect("locus listens within 60 s");
        // Keep draining stderr so the child never blocks on a full pipe.
        let seen = stderr.clone();
        let drain = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                lock(&seen).push(line);
            }
        });
        Self {
            child,
            addr,
            stderr,
            db: db.to_owned(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            drain: Some(drain),
        }
    }

    /// Starts another process on the same database with the same
    /// arguments (the caller has stopped this one).
    pub async fn start_again(&self) -> Self {
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        Self::start(&self.db, &extra).await
    }

    /// Registers `username` over HTTP and logs in; returns (account id, token).
    pub async fn account(&self, username: &str) -> (u64, String) {
        accounts::account(&reqwest::Client::new(), &self.url(""), username).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Sends `signal` (e.g. "-TERM") with kill(1).
    pub async fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal).await;
    }

    /// Waits for the process to exit, at most `patience`.
    /// (and for its last stderr lines to be read).
    pub async fn wait_exit(&mut self, patience: Duration) -> ExitStatus {
        let status = tokio::time::timeout(patience, self.child.wait())
            .await
            .expect("locus exits in time")
            .unwrap();
        if let Some(drain) = self.drain.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
        }
        status
    }

    /// Every stderr line so far, one per line.
    pub fn log(&self) -> String {
        lock(&self.stderr).join("\n")
    }

    /// Whether a stderr line so far contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        lock(&self.stderr).iter().any(|l| l.contains(text))
    }
}

pub async fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// The process's open file descriptors (Linux).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The process's resident set size in KiB (Linux `VmRSS`).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs `locus ARGS... DB` to completion (bounded by a generous minute) and
/// returns its output; for commands that are expected to exit by themselves
/// (`admin ...`, or a `serve` that must refuse to start).
pub async fn run_locus(args: &[&str], db: &Path) -> std::process::Output {
    tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(env!("CARGO_BIN_EXE_locus"))
            .args(args)
            .arg(db)
            .env("LOCUS_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("locus exits instead of serving")
    .unwrap()
}

/// Runs `locus serve` on `db` and checks that it refuses to start: a
/// non-zero exit, no panic, never listening, and exactly one `locus: ...`
/// line on stderr that names the file and contains `expect`. Returns that
/// line.
pub async fn assert_serve_refused(db: &Path, expect: &str) -> String {
    let output = run_locus(&["serve", "--listen", "127.0.0.1:0", "--db"], db).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "locus served {}: {stderr}",
        db.display()
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(
        !stderr.contains("listening on"),
        "served a refused file: {stderr}"
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("locus: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line expected: {stderr}");
    let line = errors[0];
    assert!(
        line.contains(&db.display().to_string()),
        "the message names the file: {line}"
    );
    assert!(line.contains(expect), "expected `{expect}` in: {line}");
    eprintln!("{line}");
    line.to_owned()
}
