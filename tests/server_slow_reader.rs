//! A slow reader catches up to the present, not through a backlog (issue
//! 11, part 4): a raw WebSocket client with a small receive buffer stops
//! reading for 80 ticks (4 s at 20 Hz) while 40 players move around it,
//! then reads again. What TCP already holds for it when it stalls is old
//! by the length of the stall whatever the server does; the bound on what
//! the server lets pile up below the application (`--max-unsent-bytes`)
//! decides how much that is. With the bound, the client reads only a few
//! stale snapshots before one of the present; without it (the bound set to
//! 16 MiB, as the kernel would allow by default) it reads dozens.
//!
//! Deterministic: the stall is measured in server ticks read from
//! `/api/health`, and the assertions are on tick numbers and counts.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use support::client::WsClient;
use support::db::make_bots;
use support::player::Player;
use support::server::LocusServer;

const CENTRE: f64 = 2048.0;
/// Players moving around the reader, all in its view.
const MOVERS: usize = 40;
/// Ticks the reader does not read (4 s at 20 Hz; under the 100 ticks of
/// `Full` after which the world kicks a player as too slow).
const STALL_TICKS: u64 = 80;
/// A snapshot at most this many ticks older than the server's tick when the
/// reader resumes counts as the present.
const PRESENT: u64 = 5;

/// What the reader saw after its stall.
#[derive(Debug)]
struct Resumed {
    /// The server's tick when the reader started reading again.
    resume_tick: u64,
    /// The tick of the first snapshot read after the stall.
    first_tick: u64,
    /// Snapshots read older than `resume_tick - PRESENT`, before the first
    /// of the present.
    stale: u64,
    /// The tick of the first snapshot of the present.
    present_tick: u64,
}

async fn tick(server: &LocusServer) -> u64 {
    let health: serde_json::Value = server
        .http
        .get(server.url("/api/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["tick"].as_u64().expect("health has a tick")
}

/// The tick of a snapshot frame, or `None` for any other frame.
fn snapshot_tick(frame: &str) -> Option<u64> {
    let body = frame.strip_prefix("42[\"snapshot\",")?;
    let snapshot: serde_json::Value = serde_json::from_str(&body[..body.len() - 1]).unwrap();
    snapshot["tick"].as_u64()
}

/// Runs the stall against a server whose `max_unsent_bytes` is `bound`.
async fn stall_and_resume(bound: u32) -> Resumed {
    let server = LocusServer::start_with(|c| {
        c.max_unsent_bytes = bound;
        c.position_rate = 100.0;
    })
    .await;
    let bots = make_bots(&server.db(), "mover", MOVERS + 1);
    let (reader_bot, movers) = bots.split_last().unwrap();

    // Movers circle the centre, each reading its own snapshots (one move
    // per snapshot acknowledged, so they keep up and are never merged).
    let mut tasks = Vec::new();
    for (i, bot) in movers.iter().enumerate() {
        let mut mover = Player::join(server.addr(), &bot.token).await;
        mover.wait_for("welcome", |_| true).await;
        tasks.push(tokio::spawn(async move {
            let mut step = i as f64;
            loop {
                step += 1.0;
                let angle = step * 0.05 + i as f64;
                let radius = 100.0 + 5.0 * i as f64;
                let (x, y) = (CENTRE + radius * angle.cos(), CENTRE + radius * angle.sin());
                let seq = mover.move_to(x, y).await;
                mover
                    .wait_for("snapshot", |s| s["ack"].as_u64() >= Some(seq))
                    .await;
                mover.events.clear();
            }
        }));
    }

    // The reader: a small receive buffer, as a phone's would be in a tunnel.
    let mut reader = WsClient::connect_with_recv_buffer(server.addr(), 4096).await;
    reader.join_world(&reader_bot.token).await;

    // Read until every mover is in view and moving.
    let mut in_view = std::collections::BTreeSet::new();
    let mut moving = 0;
    while in_view.len() < MOVERS || moving < 3 {
        let text = tokio::time::timeout(support::PATIENCE, reader.next_text())
            .await
            .expect("snapshots while all movers come into view");
        let Some(body) = text.strip_prefix("42[\"snapshot\",") else {
            continue;
        };
        let s: serde_json::Value = serde_json::from_str(&body[..body.len() - 1]).unwrap();
        for e in s["enter"].as_array().unwrap() {
            in_view.insert(e["id"].as_u64().unwrap());
        }
        if in_view.len() == MOVERS && s["move"].as_array().unwrap().len() >= MOVERS / 2 {
            moving += 1;
        }
    }

    // The stall: no reads for STALL_TICKS server ticks.
    let stalled_at = tick(&server).await;
    while tick(&server).await < stalled_at + STALL_TICKS {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resume_tick = tick(&server).await;

    let mut ws = reader.into_inner();
    let mut first_tick = None;
    let mut stale = 0;
    let present_tick = loop {
        let frame = tokio::time::timeout(support::PATIENCE, ws.next())
            .await
            .expect("the reader reaches the present");
        let Some(Ok(Message::Text(text))) = frame else {
            panic!("the stalled reader was disconnected: {frame:?}")
        };
        let Some(tick) = snapshot_tick(&text) else {
            continue;
        };
        first_tick.get_or_insert(tick);
        if tick + PRESENT >= resume_tick {
            break tick;
        }
        stale += 1;
    };
    for task in tasks {
        task.abort();
    }
    server.stop().await;
    Resumed {
        resume_tick,
        first_tick: first_tick.unwrap(),
        stale,
        present_tick,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_reads_few_stale_snapshots_then_the_present() {
    let bounded = stall_and_resume(locus::engineio::DEFAULT_MAX_UNSENT_BYTES as u32).await;
    println!("bounded (default): {bounded:?}");
    // What TCP held when the reader stalled: the reader's 4 KiB receive
    // buffer (8 KiB as Linux counts it), the kernel's unsent bound (2 KiB
    // plus what joins the last segment), one pending write and 2 KiB
    // queued behind it: under 16 KiB, and a snapshot with 40 movers in
    // view is over 700 bytes. Measured: 14.
    assert!(
        bounded.stale <= 20,
        "{} stale snapshots before the present: {bounded:?}",
        bounded.stale
    );
    assert!(bounded.present_tick + PRESENT >= bounded.resume_tick);
    assert!(
        bounded.first_tick + STALL_TICKS - PRESENT <= bounded.resume_tick,
        "the first snapshot read is from the stall's start (TCP cannot drop it): {bounded:?}"
    );

    let unbounded = stall_and_resume(16 * 1024 * 1024).await;
    println!("unbounded (16 MiB): {unbounded:?}");
    assert!(
        unbounded.stale > 3 * bounded.stale.max(10),
        "without the bound the backlog is long: {unbounded:?} vs {bounded:?}"
    );
}
