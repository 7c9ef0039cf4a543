//! One bot: connects with its token (asking for binary or JSON snapshots),
//! waits for `welcome`, then walks between random waypoints inside the
//! world at 80% of the server's speed, sending `position {x,y,seq}` at the
//! configured rate, and checks every snapshot against the view it holds
//! ([`HeldView`]), in whichever form the server sent it. A cluster's
//! `migrate {url}` (the player was handed over to that node) is followed at
//! once with the same auth; the new connection's snapshots are checked as a
//! fresh stream (its first one lists everyone in view), and the handoff is
//! counted and timed (last snapshot from the old node to the first from the
//! new one). Records into the shared [`Stats`] and [`Sightings`]. Must not
//! hold a lock across `.await`.
//!
//! The hot path (a snapshot in, a position out) allocates nothing per
//! message beyond what the WebSocket layer hands over and the position
//! text it takes: binary snapshots decode into a reused
//! [`BinarySnapshot`], JSON ones parse straight from the frame's text,
//! positions are written without serde or float formatting, and latency
//! samples gather in a per-bot [`LatencyBatch`] before they touch the
//! shared histograms.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;
use serde_json::json;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::client::{resolve_url, Client, ClientError, Incoming, Transport};
use super::stats::{centi, LatencyBatch, Sightings, Stats};
use crate::game::binary::BinarySnapshot;
use crate::game::{PlayerId, Snapshot, Teleport, Welcome};
use crate::protocol::socketio::Args;

/// The snapshot form a bot asks for in its CONNECT auth payload
/// (`"snapshot": "binary"` or `"json"`; see "Binary snapshots" in
/// `docs/protocol.md`). A server that ignores the request sends JSON, which
/// every bot also plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotRequest {
    /// Ask for JSON snapshots (the protocol's default).
    Json,
    /// Ask for binary snapshots.
    Binary,
}

impl SnapshotRequest {
    /// The auth field's value.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotRequest::Json => "json",
            SnapshotRequest::Binary => "binary",
        }
    }
}

/// Events the client hands over as unparsed JSON text.
const RAW_EVENTS: &[&str] = &["snapshot"];

/// Fraction of the server's max speed bots walk at, leaving room for timer
/// jitter so the speed check never corrects an honest bot.
const SPEED_FACTOR: f64 = 0.8;

/// Sent positions kept waiting for their ack; older ones are forgotten.
const MAX_PENDING: usize = 256;

thread_local! {
    /// The buffers binary snapshots decode into, one per OS thread rather
    /// than one per bot: a snapshot is decoded and applied without an
    /// `.await` in between, and a buffer every bot on the thread reuses
    /// stays in the CPU cache, where a thousand per-bot ones did not.
    static DECODED: RefCell<BinarySnapshot> = RefCell::default();
}

/// What every bot shares.
pub struct Swarm {
    /// The server.
    pub addr: std::net::SocketAddr,
    /// The transport every bot uses.
    pub transport: Transport,
    /// The snapshot form every bot asks for.
    pub snapshot: SnapshotRequest,
    /// `position` events per second (0: bots stay still).
    pub move_hz: f64,
    /// Longest a connect (up to `welcome`) may take.
    pub connect_timeout: Duration,
    /// Counters and histograms.
    pub stats: Stats,
    /// Tracked moves for the observer latency.
    pub sightings: Sightings,
    /// Cancelled when the run ends.
    pub stop: CancellationToken,
    /// Set just before `stop` is cancelled ([`Swarm::stop_all`]): a plain
    /// load, where polling the token takes its lock.
    pub stopping: AtomicBool,
    /// Limits handshakes in flight.
    pub connecting: tokio::sync::Semaphore,
}

impl Swarm {
    /// Ends the run: every bot closes its connection and returns.
    pub fn stop_all(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.cancel();
    }
}

/// `42["position",{"x":X,"y":Y,"seq":SEQ}]`, the one input a bot sends
/// (the server reads it in `session::game_events`; the game has no type for
/// inputs), written without serde. `x` and `y` are in hundredths (the
/// walker rounds to them), written as fixed-point decimals: integer
/// formatting is far cheaper than the shortest-float algorithm, and
/// `12.50` is the same JSON number as `12.5`.
fn position_packet(x: i64, y: i64, seq: u64) -> String {
    let mut text = String::with_capacity(64);
    text.push_str(r#"42["position",{"x":"#);
    push_cents(&mut text, x);
    text.push_str(r#","y":"#);
    push_cents(&mut text, y);
    // Writing to a String cannot fail.
    let _ = write!(text, r#","seq":{seq}}}]"#);
    text
}

/// Appends `cents / 100` as a JSON number with two decimals.
fn push_cents(text: &mut String, cents: i64) {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    // Writing to a String cannot fail.
    let _ = write!(text, "{sign}{}.{:02}", abs / 100, abs % 100);
}

/// Connects with `token` and waits for `welcome` (answering pings),
/// counting its bytes in shard `shard`'s counters.
pub async fn connect(
    swarm: &Swarm,
    token: &str,
    shard: usize,
) -> Result<(Client, Welcome), ClientError> {
    connect_at(swarm, swarm.addr, token, shard).await
}

/// [`connect`] to the node at `addr` (following `moved` from there).
async fn connect_at(
    swarm: &Swarm,
    addr: std::net::SocketAddr,
    token: &str,
    shard: usize,
) -> Result<(Client, Welcome), ClientError> {
    let auth = json!({ "token": token, "snapshot": swarm.snapshot.as_str() });
    let traffic = swarm.stats.shard(shard).traffic.clone();
    let mut client = Client::connect_following_moved(addr, swarm.transport, &auth, traffic).await?;
    client.set_raw_events(RAW_EVENTS);
    loop {
        match client.next().await? {
            Incoming::Event { name, args } if name == "welcome" => {
                let welcome = args
                    .parse(0)
                    .map_err(|e| ClientError::Protocol(format!("malformed welcome: {e}")))?;
                return Ok((client, welcome));
            }
            Incoming::Event { name, .. } if name == "kicked" => return Err(ClientError::Closed),
            Incoming::Event { .. } | Incoming::Raw { .. } | Incoming::Binary { .. } => {}
            Incoming::Ping => client.pong().await?,
            Incoming::Closed => return Err(ClientError::Closed),
        }
    }
}

/// Runs one bot from connect to the end of the run, on shard `shard`
/// (whose OS thread runs it; its per-message counters go there).
pub async fn run(swarm: Arc<Swarm>, token: String, shard: usize) {
    let started = Instant::now();
    let stats = &swarm.stats;
    let attempt = {
        let _permit = swarm.connecting.acquire().await;
        tokio::select! {
            r = tokio::time::timeout(swarm.connect_timeout, connect(&swarm, &token, shard)) => r,
            () = swarm.stop.cancelled() => return,
        }
    };
    let (mut client, welcome) = match attempt {
        Ok(Ok(pair)) => pair,
        Ok(Err(error)) => {
            tracing::debug!(%error, "bot failed to connect");
            stats.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(_) => {
            tracing::debug!("bot connect timed out");
            stats.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    stats.record_connect(started.elapsed());
    stats.connected.fetch_add(1, Ordering::Relaxed);
    stats.online.fetch_add(1, Ordering::Relaxed);
    let end = play(&swarm, &mut client, welcome, &token, shard).await;
    stats.online.fetch_sub(1, Ordering::Relaxed);
    match end {
        End::Stopped => client.close().await,
        End::Kicked => {
            stats.kicked.fetch_add(1, Ordering::Relaxed);
        }
        End::Lost(why) => {
            tracing::debug!(%why, "bot lost its connection");
            stats.disconnected.fetch_add(1, Ordering::Relaxed);
        }
    }
}

enum End {
    Stopped,
    Kicked,
    Lost(String),
}

/// A walk between random waypoints.
struct Walker {
    x: f64,
    y: f64,
    to: (f64, f64),
    /// Distance per step.
    step: f64,
    width: f64,
    height: f64,
    rng: SmallRng,
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

impl Walker {
    fn new(w: &Welcome, step: f64) -> Self {
        let mut walker = Walker {
            x: w.x,
            y: w.y,
            to: (w.x, w.y),
            step,
            width: w.world.width,
            height: w.world.height,
            rng: SmallRng::from_rng(&mut rand::rng()),
        };
        walker.pick();
        walker
    }

    fn pick(&mut self) {
        self.to = (
            round2(self.rng.random_range(0.0..=self.width)),
            round2(self.rng.random_range(0.0..=self.height)),
        );
    }

    /// The next target, one step along the way.
    fn advance(&mut self) -> (f64, f64) {
        let (dx, dy) = (self.to.0 - self.x, self.to.1 - self.y);
        let d = dx.hypot(dy);
        if d <= self.step {
            (self.x, self.y) = self.to;
            self.pick();
        } else {
            self.x = round2(self.x + dx / d * self.step).clamp(0.0, self.width);
            self.y = round2(self.y + dy / d * self.step).clamp(0.0, self.height);
        }
        (self.x, self.y)
    }
}

/// The address of a `migrate` event's `{"url"}`, or `None` (logged) when
/// it has none this bot can use (bots speak `http://` only): such a
/// `migrate` is ignored, and the disconnect after it ends the bot as any
/// server disconnect does.
async fn migrate_target(me: PlayerId, args: &Args) -> Option<std::net::SocketAddr> {
    let Some(url) = args
        .get(0)
        .and_then(|a| a.get("url"))
        .and_then(|u| u.as_str())
    else {
        tracing::debug!(bot = me, "migrate without a url, ignored");
        return None;
    };
    match resolve_url(url).await {
        Ok(addr) => Some(addr),
        Err(why) => {
            tracing::debug!(bot = me, url, %why, "migrate to an unusable url, ignored");
            None
        }
    }
}

/// Follows a `migrate`: connects to `addr` with the same auth, and when
/// that fails, once more from the swarm's URL (which sends the bot on to
/// the region's holder with `moved`), within the connect timeout. `None`
/// when the swarm stopped meanwhile.
async fn follow_migrate(
    swarm: &Swarm,
    addr: std::net::SocketAddr,
    token: &str,
    shard: usize,
) -> Option<Result<(Client, Welcome), ClientError>> {
    let attempts = async {
        match connect_at(swarm, addr, token, shard).await {
            Ok(pair) => Ok(pair),
            Err(error) if addr != swarm.addr => {
                tracing::debug!(%error, "migrate target refused; trying the swarm's url");
                connect_at(swarm, swarm.addr, token, shard).await
            }
            Err(error) => Err(error),
        }
    };
    tokio::select! {
        r = tokio::time::timeout(swarm.connect_timeout, attempts) => Some(match r {
            Ok(r) => r,
            Err(_) => Err(ClientError::Protocol("connect timed out".into())),
        }),
        () = swarm.stop.cancelled() => None,
    }
}

/// The player loop: moves on a timer, checks snapshots, answers pings,
/// follows `migrate`.
async fn play(
    swarm: &Swarm,
    client: &mut Client,
    welcome: Welcome,
    token: &str,
    shard: usize,
) -> End {
    let stats = &swarm.stats;
    let counters = stats.shard(shard);
    let me = welcome.id;
    let moving = swarm.move_hz > 0.0;
    let period = Duration::from_secs_f64(if moving { 1.0 / swarm.move_hz } else { 3600.0 });
    let mut walker = Walker::new(
        &welcome,
        welcome.speed * SPEED_FACTOR * period.as_secs_f64(),
    );
    // Spread the bots' send instants over the period.
    let phase = period.mul_f64(rand::rng().random_range(0.0..1.0));
    let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut seq = 0u64;
    let mut pending: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut acked = false;
    let mut view = HeldView::new(me);
    // When the last snapshot came, and after a handoff, when the last one
    // from the old node came (until the first from the new one).
    let mut last_snapshot: Option<Instant> = None;
    let mut handoff_from: Option<Instant> = None;
    let mut latencies = LatencyBatch::new(stats);
    let tracked = swarm.sightings.tracks(me);
    // Registered once, on the first turn: a fresh `cancelled()` per turn
    // would enrol and unlink a waiter on the token every message, and even
    // polling the pinned one takes the token's lock. After the first turn
    // it is polled only once `stopping` is set; its waiter, holding this
    // task's waker, stays enrolled, so the cancel wakes this bot and the
    // branch (always enabled: `select!` reads branch conditions once per
    // select, so a condition would miss a stop arriving while it waits)
    // then sees the flag.
    let stopped = swarm.stop.cancelled();
    tokio::pin!(stopped);
    let mut registered = false;
    loop {
        let stop = std::future::poll_fn(|cx| {
            if !registered || swarm.stopping.load(Ordering::Acquire) {
                registered = true;
                return std::future::Future::poll(stopped.as_mut(), cx);
            }
            std::task::Poll::Pending
        });
        let incoming = tokio::select! {
            // In this order, without drawing a random branch order per turn.
            biased;
            () = stop => return End::Stopped,
            _ = timer.tick(), if moving => {
                let (x, y) = walker.advance();
                seq += 1;
                let now = Instant::now();
                if tracked {
                    swarm.sightings.sent(me, x, y, now);
                }
                if pending.len() == MAX_PENDING {
                    pending.pop_front();
                }
                pending.push_back((seq, now));
                let packet = position_packet(centi(x), centi(y), seq);
                if let Err(e) = client.send_packet_text(packet).await {
                    return End::Lost(e.to_string());
                }
                counters.positions.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            incoming = client.next() => incoming,
        };
        let now = Instant::now();
        let ack = match incoming {
            Ok(Incoming::Binary { name, data }) if &*name == "snapshot" => {
                counters.snapshots.fetch_add(1, Ordering::Relaxed);
                counters.binary_snapshots.fetch_add(1, Ordering::Relaxed);
                let applied = DECODED.with_borrow_mut(|decoded| {
                    decoded.decode_into(&data)?;
                    view.apply_binary(stats, &mut latencies, &swarm.sightings, decoded, now);
                    Ok::<_, crate::game::binary::BinaryError>(decoded.ack)
                });
                match applied {
                    Ok(ack) => ack,
                    Err(e) => {
                        stats
                            .consistency_error(format!("bot {me}: malformed binary snapshot: {e}"));
                        continue;
                    }
                }
            }
            Ok(Incoming::Raw {
                name: "snapshot",
                json,
            }) => {
                counters.snapshots.fetch_add(1, Ordering::Relaxed);
                let Ok(snap) = serde_json::from_slice::<Snapshot<'static>>(&json) else {
                    stats.consistency_error(format!("bot {me}: malformed snapshot"));
                    continue;
                };
                view.apply_json(stats, &mut latencies, &swarm.sightings, &snap, now);
                snap.ack()
            }
            Ok(Incoming::Event { name, args }) => {
                match name.as_str() {
                    "teleport" => {
                        stats.teleports.fetch_add(1, Ordering::Relaxed);
                        if let Ok(t) = args.parse::<Teleport>(0) {
                            walker.x = t.x;
                            walker.y = t.y;
                        }
                    }
                    "kicked" => return End::Kicked,
                    "migrate" => {
                        let Some(addr) = migrate_target(me, &args).await else {
                            continue;
                        };
                        // The old node closes this connection right after; go now.
                        let (next, welcome) = match follow_migrate(swarm, addr, token, shard).await
                        {
                            None => return End::Stopped,
                            Some(Ok(pair)) => pair,
                            Some(Err(e)) => return End::Lost(format!("migrate: {e}")),
                        };
                        // Dropping the old connection closes it.
                        *client = next;
                        stats.handoffs.fetch_add(1, Ordering::Relaxed);
                        handoff_from = Some(last_snapshot.unwrap_or(now));
                        // A fresh snapshot stream (its own binary indices);
                        // acks of positions sent to the old node never come.
                        view = HeldView::new(me);
                        pending.clear();
                        // Walk on from where the new node has the bot, to
                        // the same waypoint. `seq` goes on: above anything
                        // the new node was handed, and as good as 1 on a
                        // fresh connection.
                        walker.x = welcome.x;
                        walker.y = welcome.y;
                    }
                    "snapshot" => {
                        counters.snapshots.fetch_add(1, Ordering::Relaxed);
                        stats.consistency_error(format!("bot {me}: snapshot of an unknown shape"));
                    }
                    _ => {}
                }
                continue;
            }
            Ok(Incoming::Raw { .. } | Incoming::Binary { .. }) => continue,
            Ok(Incoming::Ping) => {
                if let Err(e) = client.pong().await {
                    return End::Lost(e.to_string());
                }
                continue;
            }
            Ok(Incoming::Closed) => return End::Lost("closed by server".into()),
            Err(e) => return End::Lost(e.to_string()),
        };
        last_snapshot = Some(now);
        if let Some(from) = handoff_from.take() {
            stats.record_handoff(now.saturating_duration_since(from));
        }
        while let Some(&(s, sent)) = pending.front() {
            if s > ack {
                break;
            }
            pending.pop_front();
            latencies.ack(now.duration_since(sent));
            if !acked {
                acked = true;
                stats.acked_bots.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The form of the snapshots a bot has been getting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Json,
    Binary,
}

/// One player a bot holds at a binary index.
#[derive(Debug, Clone, Copy)]
struct Held {
    id: PlayerId,
    /// Position in hundredths (the binary form's coordinates are `i32`).
    x: i32,
    /// See `x`.
    y: i32,
    /// Whether [`Sightings`] tracks this player (checked once, at enter).
    tracked: bool,
}

/// What a bot holds of its view, applied from every snapshot in order:
/// leave, then enter, then move (as `static/world.js` does). Deltas that do
/// not fit what it holds are consistency errors.
struct HeldView {
    /// The bot's own id (for error messages).
    me: PlayerId,
    /// Ids in view (a fast hasher: every enter and leave touches it).
    ids: foldhash::HashSet<PlayerId>,
    /// Binary form: by index, the player held there. Kept small (24
    /// bytes a slot): every move touches one, and a thousand bots' slots
    /// do not stay in the CPU cache between two snapshots.
    slots: Vec<Option<Held>>,
    /// Binary form: tracked players' new positions in the snapshot being
    /// applied, looked up in [`Sightings`] after every move is applied.
    /// The lookups take locks, and a lock stops the CPU from overlapping
    /// the slots' cache misses that come after it; batched, they do not.
    sighted: Vec<(PlayerId, i32, i32)>,
    /// The form of the first snapshot; a server does not switch forms on
    /// one connection.
    form: Option<Form>,
}

impl HeldView {
    fn new(me: PlayerId) -> Self {
        HeldView {
            me,
            ids: foldhash::HashSet::default(),
            slots: Vec::new(),
            sighted: Vec::new(),
            form: None,
        }
    }

    /// Checks that this snapshot has the form of the first one.
    fn same_form(&mut self, stats: &Stats, form: Form) -> bool {
        match self.form {
            None => {
                self.form = Some(form);
                true
            }
            Some(f) if f == form => true,
            Some(f) => {
                stats.consistency_error(format!(
                    "bot {}: a {form:?} snapshot after {f:?} ones",
                    self.me
                ));
                false
            }
        }
    }

    fn apply_json(
        &mut self,
        stats: &Stats,
        latencies: &mut LatencyBatch<'_>,
        sightings: &Sightings,
        snap: &Snapshot<'_>,
        now: Instant,
    ) {
        if !self.same_form(stats, Form::Json) {
            return;
        }
        let me = self.me;
        for id in snap.leave() {
            if !self.ids.remove(id) {
                stats.consistency_error(format!("bot {me}: leave of {id}, not in view"));
            }
        }
        for e in snap.enter() {
            if !self.ids.insert(e.id) {
                stats.consistency_error(format!("bot {me}: enter of {}, already in view", e.id));
            }
        }
        for (id, x, y) in snap.moves() {
            if !self.ids.contains(&id) {
                stats.consistency_error(format!("bot {me}: move of {id}, not in view"));
                continue;
            }
            if let Some(sent) = sightings.sent_at(id, x, y) {
                latencies.seen(now.saturating_duration_since(sent));
            }
        }
    }

    fn apply_binary(
        &mut self,
        stats: &Stats,
        latencies: &mut LatencyBatch<'_>,
        sightings: &Sightings,
        snap: &BinarySnapshot,
        now: Instant,
    ) {
        if !self.same_form(stats, Form::Binary) {
            return;
        }
        let me = self.me;
        for &index in &snap.leave {
            match self.slots.get_mut(index as usize).and_then(Option::take) {
                Some(held) => {
                    self.ids.remove(&held.id);
                }
                None => {
                    stats.consistency_error(format!("bot {me}: leave of index {index}, not held"))
                }
            }
        }
        for e in &snap.enter {
            let i = e.index as usize;
            if i >= self.slots.len() {
                self.slots.resize(i + 1, None);
            }
            if self.slots[i].is_some() {
                stats.consistency_error(format!("bot {me}: enter at index {i}, already held"));
                continue;
            }
            if !self.ids.insert(e.id) {
                stats.consistency_error(format!("bot {me}: enter of {}, already in view", e.id));
                continue;
            }
            self.slots[i] = Some(Held {
                id: e.id,
                x: e.x,
                y: e.y,
                tracked: sightings.tracks(e.id),
            });
        }
        for m in &snap.moves {
            let Some(Some(held)) = self.slots.get_mut(m.index as usize) else {
                stats.consistency_error(format!("bot {me}: move of index {}, not held", m.index));
                continue;
            };
            let to = |c: i32, d: i64| i32::try_from(i64::from(c).saturating_add(d)).ok();
            let (Some(x), Some(y)) = (to(held.x, m.dx), to(held.y, m.dy)) else {
                stats.consistency_error(format!(
                    "bot {me}: move of index {} beyond the coordinate range",
                    m.index
                ));
                continue;
            };
            (held.x, held.y) = (x, y);
            if held.tracked {
                self.sighted.push((held.id, x, y));
            }
        }
        for (id, x, y) in self.sighted.drain(..) {
            if let Some(sent) = sightings.sent_at_cents(id, x.into(), y.into()) {
                latencies.seen(now.saturating_duration_since(sent));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::WorldConfig;
    use serde_json::Value;

    fn welcome(x: f64, y: f64) -> Welcome {
        let rules = WorldConfig {
            width: 500.0,
            height: 300.0,
            ..WorldConfig::default()
        };
        Welcome::new(1, "bot1".into(), glam::DVec2::new(x, y), &rules)
    }

    #[test]
    fn walker_stays_in_the_world_within_its_step() {
        let mut w = Walker::new(&welcome(250.0, 150.0), 24.0);
        let (mut px, mut py) = (w.x, w.y);
        for _ in 0..10_000 {
            let (x, y) = w.advance();
            assert!(
                (0.0..=500.0).contains(&x) && (0.0..=300.0).contains(&y),
                "({x}, {y})"
            );
            // Rounding to 0.01 may add at most one hundredth per axis.
            assert!((x - px).hypot(y - py) <= 24.0 + 0.015, "step too long");
            assert_eq!(x, round2(x));
            (px, py) = (x, y);
        }
    }

    #[test]
    fn snapshot_application_flags_inconsistent_deltas() {
        let stats = Stats::new(1);
        let sightings = Sightings::new(1);
        let mut batch = LatencyBatch::new(&stats);
        let mut view = HeldView::new(1);
        let parse = |v: Value| serde_json::from_value::<Snapshot<'static>>(v).unwrap();
        let now = Instant::now();
        let ok = parse(
            json!({"tick":1,"ack":0,"x":0,"y":0,"enter":[{"id":2,"name":"b","x":1,"y":1}],"move":[[2,3,3]],"leave":[]}),
        );
        view.apply_json(&stats, &mut batch, &sightings, &ok, now);
        assert_eq!(stats.consistency_errors.load(Ordering::Relaxed), 0);
        // Leave then re-enter in one merged snapshot is consistent.
        let rejoin = parse(
            json!({"tick":2,"ack":0,"x":0,"y":0,"enter":[{"id":2,"name":"b","x":1,"y":1}],"move":[],"leave":[2]}),
        );
        view.apply_json(&stats, &mut batch, &sightings, &rejoin, now);
        assert_eq!(stats.consistency_errors.load(Ordering::Relaxed), 0);
        let bad = parse(
            json!({"tick":3,"ack":0,"x":0,"y":0,"enter":[{"id":2,"name":"b","x":1,"y":1}],"move":[[7,1,1]],"leave":[9]}),
        );
        view.apply_json(&stats, &mut batch, &sightings, &bad, now);
        assert_eq!(stats.consistency_errors.load(Ordering::Relaxed), 3);
        // A binary snapshot on a connection that had JSON ones.
        view.apply_binary(
            &stats,
            &mut batch,
            &sightings,
            &BinarySnapshot::default(),
            now,
        );
        assert_eq!(stats.consistency_errors.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn binary_application_flags_indices_not_held() {
        use crate::game::binary::{BinaryEnter, BinaryMove};
        let stats = Stats::new(1);
        stats.measuring.store(true, Ordering::Relaxed);
        let sightings = Sightings::new(2);
        let now = Instant::now();
        sightings.sent(4, 10.25, 20.5, now);
        let mut batch = LatencyBatch::new(&stats);
        let mut view = HeldView::new(1);
        let enter = |index, id| BinaryEnter {
            index,
            id,
            x: 1000,
            y: 2000,
            name: "b".into(),
        };
        let first = BinarySnapshot {
            tick: 1,
            enter: vec![enter(0, 4), enter(1, 6)],
            moves: vec![BinaryMove {
                index: 0,
                dx: 25,
                dy: 50,
            }],
            ..BinarySnapshot::default()
        };
        view.apply_binary(&stats, &mut batch, &sightings, &first, now);
        assert_eq!(stats.consistency_errors.load(Ordering::Relaxed), 0);
        // The move took player 4 exactly to its sent target.
        batch.flush();
        assert_eq!(stats.latencies().2.count, 1);
        // Index 1 leaves and is taken again by another player: consistent.
        let reuse = BinarySnapshot {
            tick: 2,
            leave: vec![1],
            enter: vec![enter(1, 8)],
            ..BinarySnapshot::default()
        };
        view.apply_binary(&stats, &mut batch, &sightings, &reuse, now);
        assert_eq!(stats.consistency_errors.load(Ordering::Relaxed), 0);
        // Leave of a free index, enter at a held one, enter of a player
        // held elsewhere, move of a free index.
        let bad = BinarySnapshot {
            tick: 3,
            leave: vec![5],
            enter: vec![enter(0, 9), enter(2, 8)],
            moves: vec![BinaryMove {
                index: 3,
                dx: 1,
                dy: 1,
            }],
            ..BinarySnapshot::default()
        };
        view.apply_binary(&stats, &mut batch, &sightings, &bad, now);
        assert_eq!(stats.consistency_errors.load(Ordering::Relaxed), 4);
        // A move beyond the binary form's coordinates is refused, and the
        // player keeps its position.
        let far = BinarySnapshot {
            tick: 4,
            moves: vec![BinaryMove {
                index: 0,
                dx: i64::from(i32::MAX),
                dy: 0,
            }],
            ..BinarySnapshot::default()
        };
        view.apply_binary(&stats, &mut batch, &sightings, &far, now);
        assert_eq!(stats.consistency_errors.load(Ordering::Relaxed), 5);
        assert_eq!(view.slots[0].map(|h| (h.x, h.y)), Some((1025, 2050)));
    }

    #[tokio::test]
    async fn a_migrate_needs_a_usable_url() {
        let args = |v: Value| Args::new().with(v);
        assert_eq!(
            migrate_target(1, &args(json!({"url": "http://127.0.0.1:4001"}))).await,
            Some(std::net::SocketAddr::from(([127, 0, 0, 1], 4001)))
        );
        for bad in [
            json!({}),
            json!({"url": 5}),
            json!({"url": "ftp://127.0.0.1:4001"}),
            json!("http://127.0.0.1:4001"),
        ] {
            assert_eq!(migrate_target(1, &args(bad.clone())).await, None, "{bad}");
        }
        assert_eq!(migrate_target(1, &Args::new()).await, None);
    }

    #[test]
    fn position_packets_are_the_events_json() {
        let text = position_packet(1250, 7, 9);
        assert_eq!(text, r#"42["position",{"x":12.50,"y":0.07,"seq":9}]"#);
        let value: Value = serde_json::from_str(&text[2..]).unwrap();
        assert_eq!(value, json!(["position", {"x": 12.5, "y": 0.07, "seq": 9}]));
        assert_eq!(
            position_packet(300_000, 0, 1),
            r#"42["position",{"x":3000.00,"y":0.00,"seq":1}]"#
        );
        let value: Value = serde_json::from_str(&position_packet(-101, 99, 2)[2..]).unwrap();
        assert_eq!(
            value,
            json!(["position", {"x": -1.01, "y": 0.99, "seq": 2}])
        );
        // Every walker coordinate comes back as the same hundredths.
        for cents in [0, 1, 10, 99, 100, 123_456, 409_600] {
            let text = position_packet(cents, cents, 3);
            let value: Value = serde_json::from_str(&text[2..]).unwrap();
            assert_eq!(centi(value[1]["x"].as_f64().unwrap()), cents, "{text}");
        }
    }

    #[test]
    fn sightings_time_only_tracked_players_at_sent_targets() {
        let stats = Stats::new(1);
        stats.measuring.store(true, Ordering::Relaxed);
        let sightings = Sightings::new(2);
        let sent = Instant::now();
        sightings.sent(4, 10.25, 20.5, sent);
        assert!(sightings.sent_at(4, 10.25, 20.5).is_some());
        assert!(sightings.sent_at(4, 10.26, 20.5).is_none());
        assert!(sightings.sent_at(3, 10.25, 20.5).is_none());
        let mut batch = LatencyBatch::new(&stats);
        let mut view = HeldView::new(1);
        view.ids.insert(4);
        let snap = serde_json::from_value::<Snapshot<'static>>(
            json!({"tick":1,"ack":0,"x":0,"y":0,"enter":[],"move":[[4,10.25,20.5]],"leave":[]}),
        )
        .unwrap();
        view.apply_json(
            &stats,
            &mut batch,
            &sightings,
            &snap,
            sent + Duration::from_millis(30),
        );
        // Held in the bot's batch until it flushes (or ends).
        assert_eq!(stats.latencies().2.count, 0);
        drop(batch);
        assert_eq!(stats.latencies().2.count, 1);
    }
}
