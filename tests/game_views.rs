//! Property tests of the world's views and delta snapshots against a
//! brute-force oracle, through the public `locus::game` API only.
//!
//! * A client that applies every delivered snapshot in order always holds
//!   exactly the players (and rounded positions) the oracle computes from the
//!   positions of the tick: radius, leave hysteresis, nearest-`view_max` cap
//!   with id tie-break. Random joins, rejoins, leaves, targets (including
//!   out-of-world, stale and non-finite), admin teleports and `Full`
//!   deliveries (with kicks of slow readers) are mixed in, in a sparse world
//!   and in one where the cap decides every view.
//! * The binary form of every delivered snapshot, decoded and applied by a
//!   [`BinaryView`], holds exactly what the JSON form holds (ids, names,
//!   positions, own position, ack), Full merges included.
//! * A client that applies every binary snapshot holds exactly what a fresh
//!   connection's first snapshot says (no hysteresis band, so a fresh view
//!   and a long-lived one agree).
//! * A player that moves anywhere inside the leave radius after it entered
//!   never flaps out and back in.
//!
//! No sockets, no clock: the world is pure and ticked by hand.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use glam::DVec2;
use locus::game::binary::{BinarySnapshot, BinaryView};
use locus::game::{
    round_wire, ChatMessage, Delivery, Outbox, PlayerId, SavedPosition, Snapshot, TargetOutcome,
    Teleport, TeleportReason, World, WorldConfig,
};
use proptest::prelude::*;

/// An owned copy of a delivered snapshot.
#[derive(Debug, Clone)]
struct Got {
    ack: u64,
    own: (f64, f64),
    enter: Vec<(PlayerId, String, f64, f64)>,
    moves: Vec<(PlayerId, f64, f64)>,
    leave: Vec<PlayerId>,
    /// The binary form, decoded.
    binary: BinarySnapshot,
}

#[derive(Default)]
struct Rec {
    /// Players whose queue is full.
    full: HashSet<PlayerId>,
    /// This tick's offers: `None` when refused (`Full`).
    offers: Vec<(PlayerId, Option<Got>)>,
    kicks: Vec<PlayerId>,
}

impl Outbox for Rec {
    fn snapshot(&mut self, to: PlayerId, s: &Snapshot<'_>) -> Delivery {
        if self.full.contains(&to) {
            self.offers.push((to, None));
            return Delivery::Full;
        }
        assert_eq!(s.to_json(), serde_json::to_vec(s).unwrap());
        self.offers.push((
            to,
            Some(Got {
                ack: s.ack(),
                own: (s.x(), s.y()),
                enter: s
                    .enter()
                    .iter()
                    .map(|e| (e.id, e.name.to_string(), e.x, e.y))
                    .collect(),
                moves: s.moves().collect(),
                leave: s.leave().to_vec(),
                binary: BinarySnapshot::decode(&s.to_binary().expect("world snapshots are binary"))
                    .expect("the world's binary snapshot decodes"),
            }),
        ));
        Delivery::Sent
    }
    fn teleport(&mut self, _: PlayerId, _: &Teleport) {}
    fn chat(&mut self, _: &[PlayerId], _: &ChatMessage) {}
    fn persist(&mut self, _: &[SavedPosition]) {}
    fn kick(&mut self, player: PlayerId, _: &str) {
        self.kicks.push(player);
    }
}

/// A client's state, built only from the snapshots it received.
#[derive(Debug, Default)]
struct Client {
    view: BTreeMap<PlayerId, (f64, f64)>,
    own: Option<(f64, f64)>,
    ack: u64,
    enters: usize,
    leaves: usize,
    /// The same client fed the binary form.
    binary: BinaryView,
}

/// What a binary view holds, in the JSON form's terms.
fn binary_state(v: &BinaryView) -> BTreeMap<PlayerId, (String, f64, f64)> {
    v.players()
        .map(|p| {
            let c = |h: i32| f64::from(h) / 100.0;
            (p.id, (p.name.clone(), c(p.x), c(p.y)))
        })
        .collect()
}

impl Client {
    fn apply(&mut self, me: PlayerId, g: &Got) {
        for (id, name, x, y) in &g.enter {
            assert_ne!(*id, me, "a player never enters its own view");
            assert_eq!(name, &format!("p{id}"));
            assert!(
                self.view.insert(*id, (*x, *y)).is_none(),
                "double enter of {id}"
            );
            self.enters += 1;
        }
        for &(id, x, y) in &g.moves {
            let slot = self
                .view
                .get_mut(&id)
                .expect("move of a player not in view");
            assert_ne!(*slot, (x, y), "move without a visible change");
            *slot = (x, y);
        }
        for id in &g.leave {
            assert!(
                self.view.remove(id).is_some(),
                "leave of a player not in view"
            );
            self.leaves += 1;
        }
        self.own = Some(g.own);
        self.ack = g.ack;
        self.binary
            .apply(&g.binary)
            .expect("the world's binary snapshot applies");
        let json: BTreeMap<PlayerId, (String, f64, f64)> = self
            .view
            .iter()
            .map(|(&id, &(x, y))| (id, (format!("p{id}"), x, y)))
            .collect();
        assert_eq!(binary_state(&self.binary), json, "binary and JSON views");
        let own = self.binary.own;
        assert_eq!((f64::from(own.0) / 100.0, f64::from(own.1) / 100.0), g.own);
        assert_eq!(self.binary.ack, g.ack);
    }
}

fn nearest(
    me: PlayerId,
    at: DVec2,
    positions: &BTreeMap<PlayerId, DVec2>,
    previous: &BTreeSet<PlayerId>,
    c: &WorldConfig,
) -> BTreeSet<PlayerId> {
    let (r2, l2) = (c.view_radius.powi(2), c.view_leave_radius.powi(2));
    let mut eligible: Vec<(f64, PlayerId)> = positions
        .iter()
        .filter(|(&id, _)| id != me)
        .map(|(&id, p)| (p.distance_squared(at), id))
        .filter(|&(d2, id)| d2 <= r2 || (d2 <= l2 && previous.contains(&id)))
        .collect();
    eligible.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    eligible.truncate(c.view_max);
    eligible.into_iter().map(|(_, id)| id).collect()
}

#[derive(Debug, Clone)]
enum Op {
    Join(PlayerId, f64, f64),
    Leave(PlayerId),
    /// Target with a seq step (0: a repeated, stale seq).
    Target(PlayerId, f64, f64, u64),
    NonFinite(PlayerId),
    Teleport(PlayerId, f64, f64),
    Full(PlayerId, bool),
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    let id = 1..=10u64;
    // Coarse coordinates (hundredths of the world size, a little beyond its
    // edges) make equal distances (the cap's id tie-break) and exact band
    // edges common.
    let coord = (-6..=106i32).prop_map(|v| f64::from(v) / 100.0);
    prop_oneof![
        2 => (id.clone(), coord.clone(), coord.clone()).prop_map(|(i, x, y)| Op::Join(i, x, y)),
        1 => id.clone().prop_map(Op::Leave),
        6 => (id.clone(), coord.clone(), coord.clone(), 0..3u64)
            .prop_map(|(i, x, y, s)| Op::Target(i, x, y, s)),
        1 => id.clone().prop_map(Op::NonFinite),
        1 => (id.clone(), coord.clone(), coord).prop_map(|(i, x, y)| Op::Teleport(i, x, y)),
        2 => (id, any::<bool>()).prop_map(|(i, f)| Op::Full(i, f)),
        6 => Just(Op::Tick),
    ]
}

/// Many players joining at one point (the spawn), then some of them walking
/// off and back, some leaving and rejoining there, slow readers: views of
/// players standing at one point are ranked once per stack and must still
/// match the oracle.
fn spawn_ops() -> impl Strategy<Value = Vec<Op>> {
    let id = 1..=150u64;
    let near = (40..=60i32).prop_map(|v| f64::from(v) / 100.0);
    let step = prop_oneof![
        6 => (id.clone(), near.clone(), near.clone(), 1..2u64)
            .prop_map(|(i, x, y, s)| Op::Target(i, x, y, s)),
        // Back to the spawn point exactly: the stack grows again.
        3 => id.clone().prop_map(|i| Op::Target(i, 0.5, 0.5, 1)),
        1 => id.clone().prop_map(Op::Leave),
        1 => id.clone().prop_map(|i| Op::Join(i, 0.5, 0.5)),
        1 => (id, any::<bool>()).prop_map(|(i, f)| Op::Full(i, f)),
        5 => Just(Op::Tick),
    ];
    proptest::collection::vec(step, 1..120).prop_map(|steps| {
        let mut ops: Vec<Op> = (1..=150).map(|i| Op::Join(i, 0.5, 0.5)).collect();
        ops.push(Op::Tick);
        ops.extend(steps);
        ops
    })
}

fn spawn_world() -> WorldConfig {
    WorldConfig {
        view_max: 8,
        ..small_world()
    }
}

fn small_world() -> WorldConfig {
    WorldConfig {
        width: 1000.0,
        height: 1000.0,
        speed: 2000.0, // 100 units per tick: views change quickly
        view_radius: 150.0,
        view_leave_radius: 220.0,
        view_max: 4,
        max_unsent_ticks: 3,
        relayout_interval_ticks: 3,
        ..Default::default()
    }
}

/// Everyone within view of everyone: the cap decides every view.
fn crowded_world() -> WorldConfig {
    WorldConfig {
        width: 200.0,
        height: 200.0,
        speed: 400.0, // 20 units per tick
        view_radius: 300.0,
        view_leave_radius: 320.0,
        view_max: 4,
        max_unsent_ticks: 3,
        relayout_interval_ticks: 2,
        ..Default::default()
    }
}

fn run_against_oracle(config: WorldConfig, ops: &[Op]) {
    let scale = config.width;
    let mut world = World::new(config.clone()).unwrap();
    let mut out = Rec::default();
    let mut clients: HashMap<PlayerId, Client> = HashMap::new();
    let mut members: HashMap<PlayerId, BTreeSet<PlayerId>> = HashMap::new();
    let mut seqs: HashMap<PlayerId, u64> = HashMap::new();
    let mut acks: HashMap<PlayerId, u64> = HashMap::new();

    for op in ops.iter().chain(std::iter::repeat_n(&Op::Tick, 3)) {
        match *op {
            Op::Join(id, x, y) => {
                world.join(id, &format!("p{id}"), DVec2::new(x, y) * scale);
                // A (re)joined connection starts from nothing.
                clients.insert(id, Client::default());
                members.insert(id, BTreeSet::new());
                seqs.insert(id, 0);
                acks.insert(id, 0);
            }
            Op::Leave(id) => {
                let online = world.position(id).is_some();
                assert_eq!(world.leave(id).is_some(), online);
                clients.remove(&id);
                members.remove(&id);
            }
            Op::Target(id, x, y, step) => {
                let seq = seqs.entry(id).or_default();
                *seq += step;
                let outcome = world.set_target(id, x * scale, y * scale, *seq);
                match outcome {
                    TargetOutcome::Accepted | TargetOutcome::Clamped | TargetOutcome::TooFar => {
                        acks.insert(id, *seq);
                    }
                    TargetOutcome::Stale => assert_eq!(step, 0),
                    TargetOutcome::UnknownPlayer => assert!(world.position(id).is_none()),
                    TargetOutcome::DroppedAfterTeleport => {}
                    TargetOutcome::NonFinite => unreachable!(),
                }
            }
            Op::NonFinite(id) => {
                let r = world.set_target(id, f64::NAN, 1.0, u64::MAX);
                assert!(matches!(
                    r,
                    TargetOutcome::NonFinite | TargetOutcome::UnknownPlayer
                ));
            }
            Op::Teleport(id, x, y) => {
                world.teleport(id, DVec2::new(x, y) * scale, TeleportReason::AdminReset);
            }
            Op::Full(id, full) => {
                if full {
                    out.full.insert(id);
                } else {
                    out.full.remove(&id);
                }
            }
            Op::Tick => {
                out.offers.clear();
                out.kicks.clear();
                world.tick(&mut out);
                // The positions every view of this tick was computed from.
                let positions: BTreeMap<PlayerId, DVec2> = world
                    .grid()
                    .entries()
                    .iter()
                    .map(|e| (e.id, e.pos))
                    .collect();
                for (&id, &at) in &positions {
                    let previous = members.get(&id).cloned().unwrap_or_default();
                    members.insert(id, nearest(id, at, &positions, &previous, &config));
                }
                let mut refused = HashSet::new();
                for (to, got) in &out.offers {
                    match got {
                        Some(g) => clients
                            .get_mut(to)
                            .expect("snapshot for a stranger")
                            .apply(*to, g),
                        None => {
                            refused.insert(*to);
                        }
                    }
                }
                for id in &out.kicks {
                    assert!(world.position(*id).is_none(), "kicked players are removed");
                    clients.remove(id);
                    members.remove(id);
                }
                for (&id, client) in &clients {
                    if refused.contains(&id) {
                        continue; // holds an older baseline until the merge
                    }
                    let at = positions[&id];
                    assert_eq!(client.own, Some((round_wire(at.x), round_wire(at.y))));
                    assert_eq!(client.ack, acks[&id]);
                    let want: BTreeMap<PlayerId, (f64, f64)> = members[&id]
                        .iter()
                        .map(|o| (*o, (round_wire(positions[o].x), round_wire(positions[o].y))))
                        .collect();
                    assert_eq!(
                        client.view,
                        want,
                        "view of {id} at tick {}",
                        world.tick_number()
                    );
                }
            }
        }
    }
}

/// Random ticks in a world without a hysteresis band, then a few delivered
/// ticks; every client's binary view must equal what a fresh connection at
/// the same positions is sent first.
fn binary_view_matches_a_fresh_connection(config: WorldConfig, ops: &[Op]) {
    let scale = config.width;
    let mut world = World::new(config.clone()).unwrap();
    let mut out = Rec::default();
    let mut clients: HashMap<PlayerId, Client> = HashMap::new();
    let mut seq = 0;
    let deliver = |out: &Rec, clients: &mut HashMap<PlayerId, Client>| {
        for (to, got) in &out.offers {
            if let Some(g) = got {
                clients.get_mut(to).expect("a client").apply(*to, g);
            }
        }
        for id in &out.kicks {
            clients.remove(id);
        }
    };
    let settle =
        std::iter::repeat_n(&Op::Full(0, false), 1).chain(std::iter::repeat_n(&Op::Tick, 3));
    for op in ops.iter().chain(settle) {
        match *op {
            Op::Join(id, x, y) => {
                world.join(id, &format!("p{id}"), DVec2::new(x, y) * scale);
                clients.insert(id, Client::default());
            }
            Op::Leave(id) => {
                world.leave(id);
                clients.remove(&id);
            }
            Op::Target(id, x, y, _) => {
                seq += 1;
                world.set_target(id, x * scale, y * scale, seq);
            }
            Op::NonFinite(_) => {}
            Op::Teleport(id, x, y) => {
                world.teleport(id, DVec2::new(x, y) * scale, TeleportReason::AdminReset);
            }
            Op::Full(id, full) => {
                if id == 0 {
                    out.full.clear();
                } else if full {
                    out.full.insert(id);
                } else {
                    out.full.remove(&id);
                }
            }
            Op::Tick => {
                out.offers.clear();
                out.kicks.clear();
                world.tick(&mut out);
                deliver(&out, &mut clients);
            }
        }
    }
    // A fresh world with everyone where they are now, ticked once.
    let mut fresh = World::new(config).unwrap();
    for id in world.player_ids() {
        fresh.join(id, &format!("p{id}"), world.position(id).unwrap());
    }
    let mut first = Rec::default();
    fresh.tick(&mut first);
    assert_eq!(
        first.offers.len(),
        clients.len(),
        "everyone gets a first snapshot"
    );
    for (id, got) in &first.offers {
        let got = got.as_ref().unwrap();
        let mut view = BinaryView::new();
        view.apply(&got.binary).unwrap();
        assert_same_binary_view(&clients[id].binary, &view, *id);
    }
}

fn assert_same_binary_view(long_lived: &BinaryView, fresh: &BinaryView, id: PlayerId) {
    assert_eq!(
        binary_state(long_lived),
        binary_state(fresh),
        "binary view of {id} against a fresh connection's first snapshot"
    );
    assert_eq!(long_lived.own, fresh.own, "own position of {id}");
}

proptest! {
    // 300 cases by default; PROPTEST_CASES=5000 for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300),
        ..ProptestConfig::default()
    })]

    #[test]
    fn client_view_matches_brute_force_oracle(ops in proptest::collection::vec(op(), 1..250)) {
        run_against_oracle(small_world(), &ops);
    }

    #[test]
    fn crowded_client_view_matches_brute_force_oracle(ops in proptest::collection::vec(op(), 1..250)) {
        run_against_oracle(crowded_world(), &ops);
    }

    #[test]
    fn spawn_stack_views_match_brute_force_oracle(ops in spawn_ops()) {
        run_against_oracle(spawn_world(), &ops);
    }

    #[test]
    fn spawn_stack_binary_client_holds_what_a_fresh_connection_is_sent(ops in spawn_ops()) {
        let config = WorldConfig { view_leave_radius: 150.0, ..spawn_world() };
        binary_view_matches_a_fresh_connection(config, &ops);
    }

    #[test]
    fn binary_client_holds_what_a_fresh_connection_is_sent(ops in proptest::collection::vec(op(), 1..250)) {
        let sparse = WorldConfig { view_leave_radius: 150.0, ..small_world() };
        binary_view_matches_a_fresh_connection(sparse, &ops);
    }

    #[test]
    fn crowded_binary_client_holds_what_a_fresh_connection_is_sent(ops in proptest::collection::vec(op(), 1..250)) {
        let crowded = WorldConfig { view_leave_radius: 300.0, ..crowded_world() };
        binary_view_matches_a_fresh_connection(crowded, &ops);
    }

    #[test]
    fn oscillating_inside_the_hysteresis_band_never_flaps(
        start in (0.0..600.0f64, 0.0..std::f64::consts::TAU),
        moves in proptest::collection::vec(
            (0.0..700.0f64, 0.0..std::f64::consts::TAU, 1..6usize, any::<bool>()), 1..60),
    ) {
        let config = WorldConfig { max_unsent_ticks: 10_000, ..Default::default() };
        let mut world = World::new(config).unwrap();
        let mut out = Rec::default();
        let centre = DVec2::new(2048.0, 2048.0);
        let polar = |r: f64, a: f64| centre + DVec2::new(r * a.cos(), r * a.sin());
        world.join(1, "p1", centre);
        world.join(2, "p2", polar(start.0, start.1));
        let mut viewer = Client::default();
        // First tick with no target: the walker is within the view radius.
        world.tick(&mut out);
        for (to, got) in &out.offers {
            if let (1, Some(g)) = (*to, got) {
                viewer.apply(1, g);
            }
        }
        let mut seq = 0;
        for (r, a, ticks, full) in moves {
            seq += 1;
            let target = polar(r, a);
            world.set_target(2, target.x, target.y, seq);
            // Random slow reading on the viewer's side, never long enough to be kicked.
            if full { out.full.insert(1); } else { out.full.remove(&1); }
            for _ in 0..ticks {
                out.offers.clear();
                world.tick(&mut out);
                for (to, got) in &out.offers {
                    if let (1, Some(g)) = (*to, got) {
                        viewer.apply(1, g);
                    }
                }
                let d = world.position(2).unwrap().distance(centre);
                prop_assert!(d <= 700.0 + 1e-9, "walker left the disc: {}", d);
            }
        }
        out.full.clear();
        out.offers.clear();
        world.tick(&mut out);
        for (to, got) in &out.offers {
            if let (1, Some(g)) = (*to, got) {
                viewer.apply(1, g);
            }
        }
        prop_assert_eq!(viewer.enters, 1);
        prop_assert_eq!(viewer.leaves, 0);
        prop_assert!(viewer.view.contains_key(&2));
    }
}
