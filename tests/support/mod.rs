//! The one support module of the integration tests: every `tests/*.rs`
//! file says `mod support;` and uses the parts it needs (hence
//! `dead_code` is allowed here: each test binary uses a subset). It owns
//! fixtures and clients only; it must not reach into the server's
//! internals beyond its public API, and holds no assertions about a
//! feature (those stay in the test files).
//!
//! | module | what |
//! | --- | --- |
//! | [`tools`] | CI-or-skip rules; node / python runners; PostgreSQL and Redis URLs |
//! | [`server`] | [`server::LocusServer`]: the whole server in process on 127.0.0.1:0, temporary database |
//! | [`process`] | [`process::LocusProcess`]: a real `locus serve` child (SIGTERM, SIGKILL, restart, stderr) |
//! | [`engine`] | [`engine::EngineServer`]: the bare Engine.IO layer with a recording echo handler |
//! | [`socketio`] | [`socketio::SocketIoServer`]: serves a bare `SocketIo` |
//! | [`client`] | the raw Engine.IO / Socket.IO client: [`client::WsClient`], [`client::PollClient`] |
//! | [`player`] | [`player::Player`]: a game client recording every event, on `WsClient` |
//! | [`walker`] | [`walker::play`]: a walking client that survives its server's death |
//! | [`msgpack`] | hand-built MessagePack packets (notepack's layout) |
//! | [`raw`] | raw TCP: request bytes, hand-built WebSocket frames |
//! | [`bystander`] | proof that others are still served after an attack |
//! | [`accounts`] | register / log in over the HTTP API |
//! | [`db`] | bot accounts, stored positions and integrity checks in the SQLite file |
//! | [`admin`] | running `locus admin` |
//! | [`cluster`] | [`cluster::Cluster`]: `locus serve --cluster` nodes on one database and Redis; [`cluster::JsPlayer`] on the official client |
//! | [`pg`] | PostgreSQL test databases and instances; [`pg::Backend`] and `both_backends!` for running a test on both stores |
#![allow(dead_code)]

pub mod accounts;
pub mod admin;
pub mod bystander;
pub mod client;
pub mod cluster;
pub mod db;
pub mod engine;
pub mod msgpack;
pub mod pg;
pub mod player;
pub mod process;
pub mod raw;
pub mod server;
pub mod socketio;
pub mod tools;
pub mod walker;

use std::sync::Mutex;
use std::time::Duration;

/// How long a test waits for any one expected thing on a real clock
/// before failing (the Engine.IO fixture has its own for virtual time).
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Locks ignoring poisoning (a panicking client task must not hide data).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
