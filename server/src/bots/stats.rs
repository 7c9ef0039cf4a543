//! What the swarm measures: shared counters and HDR latency histograms
//! ([`Stats`]), each bot's batch of latency samples not yet added to them
//! ([`LatencyBatch`], so the shared histograms are locked once per batch
//! rather than once per sample), the map of tracked moves used to time how
//! soon other bots see a move ([`Sightings`]), and the final [`Report`].
//! Mutexes here guard a few instructions each and are never held across
//! `.await`. Must not do I/O.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::client::Traffic;

/// Largest latency recorded, microseconds (longer ones are clamped).
const MAX_LATENCY_US: u64 = 60_000_000;

/// Consistency errors kept verbatim for the report.
const KEPT_ERRORS: usize = 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant histogram bounds are valid")
}

/// The counters a bot bumps for every message, owned by one shard (one OS
/// thread's bots): when both threads added to one shared counter, its cache
/// line moved between the cores on every message. Aligned to its own cache
/// lines; [`Traffic`] is too.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct ShardCounters {
    /// Bytes in and out, shared with this shard's clients.
    pub traffic: Arc<Traffic>,
    /// `snapshot` events received (whole run).
    pub snapshots: AtomicU64,
    /// Of those, in the binary form (the rest were JSON).
    pub binary_snapshots: AtomicU64,
    /// `position` events sent (whole run).
    pub positions: AtomicU64,
}

/// [`ShardCounters`] summed over the shards at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    /// `snapshot` events received.
    pub snapshots: u64,
    /// Of those, binary.
    pub binary_snapshots: u64,
    /// `position` events sent.
    pub positions: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
}

/// Counters and histograms shared by every bot.
pub struct Stats {
    /// Bots connected right now (welcome received, not yet ended).
    pub online: AtomicU64,
    /// Bots that got their welcome.
    pub connected: AtomicU64,
    /// Bots whose connection attempt failed (refused, error, timeout).
    pub failed: AtomicU64,
    /// Bots that received `kicked`.
    pub kicked: AtomicU64,
    /// Bots whose connection ended without the swarm asking.
    pub disconnected: AtomicU64,
    /// Bots that saw at least one of their own `position` events acked.
    pub acked_bots: AtomicU64,
    /// The per-message counters, one set per shard (see [`ShardCounters`]).
    pub shards: Vec<ShardCounters>,
    /// Client-side consistency errors (whole run).
    pub consistency_errors: AtomicU64,
    /// `teleport` events received.
    pub teleports: AtomicU64,
    /// `migrate` events followed (handoffs to another cluster node).
    pub handoffs: AtomicU64,
    /// Whether latencies are being recorded (the steady phase).
    pub measuring: AtomicBool,
    /// The first few consistency errors, described.
    errors: Mutex<Vec<String>>,
    /// Connect (TCP + handshake + CONNECT + welcome) durations, µs.
    connect: Mutex<Histogram<u64>>,
    /// `position.seq` sent → snapshot with `ack >= seq`, µs.
    ack: Mutex<Histogram<u64>>,
    /// Tracked move sent → another bot's snapshot shows it, µs.
    seen: Mutex<Histogram<u64>>,
    /// Handoff: last snapshot from the old node → first from the new one, µs.
    handoff: Mutex<Histogram<u64>>,
}

impl Stats {
    /// Empty statistics with per-message counters for `shards` shards (at
    /// least one).
    pub fn new(shards: usize) -> Self {
        Stats {
            shards: (0..shards.max(1))
                .map(|_| ShardCounters::default())
                .collect(),
            online: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            kicked: AtomicU64::new(0),
            disconnected: AtomicU64::new(0),
            acked_bots: AtomicU64::new(0),
            consistency_errors: AtomicU64::new(0),
            teleports: AtomicU64::new(0),
            handoffs: AtomicU64::new(0),
            measuring: AtomicBool::new(false),
            errors: Mutex::new(Vec::new()),
            connect: Mutex::new(histogram()),
            ack: Mutex::new(histogram()),
            seen: Mutex::new(histogram()),
            handoff: Mutex::new(histogram()),
        }
    }

    /// The counters of shard `shard` (wrapping around past the last).
    pub fn shard(&self, shard: usize) -> &ShardCounters {
        &self.shards[shard % self.shards.len()]
    }

    /// The per-message counters summed over every shard.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for c in &self.shards {
            t.snapshots += c.snapshots.load(Ordering::Relaxed);
            t.binary_snapshots += c.binary_snapshots.load(Ordering::Relaxed);
            t.positions += c.positions.load(Ordering::Relaxed);
            t.bytes_in += c.traffic.bytes_in.load(Ordering::Relaxed);
            t.bytes_out += c.traffic.bytes_out.load(Ordering::Relaxed);
        }
        t
    }

    fn record(h: &Mutex<Histogram<u64>>, d: Duration) {
        let _ = lock(h).record(micros(d));
    }

    /// Adds a batch of samples (µs, already clamped) under one lock.
    fn record_all(h: &Mutex<Histogram<u64>>, samples: &[u64]) {
        if samples.is_empty() {
            return;
        }
        let mut h = lock(h);
        for &us in samples {
            let _ = h.record(us);
        }
    }

    /// Records a successful connect's duration.
    pub fn record_connect(&self, d: Duration) {
        Self::record(&self.connect, d);
    }

    /// Records a handoff's duration (last snapshot from the old node to the
    /// first from the new one), in the steady phase only. Rare enough (once
    /// per handoff) to take the shared lock directly.
    pub fn record_handoff(&self, d: Duration) {
        if self.measuring.load(Ordering::Relaxed) {
            Self::record(&self.handoff, d);
        }
    }

    /// Counts a consistency error and keeps its description if few so far.
    pub fn consistency_error(&self, what: String) {
        self.consistency_errors.fetch_add(1, Ordering::Relaxed);
        let mut kept = lock(&self.errors);
        if kept.len() < KEPT_ERRORS {
            kept.push(what);
        }
    }

    /// Clears the latency histograms (start of the steady phase).
    pub fn reset_latencies(&self) {
        lock(&self.ack).reset();
        lock(&self.seen).reset();
        lock(&self.handoff).reset();
    }

    /// Current ack latency p99 in ms (for the live display).
    pub fn ack_p99_ms(&self) -> f64 {
        lock(&self.ack).value_at_quantile(0.99) as f64 / 1000.0
    }

    /// Percentiles of the connect, ack and seen histograms.
    pub fn latencies(&self) -> (Percentiles, Percentiles, Percentiles) {
        (
            Percentiles::of(&lock(&self.connect)),
            Percentiles::of(&lock(&self.ack)),
            Percentiles::of(&lock(&self.seen)),
        )
    }

    /// Percentiles of the handoff histogram.
    pub fn handoff_latency(&self) -> Percentiles {
        Percentiles::of(&lock(&self.handoff))
    }

    /// The kept consistency error descriptions.
    pub fn kept_errors(&self) -> Vec<String> {
        lock(&self.errors).clone()
    }
}

/// A duration as the histograms record it: whole µs within their bounds.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_LATENCY_US)
}

/// Samples a [`LatencyBatch`] holds per histogram before adding them.
const BATCH: usize = 64;

/// One bot's ack and seen latencies not yet added to the shared
/// histograms of [`Stats`]: a bot records dozens of samples a second, and
/// taking the shared lock for each was a visible share of the swarm's CPU.
/// Samples are kept only while [`Stats::measuring`] (the steady phase) and
/// added when [`BATCH`] have gathered, on [`LatencyBatch::flush`]
/// and when the batch is dropped (the bot ended), so none is lost.
pub struct LatencyBatch<'s> {
    stats: &'s Stats,
    ack: Vec<u64>,
    seen: Vec<u64>,
}

impl<'s> LatencyBatch<'s> {
    /// An empty batch for `stats`.
    pub fn new(stats: &'s Stats) -> Self {
        LatencyBatch {
            stats,
            ack: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// An own-move acknowledgement latency.
    pub fn ack(&mut self, d: Duration) {
        if self.stats.measuring.load(Ordering::Relaxed) {
            Self::gather(&self.stats.ack, &mut self.ack, d);
        }
    }

    /// An observer latency.
    pub fn seen(&mut self, d: Duration) {
        if self.stats.measuring.load(Ordering::Relaxed) {
            Self::gather(&self.stats.seen, &mut self.seen, d);
        }
    }

    /// Keeps `d` in `held`, adding the whole batch to `shared` once full.
    fn gather(shared: &Mutex<Histogram<u64>>, held: &mut Vec<u64>, d: Duration) {
        held.push(micros(d));
        if held.len() >= BATCH {
            Self::add(shared, held);
        }
    }

    /// Adds `held` to `shared` and empties it.
    fn add(shared: &Mutex<Histogram<u64>>, held: &mut Vec<u64>) {
        Stats::record_all(shared, held);
        held.clear();
    }

    /// Adds every sample held to the shared histograms.
    pub fn flush(&mut self) {
        Self::add(&self.stats.ack, &mut self.ack);
        Self::add(&self.stats.seen, &mut self.seen);
    }
}

impl Drop for LatencyBatch<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.1} / p95 {:.1} / p99 {:.1} / max {:.1} ms ({} samples)",
            self.p50_ms, self.p95_ms, self.p99_ms, self.max_ms, self.count
        )
    }
}

/// Shards of the sightings map (fewer lock collisions between bots).
const SHARDS: usize = 64;

/// Tracked moves older than this are forgotten (a target the server never
/// showed exactly, e.g. because the next one replaced it first).
const SIGHTING_TTL: Duration = Duration::from_secs(3);

/// One shard: (player id, x and y in hundredths) → when it was sent.
/// Every tracked move in every snapshot is looked up here, so the hasher is
/// a fast one (the keys come from our own bots, not from an adversary).
type Shard = Mutex<foldhash::HashMap<(u64, i64, i64), Instant>>;

/// Send times of tracked moves, keyed by (player id, x and y in hundredths
/// as on the wire). A bot whose id is a multiple of `every` records each
/// target it sends; every bot that receives a snapshot showing a tracked
/// player exactly at a recorded target records the time since it was sent.
/// Nothing extra travels in the protocol.
pub struct Sightings {
    /// Which ids are tracked: `id % every == 0`.
    every: u64,
    /// The sharded map.
    shards: Vec<Shard>,
}

/// A coordinate as the key the wire rounding gives.
pub fn centi(v: f64) -> i64 {
    (v * 100.0).round() as i64
}

impl Sightings {
    /// Tracks players whose id is a multiple of `every` (at least 1).
    pub fn new(every: u64) -> Self {
        Sightings {
            every: every.max(1),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Whether moves of `id` are tracked.
    pub fn tracks(&self, id: u64) -> bool {
        id.is_multiple_of(self.every)
    }

    fn shard(&self, id: u64) -> &Shard {
        &self.shards[(id / self.every) as usize % SHARDS]
    }

    /// Records that `id` sent target (x, y) at `at`.
    pub fn sent(&self, id: u64, x: f64, y: f64, at: Instant) {
        let mut shard = lock(self.shard(id));
        if shard.len() >= 4096 {
            shard.retain(|_, t| at.saturating_duration_since(*t) < SIGHTING_TTL);
        }
        shard.insert((id, centi(x), centi(y)), at);
    }

    /// When `id` sent target (x, y), if tracked and remembered.
    pub fn sent_at(&self, id: u64, x: f64, y: f64) -> Option<Instant> {
        self.sent_at_cents(id, centi(x), centi(y))
    }

    /// [`Sightings::sent_at`] with x and y in hundredths (the binary form's
    /// coordinates).
    pub fn sent_at_cents(&self, id: u64, x: i64, y: i64) -> Option<Instant> {
        if !self.tracks(id) {
            return None;
        }
        lock(self.shard(id)).get(&(id, x, y)).copied()
    }
}

/// Server-side figures sampled from outside the server.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerFigures {
    /// CPU used by the server process over the steady phase, percent of
    /// one core (200 = both cores of a 2-core machine).
    pub cpu_percent: Option<f64>,
    /// Server resident set size at the end of the steady phase, KiB.
    pub rss_kib: Option<u64>,
    /// `rss_kib` divided by the bots online then.
    pub rss_per_bot_kib: Option<f64>,
    /// Tick duration over the steady phase, from `/metrics` buckets
    /// (interpolated within a bucket, like Prometheus
    /// `histogram_quantile`), milliseconds.
    pub tick_p50_ms: Option<f64>,
    /// 99th percentile of the same.
    pub tick_p99_ms: Option<f64>,
    /// Ticks in the steady phase.
    pub ticks: Option<u64>,
    /// CPU time the server's tick thread (`locus-world`) actually ran per
    /// tick over the steady phase, ms: the tick's cost free of time spent
    /// waiting for a CPU on a busy machine.
    pub tick_cpu_ms: Option<f64>,
    /// Share of the steady phase the tick thread spent runnable but waiting
    /// for a CPU, percent (high values mean the machine, not the server,
    /// set the tick durations above).
    pub tick_thread_wait_percent: Option<f64>,
}

/// The final report (`--json` writes it as is).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Bots asked for.
    pub bots: usize,
    /// Transport used.
    pub transport: super::client::Transport,
    /// Position events per second per bot.
    pub move_hz: f64,
    /// The snapshot form the bots asked for.
    pub snapshot_asked: super::bot::SnapshotRequest,
    /// Length of the steady (measured) phase, seconds.
    pub steady_secs: f64,
    /// Time to start every bot, seconds.
    pub ramp_secs: f64,
    /// Bots that got their welcome.
    pub connected: u64,
    /// Bots connected at the end of the steady phase.
    pub online_at_end: u64,
    /// Connection attempts that failed.
    pub failed: u64,
    /// Bots kicked by the server.
    pub kicked: u64,
    /// Bots whose connection ended unasked.
    pub disconnected: u64,
    /// Bots that saw one of their own moves acknowledged.
    pub acked_bots: u64,
    /// Consistency errors (enter of a player in view, move or leave of
    /// one not in view).
    pub consistency_errors: u64,
    /// The first few of them.
    pub consistency_samples: Vec<String>,
    /// `teleport` events received.
    pub teleports: u64,
    /// `migrate` events followed to another cluster node (whole run).
    pub handoffs: u64,
    /// Of those, per second (all bots, steady phase).
    pub handoffs_per_sec: f64,
    /// Handoff time: the last snapshot from the old node → the first from
    /// the new one (steady phase).
    pub handoff: Percentiles,
    /// Connect durations.
    pub connect: Percentiles,
    /// Own move → acknowledging snapshot.
    pub move_ack: Percentiles,
    /// Tracked move → another bot's snapshot shows it.
    pub move_seen: Percentiles,
    /// Snapshots received per second (all bots, steady phase).
    pub snapshots_per_sec: f64,
    /// Snapshots received in the binary form (whole run).
    pub binary_snapshots: u64,
    /// Snapshots received in the JSON form (whole run; a server that
    /// ignores the request for binary sends these).
    pub json_snapshots: u64,
    /// Position events sent per second (all bots, steady phase).
    pub positions_per_sec: f64,
    /// Bytes received per second (all bots, steady phase).
    pub bytes_in_per_sec: f64,
    /// Bytes sent per second (all bots, steady phase).
    pub bytes_out_per_sec: f64,
    /// Bytes received per second per online bot.
    pub bytes_in_per_bot_sec: f64,
    /// Bytes sent per second per online bot.
    pub bytes_out_per_bot_sec: f64,
    /// CPU used by this load generator, percent of one core.
    pub bots_cpu_percent: Option<f64>,
    /// Load generator RSS at the end, KiB.
    pub bots_rss_kib: Option<u64>,
    /// Server-side figures (when `--server-pid` / `/metrics` allow).
    pub server: ServerFigures,
    /// 1, 5, 15 minute load averages at the end of the steady phase.
    pub load_average: Option<[f64; 3]>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opt =
            |v: Option<f64>, unit: &str| v.map_or("n/a".to_owned(), |v| format!("{v:.1}{unit}"));
        writeln!(
            f,
            "locus bots: {} bots over {:?}, {} Hz moves, {:?} snapshots asked",
            self.bots, self.transport, self.move_hz, self.snapshot_asked
        )?;
        writeln!(
            f,
            "  ramp                 {:.1} s, steady phase {:.1} s",
            self.ramp_secs, self.steady_secs
        )?;
        writeln!(
            f,
            "  bots                 {} connected, {} online at end, {} failed, {} kicked, {} disconnected, {} saw own ack",
            self.connected, self.online_at_end, self.failed, self.kicked, self.disconnected, self.acked_bots
        )?;
        writeln!(f, "  consistency errors   {}", self.consistency_errors)?;
        for e in &self.consistency_samples {
            writeln!(f, "    {e}")?;
        }
        writeln!(f, "  connect              {}", self.connect)?;
        writeln!(f, "  move -> own ack      {}", self.move_ack)?;
        writeln!(f, "  move -> seen by peer {}", self.move_seen)?;
        if self.handoffs > 0 {
            writeln!(
                f,
                "  handoffs             {:.1}/s ({} in the whole run)",
                self.handoffs_per_sec, self.handoffs
            )?;
            writeln!(f, "  handoff time         {}", self.handoff)?;
        } else {
            writeln!(f, "  handoffs             none")?;
        }
        writeln!(
            f,
            "  snapshots/s          {:.0} ({:.1} per bot; whole run {} binary, {} JSON)",
            self.snapshots_per_sec,
            self.snapshots_per_sec / self.online_at_end.max(1) as f64,
            self.binary_snapshots,
            self.json_snapshots
        )?;
        writeln!(f, "  positions/s          {:.0}", self.positions_per_sec)?;
        writeln!(
            f,
            "  bytes in/s           {:.0} ({:.0} per bot)",
            self.bytes_in_per_sec, self.bytes_in_per_bot_sec
        )?;
        writeln!(
            f,
            "  bytes out/s          {:.0} ({:.0} per bot)",
            self.bytes_out_per_sec, self.bytes_out_per_bot_sec
        )?;
        writeln!(
            f,
            "  load generator       cpu {}, rss {}",
            opt(self.bots_cpu_percent, " %"),
            self.bots_rss_kib.map_or("n/a".to_owned(), |k| format!(
                "{:.1} MiB",
                k as f64 / 1024.0
            ))
        )?;
        let s = &self.server;
        writeln!(
            f,
            "  server               cpu {}, rss {}, {} per bot",
            opt(s.cpu_percent, " %"),
            s.rss_kib.map_or("n/a".to_owned(), |k| format!(
                "{:.1} MiB",
                k as f64 / 1024.0
            )),
            opt(s.rss_per_bot_kib, " KiB"),
        )?;
        writeln!(
            f,
            "  server tick          p50 {} / p99 {} ({} ticks)",
            opt(s.tick_p50_ms, " ms"),
            opt(s.tick_p99_ms, " ms"),
            s.ticks.map_or("n/a".to_owned(), |t| t.to_string())
        )?;
        writeln!(
            f,
            "  tick thread          {} CPU per tick, waited for a CPU {} of the time",
            opt(s.tick_cpu_ms, " ms"),
            opt(s.tick_thread_wait_percent, " %"),
        )?;
        if let Some([a, b, c]) = self.load_average {
            writeln!(f, "  load average         {a:.2} {b:.2} {c:.2}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_batches_keep_steady_phase_samples_until_full_or_dropped() {
        let stats = Stats::new(2);
        let mut batch = LatencyBatch::new(&stats);
        // Outside the steady phase nothing is kept.
        batch.ack(Duration::from_millis(5));
        batch.flush();
        assert_eq!(stats.latencies().1.count, 0);
        stats.measuring.store(true, Ordering::Relaxed);
        for _ in 0..BATCH - 1 {
            batch.ack(Duration::from_millis(5));
            batch.seen(Duration::from_millis(7));
        }
        // Not yet a full batch: the shared histograms have none.
        assert_eq!(stats.latencies().1.count, 0);
        batch.ack(Duration::from_millis(5));
        assert_eq!(stats.latencies().1.count, BATCH as u64);
        assert_eq!(stats.latencies().2.count, 0);
        drop(batch);
        let (_, ack, seen) = stats.latencies();
        assert_eq!((ack.count, seen.count), (BATCH as u64, BATCH as u64 - 1));
        assert!((seen.p50_ms - 7.0).abs() < 0.01, "{seen}");
    }

    #[test]
    fn handoff_times_are_kept_in_the_steady_phase_only() {
        let stats = Stats::new(1);
        stats.record_handoff(Duration::from_millis(40));
        assert_eq!(stats.handoff_latency().count, 0);
        stats.measuring.store(true, Ordering::Relaxed);
        stats.record_handoff(Duration::from_millis(40));
        let handoff = stats.handoff_latency();
        assert_eq!(handoff.count, 1);
        assert!((handoff.p99_ms - 40.0).abs() < 0.1, "{handoff}");
        stats.reset_latencies();
        assert_eq!(stats.handoff_latency().count, 0);
    }

    #[test]
    fn totals_add_every_shard() {
        let stats = Stats::new(3);
        assert_eq!(stats.shards.len(), 3);
        assert_eq!(Stats::new(0).shards.len(), 1);
        for (i, c) in stats.shards.iter().enumerate() {
            let i = i as u64 + 1;
            c.snapshots.fetch_add(10 * i, Ordering::Relaxed);
            c.binary_snapshots.fetch_add(i, Ordering::Relaxed);
            c.positions.fetch_add(100 * i, Ordering::Relaxed);
            c.traffic.bytes_in.fetch_add(1000 * i, Ordering::Relaxed);
            c.traffic.bytes_out.fetch_add(7 * i, Ordering::Relaxed);
        }
        // Shard numbers wrap around.
        assert!(std::ptr::eq(stats.shard(4), &stats.shards[1]));
        let t = stats.totals();
        assert_eq!(
            (
                t.snapshots,
                t.binary_snapshots,
                t.positions,
                t.bytes_in,
                t.bytes_out
            ),
            (60, 6, 600, 6000, 42)
        );
    }
}
