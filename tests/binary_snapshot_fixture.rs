//! The fixture `tests/js/fixtures/binary_snapshots.json`: snapshots the real
//! [`World`] delivered to a few viewers over a scripted, seeded scene
//! (players walking in and out of view, leaving, rejoining, one viewer whose
//! queue was full for a few ticks), each in both forms: the JSON text and
//! the binary bytes as hex. The page's decoder is tested against it
//! (`tests/js/client_snapshot.test.mjs`).
//!
//! This test holds the committed fixture to the current format: every
//! binary snapshot in it decodes with the crate's decoder and leaves a
//! client holding exactly what the JSON ones leave it holding. With
//! `LOCUS_BLESS=1` it first rewrites the fixture from the current world.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use glam::DVec2;
use locus::game::binary::{BinarySnapshot, BinaryView};
use locus::game::{
    ChatMessage, Delivery, Outbox, PlayerId, SavedPosition, Snapshot, Teleport, World, WorldConfig,
};
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{json, Value};

/// Viewers whose snapshots the fixture keeps.
const VIEWERS: [PlayerId; 3] = [1, 2, 3];

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js/fixtures/binary_snapshots.json")
}

/// Keeps the watched viewers' snapshots; refuses viewer 2's for a while.
#[derive(Default)]
struct Recorder {
    full: HashSet<PlayerId>,
    kept: BTreeMap<PlayerId, Vec<Value>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Outbox for Recorder {
    fn snapshot(&mut self, to: PlayerId, s: &Snapshot<'_>) -> Delivery {
        if self.full.contains(&to) {
            return Delivery::Full;
        }
        if VIEWERS.contains(&to) {
            let json = String::from_utf8(s.to_json()).expect("JSON snapshots are UTF-8");
            let binary = s.to_binary().expect("world snapshots have a binary form");
            self.kept
                .entry(to)
                .or_default()
                .push(json!({"json": json, "binary": hex(&binary)}));
        }
        Delivery::Sent
    }
    fn teleport(&mut self, _: PlayerId, _: &Teleport) {}
    fn chat(&mut self, _: &[PlayerId], _: &ChatMessage) {}
    fn persist(&mut self, _: &[SavedPosition]) {}
    fn kick(&mut self, _: PlayerId, _: &str) {}
}

/// The scripted scene, seeded: 40 players in a 2000 x 2000 world walking to
/// random targets for 80 ticks; a few leave and rejoin; viewer 2 misses
/// ticks 30-34 (its queue is full), so its next snapshot merges them.
fn scene() -> Value {
    let config = WorldConfig {
        width: 2000.0,
        height: 2000.0,
        ..WorldConfig::default()
    };
    let mut world = World::new(config).expect("valid world");
    let mut rng = SmallRng::seed_from_u64(11);
    let players: Vec<PlayerId> = (1..=40).collect();
    for &id in &players {
        let at = DVec2::new(rng.random_range(0.0..2000.0), rng.random_range(0.0..2000.0));
        world.join(id, &format!("p{id}-ünï"), at);
    }
    let mut out = Recorder::default();
    let mut seq = 0;
    for tick in 0..80u32 {
        if tick == 30 {
            out.full.insert(2);
        }
        if tick == 35 {
            out.full.remove(&2);
        }
        for &id in &players {
            if rng.random_bool(0.3) {
                seq += 1;
                let (x, y) = (rng.random_range(0.0..2000.0), rng.random_range(0.0..2000.0));
                let here = world.position(id).unwrap_or(DVec2::new(x, y));
                // One tick's step toward the random point.
                let to = here + (DVec2::new(x, y) - here).clamp_length_max(14.0);
                world.set_target(id, to.x, to.y, seq);
            }
        }
        if tick % 20 == 10 {
            for id in [7, 8, 9] {
                world.leave(id);
            }
        }
        if tick % 20 == 15 {
            for id in [7, 8, 9] {
                let at = DVec2::new(rng.random_range(0.0..2000.0), rng.random_range(0.0..2000.0));
                world.join(id, &format!("p{id}-ünï"), at);
            }
        }
        world.tick(&mut out);
    }
    json!({
        "about": "Snapshots the world sent to viewers 1-3, in both forms; written by tests/binary_snapshot_fixture.rs (LOCUS_BLESS=1 to rewrite).",
        "viewers": out.kept.iter().map(|(id, v)| (id.to_string(), Value::from(v.clone()))).collect::<serde_json::Map<_, _>>(),
    })
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// What a JSON client holds: id -> (name, x, y), plus own position and ack.
type JsonView = BTreeMap<u64, (String, f64, f64)>;

fn apply_json(view: &mut JsonView, s: &Value) {
    for id in s["leave"].as_array().unwrap() {
        assert!(
            view.remove(&id.as_u64().unwrap()).is_some(),
            "leave of a player not held"
        );
    }
    for e in s["enter"].as_array().unwrap() {
        let entry = (
            e["name"].as_str().unwrap().to_owned(),
            e["x"].as_f64().unwrap(),
            e["y"].as_f64().unwrap(),
        );
        assert!(
            view.insert(e["id"].as_u64().unwrap(), entry).is_none(),
            "enter of a player held"
        );
    }
    for m in s["move"].as_array().unwrap() {
        let p = view
            .get_mut(&m[0].as_u64().unwrap())
            .expect("move of a player held");
        (p.1, p.2) = (m[1].as_f64().unwrap(), m[2].as_f64().unwrap());
    }
}

#[test]
fn fixture_binary_snapshots_mean_what_their_json_says() {
    if std::env::var_os("LOCUS_BLESS").is_some() {
        let text = serde_json::to_string_pretty(&scene()).unwrap() + "\n";
        std::fs::write(fixture_path(), text).expect("fixture written");
    }
    let text = std::fs::read_to_string(fixture_path())
        .expect("tests/js/fixtures/binary_snapshots.json exists (LOCUS_BLESS=1 writes it)");
    let fixture: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let viewers = fixture["viewers"].as_object().expect("viewers");
    assert_eq!(viewers.len(), VIEWERS.len());
    let (mut enters, mut leaves, mut moves) = (0, 0, 0);
    for (viewer, snapshots) in viewers {
        let mut json_view = JsonView::new();
        let mut binary_view = BinaryView::new();
        for (k, pair) in snapshots.as_array().unwrap().iter().enumerate() {
            let json: Value = serde_json::from_str(pair["json"].as_str().unwrap()).unwrap();
            let bytes = unhex(pair["binary"].as_str().unwrap());
            let binary = BinarySnapshot::decode(&bytes)
                .unwrap_or_else(|e| panic!("viewer {viewer} snapshot {k}: {e}"));
            assert_eq!(
                binary.to_bytes(),
                bytes,
                "the reference encoder writes the same bytes"
            );
            binary_view.apply(&binary).unwrap();
            apply_json(&mut json_view, &json);
            enters += binary.enter.len();
            leaves += binary.leave.len();
            moves += binary.moves.len();
            assert_eq!(binary_view.tick, json["tick"].as_u64().unwrap());
            assert_eq!(binary_view.ack, json["ack"].as_u64().unwrap());
            let cents = |v: &Value| (v.as_f64().unwrap() * 100.0).round() as i32;
            assert_eq!(binary_view.own, (cents(&json["x"]), cents(&json["y"])));
            let held: JsonView = binary_view
                .players()
                .map(|p| {
                    (
                        p.id,
                        (
                            p.name.clone(),
                            f64::from(p.x) / 100.0,
                            f64::from(p.y) / 100.0,
                        ),
                    )
                })
                .collect();
            assert_eq!(held, json_view, "viewer {viewer} after snapshot {k}");
        }
    }
    // The scene exercises every section.
    assert!(
        enters > 0 && leaves > 0 && moves > 0,
        "{enters} {leaves} {moves}"
    );
}
