//! `kill -9` of a real `locus serve` while players move, repeated at growing
//! delays (SQLite's `test/crash9.test` pattern): every restart opens, the
//! database passes its integrity check (`PRAGMA integrity_check`, or
//! `amcheck` on PostgreSQL), and every position another process could read
//! as committed before the kill is still there afterwards. Both backends
//! (`NAME::sqlite`, `NAME::postgres`).
//!
//! Players walk in one direction only (x and y both grow), so positions are
//! ordered: "not lost" means the stored x after the kill is at least the x
//! last seen committed before it, and "not half-written" means the stored
//! (x, y) pair is a position the server actually reported for that player.

mod support;

use support::pg::{Backend, BackendDb};

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::db::{integrity_check, make_bots, stored_positions};
use support::lock;
use support::process::LocusProcess;
use support::walker::{play, Track, Walk};

const FLUSH: &str = "200ms";
/// Ticks per flush at the default 20 Hz and a 200 ms flush interval.
const FLUSH_TICKS: u64 = 4;
/// Delays between the players' first step and the kill, growing like
/// crash9's `-delay`. About 5 s of play in total.
const KILL_DELAYS_MS: [u64; 7] = [0, 60, 150, 300, 550, 900, 1400];
const PLAYERS: usize = 3;

/// Starts the server on `db`, connects every bot and checks that each one's
/// `welcome` is the position the file held before the start.
async fn start_and_join(
    db: &Path,
    bots: &[support::db::Bot],
    walk: Walk,
) -> (LocusProcess, Vec<Arc<Mutex<Track>>>) {
    let before = stored_positions(db);
    let server =
        LocusProcess::start(db, &["--flush-interval", FLUSH, "--world-size", "65536"]).await;
    let (joined_tx, mut joined) = tokio::sync::mpsc::unbounded_channel();
    let mut tracks = Vec::new();
    for bot in bots {
        let track = Arc::new(Mutex::new(Track::default()));
        tokio::spawn(play(
            server.addr,
            bot.token.clone(),
            walk,
            track.clone(),
            Some(joined_tx.clone()),
        ));
        tracks.push(track);
    }
    for _ in bots {
        tokio::time::timeout(Duration::from_secs(30), joined.recv())
            .await
            .expect("every bot joins")
            .unwrap();
    }
    for (bot, track) in bots.iter().zip(&tracks) {
        let welcome = lock(track).welcome.unwrap();
        if let Some(&stored) = before.get(&bot.name) {
            assert_eq!(
                welcome, stored,
                "{}: welcome is not the stored position",
                bot.name
            );
        }
    }
    (server, tracks)
}

both_backends!(
    multi_thread: kill_9_while_moving_never_loses_a_committed_position,
    kill_9_during_first_start_leaves_a_usable_database,
);

async fn kill_9_while_moving_never_loses_a_committed_position(backend: Backend) {
    let test = "kill_9_while_moving_never_loses_a_committed_position";
    let Some(dir) = BackendDb::new(backend, test) else {
        return;
    };
    let db = dir.path.clone();
    // First start creates the file; bots are made in it while it runs.
    let mut server = LocusProcess::start(&db, &["--flush-interval", FLUSH]).await;
    let bots = make_bots(&db, "walker", PLAYERS);
    server.signal("-TERM").await;
    assert!(server.wait_exit(Duration::from_secs(30)).await.success());

    let mut losses_ticks = Vec::new();
    for (round, delay) in KILL_DELAYS_MS.into_iter().enumerate() {
        let walk = Walk::Steps {
            dx: 10.0,
            dy: 5.0,
            until: None,
        };
        let (mut server, tracks) = start_and_join(&db, &bots, walk).await;

        // Watch the file like another process would, until the kill.
        let started = tokio::time::Instant::now();
        let mut committed: HashMap<String, (f64, f64)> = stored_positions(&db);
        while started.elapsed() < Duration::from_millis(delay) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            committed = stored_positions(&db);
        }
        server.signal("-KILL").await;
        let status = server.wait_exit(Duration::from_secs(30)).await;
        assert!(
            !status.success(),
            "round {round}: SIGKILL exit status {status}"
        );

        assert_eq!(
            integrity_check(&db),
            "ok",
            "round {round} (kill after {delay} ms)"
        );
        let after = stored_positions(&db);
        for (bot, track) in bots.iter().zip(&tracks) {
            let track = lock(track);
            let stored = after.get(&bot.name).copied();
            let seen = committed.get(&bot.name).copied();
            if let Some(seen) = seen {
                let stored = stored.unwrap_or_else(|| {
                    panic!("round {round}: {} lost its committed row", bot.name)
                });
                assert!(
                    stored.0 >= seen.0 && stored.1 >= seen.1,
                    "round {round}: {} went back from committed {seen:?} to {stored:?}",
                    bot.name
                );
            }
            let Some(stored) = stored else { continue };
            // A position the server really reported (x and y of one tick).
            let welcome = track.welcome.unwrap();
            // Or, for the tick whose snapshot the kill cut off, a point
            // past the last one seen and short of the last target.
            let reported =
                stored == welcome || track.snapshots.iter().any(|s| (s.1, s.2) == stored);
            let last_seen = track.last_position().unwrap();
            let last_target = track.targets.last().map_or(welcome, |t| (t.1, t.2));
            let in_flight = stored.0 > last_seen.0
                && stored.1 > last_seen.1
                && stored.0 <= last_target.0
                && stored.1 <= last_target.1;
            assert!(
                reported || in_flight,
                "round {round}: {} stored {stored:?} is no position it had (welcome {welcome:?}, last target {last_target:?})",
                bot.name
            );
            // How far behind the last tick the client saw the file is: the
            // loss, in ticks (reported, not asserted: timing).
            if let (Some(last), Some(at)) = (
                track.snapshots.last(),
                track.snapshots.iter().find(|s| (s.1, s.2) == stored),
            ) {
                losses_ticks.push(last.0 - at.0);
            }
        }
    }

    // Last round, like crash9's run that completes: the players stop, the
    // write-behind catches up (within a generous time), and a clean stop
    // keeps it.
    let walk = Walk::Steps {
        dx: 10.0,
        dy: 5.0,
        until: Some(std::time::Instant::now() + Duration::from_millis(500)),
    };
    let (mut server, tracks) = start_and_join(&db, &bots, walk).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let stored = stored_positions(&db);
        let all_there = bots.iter().zip(&tracks).all(|(bot, track)| {
            let track = lock(track);
            let last_target = track.targets.last().map(|t| (t.1, t.2));
            last_target.is_some()
                && track.last_position() == last_target
                && stored.get(&bot.name).copied() == last_target
        });
        if all_there {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "final positions never reached the file: {stored:?}"
        );
    }
    server.signal("-KILL").await;
    server.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(integrity_check(&db), "ok");
    let stored = stored_positions(&db);
    for (bot, track) in bots.iter().zip(&tracks) {
        assert_eq!(
            stored.get(&bot.name).copied(),
            lock(track).last_position(),
            "{}",
            bot.name
        );
    }
    let worst = losses_ticks.iter().max().copied().unwrap_or(0);
    eprintln!(
        "kill -9 rounds: {}; loss behind the last tick seen, in ticks (50 ms each): {losses_ticks:?}; worst {worst} (flush every {FLUSH_TICKS})",
        KILL_DELAYS_MS.len()
    );
}

/// Kills the very first start at growing delays (opening, creating and
/// migrating the file): whatever is left is either no file or one the next
/// start opens.
async fn kill_9_during_first_start_leaves_a_usable_database(backend: Backend) {
    for delay_ms in [0u64, 2, 5, 10, 20, 40, 80] {
        let test = "kill_9_during_first_start_leaves_a_usable_database";
        let Some(dir) = BackendDb::new(backend, test) else {
            return;
        };
        let db = dir.path.clone();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_locus"))
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(&db)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let _ = child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("killed process exits");
        if db.exists() && std::fs::metadata(&db).unwrap().len() > 0 {
            assert_eq!(integrity_check(&db), "ok", "killed after {delay_ms} ms");
        }
        let mut server = LocusProcess::start(&db, &[]).await;
        let health = reqwest::get(server.url("/api/health")).await.unwrap();
        assert_eq!(
            health.status(),
            200,
            "restart after a kill at {delay_ms} ms"
        );
        server.signal("-TERM").await;
        assert!(server.wait_exit(Duration::from_secs(30)).await.success());
        assert_eq!(integrity_check(&db), "ok");
    }
}
