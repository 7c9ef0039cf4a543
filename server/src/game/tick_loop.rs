//! The world's runner: a dedicated OS thread (not a tokio task) that applies
//! [`WorldCommand`]s as they arrive and calls [`World::tick`] at a fixed rate,
//! plus the [`TickStats`] it records for `/metrics` and `/api/health`.
//!
//! Channels: commands arrive on a `std::sync::mpsc` receiver. Create it with
//! `std::sync::mpsc::sync_channel(capacity)` and use `try_send` from async
//! code (never blocks; a full channel is back-pressure to count and drop).
//! Replies go back on `tokio::sync::oneshot` senders, which async callers
//! await; sending on them never blocks the tick thread.
//!
//! Pacing ([`Pacer`]): deadlines are `start + k * period`. After an overrun
//! the next tick runs at the first future deadline: no drift, and no burst of
//! catch-up ticks. The pacer is pure (it is given the time), so tests need no
//! sleeping; [`run`] is a thin loop around it and [`apply`].
//!
//! Must not do I/O itself: everything outgoing goes through the [`Outbox`],
//! which is told ([`Outbox::deliver`]) after every tick and every command
//! that what it was handed may go out.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use glam::DVec2;
use tokio::sync::oneshot;

use super::handoff::{HandedOverPlayer, MirrorEntry, TickHook};
use super::snapshot::{SavedPosition, TeleportReason};
use super::world::{TargetOutcome, World};
use super::{Outbox, PlayerId};

/// A request to the world, applied on the tick thread between ticks.
#[derive(Debug)]
pub enum WorldCommand {
    /// Bring a player online at its stored position ([`World::join`]).
    Join {
        /// Account id.
        id: PlayerId,
        /// Display name.
        name: String,
        /// Stored position.
        pos: DVec2,
        /// The store's reset epoch of `pos` (see [`SavedPosition::reset_epoch`]).
        reset_epoch: i64,
        /// Gets the position the player actually starts at (for `welcome`).
        reply: oneshot::Sender<DVec2>,
    },
    /// Take a player offline ([`World::leave`]).
    Leave {
        /// Account id.
        id: PlayerId,
        /// Gets the final position to persist (`None` if not online).
        reply: oneshot::Sender<Option<SavedPosition>>,
    },
    /// A `position` input ([`World::set_target`]).
    Target {
        /// Account id.
        id: PlayerId,
        /// Desired x.
        x: f64,
        /// Desired y.
        y: f64,
        /// The client's sequence number.
        seq: u64,
    },
    /// Move a player by server decision ([`World::teleport`]).
    Teleport {
        /// Account id.
        id: PlayerId,
        /// Where to.
        pos: DVec2,
        /// Why (an admin reset, usually).
        reason: TeleportReason,
        /// For an admin reset, the store's epoch of the reset.
        reset_epoch: i64,
    },
    /// A chat line to relay ([`World::chat`]).
    Chat {
        /// Sender's account id.
        id: PlayerId,
        /// The validated text.
        text: String,
    },
    /// Bring a player handed over by another node online, continuing from
    /// its state ([`World::join_handed_over`]).
    JoinHandedOver {
        /// The handed-over state.
        player: HandedOverPlayer,
        /// Gets the position the player starts at (for `welcome`).
        reply: oneshot::Sender<DVec2>,
    },
    /// Replace the mirrors from one source ([`World::set_mirrors`]).
    SetMirrors {
        /// Opaque source id (the cluster uses the region index).
        source: u32,
        /// The source's whole current set.
        entries: Vec<MirrorEntry>,
    },
    /// Remove every mirror of one source ([`World::clear_mirrors`]).
    ClearMirrors {
        /// Opaque source id.
        source: u32,
    },
    /// A chat line from a mirrored player ([`World::chat_from_mirror`]).
    ChatFromMirror {
        /// The mirrored sender's account id.
        from: PlayerId,
        /// The validated text.
        text: String,
    },
    /// Stop the loop; the reply gets every position to persist.
    Shutdown {
        /// Gets every online position plus anything unsaved.
        reply: oneshot::Sender<Vec<SavedPosition>>,
    },
}

impl WorldCommand {
    /// Whether the tick thread should be woken to apply this command as
    /// soon as it arrives: everything but a `position` target, which
    /// changes nothing before the next tick (commands are applied in
    /// order, so it still precedes anything sent after it).
    pub fn wakes_the_world(&self) -> bool {
        !matches!(self, Self::Target { .. })
    }
}

/// Fixed-rate deadlines without drift or catch-up bursts.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Time between ticks.
    period: Duration,
    /// When the next tick is due.
    next: Instant,
}

/// When a tick actually started relative to its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickTiming {
    /// How late the tick started.
    pub late: Duration,
    /// Deadlines skipped because the loop fell more than a period behind.
    pub skipped: u64,
}

impl Pacer {
    /// First tick due one period after `start`.
    pub fn new(start: Instant, period: Duration) -> Self {
        let period = period.max(Duration::from_nanos(1));
        Self {
            period,
            next: start + period,
        }
    }

    /// When the next tick is due.
    pub fn deadline(&self) -> Instant {
        self.next
    }

    /// Starts the tick due at [`Pacer::deadline`] at time `now` and schedules
    /// the next one: the previous deadline plus one period, or, if `now` is
    /// already past that, the first deadline after `now`.
    pub fn start_tick(&mut self, now: Instant) -> TickTiming {
        let due = self.next;
        let late = now.saturating_duration_since(due);
        let period = self.period.as_nanos();
        let skipped = (late.as_nanos() / period) as u64;
        let ahead = period.saturating_mul(u128::from(skipped) + 1);
        self.next = due + Duration::from_nanos(u64::try_from(ahead).unwrap_or(u64::MAX));
        TickTiming { late, skipped }
    }
}

/// Upper bounds (seconds) of the duration histogram buckets; a last `+Inf`
/// bucket is implied. Fixed, not a setting: the buckets are the metric's
/// shape (dashboards compare runs bucket by bucket), not a limit.
pub const DURATION_BUCKETS: [f64; 11] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// What the tick thread measures, shared (in an `Arc`) with `/metrics` and
/// `/api/health`. Readers never block the tick for long: counters and gauges
/// are atomics, histograms take a short lock per observation.
#[derive(Debug)]
pub struct TickStats {
    /// Time spent in [`World::tick`], in seconds.
    pub tick_duration: Histogram,
    /// How late each tick started after its deadline (jitter), in seconds.
    pub tick_lateness: Histogram,
    /// Deadlines skipped after overruns.
    pub ticks_skipped: Counter,
    /// Completed ticks ([`World::tick_number`]).
    pub tick: Gauge,
    /// Online players ([`World::player_count`]).
    pub players_online: Gauge,
    /// `position` inputs that were clamped or too far and got a correction.
    pub corrections: Counter,
    /// `position` inputs dropped: stale seq, non-finite, after a teleport, or
    /// for a player not online.
    pub inputs_dropped: Counter,
}

impl Default for TickStats {
    fn default() -> Self {
        Self {
            tick_duration: Histogram::new(DURATION_BUCKETS),
            tick_lateness: Histogram::new(DURATION_BUCKETS),
            ticks_skipped: Counter::default(),
            tick: Gauge::default(),
            players_online: Gauge::default(),
            corrections: Counter::default(),
            inputs_dropped: Counter::default(),
        }
    }
}

impl TickStats {
    /// Adds every metric to `registry` (which prefixes the names).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "tick_duration_seconds",
            "Time spent computing one world tick",
            self.tick_duration.clone(),
        );
        registry.register(
            "tick_lateness_seconds",
            "How late each tick started after its deadline",
            self.tick_lateness.clone(),
        );
        registry.register(
            "ticks_skipped",
            "Tick deadlines skipped after overruns",
            self.ticks_skipped.clone(),
        );
        registry.register("tick", "Completed world ticks", self.tick.clone());
        registry.register(
            "players_online",
            "Players in the world",
            self.players_online.clone(),
        );
        registry.register(
            "position_corrections",
            "Position inputs answered with a correction teleport",
            self.corrections.clone(),
        );
        registry.register(
            "position_inputs_rejected",
            "Position inputs ignored by the world (stale, non-finite, after a teleport, offline)",
            self.inputs_dropped.clone(),
        );
    }

    /// Completed ticks.
    pub fn tick(&self) -> u64 {
        self.tick.get().max(0) as u64
    }

    /// Players in the world.
    pub fn players_online(&self) -> u64 {
        self.players_online.get().max(0) as u64
    }

    fn publish(&self, world: &World) {
        self.tick.set(world.tick_number() as i64);
        self.players_online.set(world.player_count() as i64);
    }
}

/// Applies one command to the world. `Break` means stop (after `Shutdown`).
pub fn apply(
    world: &mut World,
    command: WorldCommand,
    outbox: &mut impl Outbox,
    stats: &TickStats,
) -> ControlFlow<()> {
    match command {
        WorldCommand::Join {
            id,
            name,
            pos,
            reset_epoch,
            reply,
        } => {
            let pos = world.join_at_epoch(id, &name, pos, reset_epoch);
            let _ = reply.send(pos); // the requester may have given up
        }
        WorldCommand::Leave { id, reply } => {
            let last = world.leave_saved(id);
            // Handed to persistence here, before any later command (a
            // shutdown's final save included) runs: never lost in between.
            if let Some(last) = &last {
                outbox.persist(std::slice::from_ref(last));
            }
            let _ = reply.send(last);
        }
        WorldCommand::Target { id, x, y, seq } => match world.set_target(id, x, y, seq) {
            TargetOutcome::Accepted => {}
            TargetOutcome::Clamped | TargetOutcome::TooFar => {
                stats.corrections.inc();
            }
            TargetOutcome::Stale
            | TargetOutcome::NonFinite
            | TargetOutcome::DroppedAfterTeleport
            | TargetOutcome::UnknownPlayer => {
                stats.inputs_dropped.inc();
            }
        },
        WorldCommand::Teleport {
            id,
            pos,
            reason,
            reset_epoch,
        } => {
            if reason == TeleportReason::AdminReset {
                world.admin_reset(id, pos, reset_epoch);
            } else {
                world.teleport(id, pos, reason);
            }
        }
        WorldCommand::Chat { id, text } => {
            world.chat(id, &text, outbox);
        }
        WorldCommand::JoinHandedOver { player, reply } => {
            let pos = world.join_handed_over(player);
            let _ = reply.send(pos);
        }
        WorldCommand::SetMirrors { source, entries } => world.set_mirrors(source, &entries),
        WorldCommand::ClearMirrors { source } => world.clear_mirrors(source),
        WorldCommand::ChatFromMirror { from, text } => {
            world.chat_from_mirror(from, &text, outbox);
        }
        WorldCommand::Shutdown { reply } => {
            let _ = reply.send(world.all_positions());
            stats.publish(world);
            return ControlFlow::Break(());
        }
    }
    stats.publish(world);
    ControlFlow::Continue(())
}

/// Runs the world at `world.config().tick_hz` until a `Shutdown` command or
/// until every command sender is dropped, then returns it (call
/// [`World::all_positions`] on it if no `Shutdown` reply saved them).
/// Call it on a dedicated thread:
/// `std::thread::Builder::new().name("world".into()).spawn(...)`.
///
/// Commands are applied in the order they were sent, between ticks. The
/// loop sleeps until the next deadline and does not wake for a command by
/// itself: a sender that wants its command applied before then (any that
/// [wakes the world](WorldCommand::wakes_the_world)) unparks this thread
/// after sending it. A `position` target waits for the tick, which is the
/// first thing it changes, so 10,000 moves a second cost no wake-ups.
pub fn run(
    mut world: World,
    commands: Receiver<WorldCommand>,
    mut outbox: impl Outbox,
    stats: &TickStats,
    mut hook: impl TickHook,
) -> World {
    let mut pacer = Pacer::new(Instant::now(), world.config().tick_period());
    let late_tick_commands = world.config().max_commands_per_late_tick;
    loop {
        loop {
            let now = Instant::now();
            let deadline = pacer.deadline();
            if now >= deadline {
                // Ticks overrunning their period must not starve commands
                // (joins, leaves, shutdown): apply what is queued, bounded.
                for _ in 0..late_tick_commands {
                    match commands.try_recv() {
                        Ok(command) => {
                            let flow = apply(&mut world, command, &mut outbox, stats);
                            outbox.deliver();
                            if flow.is_break() {
                                return world;
                            }
                        }
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => return world,
                    }
                }
                break;
            }
            match commands.try_recv() {
                Ok(command) => {
                    let flow = apply(&mut world, command, &mut outbox, stats);
                    outbox.deliver();
                    if flow.is_break() {
                        return world;
                    }
                }
                // Until the deadline, or until a sender unparks this thread
                // for a command that wakes the world (see
                // `WorldCommand::wakes_the_world`); a spurious return only
                // loops once more.
                Err(TryRecvError::Empty) => std::thread::park_timeout(deadline - now),
                Err(TryRecvError::Disconnected) => return world,
            }
        }
        let started = Instant::now();
        let timing = pacer.start_tick(started);
        world.tick(&mut outbox);
        hook.after_tick(&mut world, &mut outbox);
        outbox.deliver();
        stats.tick_duration.observe(started.elapsed().as_secs_f64());
        stats.tick_lateness.observe(timing.late.as_secs_f64());
        stats.ticks_skipped.inc_by(timing.skipped);
        stats.publish(&world);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::{ChatMessage, Delivery, Snapshot, Teleport, WorldConfig};
    use std::sync::mpsc::sync_channel;

    #[test]
    fn pacer_keeps_a_fixed_grid_without_drift() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Pacer::new(t0, ms(50));
        assert_eq!(p.deadline(), t0 + ms(50));
        // Slightly late starts do not shift later deadlines.
        assert_eq!(p.start_tick(t0 + ms(53)).late, ms(3));
        assert_eq!(p.deadline(), t0 + ms(100));
        let t = p.start_tick(t0 + ms(100));
        assert_eq!((t.late, t.skipped), (ms(0), 0));
        assert_eq!(p.deadline(), t0 + ms(150));
    }

    #[test]
    fn pacer_skips_missed_deadlines_instead_of_bursting() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Pacer::new(t0, ms(50));
        // The tick due at 50 starts at 180: deadlines 100 and 150 are skipped.
        let t = p.start_tick(t0 + ms(180));
        assert_eq!((t.late, t.skipped), (ms(130), 2));
        assert_eq!(p.deadline(), t0 + ms(200));
        // Exactly on a later deadline: that one is skipped too, next is future.
        let mut p = Pacer::new(t0, ms(50));
        let t = p.start_tick(t0 + ms(100));
        assert_eq!(t.skipped, 1);
        assert_eq!(p.deadline(), t0 + ms(150));
    }

    #[test]
    fn stats_register_under_the_prefix() {
        let stats = TickStats::default();
        stats.tick_duration.observe(0.003);
        stats.players_online.set(2);
        let mut registry = Registry::with_prefix("locus");
        stats.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("locus_tick_duration_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains("locus_tick_duration_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(text.contains("locus_players_online 2"), "{text}");
    }

    #[derive(Default)]
    struct Recorder {
        snapshots: Vec<(PlayerId, u64)>,
        persisted: usize,
    }

    impl Outbox for Recorder {
        fn snapshot(&mut self, to: PlayerId, snapshot: &Snapshot<'_>) -> Delivery {
            self.snapshots.push((to, snapshot.tick()));
            Delivery::Sent
        }
        fn teleport(&mut self, _: PlayerId, _: &Teleport) {}
        fn chat(&mut self, _: &[PlayerId], _: &ChatMessage) {}
        fn persist(&mut self, positions: &[SavedPosition]) {
            self.persisted += positions.len();
        }
        fn kick(&mut self, _: PlayerId, _: &str) {}
    }

    #[test]
    fn apply_answers_join_leave_and_shutdown() {
        let mut world = World::new(WorldConfig::default()).unwrap();
        let stats = TickStats::default();
        let mut out = Recorder::default();
        let (tx, mut rx) = oneshot::channel();
        let cmd = WorldCommand::Join {
            id: 1,
            name: "a".into(),
            pos: DVec2::new(-5.0, 10.0),
            reset_epoch: 0,
            reply: tx,
        };
        assert!(apply(&mut world, cmd, &mut out, &stats).is_continue());
        assert_eq!(rx.try_recv().unwrap(), DVec2::new(0.0, 10.0));
        assert_eq!(stats.players_online(), 1);
        let cmd = WorldCommand::Target {
            id: 1,
            x: f64::NAN,
            y: 0.0,
            seq: 1,
        };
        let _ = apply(&mut world, cmd, &mut out, &stats);
        assert_eq!(stats.inputs_dropped.get(), 1);
        let (tx, mut rx) = oneshot::channel();
        let flow = apply(
            &mut world,
            WorldCommand::Shutdown { reply: tx },
            &mut out,
            &stats,
        );
        assert!(flow.is_break());
        let all = rx.try_recv().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].id, all[0].x, all[0].y), (1, 0.0, 10.0));
        let (tx, mut rx) = oneshot::channel();
        let _ = apply(
            &mut world,
            WorldCommand::Leave { id: 1, reply: tx },
            &mut out,
            &stats,
        );
        assert_eq!(
            rx.try_recv().unwrap().map(|s| (s.x, s.y, s.reset_epoch)),
            Some((0.0, 10.0, 0))
        );
        assert_eq!(
            out.persisted, 1,
            "the final position is handed to persistence"
        );
        assert_eq!(stats.players_online(), 0);
    }

    #[test]
    fn run_ticks_and_stops_on_shutdown() {
        // A fast tick rate keeps this short; nothing here asserts on timing.
        let config = WorldConfig {
            tick_hz: 1000,
            ..Default::default()
        };
        let world = World::new(config).unwrap();
        let (tx, rx) = sync_channel(16);
        let stats = std::sync::Arc::new(TickStats::default());
        let thread_stats = stats.clone();
        let handle = std::thread::spawn(move || {
            let mut out = Recorder::default();
            let world = run(world, rx, &mut out, &thread_stats, ());
            (world, out)
        });
        let (jtx, jrx) = oneshot::channel();
        tx.send(WorldCommand::Join {
            id: 7,
            name: "x".into(),
            pos: DVec2::new(100.0, 100.0),
            reset_epoch: 0,
            reply: jtx,
        })
        .unwrap();
        assert_eq!(jrx.blocking_recv().unwrap(), DVec2::new(100.0, 100.0));
        tx.send(WorldCommand::Target {
            id: 7,
            x: 100.25,
            y: 100.0,
            seq: 1,
        })
        .unwrap();
        // Commands are applied in order: once this join is answered, the
        // target is applied. Then wait (on the world's own progress, not the
        // clock) for one more tick to move the player.
        let (jtx, jrx) = oneshot::channel();
        tx.send(WorldCommand::Join {
            id: 8,
            name: "y".into(),
            pos: DVec2::new(3000.0, 3000.0),
            reset_epoch: 0,
            reply: jtx,
        })
        .unwrap();
        jrx.blocking_recv().unwrap();
        let applied_at = stats.tick();
        while stats.tick() <= applied_at {
            std::thread::yield_now();
        }
        let (stx, srx) = oneshot::channel();
        tx.send(WorldCommand::Shutdown { reply: stx }).unwrap();
        let saved = srx.blocking_recv().unwrap();
        let mine = saved.iter().find(|s| s.id == 7).unwrap();
        assert_eq!((mine.x, mine.y), (100.25, 100.0));
        let (world, out) = handle.join().unwrap();
        assert!(world.tick_number() > applied_at);
        assert!(out.snapshots.iter().any(|&(to, _)| to == 7));
    }

    /// An outbox whose every snapshot takes longer than a tick period.
    struct Slow;

    impl Outbox for Slow {
        fn snapshot(&mut self, _: PlayerId, _: &Snapshot<'_>) -> Delivery {
            std::thread::sleep(Duration::from_millis(5));
            Delivery::Sent
        }
        fn teleport(&mut self, _: PlayerId, _: &Teleport) {}
        fn chat(&mut self, _: &[PlayerId], _: &ChatMessage) {}
        fn persist(&mut self, _: &[SavedPosition]) {}
        fn kick(&mut self, _: PlayerId, _: &str) {}
    }

    /// Waits for a reply, at most a generous 10 s (a starved loop never
    /// answers).
    fn answer<T>(mut rx: oneshot::Receiver<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match rx.try_recv() {
                Ok(v) => return v,
                Err(oneshot::error::TryRecvError::Empty) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("the world loop never answered: {e:?}"),
            }
        }
    }

    #[test]
    fn overrunning_ticks_still_apply_commands() {
        // 1 ms period, 5 ms per snapshot: once player 1 walks, every deadline
        // has passed when a tick ends. Joins and the shutdown must still be
        // answered.
        let config = WorldConfig {
            tick_hz: 1000,
            ..Default::default()
        };
        let world = World::new(config).unwrap();
        let (tx, rx) = sync_channel(16);
        let handle = std::thread::spawn(move || run(world, rx, Slow, &TickStats::default(), ()));
        let (jtx, jrx) = oneshot::channel();
        tx.send(WorldCommand::Join {
            id: 1,
            name: "walker".into(),
            pos: DVec2::new(100.0, 100.0),
            reset_epoch: 0,
            reply: jtx,
        })
        .unwrap();
        answer(jrx);
        // Far away: approached at speed, one snapshot every tick.
        tx.send(WorldCommand::Target {
            id: 1,
            x: 3000.0,
            y: 100.0,
            seq: 1,
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(30));
        for id in 2..=3 {
            let (jtx, jrx) = oneshot::channel();
            let pos = DVec2::new(100.0 * id as f64, 100.0);
            tx.send(WorldCommand::Join {
                id,
                name: format!("p{id}"),
                pos,
                reset_epoch: 0,
                reply: jtx,
            })
            .unwrap();
            answer(jrx);
        }
        let (stx, srx) = oneshot::channel();
        tx.send(WorldCommand::Shutdown { reply: stx }).unwrap();
        assert_eq!(answer(srx).len(), 3);
        handle.join().unwrap();
    }

    #[test]
    fn only_a_position_target_waits_for_the_tick() {
        let target = WorldCommand::Target {
            id: 1,
            x: 0.0,
            y: 0.0,
            seq: 1,
        };
        assert!(!target.wakes_the_world());
        let (reply, _) = oneshot::channel();
        assert!(WorldCommand::Leave { id: 1, reply }.wakes_the_world());
        let chat = WorldCommand::Chat {
            id: 1,
            text: "hi".into(),
        };
        assert!(chat.wakes_the_world());
        let (reply, _) = oneshot::channel();
        assert!(WorldCommand::Shutdown { reply }.wakes_the_world());
    }

    #[test]
    fn run_returns_when_all_senders_are_gone() {
        let world = World::new(WorldConfig::default()).unwrap();
        let (tx, rx) = sync_channel::<WorldCommand>(1);
        drop(tx);
        let world = run(world, rx, Recorder::default(), &TickStats::default(), ());
        assert_eq!(world.player_count(), 0);
    }
}
