//! Shared helpers for the fault tests (`tests/faults_*.rs`): a real
//! `locus serve` child process, bot accounts created straight in the
//! database, read-only looks at the SQLite file, and a small raw Socket.IO
//! client that walks a player and records everything it saw and how its
//! connection ended. Owns nothing of the server; talks to it only as a
//! client or through the database file.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::{SinkExt, StreamExt};
use locus::store::{AdminStore, BotAccount, StoreConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

/// Locks ignoring poisoning (a panicking client task must not hide data).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A `locus serve` child process, the address it listens on, and every line
/// it wrote to stderr so far.
pub struct LocusProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// Drains stderr into `stderr` until the process closes it.
    drain: Option<tokio::task::JoinHandle<()>>,
}

impl LocusProcess {
    /// Starts `locus serve --listen 127.0.0.1:0 --db DB EXTRA...` and waits
    /// for "listening on http://ADDR" (panics if it exits first).
    pub async fn start(db: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_locus"))
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(extra)
            .env("LOCUS_LOG", "info")
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
            drain: Some(drain),
        }
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

/// A bot account made straight in the database: (name, token).
#[derive(Debug, Clone)]
pub struct Bot {
    pub name: String,
    pub token: String,
}

/// Creates `count` bot accounts named `{prefix}{i}` with one fresh token each,
/// in the (existing) database at `db`; works while the server runs.
pub fn make_bots(db: &Path, prefix: &str, count: usize) -> Vec<Bot> {
    let mut admin =
        AdminStore::open_existing(db, &StoreConfig::default()).expect("database opens for admin");
    let mut bots = Vec::with_capacity(count);
    let mut rows = Vec::with_capacity(count);
    for i in 0..count {
        let issued = locus::auth::token::issue(SystemTime::now(), Duration::from_secs(24 * 3600));
        let name = format!("{prefix}{i}");
        rows.push(BotAccount {
            username: name.clone(),
            // Bots play with their token only.
            password_phc: locus::admin::BOT_PASSWORD_PHC.to_owned(),
            token_hash: issued.hash,
            expires_at: issued.expires_at,
        });
        bots.push(Bot {
            name,
            token: issued.token,
        });
    }
    admin.create_bots(&rows).expect("bots created");
    bots
}

/// Every stored position by username, read through a read-only connection
/// (what any other process would see committed).
pub fn stored_positions(db: &Path) -> HashMap<String, (f64, f64)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("db opens read-only");
    let mut stmt = conn
        .prepare(
            "SELECT a.username, p.x, p.y FROM positions p JOIN accounts a ON a.id = p.account_id",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                (row.get::<_, f64>(1)?, row.get::<_, f64>(2)?),
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// `PRAGMA integrity_check` of the file (recovers a left-over WAL first, as
/// the next server start would).
pub fn integrity_check(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

/// How a client's connection ended.
#[derive(Debug, Default, Clone)]
pub struct Ending {
    /// A Socket.IO DISCONNECT (`41`) arrived.
    pub sio_disconnect: bool,
    /// An Engine.IO close packet (`1`) arrived.
    pub eio_close: bool,
    /// A WebSocket close frame arrived, with this code.
    pub ws_close: Option<u16>,
    /// The connection ended with an error (reset) instead.
    pub error: Option<String>,
    /// A CONNECT_ERROR (`44`) refused the connection, with this payload.
    pub refused: Option<String>,
    /// The close frame's reason text.
    pub close_reason: String,
    /// Frames received before the end (only while not yet in the world).
    pub early_frames: Vec<String>,
}

impl Ending {
    /// A clean close: a close frame or a protocol-level disconnect.
    pub fn clean(&self) -> bool {
        self.ws_close.is_some() || self.sio_disconnect || self.eio_close
    }
}

/// What one walking client saw.
#[derive(Debug, Default)]
pub struct Track {
    /// The `welcome` position.
    pub welcome: Option<(f64, f64)>,
    /// Every snapshot: (tick, x, y, ack).
    pub snapshots: Vec<(u64, f64, f64, u64)>,
    /// Every target sent, with its seq: (seq, x, y).
    pub targets: Vec<(u64, f64, f64)>,
    /// Set once the connection ended.
    pub ending: Option<Ending>,
    /// When the connection ended.
    pub ended_at: Option<Instant>,
}

impl Track {
    /// The last position the server reported.
    pub fn last_position(&self) -> Option<(f64, f64)> {
        self.snapshots.last().map(|s| (s.1, s.2)).or(self.welcome)
    }
}

/// How a client moves once in the world.
#[derive(Debug, Clone, Copy)]
pub enum Walk {
    /// Keep stepping by (dx, dy) each time the last target is reached.
    Steps {
        dx: f64,
        dy: f64,
        until: Option<Instant>,
    },
    /// Go to welcome + (dx, dy) once, then idle (answering pings).
    Once { dx: f64, dy: f64 },
}

/// Connects with `token`, walks as told, and records into `track` until the
/// server ends the connection. Never panics on a dead server: the ending is
/// recorded instead. `joined` is told once `welcome` arrived.
pub async fn play(
    addr: SocketAddr,
    token: String,
    walk: Walk,
    track: Arc<Mutex<Track>>,
    joined: Option<tokio::sync::mpsc::UnboundedSender<()>>,
) {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = match tokio_tungstenite::connect_async(url).await {
        Ok(ok) => ok,
        Err(e) => {
            let mut t = lock(&track);
            t.ending = Some(Ending {
                error: Some(format!("connect: {e}")),
                ..Ending::default()
            });
            t.ended_at = Some(Instant::now());
            return;
        }
    };
    let mut seq = 0u64;
    let mut target: Option<(f64, f64)> = None;
    let mut ending = Ending::default();
    let mut connected = false;
    loop {
        let frame = match ws.next().await {
            None => break,
            Some(Err(e)) => {
                ending.error = Some(e.to_string());
                break;
            }
            Some(Ok(frame)) => frame,
        };
        let text = match frame {
            Message::Text(t) => t.to_string(),
            Message::Close(frame) => {
                ending.close_reason = frame
                    .as_ref()
                    .map(|f| f.reason.to_string())
                    .unwrap_or_default();
                ending.ws_close = Some(frame.map_or(1005, |f| u16::from(f.code)));
                // Finish the closing handshake like a real client.
                while let Some(Ok(_)) = ws.next().await {}
                break;
            }
            _ => continue,
        };
        if lock(&track).welcome.is_none() && ending.early_frames.len() < 8 {
            ending.early_frames.push(text.chars().take(200).collect());
        }
        if text.starts_with('0') && !connected {
            connected = true;
            let _ = ws
                .send(Message::text(format!("40{}", json!({ "token": token }))))
                .await;
            continue;
        }
        if text == "2" {
            let _ = ws.send(Message::text("3")).await;
            continue;
        }
        if text == "1" {
            ending.eio_close = true;
            continue;
        }
        if let Some(reason) = text.strip_prefix("44") {
            ending.refused = Some(reason.to_owned());
            continue;
        }
        if text.starts_with("41") {
            ending.sio_disconnect = true;
            continue;
        }
        let Some(body) = text.strip_prefix("42") else {
            continue;
        };
        let Ok(Value::Array(args)) = serde_json::from_str::<Value>(body) else {
            continue;
        };
        let name = args
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let data = args.get(1).cloned().unwrap_or(Value::Null);
        let (here, ack) = match name.as_str() {
            "welcome" => {
                let here = (data["x"].as_f64().unwrap(), data["y"].as_f64().unwrap());
                lock(&track).welcome = Some(here);
                if let Some(joined) = &joined {
                    let _ = joined.send(());
                }
                (here, seq)
            }
            "snapshot" => {
                let here = (data["x"].as_f64().unwrap(), data["y"].as_f64().unwrap());
                let ack = data["ack"].as_u64().unwrap_or(0);
                lock(&track).snapshots.push((
                    data["tick"].as_u64().unwrap_or(0),
                    here.0,
                    here.1,
                    ack,
                ));
                (here, ack)
            }
            _ => continue,
        };
        let arrived = target.is_none_or(|t| ack == seq && here == t);
        let next = match walk {
            Walk::Steps { dx, dy, until }
                if arrived && until.is_none_or(|u| Instant::now() < u) =>
            {
                Some((here.0 + dx, here.1 + dy))
            }
            Walk::Once { dx, dy } if target.is_none() => Some((here.0 + dx, here.1 + dy)),
            _ => None,
        };
        if let Some(next) = next {
            seq += 1;
            target = Some(next);
            lock(&track).targets.push((seq, next.0, next.1));
            let packet = format!(
                "42{}",
                json!(["position", {"x": next.0, "y": next.1, "seq": seq}])
            );
            if ws.send(Message::text(packet)).await.is_err() {
                break;
            }
        }
    }
    let mut t = lock(&track);
    t.ending = Some(ending);
    t.ended_at = Some(Instant::now());
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
