//! Tests of [`World`]'s mirrors and handoff: unit tests of each method and a
//! seeded random run of one reference world against two worlds splitting the
//! world at `x = width / 2` and mirroring each other's border bands.

use std::collections::BTreeMap;

use glam::DVec2;

use super::*;

/// Records snapshots (as enter/move/leave applied to a client state per
/// player) and chats.
#[derive(Default)]
struct Clients {
    views: BTreeMap<PlayerId, BTreeMap<PlayerId, (f64, f64)>>,
    enters: Vec<(PlayerId, PlayerId, String)>,
    leaves: Vec<(PlayerId, PlayerId)>,
    chats: Vec<(Vec<PlayerId>, ChatMessage)>,
    chat_sent: usize,
}

impl Outbox for Clients {
    fn snapshot(&mut self, to: PlayerId, s: &Snapshot<'_>) -> Delivery {
        let view = self.views.entry(to).or_default();
        for e in s.enter() {
            assert!(view.insert(e.id, (e.x, e.y)).is_none(), "double enter");
            self.enters.push((to, e.id, e.name.to_string()));
        }
        for (id, x, y) in s.moves() {
            *view.get_mut(&id).expect("move of unknown") = (x, y);
        }
        for id in s.leave() {
            assert!(view.remove(id).is_some(), "leave of unknown");
            self.leaves.push((to, *id));
        }
        Delivery::Sent
    }
    fn teleport(&mut self, _to: PlayerId, _t: &Teleport) {}
    fn chat(&mut self, to: &[PlayerId], m: &ChatMessage) {
        self.chats.push((to.to_vec(), m.clone()));
    }
    fn chat_sent(&mut self, _x: f64, _y: f64, _m: &ChatMessage) {
        self.chat_sent += 1;
    }
    fn persist(&mut self, _positions: &[SavedPosition]) {}
    fn kick(&mut self, _player: PlayerId, _reason: &str) {}
}

fn config() -> WorldConfig {
    WorldConfig {
        view_leave_radius: WorldConfig::default().view_radius,
        view_max: 10_000,
        ..WorldConfig::default()
    }
}

/// Every local player of `world` (a band covering the whole test world).
fn everyone(world: &World) -> Vec<MirrorEntry> {
    let all = Rect {
        min_x: 0.0,
        min_y: 0.0,
        max_x: 5000.0,
        max_y: 5000.0,
    };
    let none = Rect {
        min_x: 0.0,
        min_y: 0.0,
        max_x: 0.0,
        max_y: 0.0,
    };
    world.local_players_in_band(all, none)
}

fn mirror(id: PlayerId, x: f64, y: f64) -> MirrorEntry {
    MirrorEntry {
        id,
        name: format!("m{id}"),
        x,
        y,
    }
}

#[test]
fn mirror_enters_moves_and_leaves_and_is_not_a_player() {
    let mut w = World::new(config()).unwrap();
    let mut out = Clients::default();
    w.join(1, "viewer", DVec2::new(1000.0, 1000.0));
    w.set_mirrors(7, &[mirror(2, 1010.0, 1000.0), mirror(3, f64::NAN, 0.0)]);
    w.tick(&mut out);
    assert_eq!(out.enters, vec![(1, 2, "m2".to_owned())]);
    assert_eq!(out.views[&1][&2], (1010.0, 1000.0));
    assert_eq!(w.player_count(), 1);
    assert_eq!(w.player_ids(), vec![1]);
    assert!(!out.views.contains_key(&2), "a mirror gets no snapshot");
    assert!(w.position(2).is_none());
    assert_eq!(w.set_target(2, 0.0, 0.0, 1), TargetOutcome::UnknownPlayer);
    assert!(!w.teleport(2, DVec2::ZERO, TeleportReason::AdminReset));
    w.set_mirrors(7, &[mirror(2, 1020.0, 1000.0)]);
    w.tick(&mut out);
    assert_eq!(out.views[&1][&2], (1020.0, 1000.0));
    for _ in 0..3 {
        w.tick(&mut out);
    }
    assert_eq!(
        out.views[&1][&2],
        (1020.0, 1000.0),
        "never moved by the tick"
    );
    let ids = |v: Vec<SavedPosition>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(w.dirty_positions()), Vec::<PlayerId>::new());
    assert_eq!(ids(w.all_positions()), vec![1]);
    // Moving to another source keeps it; clearing the old source does not
    // remove it.
    w.set_mirrors(8, &[mirror(2, 1020.0, 1000.0)]);
    w.clear_mirrors(7);
    w.tick(&mut out);
    assert!(out.leaves.is_empty());
    w.clear_mirrors(8);
    w.tick(&mut out);
    assert_eq!(out.leaves, vec![(1, 2)]);
    assert_eq!(w.player_count(), 1);
}

#[test]
fn local_player_wins_over_mirror_and_join_promotes_in_place() {
    let mut w = World::new(config()).unwrap();
    let mut out = Clients::default();
    w.join(1, "viewer", DVec2::new(1000.0, 1000.0));
    w.join(2, "local", DVec2::new(1005.0, 1000.0));
    w.set_mirrors(7, &[mirror(2, 3000.0, 3000.0), mirror(3, 1010.0, 1000.0)]);
    w.tick(&mut out);
    assert_eq!(w.position(2), Some(DVec2::new(1005.0, 1000.0)));
    assert_eq!(w.player_count(), 2);
    // A local join of a mirrored id promotes it in place.
    w.join(3, "three", DVec2::new(0.0, 0.0));
    assert_eq!(w.player_count(), 3);
    assert_eq!(w.position(3), Some(DVec2::new(1010.0, 1000.0)));
    w.set_mirrors(7, &[]);
    w.tick(&mut out);
    assert!(out.leaves.is_empty(), "{:?}", out.leaves);
    assert_eq!(out.views[&3].len(), 2, "a full first view");
}

#[test]
fn hand_off_and_join_handed_over_continue_in_place() {
    let mut a = World::new(config()).unwrap();
    let mut b = World::new(config()).unwrap();
    let (mut oa, mut ob) = (Clients::default(), Clients::default());
    a.join(1, "mover", DVec2::new(1000.0, 1000.0));
    a.join(2, "viewer a", DVec2::new(990.0, 1000.0));
    b.join(3, "viewer b", DVec2::new(1020.0, 1000.0));
    assert_eq!(a.set_target(1, 1003.0, 1000.0, 5), TargetOutcome::Accepted);
    assert!(a.teleport(1, DVec2::new(1001.0, 1000.0), TeleportReason::Correction));
    a.tick(&mut oa);
    b.tick(&mut ob);
    b.set_mirrors(0, &everyone(&a));
    a.tick(&mut oa);
    b.tick(&mut ob);
    assert!(ob.views[&3].contains_key(&1));
    let handed = a.hand_off(1, 1).expect("local");
    assert_eq!((handed.x, handed.y, handed.ack), (1001.0, 1000.0, 5));
    assert_eq!(handed.last_seq, Some(5));
    assert_eq!(handed.guard.map(|g| g.age_ticks), Some(1));
    assert!(a.hand_off(1, 1).is_none(), "now a mirror");
    assert_eq!(a.player_count(), 1);
    assert!(a.dirty_positions().iter().all(|s| s.id != 1));
    b.join_handed_over(handed);
    assert_eq!(b.player_count(), 2);
    assert_eq!(b.set_target(1, 1002.0, 1000.0, 5), TargetOutcome::Stale);
    assert_eq!(
        b.set_target(1, 3000.0, 1000.0, 6),
        TargetOutcome::DroppedAfterTeleport,
        "the guard is kept"
    );
    assert!(b.dirty_positions().iter().any(|s| s.id == 1));
    let from_b = everyone(&b);
    a.set_mirrors(1, &from_b);
    a.tick(&mut oa);
    b.tick(&mut ob);
    assert!(oa.leaves.is_empty() && ob.leaves.is_empty());
    assert!(oa.views[&2].contains_key(&1));
    assert!(ob.views[&3].contains_key(&1));
    assert!(ob.views[&1].contains_key(&3), "a fresh full view");
    // Chat from the mirror in `a` reaches a's locals near it, only them.
    let mut chat = Clients::default();
    assert_eq!(a.chat_from_mirror(1, "hi", &mut chat), 1);
    assert_eq!(chat.chats[0].0, vec![2]);
    assert_eq!(a.chat_from_mirror(2, "hi", &mut chat), 0);
    assert_eq!(a.chat(2, "yo", &mut chat), 1, "not delivered to the mirror");
    assert_eq!(chat.chat_sent, 1);
}

#[test]
fn bands_and_outside() {
    let mut w = World::new(config()).unwrap();
    w.join(2, "b", DVec2::new(100.0, 100.0));
    w.join(1, "a", DVec2::new(150.0, 100.0));
    w.join(3, "c", DVec2::new(900.0, 100.0));
    w.set_mirrors(7, &[mirror(4, 120.0, 100.0)]);
    let outer = Rect {
        min_x: 0.0,
        min_y: 0.0,
        max_x: 500.0,
        max_y: 500.0,
    };
    let inner = Rect {
        min_x: 0.0,
        min_y: 0.0,
        max_x: 120.0,
        max_y: 500.0,
    };
    let band = w.local_players_in_band(outer, inner);
    assert_eq!(
        band,
        vec![MirrorEntry {
            id: 1,
            name: "a".into(),
            x: 150.0,
            y: 100.0
        }]
    );
    assert_eq!(w.local_players_outside(&[inner]), vec![1, 3]);
    assert_eq!(w.local_players_outside(&[outer, inner]), vec![3]);
}

/// A tiny deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One reference world simulating everyone against two worlds split at
/// `x = W/2`, each mirroring the other's band of width `view_leave_radius`.
///
/// Mirrors lag: a node publishes its band after its tick, so the other node's
/// views of that tick see the band as it was one tick before. Exact equality
/// with one world therefore holds whenever the band's players did not move in
/// the tick just run. The run alternates move ticks (targets set, players
/// move, crossing players handed off after the tick) and settle ticks (no
/// targets; mirrors exchanged before the tick from the positions the move
/// tick left), and asserts after every settle tick that every player's client
/// state (what all its snapshots applied in order give) equals the reference
/// client's. Views without hysteresis (`leave radius = radius`) and a cap
/// above the player count make a view a function of the positions, so the
/// move tick's stale mirrors leave no trace after the settle tick.
#[test]
fn split_worlds_show_what_one_world_shows() {
    let cfg = config();
    let (w, h, l) = (cfg.width, cfg.height, cfg.view_leave_radius);
    let step = cfg.speed * cfg.dt();
    let mid = w / 2.0;
    let mut reference = World::new(cfg.clone()).unwrap();
    let mut sides = [World::new(cfg.clone()).unwrap(), World::new(cfg).unwrap()];
    let mut ref_out = Clients::default();
    let mut outs = [Clients::default(), Clients::default()];
    let side_of = |x: f64| usize::from(x >= mid);
    let bands = [
        Rect {
            min_x: mid - l,
            min_y: 0.0,
            max_x: mid,
            max_y: h,
        },
        Rect {
            min_x: mid,
            min_y: 0.0,
            max_x: mid + l,
            max_y: h,
        },
    ];
    let nothing = Rect {
        min_x: 0.0,
        min_y: 0.0,
        max_x: 0.0,
        max_y: 0.0,
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let players: Vec<PlayerId> = (1..=40).collect();
    for &id in &players {
        let pos = DVec2::new(
            mid + (rng.next() - 0.5) * 1600.0,
            h / 2.0 + (rng.next() - 0.5) * 800.0,
        );
        reference.join(id, &format!("p{id}"), pos);
        sides[side_of(pos.x)].join(id, &format!("p{id}"), pos);
    }
    let exchange = |sides: &mut [World; 2]| {
        let from0 = sides[0].local_players_in_band(bands[0], nothing);
        let from1 = sides[1].local_players_in_band(bands[1], nothing);
        sides[1].set_mirrors(0, &from0);
        sides[0].set_mirrors(1, &from1);
    };
    let mut crossings = 0;
    let mut across = 0;
    for round in 0..150u64 {
        // Move tick.
        for &id in &players {
            let at = reference.position(id).unwrap();
            let angle = rng.next() * std::f64::consts::TAU;
            let t = at + DVec2::new(angle.cos(), angle.sin()) * step * rng.next();
            let seq = round + 1;
            let expected = reference.set_target(id, t.x, t.y, seq);
            let owner = side_of(at.x);
            assert_eq!(sides[owner].set_target(id, t.x, t.y, seq), expected);
        }
        exchange(&mut sides);
        reference.tick(&mut ref_out);
        for (world, out) in sides.iter_mut().zip(&mut outs) {
            world.tick(out);
        }
        for &id in &players {
            let at = reference.position(id).unwrap();
            let new = side_of(at.x);
            let old = 1 - new;
            if sides[new].position(id).is_none() {
                let handed = sides[old]
                    .hand_off(id, new as u32)
                    .expect("owned by the old side");
                assert_eq!(sides[new].join_handed_over(handed), at);
                // The client starts over with the new node's full view.
                outs[new].views.remove(&id);
                outs[old].views.remove(&id);
                crossings += 1;
            }
        }
        // Settle tick.
        exchange(&mut sides);
        reference.tick(&mut ref_out);
        for (world, out) in sides.iter_mut().zip(&mut outs) {
            world.tick(out);
        }
        for &id in &players {
            let owner = side_of(reference.position(id).unwrap().x);
            assert_eq!(sides[owner].position(id), reference.position(id));
            let split = outs[owner].views.get(&id).cloned().unwrap_or_default();
            let one = ref_out.views.get(&id).cloned().unwrap_or_default();
            assert_eq!(split, one, "player {id} after round {round}");
            across += split
                .keys()
                .filter(|&&seen| side_of(reference.position(seen).unwrap().x) != owner)
                .count();
        }
        assert_eq!(
            sides[0].player_count() + sides[1].player_count(),
            players.len()
        );
    }
    assert!(crossings > 5, "only {crossings} crossings");
    assert!(across > 1000, "only {across} views across the split");
}
