//! Persistence failing during play: a full disk (a real ENOSPC from a tiny
//! tmpfs mounted by the test; CI runs as root) and a read-only database
//! (`Store::inject_write_fault(WriteFault::ReadOnly)`, SQLITE_READONLY on
//! every write). In both: the failure is logged and shown by `/metrics`
//! (`locus_persistence_failing 1`, `locus_persistence_flush_failures_total`)
//! and `/api/health` (`"persistence":"failing"`), the world keeps sending
//! snapshots, the file never holds a half-written batch, and saves resume
//! once the fault is gone.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use locus::store::WriteFault;
use serde_json::Value;
use support::db::{integrity_check, make_bots, stored_positions, Bot};
use support::lock;
use support::server::LocusServer;
use support::walker::{play, Track, Walk};

const PATIENCE: Duration = Duration::from_secs(30);

/// Every log line of the process, for "the failure is logged".
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&LOG).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_writer(|| LogWriter)
        .with_ansi(false)
        .with_env_filter("locus=warn")
        .try_init();
}

fn logged(text: &str) -> bool {
    String::from_utf8_lossy(&lock(&LOG)).contains(text)
}

/// A tmpfs of `size` mounted on a fresh directory, lazily unmounted on drop.
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount(size: &str) -> Option<TinyDisk> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(TinyDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the free space with a file; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xA5u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.flush();
        path
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

async fn get_text(addr: std::net::SocketAddr, path: &str) -> String {
    reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `(persistence, failing gauge, failures total)` from the health and
/// metrics endpoints.
async fn persistence_state(addr: std::net::SocketAddr) -> (String, i64, u64) {
    let health: Value = serde_json::from_str(&get_text(addr, "/api/health").await).unwrap();
    let metrics = get_text(addr, "/metrics").await;
    let value = |name: &str| -> Option<f64> {
        metrics.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|v| v.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
    };
    let failing =
        value("locus_persistence_failing").expect("locus_persistence_failing in /metrics") as i64;
    let failures = value("locus_persistence_flush_failures_total")
        .expect("locus_persistence_flush_failures_total in /metrics") as u64;
    (
        health["persistence"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        failing,
        failures,
    )
}

async fn eventually_state(
    addr: std::net::SocketAddr,
    what: &str,
    wanted: impl Fn(&(String, i64, u64)) -> bool,
) -> (String, i64, u64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let state = persistence_state(addr).await;
        if wanted(&state) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: persistence state stuck at {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The in-process server on `db` with a short flush interval, and walking
/// bots.
async fn play_on(db: &Path) -> (LocusServer, Vec<Bot>, Vec<Arc<Mutex<Track>>>) {
    let server = LocusServer::start_with(|c| {
        c.db = db.to_path_buf();
        c.flush_interval = Duration::from_millis(100);
    })
    .await;
    let bots = make_bots(db, "walker", 2);
    let mut tracks = Vec::new();
    for bot in &bots {
        let track = Arc::new(Mutex::new(Track::default()));
        tokio::spawn(play(
            server.addr(),
            bot.token.clone(),
            Walk::Steps {
                dx: 4.0,
                dy: 2.0,
                until: None,
            },
            track.clone(),
            None,
        ));
        tracks.push(track);
    }
    (server, bots, tracks)
}

/// Waits until the file holds a position for every bot; returns them.
async fn eventually_stored(
    db: &Path,
    bots: &[Bot],
    newer_than: Option<&std::collections::HashMap<String, (f64, f64)>>,
) -> std::collections::HashMap<String, (f64, f64)> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stored = stored_positions(db);
        let ok = bots.iter().all(|b| {
            match (stored.get(&b.name), newer_than.and_then(|n| n.get(&b.name))) {
                (Some(now), Some(before)) => now.0 > before.0,
                (Some(_), None) => true,
                _ => false,
            }
        });
        if ok {
            return stored;
        }
        assert!(
            Instant::now() < deadline,
            "positions not written: {stored:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn snapshots(tracks: &[Arc<Mutex<Track>>]) -> usize {
    tracks.iter().map(|t| lock(t).snapshots.len()).sum()
}

/// While the fault lasts: the world runs on (snapshots keep coming) and
/// the file keeps a whole, earlier position of each player.
async fn world_runs_and_file_is_whole(db: &Path, bots: &[Bot], tracks: &[Arc<Mutex<Track>>]) {
    let before = snapshots(tracks);
    let deadline = Instant::now() + PATIENCE;
    while snapshots(tracks) < before + 20 {
        assert!(
            Instant::now() < deadline,
            "the world stopped sending snapshots"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = stored_positions(db);
    for (bot, track) in bots.iter().zip(tracks) {
        let track = lock(track);
        let at = stored[&bot.name];
        assert!(
            track.welcome == Some(at) || track.snapshots.iter().any(|s| (s.1, s.2) == at),
            "{}: stored {at:?} is not a position it had",
            bot.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_during_play_is_reported_and_saves_resume() {
    capture_logs();
    let Some(disk) = TinyDisk::mount("1m") else {
        panic!("cannot mount a tmpfs (not root?): this test needs a real full disk");
    };
    let db = disk.path().join("locus.db");
    let (server, bots, tracks) = play_on(&db).await;
    let addr = server.addr();
    let first = eventually_stored(&db, &bots, None).await;
    assert_eq!(persistence_state(addr).await.0, "ok");

    let filler = disk.fill();
    let (_, _, failures) = eventually_state(addr, "disk full", |s| {
        s.0 == "failing" && s.1 == 1 && s.2 >= 1
    })
    .await;
    assert!(failures >= 1);
    world_runs_and_file_is_whole(&db, &bots, &tracks).await;
    assert!(
        logged("position batch rolled back"),
        "the failure is logged: {}",
        String::from_utf8_lossy(&lock(&LOG))
    );
    assert!(logged("full"), "the log names the cause");

    std::fs::remove_file(&filler).unwrap();
    eventually_state(addr, "space back", |s| s.0 == "ok" && s.1 == 0).await;
    let during = stored_positions(&db);
    eventually_stored(&db, &bots, Some(&during)).await;
    assert!(stored_positions(&db)[&bots[0].name].0 > first[&bots[0].name].0);
    server
        .server
        .shutdown()
        .await
        .expect("clean shutdown with space back");
    assert_eq!(integrity_check(&db), "ok");
    eprintln!("disk full on a real 1 MiB tmpfs: persistence failed ({failures}+ failed flushes), world ran on, saves resumed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_database_during_play_is_reported_and_saves_resume() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locus.db");
    let (server, bots, tracks) = play_on(&db).await;
    let addr = server.addr();
    eventually_stored(&db, &bots, None).await;

    server
        .server
        .store()
        .inject_write_fault(WriteFault::ReadOnly)
        .await
        .unwrap();
    let (_, _, failures) = eventually_state(addr, "read-only", |s| {
        s.0 == "failing" && s.1 == 1 && s.2 >= 1
    })
    .await;
    world_runs_and_file_is_whole(&db, &bots, &tracks).await;
    assert!(
        logged("read-only"),
        "the log names the cause: {}",
        String::from_utf8_lossy(&lock(&LOG))
    );

    server
        .server
        .store()
        .inject_write_fault(WriteFault::None)
        .await
        .unwrap();
    eventually_state(addr, "writable again", |s| s.0 == "ok" && s.1 == 0).await;
    let during = stored_positions(&db);
    eventually_stored(&db, &bots, Some(&during)).await;
    server.stop().await;
    assert_eq!(integrity_check(&db), "ok");
    eprintln!("read-only database: {failures}+ failed flushes reported, saves resumed");
}
