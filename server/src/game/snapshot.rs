//! The world's outgoing messages as serde wire types, field order exactly as
//! the contract writes them: `snapshot`, `teleport`, `chat`, plus the
//! [`SavedPosition`] handed to persistence. Positions are rounded to 0.01 here
//! ([`round_wire`]) so that every encoder prints e.g. `12.34`.
//!
//! Also owns the per-tick cache of encoded `move` entries: a player's
//! `[id,x,y]` is the same in every viewer's snapshot, so it is encoded once
//! per tick and [`Snapshot::write_json`] splices the bytes. Knows nothing of
//! views or sockets.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::PlayerId;

/// `v` rounded to 0.01 the way the wire wants it: `(v * 100).round() / 100`,
/// with `-0` turned into `0`. Serializing the result prints at most two
/// decimals (`12.34`, `12.3`, `12.0`).
pub fn round_wire(v: f64) -> f64 {
    (v * 100.0).round() / 100.0 + 0.0
}

/// A coordinate as whole hundredths: what the world compares to decide
/// whether a move is visible on the wire. Equal to `(v * 100).round()` (half
/// away from zero) for |v| < 2e7, without the libm call `round` compiles to
/// on baseline x86-64 (this runs for every player every tick).
pub(crate) fn to_cents(v: f64) -> i32 {
    let x = v * 100.0;
    let t = x as i64; // toward zero, saturating; NaN -> 0
    // Exact: x and t are within 1 of each other (Sterbenz).
    let frac = x - t as f64;
    let r = if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    };
    r.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// The wire value of a coordinate in hundredths; equals [`round_wire`] of the
/// coordinate it was made from.
pub(crate) fn from_cents(c: i32) -> f64 {
    f64::from(c) / 100.0
}

/// A player coming into view: everything a client needs to show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnterEntry {
    /// The player's id.
    pub id: PlayerId,
    /// Display name (the account's username), shared with the world.
    #[serde(serialize_with = "ser_arc_str", deserialize_with = "de_arc_str")]
    pub name: Arc<str>,
    /// Position, rounded to 0.01.
    pub x: f64,
    /// Position, rounded to 0.01.
    pub y: f64,
}

fn ser_arc_str<S: Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

fn de_arc_str<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
    String::deserialize(d).map(Arc::from)
}

/// A player in view that moved: `[id, x, y]` on the wire, rounded to 0.01.
pub type MoveEntry = (PlayerId, f64, f64);

/// One player's delta snapshot for one tick, against what was last sent to
/// it. Serializes as
/// `{"tick","ack","x","y","enter":[{"id","name","x","y"}],"move":[[id,x,y]],"leave":[id]}`.
///
/// Built by the world; fields are read through accessors so a snapshot's
/// cached `move` encoding can never disagree with its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot<'a> {
    /// The tick that produced it.
    tick: u64,
    /// Highest `position.seq` applied so far (0 before any).
    ack: u64,
    /// The receiver's own authoritative position, rounded to 0.01.
    x: f64,
    /// See `x`.
    y: f64,
    /// Players that came into view.
    enter: Vec<EnterEntry>,
    /// Players in view whose rounded position changed since the last
    /// snapshot sent to this player.
    #[serde(rename = "move")]
    moves: Vec<MoveEntry>,
    /// Players that left the view or went offline.
    leave: Vec<PlayerId>,
    /// The tick's table of encoded `[id,x,y]` move entries, by slot.
    #[serde(skip)]
    move_json: &'a [EncodedMove],
    /// For each of `moves`, its index in `move_json`; empty when the snapshot
    /// was not built by the world (then `moves` is encoded directly).
    #[serde(skip)]
    move_slots: Vec<u32>,
}

impl PartialEq for Snapshot<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.tick == other.tick
            && self.ack == other.ack
            && self.x == other.x
            && self.y == other.y
            && self.enter == other.enter
            && self.moves == other.moves
            && self.leave == other.leave
    }
}

impl Snapshot<'static> {
    /// A snapshot from plain data (tests, tools); the world builds its own.
    pub fn new(
        tick: u64,
        ack: u64,
        x: f64,
        y: f64,
        enter: Vec<EnterEntry>,
        moves: Vec<MoveEntry>,
        leave: Vec<PlayerId>,
    ) -> Self {
        Snapshot {
            tick,
            ack,
            x,
            y,
            enter,
            moves,
            leave,
            move_json: &[],
            move_slots: Vec::new(),
        }
    }
}

impl<'a> Snapshot<'a> {
    /// Assembles a snapshot whose `moves[i]` is encoded at
    /// `move_json[move_slots[i]]`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn with_encoded_moves(
        tick: u64,
        ack: u64,
        x: f64,
        y: f64,
        enter: Vec<EnterEntry>,
        moves: Vec<MoveEntry>,
        leave: Vec<PlayerId>,
        move_json: &'a [EncodedMove],
        move_slots: Vec<u32>,
    ) -> Self {
        Snapshot {
            tick,
            ack,
            x,
            y,
            enter,
            moves,
            leave,
            move_json,
            move_slots,
        }
    }

    /// Takes the snapshot apart to reuse its buffers.
    pub(crate) fn into_buffers(
        self,
    ) -> (
        Vec<EnterEntry>,
        Vec<MoveEntry>,
        Vec<PlayerId>,
        Vec<u32>,
    ) {
        (self.enter, self.moves, self.leave, self.move_slots)
    }

    /// The tick that produced it.
    pub fn tick(&self) -> u64 {
        self.tick
    }
    /// Highest `position.seq` applied so far (0 before any).
    pub fn ack(&self) -> u64 {
        self.ack
    }
    /// The receiver's own position x, rounded to 0.01.
    pub fn x(&self) -> f64 {
        self.x
    }
    /// The receiver's own position y, rounded to 0.01.
    pub fn y(&self) -> f64 {
        self.y
    }
    /// Players that came into view.
    pub fn enter(&self) -> &[EnterEntry] {
        &self.enter
    }
    /// Players in view that moved.
    pub fn moves(&self) -> &[MoveEntry] {
        &self.moves
    }
    /// Players that left the view or went offline.
    pub fn leave(&self) -> &[PlayerId] {
        &self.leave
    }

    /// Appends the JSON encoding to `out`, byte for byte what
    /// `serde_json::to_vec(self)` produces, splicing the tick's cached `move`
    /// entries instead of formatting each number again.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"tick\":");
        put_json(out, &self.tick);
        out.extend_from_slice(b",\"ack\":");
        put_json(out, &self.ack);
        out.extend_from_slice(b",\"x\":");
        put_json(out, &self.x);
        out.extend_from_slice(b",\"y\":");
        put_json(out, &self.y);
        out.extend_from_slice(b",\"enter\":");
        put_json(out, &self.enter);
        out.extend_from_slice(b",\"move\":");
        if !self.splice_moves(out) {
            put_json(out, &self.moves);
        }
        out.extend_from_slice(b",\"leave\":");
        put_json(out, &self.leave);
        out.push(b'}');
    }

    /// The JSON encoding as a fresh buffer; see [`Snapshot::write_json`].
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 24 * self.moves.len());
        self.write_json(&mut out);
        out
    }

    /// Writes `moves` from the cached encodings; false (nothing written) if
    /// there is no valid cache.
    fn splice_moves(&self, out: &mut Vec<u8>) -> bool {
        if self.move_slots.len() != self.moves.len() || self.moves.is_empty() {
            return false;
        }
        let start = out.len();
        out.reserve(self.moves.len() * (ENCODED_MOVE_MAX + 1) + 1);
        out.push(b'[');
        for (i, &slot) in self.move_slots.iter().enumerate() {
            match self.move_json.get(slot as usize) {
                Some(m) if m.len > 0 => {
                    if i > 0 {
                        out.push(b',');
                    }
                    // A fixed-size copy (no memcpy call), then trimmed.
                    out.extend_from_slice(&m.bytes);
                    out.truncate(out.len() - ENCODED_MOVE_MAX + usize::from(m.len));
                }
                _ => {
                    out.truncate(start);
                    return false;
                }
            }
        }
        out.push(b']');
        true
    }
}

/// Serializes `value` as JSON onto `out`. Cannot fail for the types used
/// here (integers, finite floats, strings, sequences of them).
fn put_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing these types into a Vec has no failure path in serde_json.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Longest cached `[id,x,y]` encoding; longer ones (impossible for a
/// validated world) are encoded on the spot instead.
const ENCODED_MOVE_MAX: usize = 63;

/// One player's `[id,x,y]` JSON for this tick, in a fixed-size buffer so it
/// is copied without a `memcpy` call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncodedMove {
    /// The bytes; only the first `len` count.
    bytes: [u8; ENCODED_MOVE_MAX],
    /// Length of the encoding; 0 when it did not fit.
    len: u8,
}

impl Default for EncodedMove {
    fn default() -> Self {
        Self {
            bytes: [0; ENCODED_MOVE_MAX],
            len: 0,
        }
    }
}

/// Per-tick cache of encoded `[id,x,y]` move entries, by player slot.
#[derive(Debug, Default)]
pub(crate) struct MoveFragments {
    /// For each slot, its entry when `stamp` is this tick.
    table: Vec<EncodedMove>,
    /// For each slot, the tick its entry was encoded in (0: never).
    stamp: Vec<u64>,
    /// The tick being encoded.
    tick: u64,
    /// Encoding scratch.
    buf: Vec<u8>,
}

impl MoveFragments {
    /// Starts tick `tick` (must be > 0 and new) for up to `slots` players.
    pub(crate) fn begin(&mut self, tick: u64, slots: usize) {
        self.tick = tick;
        if self.stamp.len() < slots {
            self.stamp.resize(slots, 0);
            self.table.resize(slots, EncodedMove::default());
        }
    }

    /// Encodes `slot`'s entry on first use this tick.
    pub(crate) fn encode(&mut self, slot: u32, entry: &MoveEntry) {
        let s = slot as usize;
        if self.stamp[s] == self.tick {
            return;
        }
        self.stamp[s] = self.tick;
        self.buf.clear();
        put_json(&mut self.buf, entry);
        let m = &mut self.table[s];
        match m.bytes.get_mut(..self.buf.len()) {
            Some(dst) => {
                dst.copy_from_slice(&self.buf);
                m.len = self.buf.len() as u8;
            }
            None => m.len = 0,
        }
    }

    /// The tick's entries, by slot.
    pub(crate) fn table(&self) -> &[EncodedMove] {
        &self.table
    }
}

/// Why the server moved a player itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeleportReason {
    /// An administrator reset the position (`locus admin reset`).
    AdminReset,
    /// The client's input was out of bounds or too far ahead; it is told
    /// where it really is.
    Correction,
}

/// `teleport {"x","y","reason"}`: the client snaps to this position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Teleport {
    /// Position, rounded to 0.01.
    pub x: f64,
    /// Position, rounded to 0.01.
    pub y: f64,
    /// Why the server moved the player.
    pub reason: TeleportReason,
}

/// `chat {"id","name","text"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The sender's id.
    pub id: PlayerId,
    /// The sender's name.
    pub name: String,
    /// The message, validated by the caller (1-200 chars).
    pub text: String,
}

/// A position to persist for a player, rounded to 0.01 (what clients saw).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SavedPosition {
    /// The player's (account) id.
    pub id: PlayerId,
    /// Position x, rounded to 0.01.
    pub x: f64,
    /// Position y, rounded to 0.01.
    pub y: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot<'static> {
        Snapshot::new(
            7,
            3,
            round_wire(12.340000000000002),
            round_wire(2048.0),
            vec![EnterEntry {
                id: 5,
                name: Arc::from("ann\"e"),
                x: round_wire(1.005),
                y: round_wire(0.1 + 0.2),
            }],
            vec![(9, round_wire(100.456), round_wire(4096.0))],
            vec![11, 12],
        )
    }

    #[test]
    fn snapshot_json_is_the_contract_bytes() {
        let json = serde_json::to_string(&sample()).unwrap();
        assert_eq!(
            json,
            r#"{"tick":7,"ack":3,"x":12.34,"y":2048.0,"enter":[{"id":5,"name":"ann\"e","x":1.0,"y":0.3}],"move":[[9,100.46,4096.0]],"leave":[11,12]}"#
        );
        assert_eq!(sample().to_json(), json.as_bytes());
    }

    #[test]
    fn empty_snapshot_json() {
        let s = Snapshot::new(1, 0, 0.0, 0.01, vec![], vec![], vec![]);
        assert_eq!(
            String::from_utf8(s.to_json()).unwrap(),
            r#"{"tick":1,"ack":0,"x":0.0,"y":0.01,"enter":[],"move":[],"leave":[]}"#
        );
    }

    #[test]
    fn spliced_moves_match_serde() {
        let moves = vec![(1, 10.5, 20.25), (2, 0.0, 4096.0), (u64::MAX, 1.01, 2.99)];
        let mut frags = MoveFragments::default();
        frags.begin(1, 3);
        for (i, m) in moves.iter().enumerate() {
            frags.encode(i as u32, m);
        }
        let s = Snapshot::with_encoded_moves(
            2,
            1,
            3.5,
            4.5,
            vec![],
            moves.clone(),
            vec![4],
            frags.table(),
            vec![0, 1, 2],
        );
        let plain = Snapshot::new(2, 1, 3.5, 4.5, vec![], moves, vec![4]);
        assert_eq!(s.to_json(), serde_json::to_vec(&plain).unwrap());
    }

    #[test]
    fn rejects_mismatched_span_cache_by_falling_back() {
        // A slot outside the table, or never encoded, must not panic nor
        // corrupt the output.
        let table = [EncodedMove::default()];
        for slots in [vec![5], vec![0]] {
            let s = Snapshot::with_encoded_moves(
                1,
                0,
                1.0,
                1.0,
                vec![],
                vec![(1, 2.0, 3.0)],
                vec![],
                &table,
                slots,
            );
            assert_eq!(
                String::from_utf8(s.to_json()).unwrap(),
                r#"{"tick":1,"ack":0,"x":1.0,"y":1.0,"enter":[],"move":[[1,2.0,3.0]],"leave":[]}"#
            );
        }
        let s = Snapshot::with_encoded_moves(
            1,
            0,
            1.0,
            1.0,
            vec![],
            vec![(1, 2.0, 3.0)],
            vec![],
            &table,
            vec![],
        );
        assert_eq!(
            String::from_utf8(s.to_json()).unwrap(),
            r#"{"tick":1,"ack":0,"x":1.0,"y":1.0,"enter":[],"move":[[1,2.0,3.0]],"leave":[]}"#
        );
    }

    #[test]
    fn snapshot_round_trips_through_serde() {
        let json = serde_json::to_string(&sample()).unwrap();
        let back: Snapshot<'static> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn teleport_and_chat_json() {
        let t = Teleport {
            x: round_wire(2048.004),
            y: 10.0,
            reason: TeleportReason::AdminReset,
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"x":2048.0,"y":10.0,"reason":"admin_reset"}"#
        );
        let t = Teleport {
            reason: TeleportReason::Correction,
            ..t
        };
        assert!(serde_json::to_string(&t)
            .unwrap()
            .ends_with(r#""reason":"correction"}"#));
        let c = ChatMessage {
            id: 1,
            name: "bob".into(),
            text: "hi".into(),
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"id":1,"name":"bob","text":"hi"}"#
        );
    }

    #[test]
    fn rounding_prints_two_decimals_and_no_negative_zero() {
        for (v, want) in [
            (12.340000000000002, "12.34"),
            (0.1 + 0.2, "0.3"),
            (-0.001, "0.0"),
            (4095.999, "4096.0"),
            (1234.567, "1234.57"),
        ] {
            assert_eq!(serde_json::to_string(&round_wire(v)).unwrap(), want);
        }
        for c in [-5, 0, 1, 99, 123_456, 409_600] {
            let v = f64::from(c) / 100.0 + 0.0013;
            assert_eq!(from_cents(to_cents(v)), round_wire(v));
        }
    }

    #[test]
    fn cents_match_std_round_everywhere() {
        let mut probes = vec![
            0.0,
            -0.0,
            0.005,
            0.015,
            -0.005,
            0.49999999999999994 / 100.0,
            1e7,
            -1e7,
            f64::NAN,
            2048.125,
            4095.995,
        ];
        // Every half-hundredth boundary in a 4096 world, and its neighbours.
        for c in 0..=409_600 {
            let v = (f64::from(c) + 0.5) / 100.0;
            probes.extend([
                v,
                f64::from_bits(v.to_bits() - 1),
                f64::from_bits(v.to_bits() + 1),
            ]);
        }
        for v in probes {
            assert_eq!(to_cents(v), (v * 100.0).round() as i32, "{v}");
            if v.is_finite() {
                assert_eq!(from_cents(to_cents(v)), round_wire(v), "{v}");
            }
        }
    }
}
