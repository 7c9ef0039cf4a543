//! One bot: connects with its token, waits for `welcome`, then walks between
//! random waypoints inside the world at 80% of the server's speed, sending
//! `position {x,y,seq}` at the configured rate, and checks every snapshot
//! against the view it holds. Records into the shared [`Stats`] and
//! [`Sightings`]. Must not hold a lock across `.await`.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::client::{Client, ClientError, Incoming, Transport};
use super::stats::{Sightings, Stats};
use crate::game::{PlayerId, Snapshot, Teleport, Welcome};

/// Fraction of the server's max speed bots walk at, leaving room for timer
/// jitter so the speed check never corrects an honest bot.
const SPEED_FACTOR: f64 = 0.8;

/// Sent positions kept waiting for their ack; older ones are forgotten.
const MAX_PENDING: usize = 256;

/// What every bot shares.
pub struct Swarm {
    /// The server.
    pub addr: std::net::SocketAddr,
    /// The transport every bot uses.
    pub transport: Transport,
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
    /// Limits handshakes in flight.
    pub connecting: tokio::sync::Semaphore,
}

/// `position {x,y,seq}`, the one input a bot sends (the server reads it in
/// `session::game_events`; the game has no type for inputs).
#[derive(Serialize)]
struct Position {
    x: f64,
    y: f64,
    seq: u64,
}

/// Connects with `token` and waits for `welcome` (answering pings).
pub async fn connect(swarm: &Swarm, token: &str) -> Result<(Client, Welcome), ClientError> {
    let auth = json!({ "token": token });
    let traffic = swarm.stats.traffic.clone();
    let mut client = Client::connect(swarm.addr, swarm.transport, &auth, traffic).await?;
    loop {
        match client.next().await? {
            Incoming::Event { name, args } if name == "welcome" => {
                let welcome = args
                    .into_iter()
                    .next()
                    .and_then(|v| serde_json::from_value(v).ok())
                    .ok_or_else(|| ClientError::Protocol("malformed welcome".into()))?;
                return Ok((client, welcome));
            }
            Incoming::Event { name, .. } if name == "kicked" => return Err(ClientError::Closed),
            Incoming::Event { .. } => {}
            Incoming::Ping => client.pong().await?,
            Incoming::Closed => return Err(ClientError::Closed),
        }
    }
}

/// Runs one bot from connect to the end of the run.
pub async fn run(swarm: Arc<Swarm>, token: String) {
    let started = Instant::now();
    let stats = &swarm.stats;
    let attempt = {
        let _permit = swarm.connecting.acquire().await;
        tokio::select! {
            r = tokio::time::timeout(swarm.connect_timeout, connect(&swarm, &token)) => r,
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
    let end = play(&swarm, &mut client, welcome).await;
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

/// The player loop: moves on a timer, checks snapshots, answers pings.
async fn play(swarm: &Swarm, client: &mut Client, welcome: Welcome) -> End {
    let stats = &swarm.stats;
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
    let mut view: HashSet<PlayerId> = HashSet::new();
    let tracked = swarm.sightings.tracks(me);
    loop {
        let incoming = tokio::select! {
            () = swarm.stop.cancelled() => return End::Stopped,
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
                if let Err(e) = client.emit("position", &Position { x, y, seq }).await {
                    return End::Lost(e.to_string());
                }
                stats.positions.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            incoming = client.next() => incoming,
        };
        let (name, args) = match incoming {
            Ok(Incoming::Event { name, args }) => (name, args),
            Ok(Incoming::Ping) => {
                if let Err(e) = client.pong().await {
                    return End::Lost(e.to_string());
                }
                continue;
            }
            Ok(Incoming::Closed) => return End::Lost("closed by server".into()),
            Err(e) => return End::Lost(e.to_string()),
        };
        let data = args.into_iter().next().unwrap_or(Value::Null);
        match name.as_str() {
            "snapshot" => {
                let now = Instant::now();
                stats.snapshots.fetch_add(1, Ordering::Relaxed);
                let Ok(snap) = serde_json::from_value::<Snapshot<'static>>(data) else {
                    stats.consistency_error(format!("bot {me}: malformed snapshot"));
                    continue;
                };
                while let Some(&(s, sent)) = pending.front() {
                    if s > snap.ack() {
                        break;
                    }
                    pending.pop_front();
                    stats.record_ack(now.duration_since(sent));
                    if !acked {
                        acked = true;
                        stats.acked_bots.fetch_add(1, Ordering::Relaxed);
                    }
                }
                apply(stats, &swarm.sightings, me, &mut view, &snap, now);
            }
            "teleport" => {
                stats.teleports.fetch_add(1, Ordering::Relaxed);
                if let Ok(t) = serde_json::from_value::<Teleport>(data) {
                    walker.x = t.x;
                    walker.y = t.y;
                }
            }
            "kicked" => return End::Kicked,
            _ => {}
        }
    }
}

/// Applies a snapshot to the view (leave, then enter, then move, as the
/// browser client does), counting consistency errors and observer
/// latencies.
fn apply(
    stats: &Stats,
    sightings: &Sightings,
    me: PlayerId,
    view: &mut HashSet<PlayerId>,
    snap: &Snapshot<'_>,
    now: Instant,
) {
    for id in snap.leave() {
        if !view.remove(id) {
            stats.consistency_error(format!("bot {me}: leave of {id}, not in view"));
        }
    }
    for e in snap.enter() {
        if !view.insert(e.id) {
            stats.consistency_error(format!("bot {me}: enter of {}, already in view", e.id));
        }
    }
    for (id, x, y) in snap.moves() {
        if !view.contains(&id) {
            stats.consistency_error(format!("bot {me}: move of {id}, not in view"));
            continue;
        }
        if let Some(sent) = sightings.sent_at(id, x, y) {
            stats.record_seen(now.saturating_duration_since(sent));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::WorldConfig;

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
        let stats = Stats::new(Default::default());
        let sightings = Sightings::new(1);
        let mut view = HashSet::new();
        let parse = |v: Value| serde_json::from_value::<Snapshot<'static>>(v).unwrap();
        let now = Instant::now();
        let ok = parse(
            json!({"tick":1,"ack":0,"x":0,"y":0,"enter":[{"id":2,"name":"b","x":1,"y":1}],"move":[[2,3,3]],"leave":[]}),
        );
        apply(&stats, &sightings, 1, &mut view, &ok, now);
        assert_eq!(stats.consistency_errors.load(Ordering::Relaxed), 0);
        // Leave then re-enter in one merged snapshot is consistent.
        let rejoin = parse(
            json!({"tick":2,"ack":0,"x":0,"y":0,"enter":[{"id":2,"name":"b","x":1,"y":1}],"move":[],"leave":[2]}),
        );
        apply(&stats, &sightings, 1, &mut view, &rejoin, now);
        assert_eq!(stats.consistency_errors.load(Ordering::Relaxed), 0);
        let bad = parse(
            json!({"tick":3,"ack":0,"x":0,"y":0,"enter":[{"id":2,"name":"b","x":1,"y":1}],"move":[[7,1,1]],"leave":[9]}),
        );
        apply(&stats, &sightings, 1, &mut view, &bad, now);
        assert_eq!(stats.consistency_errors.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn sightings_time_only_tracked_players_at_sent_targets() {
        let stats = Stats::new(Default::default());
        stats.measuring.store(true, Ordering::Relaxed);
        let sightings = Sightings::new(2);
        let sent = Instant::now();
        sightings.sent(4, 10.25, 20.5, sent);
        assert!(sightings.sent_at(4, 10.25, 20.5).is_some());
        assert!(sightings.sent_at(4, 10.26, 20.5).is_none());
        assert!(sightings.sent_at(3, 10.25, 20.5).is_none());
        let mut view = HashSet::from([4]);
        let snap = serde_json::from_value::<Snapshot<'static>>(
            json!({"tick":1,"ack":0,"x":0,"y":0,"enter":[],"move":[[4,10.25,20.5]],"leave":[]}),
        )
        .unwrap();
        apply(
            &stats,
            &sightings,
            1,
            &mut view,
            &snap,
            sent + Duration::from_millis(30),
        );
        assert_eq!(stats.latencies().2.count, 1);
    }
}
