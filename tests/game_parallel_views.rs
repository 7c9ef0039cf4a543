//! The parallel tick changes nothing on the wire: worlds that find their
//! views on one, two and three threads (`WorldConfig::view_threads`), fed
//! the same joins, leaves, targets, teleports and refused deliveries, hand
//! the outbox byte-identical snapshots (JSON and binary), in the same
//! order, with the same kicks, tick after tick. The world is big enough
//! for views to be found in parallel (1,500 players), with a crowd standing
//! at one point (shared stack rankings), players standing still (views kept
//! or found from the changes alone) and slow readers (held views, merges,
//! kicks). Through the public `locus::game` API only; no sockets, no clock.

use glam::DVec2;
use locus::game::{
    ChatMessage, Delivery, Outbox, PlayerId, SavedPosition, Snapshot, Teleport, TeleportReason,
    World, WorldConfig,
};

/// A delivered snapshot's JSON and binary bytes, or `None` when refused.
type Offered = Option<(Vec<u8>, Vec<u8>)>;

/// What the world handed over, in order.
#[derive(Debug, Default, PartialEq)]
struct Recorded {
    /// Per snapshot offered: the player and what it was sent.
    snapshots: Vec<(PlayerId, Offered)>,
    kicks: Vec<(PlayerId, String)>,
    teleports: Vec<(PlayerId, String)>,
    saved: Vec<SavedPosition>,
}

/// Records everything and refuses the snapshots of the players in `full`.
#[derive(Default)]
struct Rec {
    full: std::collections::BTreeSet<PlayerId>,
    got: Recorded,
}

impl Outbox for Rec {
    fn snapshot(&mut self, to: PlayerId, s: &Snapshot<'_>) -> Delivery {
        if self.full.contains(&to) {
            self.got.snapshots.push((to, None));
            return Delivery::Full;
        }
        let binary = s.to_binary().expect("world snapshots are binary");
        self.got.snapshots.push((to, Some((s.to_json(), binary))));
        Delivery::Sent
    }
    fn teleport(&mut self, to: PlayerId, t: &Teleport) {
        let text = serde_json::to_string(t).expect("a teleport encodes");
        self.got.teleports.push((to, text));
    }
    fn chat(&mut self, _: &[PlayerId], _: &ChatMessage) {}
    fn persist(&mut self, positions: &[SavedPosition]) {
        self.got.saved.extend_from_slice(positions);
    }
    fn kick(&mut self, player: PlayerId, reason: &str) {
        self.got.kicks.push((player, reason.to_owned()));
    }
}

/// A small deterministic generator (xorshift64*), so the test needs no seed
/// handling and every run is the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn coord(&mut self, size: f64) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 * size
    }
}

const PLAYERS: u64 = 1_500;
const CROWD: u64 = 300;
const TICKS: u64 = 60;

fn config(view_threads: usize) -> WorldConfig {
    WorldConfig {
        width: 6_000.0,
        height: 6_000.0,
        view_max: 32,
        max_unsent_ticks: 6,
        relayout_interval_ticks: 7,
        view_threads,
        ..WorldConfig::default()
    }
}

/// Runs the scenario on a world with `view_threads`, returning what each
/// tick handed over.
fn run(view_threads: usize) -> Vec<Recorded> {
    let cfg = config(view_threads);
    let (w, h) = (cfg.width, cfg.height);
    let mut world = World::new(cfg).expect("a valid config");
    let spawn = DVec2::new(w / 2.0, h / 2.0);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seq = vec![0u64; PLAYERS as usize + 1];
    for id in 1..=PLAYERS {
        let at = if id <= CROWD {
            spawn
        } else {
            DVec2::new(rng.coord(w), rng.coord(h))
        };
        world.join(id, &format!("p{id}"), at);
    }
    let mut out = Rec::default();
    let mut ticks = Vec::new();
    for tick in 0..TICKS {
        // A quarter of the players (crowd included) pick a new target; the
        // rest stand still or keep walking.
        for _ in 0..PLAYERS / 4 {
            let id = 1 + rng.below(PLAYERS);
            seq[id as usize] += 1;
            let (x, y) = if id <= CROWD && rng.below(2) == 0 {
                (spawn.x, spawn.y) // back to the crowd's point
            } else {
                (rng.coord(w), rng.coord(h))
            };
            world.set_target(id, x, y, seq[id as usize]);
        }
        // Some leave, some come back, one is teleported.
        for _ in 0..3 {
            let id = 1 + rng.below(PLAYERS);
            if world.position(id).is_some() {
                world.leave(id);
            } else {
                world.join(id, &format!("p{id}"), spawn);
            }
        }
        let id = 1 + rng.below(PLAYERS);
        world.teleport(
            id,
            DVec2::new(rng.coord(w), rng.coord(h)),
            TeleportReason::Correction,
        );
        // Slow readers: a changing set of players whose queue is full, a
        // few long enough to be kicked.
        out.full.retain(|_| rng.below(4) != 0);
        for _ in 0..20 {
            out.full.insert(1 + rng.below(PLAYERS));
        }
        if tick % 20 == 0 {
            for id in (CROWD + 1..=CROWD + 10).chain(1..=5) {
                out.full.insert(id);
            }
        }
        world.tick(&mut out);
        ticks.push(std::mem::take(&mut out.got));
    }
    ticks
}

#[test]
fn views_found_on_several_threads_send_what_one_thread_sends() {
    let one = run(1);
    let delivered: usize = one
        .iter()
        .map(|t| t.snapshots.iter().filter(|(_, s)| s.is_some()).count())
        .sum();
    let refused: usize = one
        .iter()
        .map(|t| t.snapshots.iter().filter(|(_, s)| s.is_none()).count())
        .sum();
    let kicked: usize = one.iter().map(|t| t.kicks.len()).sum();
    // The scenario exercises what it claims to.
    assert!(delivered > 20_000, "{delivered} snapshots delivered");
    assert!(refused > 500, "{refused} snapshots refused");
    assert!(kicked > 0, "nobody kicked as too slow");
    for threads in [2, 3] {
        let many = run(threads);
        for (tick, (a, b)) in one.iter().zip(&many).enumerate() {
            let first_difference = a
                .snapshots
                .iter()
                .zip(&b.snapshots)
                .find(|(x, y)| x != y)
                .map(|(x, _)| x.0);
            assert!(
                a == b,
                "tick {}: {threads} view threads handed over something else than one \
                 (first differing snapshot: to {first_difference:?}; {} against {} snapshots)",
                tick + 1,
                a.snapshots.len(),
                b.snapshots.len(),
            );
        }
    }
}

#[test]
fn view_threads_out_of_range_are_refused() {
    for threads in [0, 65] {
        let error = World::new(config(threads)).expect_err("an invalid thread count");
        assert!(error.to_string().contains("view_threads"), "{error}");
    }
}
