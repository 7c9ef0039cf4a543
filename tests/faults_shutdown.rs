//! Stopping a real `locus serve` with players connected: SIGTERM with 1,000
//! WebSocket clients closes every one cleanly (close frame or Socket.IO
//! disconnect), saves every position and exits 0; a second signal during
//! the shutdown exits at once and leaves a consistent database.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::db::{integrity_check, make_bots, stored_positions, Bot};
use support::lock;
use support::process::LocusProcess;
use support::walker::{play, Track, Walk};

/// Connects `bots` (100 at a time), each walking to its own spot near the
/// spawn point; returns once all have arrived, with their tracks.
async fn crowd(server: &LocusProcess, bots: &[Bot]) -> Vec<Arc<Mutex<Track>>> {
    let (joined_tx, mut joined) = tokio::sync::mpsc::unbounded_channel();
    let mut tracks = Vec::new();
    for (i, bot) in bots.iter().enumerate() {
        let track = Arc::new(Mutex::new(Track::default()));
        // Distinct small offsets, all within one tick's step.
        let walk = Walk::Once {
            dx: 1.0 + (i % 10) as f64,
            dy: 1.0 + (i / 10 % 10) as f64,
        };
        tokio::spawn(play(
            server.addr,
            bot.token.clone(),
            walk,
            track.clone(),
            Some(joined_tx.clone()),
        ));
        tracks.push(track);
        if i % 100 == 99 {
            for _ in 0..100 {
                if tokio::time::timeout(Duration::from_secs(60), joined.recv())
                    .await
                    .is_err()
                {
                    let joined = tracks.iter().filter(|t| lock(t).welcome.is_some()).count();
                    let ended: Vec<_> = tracks
                        .iter()
                        .filter_map(|t| lock(t).ending.clone())
                        .take(3)
                        .collect();
                    let log = lock(&server.stderr)
                        .iter()
                        .rev()
                        .take(8)
                        .cloned()
                        .collect::<Vec<_>>();
                    let no_welcome: Vec<_> = tracks
                        .iter()
                        .filter(|t| lock(t).welcome.is_none())
                        .map(|t| lock(t).ending.clone())
                        .take(3)
                        .collect();
                    panic!("{joined} of {} bots joined; endings: {ended:?}; without welcome: {no_welcome:?}; log: {log:#?}", tracks.len());
                }
            }
        }
    }
    for _ in 0..bots.len() % 100 {
        tokio::time::timeout(Duration::from_secs(60), joined.recv())
            .await
            .expect("bots join")
            .unwrap();
    }
    // Everyone reached its spot (the snapshot acknowledging its move).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let arrived = tracks
            .iter()
            .filter(|t| {
                let t = lock(t);
                t.targets
                    .first()
                    .is_some_and(|target| t.last_position() == Some((target.1, target.2)))
            })
            .count();
        if arrived == bots.len() {
            return tracks;
        }
        assert!(
            Instant::now() < deadline,
            "only {arrived} of {} bots arrived",
            bots.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `locus serve` on `db` without per-IP limits, flushing every `flush`,
/// with `clients` bots connected and walked to their spots.
async fn crowded_server(
    db: &std::path::Path,
    flush: &str,
    clients: usize,
) -> (LocusProcess, Vec<Bot>, Vec<Arc<Mutex<Track>>>) {
    let server = LocusProcess::start(
        db,
        &[
            "--max-connections-per-ip",
            "0",
            "--handshake-rate",
            "0",
            "--flush-interval",
            flush,
        ],
    )
    .await;
    let bots = make_bots(db, "crowd", clients);
    let tracks = crowd(&server, &bots).await;
    (server, bots, tracks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_1000_clients_closes_each_saves_all_and_exits_0() {
    const CLIENTS: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locus.db");
    // Long flush interval: the positions must come from the shutdown's
    // final save, not from the periodic write-behind.
    let (mut server, bots, tracks) = crowded_server(&db, "1h", CLIENTS).await;
    assert!(
        stored_positions(&db).is_empty(),
        "nothing written before the shutdown"
    );

    let signalled = Instant::now();
    server.signal("-TERM").await;
    let status = server.wait_exit(Duration::from_secs(60)).await;
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status}");

    // Every client saw a clean close.
    let deadline = Instant::now() + Duration::from_secs(30);
    while tracks.iter().any(|t| lock(t).ending.is_none()) {
        assert!(
            Instant::now() < deadline,
            "some clients never saw their connection end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut close_frames = 0;
    let mut disconnects = 0;
    for (bot, track) in bots.iter().zip(&tracks) {
        let ending = lock(track).ending.clone().unwrap();
        assert!(ending.clean(), "{}: no clean close: {ending:?}", bot.name);
        close_frames += usize::from(ending.ws_close.is_some());
        disconnects += usize::from(ending.sio_disconnect);
    }

    // The database was closed cleanly: WAL checkpointed and removed.
    assert!(
        !dir.path().join("locus.db-wal").exists(),
        "WAL left behind after a clean stop"
    );
    // Every position saved.
    assert_eq!(integrity_check(&db), "ok");
    let stored = stored_positions(&db);
    for (bot, track) in bots.iter().zip(&tracks) {
        assert_eq!(
            stored.get(&bot.name).copied(),
            lock(track).last_position(),
            "{} not saved",
            bot.name
        );
    }
    eprintln!(
        "SIGTERM with {CLIENTS} clients: exit 0 after {took:?}; {close_frames} WebSocket close frames, {disconnects} Socket.IO disconnects; {} positions saved",
        stored.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_during_shutdown_exits_at_once_consistently() {
    const CLIENTS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locus.db");
    let (mut server, _bots, _tracks) = crowded_server(&db, "100ms", CLIENTS).await;
    // A client that completes the WebSocket handshake and then never reads
    // again holds the shutdown in its close handshake (close timeout), so the
    // second signal lands while the server is still stopping.
    let stuck = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    stuck.writable().await.unwrap();
    stuck.try_write(request.as_bytes()).unwrap();

    server.signal("-TERM").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.logged("closing every session") {
        assert!(Instant::now() < deadline, "no shutdown log line");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let second = Instant::now();
    server.signal("-INT").await;
    let status = server.wait_exit(Duration::from_secs(30)).await;
    let took = second.elapsed();
    assert_eq!(
        status.code(),
        Some(130),
        "the second signal's exit: {status}"
    );
    assert!(server.logged("second signal"), "{:?}", lock(&server.stderr));
    assert_eq!(integrity_check(&db), "ok");
    eprintln!(
        "second signal: exit 130 after {took:?}; {} positions in the file",
        stored_positions(&db).len()
    );
    drop(stuck);

    // The file opens and serves again.
    let mut again = LocusProcess::start(&db, &[]).await;
    again.signal("-TERM").await;
    assert!(again.wait_exit(Duration::from_secs(30)).await.success());
}

/// Players leaving at the very moment the server stops: each one's last
/// position is saved, whether it left before the world stopped (its leave
/// save) or after (the shutdown's final save).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_leaving_during_shutdown_are_all_saved() {
    const CLIENTS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locus.db");
    let config = locus::config::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db: db.clone(),
        max_connections_per_ip: 0,
        handshake_rate: 0.0,
        flush_interval: Duration::from_secs(3600),
        ..locus::config::Config::default()
    };
    let server = locus::server::start(config).await.expect("server starts");
    let bots = make_bots(&db, "leaver", CLIENTS);
    let mut tracks = Vec::new();
    let mut tasks = Vec::new();
    let (joined_tx, mut joined) = tokio::sync::mpsc::unbounded_channel();
    for (i, bot) in bots.iter().enumerate() {
        let track = Arc::new(Mutex::new(Track::default()));
        let walk = Walk::Once {
            dx: 1.0 + (i % 10) as f64,
            dy: 1.0 + (i / 10 % 10) as f64,
        };
        tasks.push(tokio::spawn(play(
            server.addr(),
            bot.token.clone(),
            walk,
            track.clone(),
            Some(joined_tx.clone()),
        )));
        tracks.push(track);
    }
    for _ in 0..CLIENTS {
        tokio::time::timeout(Duration::from_secs(60), joined.recv())
            .await
            .expect("bots join")
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !tracks.iter().all(|t| {
        let t = lock(t);
        t.targets
            .first()
            .is_some_and(|target| t.last_position() == Some((target.1, target.2)))
    }) {
        assert!(Instant::now() < deadline, "bots never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every client drops its connection, and the server stops at once.
    for task in &tasks {
        task.abort();
    }
    server.shutdown().await.expect("clean shutdown");
    let stored = stored_positions(&db);
    let missing: Vec<&str> = bots
        .iter()
        .zip(&tracks)
        .filter(|(bot, track)| stored.get(&bot.name).copied() != lock(track).last_position())
        .map(|(bot, _)| bot.name.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {CLIENTS} last positions lost: {missing:?}",
        missing.len()
    );
}
