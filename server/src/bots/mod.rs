//! `locus bots`: a load generator that plays the game with many real
//! Socket.IO clients (the crate's own codecs used as a client), many per OS
//! thread, and measures what players experience: connect times, own-move
//! acknowledgement latency, how soon other players see a move, snapshot
//! rate, bytes per bot, client-side consistency of the snapshot deltas, and
//! on a cluster the handoffs (`migrate` followed) and how long they take.
//! Optionally samples the server process (`--server-pid`) and its
//! `/metrics` tick histogram for the benchmark table.
//!
//! Layout: [`client`] (Engine.IO / Socket.IO client), [`bot`] (one player),
//! [`shards`] (the OS threads, one current-thread runtime each, that the
//! bots run on), [`stats`] (counters, histograms, report), [`tokens`] (bot
//! accounts in the database), [`probe`] (`/proc` and `/metrics` readers). Must not reach
//! into the server's internals: it talks to a server over sockets only
//! (plus the database file for `--db`).

pub mod bot;
pub mod client;
pub mod probe;
pub mod shards;
pub mod stats;
pub mod tokens;

use clap::builder::TypedValueParser as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use bot::SnapshotRequest;
pub use client::{Client, ClientError, Transport};
pub use stats::Report;

use bot::Swarm;
use shards::Shards;
use stats::{ServerFigures, Sightings, Stats};

/// `locus bots` options.
#[derive(Debug, Clone, clap::Args)]
pub struct BotsArgs {
    /// Server base URL (`http://HOST:PORT`).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// Bots to run.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000).map(|n| n as usize))]
    pub count: usize,
    /// Bots started per second (0: all at once, limited by
    /// `--max-connecting`).
    #[arg(long, default_value_t = 500.0, value_parser = parse_rate)]
    pub ramp_per_sec: f64,
    /// Length of the measured phase, which starts once every bot has
    /// connected or failed.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// `position` events per second per bot (0: connect and stay still).
    #[arg(long, default_value_t = 10.0, value_parser = parse_rate)]
    pub move_hz: f64,
    /// File of tokens, one per line (at least `--count`).
    #[arg(long, conflicts_with = "db")]
    pub tokens: Option<PathBuf>,
    /// Create bot accounts and tokens directly in this Locus database (the
    /// server's file; fast, no HTTP, no password hashing).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Bot account name prefix for `--db`.
    #[arg(long, default_value = "bot")]
    pub prefix: String,
    /// With `--db`: store a random position in the world for every bot
    /// before connecting, so the swarm starts spread out.
    #[arg(long, requires = "db")]
    pub spread: bool,
    /// Transport for every bot.
    #[arg(long, value_enum, default_value_t = Transport::Websocket)]
    pub transport: Transport,
    /// Snapshot form every bot asks for in its CONNECT auth payload; bots
    /// play JSON snapshots too, from a server that ignores the request.
    #[arg(long, value_enum, default_value_t = SnapshotRequest::Binary)]
    pub snapshot: SnapshotRequest,
    /// Track observer latency for players whose id is a multiple of this.
    #[arg(long, default_value_t = 8)]
    pub observe_every: u64,
    /// OS threads the bots run on, each a single-threaded runtime with its
    /// share of the bots (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 256)]
    pub max_connecting: usize,
    /// Longest one connect (up to `welcome`) may take.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// Server process id, to sample its CPU and RSS (Linux).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Fail (exit 1) when the move acknowledgement p99 exceeds this.
    #[arg(long)]
    pub max_p99_ms: Option<f64>,
    /// No progress bar; log a line every 5 s instead.
    #[arg(long)]
    pub quiet: bool,
}

/// A rate: a finite number from 0 to 100,000 per second.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=100_000.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a rate from 0 to 100000 per second")),
    }
}

/// Why the swarm could not run.
#[derive(Debug, thiserror::Error)]
pub enum BotsError {
    /// `--url` is not `http://HOST:PORT` or does not resolve.
    #[error("bad --url {0}: {1}")]
    Url(String, String),
    /// The token file could not be read.
    #[error("cannot read tokens from {0}: {1}")]
    TokenFile(PathBuf, std::io::Error),
    /// Fewer tokens than bots.
    #[error("{have} tokens for {want} bots")]
    TooFewTokens {
        /// Tokens available.
        have: usize,
        /// Bots asked for.
        want: usize,
    },
    /// Neither `--tokens` nor `--db`.
    #[error("give --tokens FILE or --db locus.db")]
    NoTokens,
    /// The database refused.
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Bot accounts could not be created.
    #[error("bot accounts: {0}")]
    Accounts(#[from] crate::bot_accounts::BotAccountError),
    /// The probe connection for `--spread` failed.
    #[error("probe connection: {0}")]
    Probe(#[from] ClientError),
    /// A blocking task died.
    #[error("internal: {0}")]
    Join(String),
    /// The bots' threads or runtimes could not be started.
    #[error("cannot start the bots' threads: {0}")]
    Threads(std::io::Error),
}

/// Where tokens come from, for [`run_with_tokens`].
async fn load_tokens(args: &BotsArgs) -> Result<Vec<String>, BotsError> {
    let tokens = if let Some(path) = &args.tokens {
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|e| BotsError::TokenFile(path.clone(), e))?;
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    } else if let Some(db) = args.db.clone() {
        let (prefix, count) = (args.prefix.clone(), args.count);
        let ttl = Duration::from_secs(24 * 3600);
        tokio::task::spawn_blocking(move || tokens::create_bot_tokens(&db, &prefix, count, ttl))
            .await
            .map_err(|e| BotsError::Join(e.to_string()))??
    } else {
        return Err(BotsError::NoTokens);
    };
    if tokens.len() < args.count {
        return Err(BotsError::TooFewTokens {
            have: tokens.len(),
            want: args.count,
        });
    }
    Ok(tokens)
}

/// Resolves `http://HOST[:PORT]` to a socket address.
pub async fn resolve(url: &str) -> Result<SocketAddr, BotsError> {
    client::resolve_url(url)
        .await
        .map_err(|why| BotsError::Url(url.to_owned(), why))
}

/// Runs the swarm described by `args` (tokens from `--tokens` or `--db`)
/// and returns the report.
pub async fn run(args: &BotsArgs) -> Result<Report, BotsError> {
    let addr = resolve(&args.url).await?;
    let tokens = load_tokens(args).await?;
    if args.spread {
        if let Some(db) = args.db.clone() {
            spread(addr, args, db, &tokens[0]).await?;
        }
    }
    run_with_tokens(addr, args, tokens).await
}

/// Connects once to learn the world size, then stores random positions for
/// every bot.
async fn spread(
    addr: SocketAddr,
    args: &BotsArgs,
    db: PathBuf,
    token: &str,
) -> Result<(), BotsError> {
    let probe = Swarm {
        addr,
        transport: Transport::Websocket,
        snapshot: args.snapshot,
        move_hz: 0.0,
        connect_timeout: args.connect_timeout,
        stats: Stats::new(1),
        sightings: Sightings::new(1),
        stop: CancellationToken::new(),
        stopping: Default::default(),
        connecting: tokio::sync::Semaphore::new(1),
    };
    let (client, welcome) = bot::connect(&probe, token, 0).await?;
    client.close().await;
    let (prefix, count) = (args.prefix.clone(), args.count);
    let (w, h) = (welcome.world.width, welcome.world.height);
    tokio::task::spawn_blocking(move || tokens::spread_bots(&db, &prefix, count, w, h))
        .await
        .map_err(|e| BotsError::Join(e.to_string()))??;
    Ok(())
}

/// Counter values at the start of the steady phase.
struct Mark {
    at: Instant,
    snapshots: u64,
    positions: u64,
    bytes_in: u64,
    bytes_out: u64,
    handoffs: u64,
    bots_cpu: Option<f64>,
    server_cpu: Option<f64>,
    ticks: Vec<(f64, u64)>,
    threads: Vec<(String, u64, u64)>,
}

impl Mark {
    async fn take(swarm: &Swarm, server_pid: Option<&str>) -> Mark {
        let t = swarm.stats.totals();
        Mark {
            at: Instant::now(),
            snapshots: t.snapshots,
            positions: t.positions,
            bytes_in: t.bytes_in,
            bytes_out: t.bytes_out,
            handoffs: swarm.stats.handoffs.load(Ordering::Relaxed),
            bots_cpu: probe::cpu_seconds("self"),
            server_cpu: server_pid.and_then(probe::cpu_seconds),
            ticks: scrape_ticks(swarm.addr).await,
            threads: server_pid.map(probe::thread_times).unwrap_or_default(),
        }
    }
}

async fn scrape_ticks(addr: SocketAddr) -> Vec<(f64, u64)> {
    match tokio::time::timeout(Duration::from_secs(5), client::http_get(addr, "/metrics")).await {
        Ok(Ok(text)) => probe::histogram_buckets(&text, "locus_tick_duration_seconds"),
        _ => Vec::new(),
    }
}

/// How long bots may take to close their connections after the run.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The number of shards for `--threads` (0: one per CPU).
fn shard_count(threads: usize) -> usize {
    if threads > 0 {
        return threads;
    }
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Runs `args.count` bots against `addr` with the given tokens (one each,
/// in order) and returns the report. Fails only when the bots' threads
/// cannot start; connection failures are counted in the report.
pub async fn run_with_tokens(
    addr: SocketAddr,
    args: &BotsArgs,
    tokens: Vec<String>,
) -> Result<Report, BotsError> {
    let shard_count = shard_count(args.threads);
    let swarm = Arc::new(Swarm {
        addr,
        transport: args.transport,
        snapshot: args.snapshot,
        move_hz: args.move_hz,
        connect_timeout: args.connect_timeout,
        stats: Stats::new(shard_count),
        sightings: Sightings::new(args.observe_every),
        stop: CancellationToken::new(),
        stopping: Default::default(),
        connecting: tokio::sync::Semaphore::new(args.max_connecting.max(1)),
    });
    let mut shards = Shards::start(&swarm, shard_count, STOP_GRACE).map_err(BotsError::Threads)?;
    let count = args.count.min(tokens.len());
    let display = Display::new(count as u64, args.quiet);
    let live = tokio::spawn(display.clone().run(swarm.clone()));

    // Ramp: start bots at the requested rate.
    let ramp_started = Instant::now();
    for (i, token) in tokens.into_iter().take(count).enumerate() {
        if args.ramp_per_sec > 0.0 {
            let due = ramp_started + Duration::from_secs_f64(i as f64 / args.ramp_per_sec);
            tokio::time::sleep_until(due.into()).await;
        }
        shards.spawn(token);
    }
    // Wait until every bot connected or gave up.
    let s = &swarm.stats;
    while (s.connected.load(Ordering::Relaxed) + s.failed.load(Ordering::Relaxed)) < count as u64 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ramp_secs = ramp_started.elapsed().as_secs_f64();
    display.phase("steady");

    // Steady phase.
    let pid = args.server_pid.map(|p| p.to_string());
    s.reset_latencies();
    s.measuring.store(true, Ordering::Relaxed);
    let start = Mark::take(&swarm, pid.as_deref()).await;
    tokio::time::sleep(args.duration).await;
    let end = Mark::take(&swarm, pid.as_deref()).await;
    s.measuring.store(false, Ordering::Relaxed);
    let online_at_end = s.online.load(Ordering::Relaxed);
    let server_rss = pid.as_deref().and_then(probe::rss_kib);
    let bots_rss = probe::rss_kib("self");
    let load_average = probe::load_average();

    display.phase("stopping");
    swarm.stop_all();
    shards.finish().await;
    live.abort();
    display.finish();

    let secs = end.at.duration_since(start.at).as_secs_f64().max(1e-9);
    let rate = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs;
    let per_bot = |v: f64| v / online_at_end.max(1) as f64;
    let cpu = |a: Option<f64>, b: Option<f64>| Some((b? - a?) / secs * 100.0);
    let (connect, move_ack, move_seen) = s.latencies();
    let handoff = s.handoff_latency();
    let ticks = probe::count_between(&start.ticks, &end.ticks);
    let world = probe::thread_delta(&start.threads, &end.threads, "locus-world");
    let totals = s.totals();
    let bytes_in_per_sec = rate(start.bytes_in, end.bytes_in);
    let bytes_out_per_sec = rate(start.bytes_out, end.bytes_out);
    Ok(Report {
        bots: count,
        transport: args.transport,
        move_hz: args.move_hz,
        snapshot_asked: args.snapshot,
        steady_secs: secs,
        ramp_secs,
        connected: s.connected.load(Ordering::Relaxed),
        online_at_end,
        failed: s.failed.load(Ordering::Relaxed),
        kicked: s.kicked.load(Ordering::Relaxed),
        disconnected: s.disconnected.load(Ordering::Relaxed),
        acked_bots: s.acked_bots.load(Ordering::Relaxed),
        consistency_errors: s.consistency_errors.load(Ordering::Relaxed),
        consistency_samples: s.kept_errors(),
        teleports: s.teleports.load(Ordering::Relaxed),
        handoffs: s.handoffs.load(Ordering::Relaxed),
        handoffs_per_sec: rate(start.handoffs, end.handoffs),
        handoff,
        connect,
        move_ack,
        move_seen,
        snapshots_per_sec: rate(start.snapshots, end.snapshots),
        binary_snapshots: totals.binary_snapshots,
        json_snapshots: totals.snapshots.saturating_sub(totals.binary_snapshots),
        positions_per_sec: rate(start.positions, end.positions),
        bytes_in_per_sec,
        bytes_out_per_sec,
        bytes_in_per_bot_sec: per_bot(bytes_in_per_sec),
        bytes_out_per_bot_sec: per_bot(bytes_out_per_sec),
        bots_cpu_percent: cpu(start.bots_cpu, end.bots_cpu),
        bots_rss_kib: bots_rss,
        server: ServerFigures {
            cpu_percent: cpu(start.server_cpu, end.server_cpu),
            rss_kib: server_rss,
            rss_per_bot_kib: server_rss.map(|r| r as f64 / online_at_end.max(1) as f64),
            tick_p50_ms: probe::quantile_between(&start.ticks, &end.ticks, 0.5).map(|v| v * 1e3),
            tick_p99_ms: probe::quantile_between(&start.ticks, &end.ticks, 0.99).map(|v| v * 1e3),
            ticks,
            tick_cpu_ms: world
                .zip(ticks.filter(|&t| t > 0))
                .map(|((run, _), t)| run as f64 / 1e6 / t as f64),
            tick_thread_wait_percent: world.map(|(_, wait)| wait as f64 / 1e9 / secs * 100.0),
        },
        load_average,
    })
}

/// Whether a report passes: no consistency error and, when a limit is
/// given, move acknowledgement p99 within it.
pub fn report_passes(report: &Report, max_p99_ms: Option<f64>) -> bool {
    report.consistency_errors == 0 && max_p99_ms.is_none_or(|max| report.move_ack.p99_ms <= max)
}

/// The live view: an indicatif bar on a terminal, log lines otherwise.
#[derive(Clone)]
struct Display {
    /// The bar (hidden with `--quiet` or when stderr is not a terminal).
    bar: indicatif::ProgressBar,
}

impl Display {
    fn new(count: u64, quiet: bool) -> Self {
        let bar = if quiet {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(count)
        };
        let style = indicatif::ProgressStyle::with_template(
            "{prefix:>8} [{elapsed_precise}] {bar:20} {pos}/{len} online | {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix("ramp");
        Display { bar }
    }

    fn phase(&self, name: &'static str) {
        self.bar.set_prefix(name);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }

    async fn run(self, swarm: Arc<Swarm>) {
        let s = &swarm.stats;
        let every = if self.bar.is_hidden() {
            Duration::from_secs(5)
        } else {
            Duration::from_millis(500)
        };
        let mut last = (Instant::now(), 0u64, 0u64);
        loop {
            tokio::time::sleep(every).await;
            let now = Instant::now();
            let totals = s.totals();
            let (snaps, bytes) = (totals.snapshots, totals.bytes_in);
            let dt = now.duration_since(last.0).as_secs_f64().max(1e-9);
            let online = s.online.load(Ordering::Relaxed);
            let msg = format!(
                "failed {} kicked {} lost {} handoffs {} | snap/s {:.0} | in {:.1} KB/s/bot | ack p99 {:.1} ms | errors {}",
                s.failed.load(Ordering::Relaxed),
                s.kicked.load(Ordering::Relaxed),
                s.disconnected.load(Ordering::Relaxed),
                s.handoffs.load(Ordering::Relaxed),
                (snaps - last.1) as f64 / dt,
                (bytes - last.2) as f64 / dt / online.max(1) as f64 / 1000.0,
                s.ack_p99_ms(),
                s.consistency_errors.load(Ordering::Relaxed),
            );
            last = (now, snaps, bytes);
            self.bar.set_position(online);
            if self.bar.is_hidden() {
                tracing::info!(online, "{msg}");
            } else {
                self.bar.set_message(msg);
            }
        }
    }
}
