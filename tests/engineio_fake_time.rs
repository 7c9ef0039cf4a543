//! Heartbeat and upgrade timeouts at their real default lengths (25 s ping
//! interval, 20 s ping timeout, 10 s upgrade timeout) under tokio's paused
//! clock: the timers fire in virtual time, so the tests take milliseconds
//! and do not depend on the machine's speed.

mod support;

use std::time::Duration;

use locus::engineio::{CloseReason, EngineConfig};
use support::engine::*;

fn default_timing() -> EngineConfig {
    EngineConfig {
        path: "/engine.io/".to_owned(),
        ..EngineConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn websocket_heartbeat_runs_on_the_default_schedule() {
    let mut server = EngineServer::start(default_timing()).await;
    let (mut ws, sid) = server.open_websocket().await;
    let opened = tokio::time::Instant::now();
    // Three rounds: a ping every 25 s, answered at once.
    for round in 1..=3u32 {
        assert_eq!(next_text(&mut ws).await, "2");
        let since = opened.elapsed();
        assert!(
            since >= Duration::from_secs(25) * round,
            "ping {round} after {since:?}"
        );
        send_text(&mut ws, "3").await;
    }
    // Then no pong: the session ends 20 s after the next ping.
    assert_eq!(next_text(&mut ws).await, "2");
    let pinged = tokio::time::Instant::now();
    assert_eq!(close_code(&mut ws).await, Some(1000));
    assert!(pinged.elapsed() >= Duration::from_secs(20));
    assert_eq!(server.closed(&sid).await, CloseReason::PingTimeout);
    server.no_sessions_left().await;
}

#[tokio::test(start_paused = true)]
async fn polling_session_times_out_without_a_poll() {
    let mut server = EngineServer::start(default_timing()).await;
    let sid = server.open_polling().await;
    // The client never polls: the ping is queued at 25 s, the pong deadline
    // passes 20 s later, and the session is gone.
    assert_eq!(server.closed(&sid).await, CloseReason::PingTimeout);
    let (status, _) = server.poll(&sid).await;
    assert_eq!(status, 400);
    server.no_sessions_left().await;
}

#[tokio::test(start_paused = true)]
async fn abandoned_upgrade_is_reclaimed_after_the_upgrade_timeout() {
    let server = EngineServer::start(default_timing()).await;
    let sid = server.open_polling().await;
    let mut probe = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut probe, "2probe").await;
    assert_eq!(next_text(&mut probe).await, "3probe");
    let probed = tokio::time::Instant::now();
    // No `5`: after the 10 s upgrade timeout the probe socket is closed...
    assert!(close_code(&mut probe).await.is_some());
    assert!(probed.elapsed() >= Duration::from_secs(10));
    // ...and the session carries on over polling.
    let (status, body) = server.post(&sid, "4still here").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, body) = server.poll(&sid).await;
    assert_eq!(status, 200);
    assert!(body.contains("4still here"), "{body}");
}
