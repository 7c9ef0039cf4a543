//! Unit tests of [`World`]'s rules through its public API and a recording
//! outbox: movement and anti-cheat, seq ordering, views (hysteresis, cap),
//! delta merging on `Full`, slow-reader kicks, the stale-move rule after a
//! teleport, chat recipients, persistence and the exact snapshot bytes.

use std::collections::{BTreeMap, HashSet};

use glam::DVec2;

use super::*;

#[derive(Default)]
struct Rec {
    /// Delivered snapshots with their JSON.
    snapshots: Vec<(PlayerId, Snapshot<'static>, String)>,
    /// Snapshot offers answered `Full`.
    refused: Vec<PlayerId>,
    teleports: Vec<(PlayerId, Teleport)>,
    chats: Vec<(Vec<PlayerId>, ChatMessage)>,
    persisted: Vec<Vec<SavedPosition>>,
    kicks: Vec<(PlayerId, String)>,
    /// Event order, e.g. "teleport 1", "snapshot 1".
    log: Vec<String>,
    /// Players whose queue is full.
    full: HashSet<PlayerId>,
    /// Players whose connection is gone.
    gone: HashSet<PlayerId>,
}

impl Outbox for Rec {
    fn snapshot(&mut self, to: PlayerId, s: &Snapshot<'_>) -> Delivery {
        if self.gone.contains(&to) {
            return Delivery::Gone;
        }
        if self.full.contains(&to) {
            self.refused.push(to);
            return Delivery::Full;
        }
        let json = String::from_utf8(s.to_json()).unwrap();
        assert_eq!(json, serde_json::to_string(s).unwrap(), "fast path = serde");
        let owned = Snapshot::new(
            s.tick(),
            s.ack(),
            s.x(),
            s.y(),
            s.enter().to_vec(),
            s.moves().collect(),
            s.leave().to_vec(),
        );
        self.log.push(format!("snapshot {to}"));
        self.snapshots.push((to, owned, json));
        Delivery::Sent
    }
    fn teleport(&mut self, to: PlayerId, t: &Teleport) {
        self.log.push(format!("teleport {to}"));
        self.teleports.push((to, *t));
    }
    fn chat(&mut self, to: &[PlayerId], m: &ChatMessage) {
        self.chats.push((to.to_vec(), m.clone()));
    }
    fn persist(&mut self, positions: &[SavedPosition]) {
        self.persisted.push(positions.to_vec());
    }
    fn kick(&mut self, player: PlayerId, reason: &str) {
        self.kicks.push((player, reason.to_owned()));
    }
}

impl Rec {
    fn last_for(&self, id: PlayerId) -> Option<&Snapshot<'static>> {
        self.snapshots
            .iter()
            .rev()
            .find(|(to, _, _)| *to == id)
            .map(|(_, s, _)| s)
    }
    fn count_for(&self, id: PlayerId) -> usize {
        self.snapshots.iter().filter(|(to, _, _)| *to == id).count()
    }
}

/// A client applying every snapshot it receives, in order.
#[derive(Default, Debug)]
struct Client {
    view: BTreeMap<PlayerId, (f64, f64)>,
    enters: usize,
    leaves: usize,
}

impl Client {
    fn apply(&mut self, s: &Snapshot<'_>) {
        for e in s.enter() {
            assert!(
                self.view.insert(e.id, (e.x, e.y)).is_none(),
                "double enter {}",
                e.id
            );
            self.enters += 1;
        }
        for (id, x, y) in s.moves() {
            *self.view.get_mut(&id).expect("move of unknown") = (x, y);
        }
        for id in s.leave() {
            assert!(self.view.remove(id).is_some(), "leave of unknown {id}");
            self.leaves += 1;
        }
    }
    fn sync(&mut self, rec: &Rec, me: PlayerId, from: &mut usize) {
        for (to, s, _) in &rec.snapshots[*from..] {
            if *to == me {
                self.apply(s);
            }
        }
        *from = rec.snapshots.len();
    }
    fn ids(&self) -> Vec<PlayerId> {
        self.view.keys().copied().collect()
    }
}

fn world() -> World {
    World::new(WorldConfig::default()).unwrap()
}

fn v(x: f64, y: f64) -> DVec2 {
    DVec2::new(x, y)
}

const STEP: f64 = 15.0; // 300 units/s at 20 Hz

#[test]
fn rejects_invalid_config() {
    let bad = WorldConfig {
        tick_hz: 0,
        ..Default::default()
    };
    assert!(World::new(bad).is_err());
}

#[test]
fn speed_hack_far_target_moves_only_speed_dt_per_tick() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "a", v(1000.0, 1000.0));
    assert_eq!(w.set_target(1, 4000.0, 1000.0, 1), TargetOutcome::TooFar);
    for n in 1..=10 {
        w.tick(&mut out);
        let p = w.position(1).unwrap();
        assert!(
            (p.x - (1000.0 + STEP * n as f64)).abs() < 1e-9,
            "tick {n}: {p}"
        );
        assert_eq!(p.y, 1000.0);
    }
    // One correction, at the position after the first tick's movement.
    assert_eq!(out.teleports.len(), 1);
    let (to, t) = out.teleports[0];
    assert_eq!(
        (to, t.x, t.y, t.reason),
        (1, 1015.0, 1000.0, TeleportReason::Correction)
    );
}

#[test]
fn near_target_within_slack_is_accepted_without_correction() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "a", v(1000.0, 1000.0));
    // A client predicting ~300 ms ahead (90 units) is honest.
    assert_eq!(w.set_target(1, 1090.0, 1000.0, 1), TargetOutcome::Accepted);
    w.tick(&mut out);
    assert!(out.teleports.is_empty());
    assert_eq!(w.position(1), Some(v(1015.0, 1000.0)));
}

#[test]
fn out_of_bounds_target_is_clamped_with_a_correction() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "a", v(5.0, 4090.0));
    assert_eq!(w.set_target(1, -50.0, 5000.0, 1), TargetOutcome::Clamped);
    for _ in 0..10 {
        w.tick(&mut out);
    }
    assert_eq!(w.position(1), Some(v(0.0, 4096.0)));
    assert_eq!(out.teleports.len(), 1);
    assert_eq!(out.teleports[0].1.reason, TeleportReason::Correction);
    // Just outside (within the tolerance): clamped silently.
    assert_eq!(w.set_target(1, -0.5, 4096.5, 2), TargetOutcome::Accepted);
    w.tick(&mut out);
    assert_eq!(out.teleports.len(), 1);
}

#[test]
fn non_finite_targets_are_rejected_and_consume_no_seq() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "a", v(100.0, 100.0));
    for (x, y) in [
        (f64::NAN, 1.0),
        (1.0, f64::INFINITY),
        (f64::NEG_INFINITY, 0.0),
    ] {
        assert_eq!(w.set_target(1, x, y, 5), TargetOutcome::NonFinite);
    }
    w.tick(&mut out);
    assert_eq!(w.position(1), Some(v(100.0, 100.0)));
    assert_eq!(w.set_target(1, 101.0, 100.0, 5), TargetOutcome::Accepted);
}

#[test]
fn unknown_players_are_ignored() {
    let mut w = world();
    let mut out = Rec::default();
    assert_eq!(w.set_target(9, 1.0, 1.0, 1), TargetOutcome::UnknownPlayer);
    assert!(!w.teleport(9, v(1.0, 1.0), TeleportReason::AdminReset));
    assert_eq!(w.chat(9, "hi", &mut out), 0);
    assert_eq!(w.leave(9), None);
    assert_eq!(w.position(9), None);
    assert!(out.chats.is_empty());
}

#[test]
fn seq_not_increasing_is_ignored_and_ack_is_the_highest_applied() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "a", v(100.0, 100.0));
    w.tick(&mut out);
    assert_eq!(out.last_for(1).unwrap().ack(), 0);
    assert_eq!(w.set_target(1, 110.0, 100.0, 3), TargetOutcome::Accepted);
    assert_eq!(w.set_target(1, 50.0, 100.0, 2), TargetOutcome::Stale);
    assert_eq!(w.set_target(1, 50.0, 100.0, 3), TargetOutcome::Stale);
    w.tick(&mut out);
    let s = out.last_for(1).unwrap();
    assert_eq!((s.ack(), s.x(), s.y()), (3, 110.0, 100.0));
    assert_eq!(w.set_target(1, 111.0, 100.0, 4), TargetOutcome::Accepted);
    w.tick(&mut out);
    assert_eq!(out.last_for(1).unwrap().ack(), 4);
}

#[test]
fn join_clamps_and_sanitizes_the_stored_position() {
    let mut w = world();
    assert_eq!(w.join(1, "a", v(-10.0, 9000.0)), v(0.0, 4096.0));
    assert_eq!(w.join(2, "b", v(f64::NAN, 1.0)), v(2048.0, 2048.0));
    // The clamped positions differ from the store's: they get persisted.
    let mut dirty = w.dirty_positions();
    dirty.sort_by_key(|s| s.id);
    assert_eq!(dirty.len(), 2);
    assert_eq!((dirty[0].x, dirty[0].y), (0.0, 4096.0));
    assert_eq!(w.player_count(), 2);
}

#[test]
fn rejoin_of_a_present_id_keeps_position_and_resets_the_connection() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "a", v(100.0, 100.0));
    w.join(2, "b", v(200.0, 100.0));
    w.set_target(1, 110.0, 100.0, 7);
    w.tick(&mut out);
    let (mut c2, mut at2) = (Client::default(), 0);
    c2.sync(&out, 2, &mut at2);
    // The stored position (stale) loses against the world's.
    assert_eq!(w.join(1, "a", v(500.0, 500.0)), v(110.0, 100.0));
    assert_eq!(w.player_count(), 2);
    // A fresh seq counter is accepted again.
    assert_eq!(w.set_target(1, 111.0, 100.0, 1), TargetOutcome::Accepted);
    w.tick(&mut out);
    let s = out.last_for(1).unwrap();
    assert_eq!(s.ack(), 1);
    assert_eq!(s.enter().len(), 1, "the new connection gets everyone again");
    // Others see the same player moving, not leaving and entering.
    c2.sync(&out, 2, &mut at2);
    assert_eq!(c2.enters, 1);
    assert_eq!(c2.leaves, 0);
    assert_eq!(c2.view[&1], (111.0, 100.0));
}

#[test]
fn hysteresis_oscillating_between_600_and_700_never_flaps() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "viewer", v(1000.0, 1000.0));
    w.join(2, "walker", v(1590.0, 1000.0));
    let mut c = Client::default();
    let mut at = 0;
    w.tick(&mut out);
    let mut seq = 0;
    for round in 0..20 {
        let x = if round % 2 == 0 { 1699.0 } else { 1601.0 };
        seq += 1;
        w.set_target(2, x, 1000.0, seq);
        for _ in 0..8 {
            w.tick(&mut out);
            c.sync(&out, 1, &mut at);
            assert_eq!(c.ids(), vec![2], "round {round}");
        }
    }
    assert_eq!((c.enters, c.leaves), (1, 0));
    // Beyond 700 it finally leaves; back in the band it does not re-enter.
    seq += 1;
    w.set_target(2, 1710.0, 1000.0, seq);
    for _ in 0..10 {
        w.tick(&mut out);
    }
    seq += 1;
    w.set_target(2, 1650.0, 1000.0, seq);
    for _ in 0..6 {
        w.tick(&mut out);
    }
    c.sync(&out, 1, &mut at);
    assert!(c.ids().is_empty());
    assert_eq!((c.enters, c.leaves), (1, 1));
}

#[test]
fn view_cap_keeps_the_nearest_128() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "viewer", v(2048.0, 2048.0));
    // 300 players on a spiral, all within 600, distinct distances.
    let mut expected = Vec::new();
    for i in 0..300u64 {
        let r = 10.0 + i as f64 * 1.5;
        let a = i as f64 * 0.7;
        let id = 1000 + (i * 7919) % 300; // ids not in distance order
        w.join(id, "p", v(2048.0 + r * a.cos(), 2048.0 + r * a.sin()));
        expected.push(id);
    }
    w.tick(&mut out);
    let s = out.last_for(1).unwrap();
    let mut got: Vec<_> = s.enter().iter().map(|e| e.id).collect();
    got.sort_unstable();
    let mut want = expected[..128].to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn view_cap_ties_are_broken_by_id() {
    let mut w = World::new(WorldConfig {
        view_max: 2,
        ..Default::default()
    })
    .unwrap();
    let mut out = Rec::default();
    w.join(1, "viewer", v(1000.0, 1000.0));
    for (id, x, y) in [
        (40, 1100.0, 1000.0),
        (30, 900.0, 1000.0),
        (20, 1000.0, 1100.0),
        (50, 1000.0, 1050.0),
    ] {
        w.join(id, "p", v(x, y));
    }
    w.tick(&mut out);
    let mut got: Vec<_> = out
        .last_for(1)
        .unwrap()
        .enter()
        .iter()
        .map(|e| e.id)
        .collect();
    got.sort_unstable();
    assert_eq!(got, vec![20, 50]);
}

#[test]
fn snapshots_only_when_something_visible_changed() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "a", v(100.0, 100.0));
    w.join(2, "b", v(200.0, 100.0));
    w.tick(&mut out);
    assert_eq!((out.count_for(1), out.count_for(2)), (1, 1));
    for _ in 0..5 {
        w.tick(&mut out);
    }
    assert_eq!(
        (out.count_for(1), out.count_for(2)),
        (1, 1),
        "idle world is silent"
    );
    // Sub-0.01 drift is invisible too.
    w.set_target(2, 200.004, 100.0, 1);
    w.tick(&mut out);
    assert_eq!(out.count_for(1), 1);
    // B's own ack changed, so B hears about it.
    assert_eq!(out.count_for(2), 2);
    w.set_target(2, 201.0, 100.0, 2);
    w.tick(&mut out);
    let s = out.last_for(1).unwrap();
    assert_eq!(s.moves().collect::<Vec<_>>(), vec![(2, 201.0, 100.0)]);
}

#[test]
fn world_snapshot_json_bytes() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "ann", v(100.0, 100.0));
    w.join(2, "bob", v(200.123, 100.0));
    w.tick(&mut out);
    let (_, _, json) = out.snapshots.iter().find(|(to, _, _)| *to == 1).unwrap();
    assert_eq!(
        json,
        r#"{"tick":1,"ack":0,"x":100.0,"y":100.0,"enter":[{"id":2,"name":"bob","x":200.12,"y":100.0}],"move":[],"leave":[]}"#
    );
    w.set_target(2, 210.0 + 0.1 + 0.2, 100.0, 1);
    w.tick(&mut out);
    let (_, _, json) = out
        .snapshots
        .iter()
        .rev()
        .find(|(to, _, _)| *to == 1)
        .unwrap();
    assert_eq!(
        json,
        r#"{"tick":2,"ack":0,"x":100.0,"y":100.0,"enter":[],"move":[[2,210.3,100.0]],"leave":[]}"#
    );
    w.leave(2);
    w.tick(&mut out);
    let (_, _, json) = out
        .snapshots
        .iter()
        .rev()
        .find(|(to, _, _)| *to == 1)
        .unwrap();
    assert_eq!(
        json,
        r#"{"tick":3,"ack":0,"x":100.0,"y":100.0,"enter":[],"move":[],"leave":[2]}"#
    );
}

#[test]
fn full_delivery_merges_deltas_into_the_next_snapshot() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "viewer", v(1000.0, 1000.0));
    w.join(2, "stays", v(1100.0, 1000.0));
    w.join(3, "goes", v(1200.0, 1000.0));
    w.tick(&mut out);
    let mut c = Client::default();
    let mut at = 0;
    c.sync(&out, 1, &mut at);
    assert_eq!(c.ids(), vec![2, 3]);

    out.full.insert(1);
    w.set_target(2, 1110.0, 1000.0, 1);
    w.tick(&mut out); // 2 moves: refused
    w.leave(3);
    w.join(4, "comes", v(1000.0, 1100.0));
    w.tick(&mut out); // 3 leaves, 4 enters: refused
    w.join(5, "blinks", v(1000.0, 900.0));
    w.tick(&mut out); // 5 enters: refused
    w.leave(5);
    w.tick(&mut out); // 5 gone again before anything was sent
    assert_eq!(out.refused.len(), 4);
    assert_eq!(out.count_for(1), 1);

    out.full.clear();
    w.tick(&mut out);
    let s = out.last_for(1).unwrap();
    assert_eq!(s.moves().collect::<Vec<_>>(), vec![(2, 1110.0, 1000.0)]);
    assert_eq!(s.leave(), &[3]);
    assert_eq!(s.enter().iter().map(|e| e.id).collect::<Vec<_>>(), vec![4]);
    c.sync(&out, 1, &mut at);
    assert_eq!(c.ids(), vec![2, 4]);
    assert!(out.kicks.is_empty());
}

#[test]
fn kicked_after_max_unsent_ticks_and_removed() {
    let mut w = World::new(WorldConfig {
        max_unsent_ticks: 3,
        ..Default::default()
    })
    .unwrap();
    let mut out = Rec::default();
    w.join(1, "slow", v(1000.0, 1000.0));
    w.join(2, "other", v(1100.0, 1000.0));
    out.full.insert(1);
    for _ in 0..3 {
        w.tick(&mut out);
    }
    assert!(out.kicks.is_empty(), "3 refused ticks are tolerated");
    w.tick(&mut out);
    assert_eq!(out.kicks, vec![(1, TOO_SLOW.to_owned())]);
    assert_eq!(w.position(1), None);
    assert_eq!(w.player_count(), 1);
    w.tick(&mut out);
    assert_eq!(out.last_for(2).unwrap().leave(), &[1]);
}

#[test]
fn a_full_streak_ended_by_a_sent_snapshot_is_forgiven() {
    let mut w = World::new(WorldConfig {
        max_unsent_ticks: 3,
        ..Default::default()
    })
    .unwrap();
    let mut out = Rec::default();
    w.join(1, "sometimes slow", v(1000.0, 1000.0));
    let mut seq = 0;
    for round in 0..5 {
        for full in [true, true, true, false] {
            if full {
                out.full.insert(1);
            } else {
                out.full.remove(&1);
            }
            seq += 1;
            w.set_target(1, 1000.0 + seq as f64, 1000.0, seq);
            w.tick(&mut out);
        }
        assert_eq!(out.refused.len(), 3 * (round + 1));
    }
    assert!(out.kicks.is_empty());
    assert_eq!(w.player_count(), 1);
}

#[test]
fn gone_delivery_removes_the_player_and_keeps_its_position_for_persistence() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "a", v(1000.0, 1000.0));
    w.set_target(1, 1010.0, 1000.0, 1);
    out.gone.insert(1);
    w.tick(&mut out);
    assert_eq!(w.position(1), None);
    assert!(out.kicks.is_empty());
    assert_eq!(
        w.dirty_positions(),
        vec![SavedPosition {
            id: 1,
            x: 1010.0,
            y: 1000.0,
            reset_epoch: 0,
        }]
    );
}

#[test]
fn admin_teleport_drops_stale_moves_then_follows_the_client() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "a", v(3000.0, 3000.0));
    w.set_target(1, 3010.0, 3000.0, 1);
    w.tick(&mut out);
    assert!(w.teleport(1, v(2048.0, 2048.0), TeleportReason::AdminReset));
    // Targets sent before the client saw the teleport point at the old place.
    assert_eq!(
        w.set_target(1, 3020.0, 3000.0, 2),
        TargetOutcome::DroppedAfterTeleport
    );
    w.tick(&mut out);
    assert_eq!(out.log[out.log.len() - 2..], ["teleport 1", "snapshot 1"]);
    let (_, t) = out.teleports[0];
    assert_eq!(
        (t.x, t.y, t.reason),
        (2048.0, 2048.0, TeleportReason::AdminReset)
    );
    assert_eq!(out.last_for(1).unwrap().x(), 2048.0);
    for seq in 3..10 {
        assert_eq!(
            w.set_target(1, 3030.0, 3000.0, seq),
            TargetOutcome::DroppedAfterTeleport
        );
        w.tick(&mut out);
        assert_eq!(w.position(1), Some(v(2048.0, 2048.0)), "never pulled back");
    }
    // The client snapped and moves from the new point: accepted.
    assert_eq!(w.set_target(1, 2060.0, 2048.0, 10), TargetOutcome::Accepted);
    w.tick(&mut out);
    assert_eq!(w.position(1), Some(v(2060.0, 2048.0)));
    // The guard is gone: ordinary rules apply again.
    assert_eq!(w.set_target(1, 2070.0, 2048.0, 11), TargetOutcome::Accepted);
    assert_eq!(out.teleports.len(), 1);
}

#[test]
fn teleport_guard_allows_what_speed_explains() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "a", v(1000.0, 1000.0));
    w.teleport(1, v(2000.0, 2000.0), TeleportReason::AdminReset);
    w.tick(&mut out);
    for _ in 0..4 {
        w.tick(&mut out);
    }
    // 4 ticks after the teleport the client may be up to (4 + 1) * 15 + 30
    // units from the point.
    assert_eq!(
        w.set_target(1, 2106.0, 2000.0, 1),
        TargetOutcome::DroppedAfterTeleport
    );
    assert_eq!(w.set_target(1, 2104.0, 2000.0, 2), TargetOutcome::Accepted);
}

#[test]
fn teleport_of_a_departed_player_replaces_its_unsaved_position() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "a", v(1000.0, 1000.0));
    w.set_target(1, 1010.0, 1000.0, 1);
    out.gone.insert(1);
    w.tick(&mut out); // removed with an unsaved position
    assert!(!w.teleport(1, v(2048.0, 2048.0), TeleportReason::AdminReset));
    assert!(
        w.dirty_positions().is_empty(),
        "the old position is never saved"
    );
    // On reconnect the store's (reset) position is used.
    assert_eq!(w.join(1, "a", v(2048.0, 2048.0)), v(2048.0, 2048.0));
}

#[test]
fn rejoin_after_gone_prefers_the_unsaved_world_position() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "a", v(1000.0, 1000.0));
    w.set_target(1, 1010.0, 1000.0, 1);
    out.gone.insert(1);
    w.tick(&mut out);
    out.gone.clear();
    assert_eq!(w.join(1, "a", v(1000.0, 1000.0)), v(1010.0, 1000.0));
}

#[test]
fn chat_reaches_exactly_the_players_within_view_radius() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "talker", v(1000.0, 1000.0));
    w.join(2, "edge", v(1600.0, 1000.0)); // exactly 600
    w.join(3, "far", v(1600.5, 1000.0));
    w.join(4, "near", v(1000.0, 900.0));
    w.join(5, "left", v(1000.0, 950.0));
    w.tick(&mut out);
    w.leave(5);
    assert_eq!(w.chat(1, "hello", &mut out), 3);
    let (mut to, m) = out.chats.pop().unwrap();
    to.sort_unstable();
    assert_eq!(to, vec![1, 2, 4]);
    assert_eq!(
        m,
        ChatMessage {
            id: 1,
            name: "talker".into(),
            text: "hello".into()
        }
    );
    // Recipients are found among the players of the last tick: someone who
    // joined since is reached from the next tick on.
    w.join(6, "new", v(1000.0, 1000.0));
    w.chat(1, "hi", &mut out);
    assert!(!out.chats.pop().unwrap().0.contains(&6));
    w.tick(&mut out);
    w.chat(1, "hi", &mut out);
    assert!(out.chats.pop().unwrap().0.contains(&6));
}

#[test]
fn persists_dirty_positions_once_per_flush_interval() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "mover", v(1000.0, 1000.0));
    w.join(2, "idle", v(2000.0, 2000.0));
    w.join(3, "leaver", v(3000.0, 3000.0));
    w.set_target(1, 1000.004, 1000.0, 1);
    w.set_target(3, 3001.0, 3000.0, 1);
    for _ in 0..19 {
        w.tick(&mut out);
    }
    assert!(out.persisted.is_empty());
    assert_eq!(w.leave(3), Some(v(3001.0, 3000.0)));
    w.tick(&mut out); // tick 20
    assert_eq!(
        out.persisted,
        vec![vec![SavedPosition {
            id: 1,
            x: 1000.0,
            y: 1000.0,
            reset_epoch: 0,
        }]]
    );
    for _ in 0..20 {
        w.tick(&mut out);
    }
    assert_eq!(out.persisted.len(), 1, "nothing dirty, nothing persisted");
}

#[test]
fn departed_slots_are_reused_only_after_the_reservation() {
    let mut w = World::new(WorldConfig {
        max_unsent_ticks: 2,
        ..Default::default()
    })
    .unwrap();
    let mut out = Rec::default();
    w.join(1, "viewer", v(1000.0, 1000.0));
    w.join(2, "old", v(1100.0, 1000.0));
    w.tick(&mut out);
    let mut c = Client::default();
    let mut at = 0;
    out.full.insert(1);
    w.leave(2);
    w.tick(&mut out);
    // A new id joins next to the viewer while its baseline still names 2.
    w.join(3, "new", v(1100.0, 1000.0));
    w.tick(&mut out);
    out.full.clear();
    for _ in 0..10 {
        w.tick(&mut out);
        w.join(100 + w.tick_number(), "churn", v(500.0, 500.0));
    }
    c.sync(&out, 1, &mut at);
    assert_eq!(
        c.ids()
            .into_iter()
            .filter(|&id| id < 100)
            .collect::<Vec<_>>(),
        vec![3]
    );
}

#[test]
fn a_slot_queued_twice_is_freed_once() {
    let mut w = World::new(WorldConfig {
        max_unsent_ticks: 1,
        ..Default::default()
    })
    .unwrap();
    let mut out = Rec::default();
    // Leave, rejoin and leave again before the reservation ends.
    w.join(10, "a", v(100.0, 100.0));
    w.leave(10);
    w.join(10, "a", v(100.0, 100.0));
    w.leave(10);
    for _ in 0..6 {
        w.tick(&mut out);
    }
    w.join(2, "b", v(1000.0, 1000.0));
    w.join(3, "c", v(3000.0, 3000.0));
    w.set_target(2, 1010.0, 1000.0, 1);
    w.tick(&mut out);
    assert_eq!(w.position(2), Some(v(1010.0, 1000.0)));
    assert_eq!(w.position(3), Some(v(3000.0, 3000.0)));
    assert_eq!(w.player_count(), 2);
}

#[test]
fn crowd_cut_follows_when_the_nearest_leave() {
    let mut w = world();
    let mut out = Rec::default();
    w.join(1, "viewer", v(2048.0, 2048.0));
    let ring = |w: &mut World, first: u64, from: f64| {
        for i in 0..150u64 {
            let r = from + i as f64;
            let a = i as f64 * 2.4;
            w.join(
                first + i,
                "p",
                v(2048.0 + r * a.cos(), 2048.0 + r * a.sin()),
            );
        }
    };
    ring(&mut w, 1000, 10.0); // near: distances 10..159
    ring(&mut w, 2000, 400.0); // far: distances 400..549
    w.tick(&mut out);
    let mut c = Client::default();
    let mut at = 0;
    c.sync(&out, 1, &mut at);
    assert_eq!(c.ids(), (1000..1128).collect::<Vec<_>>());
    for id in 1000..1150 {
        w.leave(id);
    }
    w.tick(&mut out);
    c.sync(&out, 1, &mut at);
    assert_eq!(c.ids(), (2000..2128).collect::<Vec<_>>());
    // Half of the far ring comes closer than the cut: they take its place.
    for i in 0..150u64 {
        if i % 2 == 1 {
            w.teleport(
                2000 + i,
                v(2048.0 + 100.0 + i as f64 * 0.5, 2048.0),
                TeleportReason::AdminReset,
            );
        }
    }
    w.tick(&mut out);
    c.sync(&out, 1, &mut at);
    let odd: Vec<u64> = (0..150u64)
        .filter(|i| i % 2 == 1)
        .map(|i| 2000 + i)
        .collect();
    let even_nearest: Vec<u64> = (0..150u64)
        .filter(|i| i % 2 == 0)
        .map(|i| 2000 + i)
        .take(128 - odd.len())
        .collect();
    let mut want: Vec<u64> = odd.into_iter().chain(even_nearest).collect();
    want.sort_unstable();
    assert_eq!(c.ids(), want);
}
