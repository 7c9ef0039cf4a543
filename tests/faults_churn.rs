//! Connection churn against an in-process server: thousands of connect and
//! disconnect cycles mixing clean Socket.IO sessions (a player joins and
//! closes), TCP resets mid-handshake (before and after the HTTP request)
//! and resets mid-upgrade (polling session, WebSocket probe, then RST).
//! Afterwards the server holds no socket and no session, and this process's
//! open descriptors and RSS are back near their baseline.
//!
//! `LOCUS_CHURN_CYCLES` sets the number of cycles (default 10,000).

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use locus::server::RunningServer;
use support::client::WsClient;
use support::db::{make_bots, Bot};
use support::process::{open_fds, rss_kib};
use support::server::LocusServer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const WORKERS: usize = 32;

/// The kinds of cycle, in rotation.
#[derive(Debug, Clone, Copy)]
enum Cycle {
    /// A player joins over WebSocket, gets `welcome`, closes cleanly.
    CleanPlayer,
    /// TCP connect, then RST before any byte.
    ResetBeforeRequest,
    /// TCP connect, half an HTTP request, RST.
    ResetMidRequest,
    /// A whole polling handshake request, RST before reading the answer.
    ResetAfterRequest,
    /// Polling handshake, WebSocket upgrade, `2probe`/`3probe`, then RST
    /// (the upgrade never completes with `5`).
    ResetMidUpgrade,
}

const CYCLES: [Cycle; 5] = [
    Cycle::CleanPlayer,
    Cycle::ResetBeforeRequest,
    Cycle::ResetMidRequest,
    Cycle::ResetAfterRequest,
    Cycle::ResetMidUpgrade,
];

async fn reset(stream: TcpStream) {
    stream.set_zero_linger().unwrap();
    drop(stream);
}

async fn clean_player(addr: SocketAddr, bot: &Bot) {
    let client = WsClient::joined(addr, &bot.token).await;
    client.close().await;
}

async fn polling_handshake(http: &reqwest::Client, addr: SocketAddr) -> String {
    let body = http
        .get(format!("http://{addr}/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let open: serde_json::Value =
        serde_json::from_str(body.strip_prefix('0').expect("open packet")).unwrap();
    open["sid"].as_str().unwrap().to_owned()
}

async fn reset_mid_upgrade(http: &reqwest::Client, addr: SocketAddr) {
    let sid = polling_handshake(http, addr).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_zero_linger().unwrap();
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&sid={sid}");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp)
        .await
        .expect("upgrade accepted");
    ws.send(Message::text("2probe")).await.unwrap();
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str() == "3probe" => break,
            Some(Ok(_)) => continue,
            other => panic!("no 3probe: {other:?}"),
        }
    }
    // Dropping the stream with SO_LINGER 0 resets the connection.
    drop(ws);
}

async fn one_cycle(kind: Cycle, addr: SocketAddr, http: &reqwest::Client, bot: &Bot) {
    match kind {
        Cycle::CleanPlayer => clean_player(addr, bot).await,
        Cycle::ResetBeforeRequest => reset(TcpStream::connect(addr).await.unwrap()).await,
        Cycle::ResetMidRequest => {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: loc")
                .await
                .unwrap();
            reset(tcp).await;
        }
        Cycle::ResetAfterRequest => {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(
                b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: localhost\r\n\r\n",
            )
            .await
            .unwrap();
            reset(tcp).await;
        }
        Cycle::ResetMidUpgrade => reset_mid_upgrade(http, addr).await,
    }
}

/// Runs `cycles` cycles on `WORKERS` concurrent workers, each with its own
/// bot (so no login takes over another).
async fn churn(server: &RunningServer, bots: &[Bot], cycles: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for bot in bots.iter().take(WORKERS) {
        let bot = bot.clone();
        let next = next.clone();
        let addr = server.addr();
        workers.push(tokio::spawn(async move {
            // A fresh client per worker; it keeps pooled connections, which
            // are part of the baseline.
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cycles {
                    break;
                }
                one_cycle(CYCLES[i % CYCLES.len()], addr, &http, &bot).await;
            }
        }));
    }
    for worker in workers {
        worker.await.expect("a churn worker failed");
    }
}

/// Waits (generously) until the server holds no socket and no session.
async fn drained(server: &RunningServer) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.socket_count() != 0 || server.session_count() != 0 {
        assert!(
            Instant::now() < deadline,
            "left over: {} sockets, {} sessions",
            server.socket_count(),
            server.session_count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_leaves_no_sessions_fds_or_memory_behind() {
    let cycles: usize = std::env::var("LOCUS_CHURN_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    // Abandoned polling sessions (after a reset upgrade) are reaped by the
    // heartbeat: keep it short so the check at the end does not wait long.
    let fixture = LocusServer::start_with(|c| {
        c.max_connections_per_ip = 0;
        c.handshake_rate = 0.0;
        c.ping_interval = Duration::from_millis(300);
        c.ping_timeout = Duration::from_millis(300);
        c.upgrade_timeout = Duration::from_millis(500);
        c.connect_timeout = Duration::from_secs(1);
    })
    .await;
    let server = &fixture.server;
    let bots = make_bots(&fixture.db(), "churner", WORKERS);

    // Warm up (allocator arenas, caches, the world's slots), then measure.
    churn(server, &bots, 500).await;
    drained(server).await;
    let (fds_before, rss_before) = (open_fds(), rss_kib());

    let started = Instant::now();
    churn(server, &bots, cycles).await;
    let took = started.elapsed();
    drained(server).await;

    // Descriptors close as the server notices each reset: eventually.
    let deadline = Instant::now() + Duration::from_secs(30);
    while open_fds() > fds_before + 20 {
        assert!(
            Instant::now() < deadline,
            "fds: {} before, {} after",
            fds_before,
            open_fds()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (fds_after, rss_after) = (open_fds(), rss_kib());
    eprintln!(
        "churn: {cycles} cycles in {took:?}; fds {fds_before} -> {fds_after}; RSS {} -> {} MiB",
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(
        rss_after <= rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    fixture.stop().await;
}
