//! Broadcast and idle-memory benchmark of the Socket.IO layer: one file
//! holding both the benchmark server (`serve`, our [`SocketIo`]) and the
//! load client (`throughput`, `idle`) that drives it or the equivalent Node
//! server (`tests/bench/socketio/node_server.mjs`) in exactly the same way.
//!
//! Owns only the benchmark wiring; the behaviour measured lives in
//! `locus::socketio`. Must not grow game logic. `tests/bench/socketio/run.sh`
//! runs everything and prints the table.
//!
//! The bench protocol, shared by both servers (path `/socket.io/`,
//! namespace `/`, JSON parser):
//! * a socket whose auth is `{"role":"controller"}` stays out of the room;
//!   every other socket joins room `bench` when it connects;
//! * `start` `{"count": K}` emits `tick` with a 100-character string to room
//!   `bench` K times (each broadcast encoded once, so every client receives
//!   the 112-byte frame `42["tick","xxx…"]`);
//! * `size` with an ack answers the number of sockets in room `bench`.
//!
//! ```text
//! broadcast_bench serve [--port 0] [--threads N] [--ws-read-buffer B] [--ws-write-buffer B]
//! broadcast_bench throughput --url ws://127.0.0.1:PORT [--clients 1000] [--batches 200] [--pid PID]
//! broadcast_bench idle --url ws://127.0.0.1:PORT --pid PID [--clients 10000] [--settle-secs 10]
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use locus::http::listener::{self, HttpLimits};
use locus::socketio::{ConnectError, SocketIo, SocketIoConfig};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The room every non-controller socket joins.
const ROOM: &str = "bench";
/// Characters in the broadcast string (the event's payload).
const PAYLOAD_LEN: usize = 100;
/// Frame prefix of the broadcast event as clients receive it.
const TICK_PREFIX: &str = "42[\"tick\"";
/// Connection attempts in flight at once while opening clients (keeps the
/// listen backlog of both servers from overflowing).
const CONNECT_CONCURRENCY: usize = 64;
/// How long any single wait of the load client may take before it gives up.
const PATIENCE: Duration = Duration::from_secs(120);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Socket.IO broadcast / idle-memory benchmark (server and load client)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the benchmark server on 127.0.0.1 until Ctrl-C / SIGTERM.
    Serve {
        /// TCP port (0 picks a free one; the address goes to stderr).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Tokio worker threads (defaults to one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// `EngineConfig::ws_read_buffer_size` (defaults to the engine's).
        #[arg(long)]
        ws_read_buffer: Option<usize>,
        /// `EngineConfig::ws_write_buffer_size` (defaults to the engine's).
        #[arg(long)]
        ws_write_buffer: Option<usize>,
    },
    /// Measures broadcast deliveries per second.
    Throughput {
        /// Server base URL, e.g. ws://127.0.0.1:4000.
        #[arg(long)]
        url: String,
        /// Clients in the room.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Broadcasts per `start` trigger.
        #[arg(long, default_value_t = 50)]
        batch: usize,
        /// Triggers in flight at once: at most `batch * window` broadcasts
        /// wait in any client's queue (our server bounds it at 256 packets).
        #[arg(long, default_value_t = 4)]
        window: usize,
        /// Measured triggers (after `warmup` unmeasured ones).
        #[arg(long, default_value_t = 200)]
        batches: usize,
        /// Unmeasured triggers first.
        #[arg(long, default_value_t = 20)]
        warmup: usize,
        /// Server process id, to report its CPU time.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Measures server RSS per idle connection.
    Idle {
        /// Server base URL, e.g. ws://127.0.0.1:4000.
        #[arg(long)]
        url: String,
        /// Server process id (its /proc/PID/status is read).
        #[arg(long)]
        pid: u32,
        /// Idle clients to open.
        #[arg(long, default_value_t = 10_000)]
        clients: usize,
        /// Seconds to wait with every client connected before reading RSS.
        #[arg(long, default_value_t = 10)]
        settle_secs: u64,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Command::Serve {
        threads: Some(threads),
        ..
    } = cli.command
    {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime.build().context("building the tokio runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve {
                port,
                ws_read_buffer,
                ws_write_buffer,
                ..
            } => {
                let mut config = SocketIoConfig::default();
                if let Some(size) = ws_read_buffer {
                    config.engine.ws_read_buffer_size = size;
                }
                if let Some(size) = ws_write_buffer {
                    config.engine.ws_write_buffer_size = size;
                }
                serve(port, config).await
            }
            Command::Throughput {
                url,
                clients,
                batch,
                window,
                batches,
                warmup,
                pid,
            } => {
                let plan = Plan {
                    clients,
                    batch,
                    window,
                    batches,
                    warmup,
                };
                throughput(&url, plan, pid).await
            }
            Command::Idle {
                url,
                pid,
                clients,
                settle_secs,
            } => idle(&url, pid, clients, Duration::from_secs(settle_secs)).await,
        }
    })
}

// ---------------------------------------------------------------- server

/// Serves the bench protocol until Ctrl-C / SIGTERM.
async fn serve(port: u16, config: SocketIoConfig) -> anyhow::Result<()> {
    let io = SocketIo::new(config);
    let ns = io.namespace("/");
    ns.on_connect(|socket, auth| async move {
        if auth.get("role").and_then(Value::as_str) != Some("controller") {
            socket.join(ROOM);
        }
        Ok::<(), ConnectError>(())
    });
    let payload = "x".repeat(PAYLOAD_LEN);
    let room_ns = ns.clone();
    ns.on("start", move |_socket, args, _ack| {
        let request: Value = args.parse(0)?;
        let count = request.get("count").and_then(Value::as_u64).unwrap_or(1);
        let room = room_ns.to(ROOM);
        let mut full = 0;
        for _ in 0..count {
            full += room.emit("tick", &payload)?.full.len();
        }
        if full > 0 {
            tracing::warn!(full, "broadcasts dropped on full queues");
        }
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    });
    let size_ns = ns.clone();
    ns.on("size", move |_socket, _args, ack| match ack {
        Some(ack) => ack.send(&(size_ns.to(ROOM).sockets().len(),)),
        None => Ok(()),
    });

    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    // The driver scripts read this line (same wording as `locus serve`).
    eprintln!("listening on http://{}", listener.local_addr()?);
    let limits = HttpLimits {
        // Every load client connects from 127.0.0.1.
        max_connections_per_ip: 1_000_000,
        max_connections: 1_000_000,
        ..HttpLimits::default()
    };
    let closing = io.clone();
    let shutdown = async move {
        shutdown_signal().await;
        closing.close_within(Duration::from_secs(2)).await;
    };
    listener::serve(listener, io.engine().router(), limits, shutdown).await?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

// ---------------------------------------------------------- load client

/// The shape of a throughput run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Clients in the room.
    clients: usize,
    /// Broadcasts per trigger.
    batch: usize,
    /// Triggers in flight at once.
    window: usize,
    /// Measured triggers.
    batches: usize,
    /// Unmeasured triggers first.
    warmup: usize,
}

/// Opens a raw Socket.IO v5 WebSocket connection on `/` with `auth`, with
/// small tungstenite buffers so 10,000 of them fit in the load client.
async fn connect(url: &str, auth: &Value) -> anyhow::Result<Ws> {
    let url = format!("{url}/socket.io/?EIO=4&transport=websocket");
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(&url, Some(config), true)
        .await
        .with_context(|| format!("connecting {url}"))?;
    let open = next_text(&mut ws).await.context("no open packet")?;
    if !open.starts_with('0') {
        bail!("expected an open packet, got {open}");
    }
    ws.send(Message::text(format!("40{auth}"))).await?;
    loop {
        let text = next_text(&mut ws).await.context("no CONNECT reply")?;
        if text == "2" {
            ws.send(Message::text("3")).await?;
        } else if text.starts_with("40") {
            return Ok(ws);
        } else {
            bail!("unexpected packet before CONNECT reply: {text}");
        }
    }
}

/// The next text frame, or `None` when the connection ended.
async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(text)) => return Some(text.to_string()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The controller connection: outside the room, sends triggers and asks
/// for the room size.
struct Controller {
    /// Its WebSocket.
    ws: Ws,
    /// Ack id of the next `size` request.
    next_ack: u64,
}

impl Controller {
    async fn connect(url: &str) -> anyhow::Result<Self> {
        let ws = connect(url, &json!({"role": "controller"})).await?;
        Ok(Self { ws, next_ack: 0 })
    }

    /// Emits `start` for `count` broadcasts.
    async fn start(&mut self, count: usize) -> anyhow::Result<()> {
        let frame = format!("42{}", json!(["start", {"count": count}]));
        self.ws.send(Message::text(frame)).await?;
        Ok(())
    }

    /// Sockets in the room, as the server counts them.
    async fn room_size(&mut self) -> anyhow::Result<u64> {
        let id = self.next_ack;
        self.next_ack += 1;
        self.ws
            .send(Message::text(format!("42{id}[\"size\"]")))
            .await?;
        let expected = format!("43{id}[");
        loop {
            let text = next_text(&mut self.ws)
                .await
                .context("controller connection closed")?;
            if text == "2" {
                self.ws.send(Message::text("3")).await?;
            } else if let Some(rest) = text.strip_prefix(&expected) {
                let size = rest.trim_end_matches(']');
                return size.parse().with_context(|| format!("size reply {text}"));
            }
        }
    }

    /// Answers pings while waiting (call in a `select!`).
    async fn keep_alive(&mut self) -> anyhow::Result<()> {
        loop {
            let text = next_text(&mut self.ws)
                .await
                .context("controller connection closed")?;
            if text == "2" {
                self.ws.send(Message::text("3")).await?;
            }
        }
    }

    /// Waits until the server counts `clients` sockets in the room.
    async fn await_room(&mut self, clients: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let size = self.room_size().await?;
            if size as usize == clients {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("room holds {size} sockets, expected {clients}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Opens `clients` connections, each handed to `run` once connected;
/// returns when all are connected.
async fn open_clients<F, Fut>(url: &str, clients: usize, run: F) -> anyhow::Result<()>
where
    F: Fn(usize, Ws) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let run = Arc::new(run);
    let (ready_tx, mut ready_rx) = mpsc::channel::<anyhow::Result<()>>(clients.max(1));
    for index in 0..clients {
        let gate = gate.clone();
        let url = url.to_owned();
        let run = run.clone();
        let ready_tx = ready_tx.clone();
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let connected = connect(&url, &json!({})).await;
            drop(permit);
            match connected {
                Ok(ws) => {
                    let _ = ready_tx.send(Ok(())).await;
                    drop(ready_tx);
                    run(index, ws).await;
                }
                Err(error) => {
                    let _ = ready_tx.send(Err(error)).await;
                }
            }
        });
    }
    drop(ready_tx);
    for opened in 0..clients {
        match tokio::time::timeout(PATIENCE, ready_rx.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(error))) => return Err(error.context(format!("client {opened}"))),
            Ok(None) | Err(_) => bail!("only {opened} of {clients} clients connected"),
        }
    }
    Ok(())
}

/// Broadcast deliveries per second to `plan.clients` sockets in one room.
///
/// Flow control keeps both servers honest: at most `window` triggers are
/// unfinished at once; a trigger is finished when every client has counted
/// its broadcasts (each client counts in order, so its count says which
/// triggers it has completed).
async fn throughput(url: &str, plan: Plan, pid: Option<u32>) -> anyhow::Result<()> {
    let total = plan.warmup + plan.batches;
    let finished: Arc<Vec<AtomicUsize>> =
        Arc::new((0..total).map(|_| AtomicUsize::new(0)).collect());
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<usize>();
    let mut controller = Controller::connect(url).await?;

    let started = Instant::now();
    {
        let finished = finished.clone();
        let clients = plan.clients;
        let batch = plan.batch;
        open_clients(url, plan.clients, move |_index, ws| {
            count_ticks(ws, batch, clients, finished.clone(), done_tx.clone())
        })
        .await?;
    }
    controller.await_room(plan.clients).await?;
    eprintln!(
        "{} clients connected in {:.1} s",
        plan.clients,
        started.elapsed().as_secs_f64()
    );

    let mut sent = 0;
    let mut completed = 0;
    let mut measure_from = None;
    while sent < plan.window.min(total) {
        controller.start(plan.batch).await?;
        sent += 1;
    }
    while completed < total {
        let finished_batch = tokio::select! {
            batch = tokio::time::timeout(PATIENCE, done_rx.recv()) => batch,
            error = controller.keep_alive() => return error,
        };
        match finished_batch {
            Ok(Some(_)) => completed += 1,
            Ok(None) => bail!("every client connection ended"),
            Err(_) => bail!(
                "stalled: {completed} of {total} triggers finished (a client missed a broadcast?)"
            ),
        }
        if completed == plan.warmup {
            measure_from = Some((Instant::now(), cpu_seconds(pid)));
        }
        if sent < total {
            controller.start(plan.batch).await?;
            sent += 1;
        }
    }
    let (from, cpu_from) = measure_from.context("nothing measured")?;
    let elapsed = from.elapsed().as_secs_f64();
    let delivered = plan.batches * plan.batch * plan.clients;
    let rate = delivered as f64 / elapsed;
    let cpu = match (cpu_from, cpu_seconds(pid)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    println!(
        "{}",
        json!({
            "test": "throughput",
            "clients": plan.clients,
            "broadcasts": plan.batches * plan.batch,
            "delivered": delivered,
            "seconds": elapsed,
            "messages_per_sec": rate.round(),
            "server_cpu_seconds": cpu,
            "messages_per_server_cpu_sec": cpu.map(|c| (delivered as f64 / c).round()),
        })
    );
    Ok(())
}

/// One room member: counts `tick` frames; tells `done` when it is the last
/// client to finish a trigger.
async fn count_ticks(
    mut ws: Ws,
    batch: usize,
    clients: usize,
    finished: Arc<Vec<AtomicUsize>>,
    done: mpsc::UnboundedSender<usize>,
) {
    let mut count = 0usize;
    while let Some(frame) = ws.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        if text.as_str() == "2" {
            if ws.send(Message::text("3")).await.is_err() {
                break;
            }
        } else if text.starts_with(TICK_PREFIX) {
            count += 1;
            if count.is_multiple_of(batch) {
                let index = count / batch - 1;
                let Some(slot) = finished.get(index) else {
                    continue;
                };
                if slot.fetch_add(1, Ordering::AcqRel) + 1 == clients {
                    let _ = done.send(index);
                }
            }
        }
    }
}

/// Server RSS per idle connection.
async fn idle(url: &str, pid: u32, clients: usize, settle: Duration) -> anyhow::Result<()> {
    let mut controller = Controller::connect(url).await?;
    let before = rss_kib(pid)?;
    let started = Instant::now();
    open_clients(url, clients, |_index, mut ws| async move {
        // Stay connected, answering pings.
        while let Some(text) = next_text(&mut ws).await {
            if text == "2" && ws.send(Message::text("3")).await.is_err() {
                break;
            }
        }
    })
    .await?;
    controller.await_room(clients).await?;
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::select! {
        () = tokio::time::sleep(settle) => {}
        error = controller.keep_alive() => return error,
    }
    controller.await_room(clients).await?;
    let after = rss_kib(pid)?;
    let per_connection = (after as f64 - before as f64) * 1024.0 / clients as f64;
    println!(
        "{}",
        json!({
            "test": "idle",
            "clients": clients,
            "connect_seconds": connect_secs,
            "rss_before_kib": before,
            "rss_after_kib": after,
            "bytes_per_connection": per_connection.round(),
        })
    );
    Ok(())
}

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}

/// User + system CPU time of `pid` so far, in seconds (Linux clock ticks
/// are 100 Hz on every mainstream kernel configuration).
fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, i.e. the 12th and 13th after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
