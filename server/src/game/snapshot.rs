//! The world's outgoing messages as serde wire types, field order exactly as
//! `docs/protocol.md` writes them: `welcome`, `snapshot`, `teleport`, `chat`,
//! plus the
//! [`SavedPosition`] handed to persistence. Positions are rounded to 0.01
//! ([`round_wire`]) so that every encoder prints e.g. `12.34`.
//!
//! Also owns the fast JSON path for snapshots ([`Snapshot::write_json`]),
//! byte for byte what `serde_json` produces (tested exhaustively over the
//! coordinates of a 4096 world): coordinates are printed from whole
//! hundredths, and a player's `[id,x,y]` move entry, the same in every
//! viewer's snapshot, is encoded once per tick in a [`MoveTable`] and spliced.
//! Knows nothing of views or sockets.

use std::io::{self, Write};
use std::sync::Arc;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::ser::{CompactFormatter, Formatter};

use super::binary::{put_svarint, put_uvarint, uvarint_into, wire_name, zigzag, BINARY_VERSION};
use super::{PlayerId, WorldConfig};

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
    if x.is_nan() || x.abs() >= 4e15 {
        // NaN, or far outside i32: saturate like `round() as i32`.
        return if x > 0.0 {
            i32::MAX
        } else if x < 0.0 {
            i32::MIN
        } else {
            0
        };
    }
    let t = x as i64; // toward zero
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

/// Writes `c / 100` exactly as `serde_json` prints that f64 (shortest
/// round-trip form: `12.34`, `12.3`, `12.0`, `-0.5`).
fn write_cents<W: Write>(w: &mut W, c: i32) -> io::Result<()> {
    let u = c.unsigned_abs();
    if c < 0 {
        w.write_all(b"-")?;
    }
    CompactFormatter.write_u32(w, u / 100)?;
    let frac = (u % 100) as u8;
    if frac.is_multiple_of(10) {
        w.write_all(&[b'.', b'0' + frac / 10])
    } else {
        w.write_all(&[b'.', b'0' + frac / 10, b'0' + frac % 10])
    }
}

/// Writes a coordinate as `serde_json` would: through [`write_cents`] when it
/// is a whole number of hundredths (always, for positions the world sends),
/// else through serde_json's float formatting.
fn write_coord<W: Write>(w: &mut W, v: f64) -> io::Result<()> {
    let c = to_cents(v);
    if from_cents(c).to_bits() == v.to_bits() {
        write_cents(w, c)
    } else if v.is_finite() {
        CompactFormatter.write_f64(w, v)
    } else {
        w.write_all(b"null") // what serde_json writes for NaN and infinities
    }
}

fn write_id<W: Write>(w: &mut W, id: PlayerId) -> io::Result<()> {
    CompactFormatter.write_u64(w, id)
}

/// A display name, with its JSON string form encoded once (it is sent in
/// every `enter` of this player). Cheap to clone.
#[derive(Clone)]
pub struct Name(Arc<NameInner>);

struct NameInner {
    /// The name.
    text: Box<str>,
    /// The name as a JSON string, quotes and escapes included.
    json: Box<str>,
}

impl Name {
    /// A name from text.
    pub fn new(text: &str) -> Self {
        let json = serde_json::to_string(text).unwrap_or_else(|_| String::from("\"\""));
        Name(Arc::new(NameInner {
            text: text.into(),
            json: json.into(),
        }))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// The name as a JSON string literal.
    fn json(&self) -> &str {
        &self.0.json
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Self {
        Name::new(text)
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Name::new(&s))
    }
}

/// A player coming into view: everything a client needs to show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnterEntry {
    /// The player's id.
    pub id: PlayerId,
    /// Display name (the account's username), shared with the world.
    pub name: Name,
    /// Position, rounded to 0.01.
    pub x: f64,
    /// Position, rounded to 0.01.
    pub y: f64,
}

/// A player in view that moved: `[id, x, y]` on the wire, rounded to 0.01.
pub type MoveEntry = (PlayerId, f64, f64);

/// Longest cached `[id,x,y]` encoding; longer ones (impossible for a
/// validated world) are encoded on the spot instead.
const ENCODED_MOVE_MAX: usize = 47;

/// Longest binary move delta: two zigzag varints of differences of `i32`
/// cents, each below 2^33 once zigzagged, so at most 5 bytes each.
const MOVE_DELTA_MAX: usize = 10;

/// One player's move entry for this tick, with its JSON in a fixed-size
/// buffer so splicing it is a fixed-size copy, not a `memcpy` call. 64 bytes.
#[derive(Debug, Clone, Copy)]
struct MoveRow {
    /// The player's id.
    id: PlayerId,
    /// Rounded position in hundredths.
    cx: i32,
    /// See `cx`.
    cy: i32,
    /// `[id,x,y]`; only the first `len` bytes count.
    json: [u8; ENCODED_MOVE_MAX],
    /// Length of `json`; 0 when it did not fit.
    len: u8,
    /// The binary move's delta against last tick's rounded position (what
    /// every in-sync viewer holds): zigzag varints of dx and dy.
    delta: [u8; MOVE_DELTA_MAX],
    /// Length of `delta`.
    delta_len: u8,
}

impl MoveRow {
    fn entry(&self) -> MoveEntry {
        (self.id, from_cents(self.cx), from_cents(self.cy))
    }
}

const EMPTY_ROW: MoveRow = MoveRow {
    id: 0,
    cx: 0,
    cy: 0,
    json: [0; ENCODED_MOVE_MAX],
    len: 0,
    delta: [0; MOVE_DELTA_MAX],
    delta_len: 2,
};

/// Per-tick table of move entries by player slot, each encoded once.
#[derive(Debug, Default)]
pub(crate) struct MoveTable {
    /// For each slot, its row when `stamp` is this tick.
    rows: Vec<MoveRow>,
    /// For each slot, the tick its row was filled in (0: never).
    stamp: Vec<u64>,
    /// The tick being encoded.
    tick: u64,
}

impl MoveTable {
    /// Starts tick `tick` (must be > 0 and new) for up to `slots` players.
    pub(crate) fn begin(&mut self, tick: u64, slots: usize) {
        self.tick = tick;
        if self.stamp.len() < slots {
            self.stamp.resize(slots, 0);
            self.rows.resize(slots, EMPTY_ROW);
        }
    }

    /// Fills `slot`'s row unless it was filled this tick: the player's id,
    /// its rounded position `cents` now and `before` (last tick's, for the
    /// binary delta).
    #[inline]
    pub(crate) fn ensure(
        &mut self,
        slot: u32,
        id: PlayerId,
        cents: (i32, i32),
        before: (i32, i32),
    ) {
        if self.stamp[slot as usize] != self.tick {
            self.fill(slot, id, cents, before);
        }
    }

    #[inline(never)]
    fn fill(&mut self, slot: u32, id: PlayerId, (cx, cy): (i32, i32), (bx, by): (i32, i32)) {
        let s = slot as usize;
        self.stamp[s] = self.tick;
        let row = &mut self.rows[s];
        row.id = id;
        row.cx = cx;
        row.cy = cy;
        let dx = zigzag(i64::from(cx) - i64::from(bx));
        let dy = zigzag(i64::from(cy) - i64::from(by));
        let n = uvarint_into(&mut row.delta, dx);
        row.delta_len = (n + uvarint_into(&mut row.delta[n..], dy)) as u8;
        let mut rest: &mut [u8] = &mut row.json;
        let written = (|| {
            rest.write_all(b"[")?;
            write_id(&mut rest, id)?;
            rest.write_all(b",")?;
            write_cents(&mut rest, cx)?;
            rest.write_all(b",")?;
            write_cents(&mut rest, cy)?;
            rest.write_all(b"]")?;
            Ok::<_, io::Error>(rest.len())
        })();
        row.len = match written {
            Ok(left) => (ENCODED_MOVE_MAX - left) as u8,
            Err(_) => 0, // did not fit: encoded on the spot when used
        };
    }
}

/// A snapshot's `move` list: plain entries, or slots of the tick's table.
#[derive(Debug, Clone)]
enum Moves<'a> {
    /// Built from data (tests, tools, deserialization).
    Plain(Vec<MoveEntry>),
    /// Built by the world: rows of `table`.
    Table {
        /// The tick's table.
        table: &'a MoveTable,
        /// Slots of the moved players, in order.
        slots: Vec<u32>,
    },
}

impl Moves<'_> {
    fn row(table: &MoveTable, slot: u32) -> &MoveRow {
        table.rows.get(slot as usize).unwrap_or(&EMPTY_ROW)
    }
}

/// The `move` entries of a [`Snapshot`], in order.
#[derive(Debug, Clone)]
pub struct MovesIter<'s> {
    inner: MovesInner<'s>,
}

#[derive(Debug, Clone)]
enum MovesInner<'s> {
    Plain(std::slice::Iter<'s, MoveEntry>),
    Table(&'s MoveTable, std::slice::Iter<'s, u32>),
}

impl Iterator for MovesIter<'_> {
    type Item = MoveEntry;
    fn next(&mut self) -> Option<MoveEntry> {
        match &mut self.inner {
            MovesInner::Plain(it) => it.next().copied(),
            MovesInner::Table(table, it) => it.next().map(|&s| Moves::row(table, s).entry()),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            MovesInner::Plain(it) => it.size_hint(),
            MovesInner::Table(_, it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for MovesIter<'_> {}

/// One player's delta snapshot for one tick, against what was last sent to
/// it. Serializes as
/// `{"tick","ack","x","y","enter":[{"id","name","x","y"}],"move":[[id,x,y]],"leave":[id]}`.
///
/// Built by the world, which shares each moved player's entry between all
/// snapshots of a tick (hence the lifetime); read it through the accessors.
#[derive(Debug, Clone)]
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
    moves: Moves<'a>,
    /// Players that left the view or went offline.
    leave: Vec<PlayerId>,
    /// The per-connection indices of the binary form (world snapshots only).
    wire: Option<WireIndices>,
}

/// A world snapshot's per-connection indices (see [`super::binary`]),
/// parallel to its `enter`, `move` and `leave` lists.
#[derive(Debug, Clone, Default)]
pub(crate) struct WireIndices {
    /// Per enter entry: the index it takes.
    pub(crate) enter: Vec<u32>,
    /// Per enter entry: its position in cents (what its `x`, `y` are
    /// exactly), so the encoders need not round them again. May be empty:
    /// they then round the entry's `x`, `y`.
    pub(crate) enter_at: Vec<(i32, i32)>,
    /// Per move entry: its index.
    pub(crate) moves: Vec<u32>,
    /// Per move entry when the viewer is behind (a snapshot was not
    /// delivered): the position its client holds. Empty when the viewer is
    /// in sync: the client then holds last tick's position, and the table
    /// row's shared delta applies.
    pub(crate) move_base: Vec<(i32, i32)>,
    /// Per leave entry: the index it frees.
    pub(crate) leave: Vec<u32>,
}

/// [`Snapshot::write_binary`] of a snapshot built from plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a snapshot built from plain data has no per-connection indices, so no binary form")]
pub struct NoBinaryForm;

/// The plain shape of a snapshot, for deserialization.
#[derive(Deserialize)]
struct PlainSnapshot {
    tick: u64,
    ack: u64,
    x: f64,
    y: f64,
    enter: Vec<EnterEntry>,
    #[serde(rename = "move")]
    moves: Vec<MoveEntry>,
    leave: Vec<PlayerId>,
}

impl Serialize for Snapshot<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct MoveList<'m, 'a>(&'m Snapshot<'a>);
        impl Serialize for MoveList<'_, '_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.moves())
            }
        }
        let mut st = s.serialize_struct("Snapshot", 7)?;
        st.serialize_field("tick", &self.tick)?;
        st.serialize_field("ack", &self.ack)?;
        st.serialize_field("x", &self.x)?;
        st.serialize_field("y", &self.y)?;
        st.serialize_field("enter", &self.enter)?;
        st.serialize_field("move", &MoveList(self))?;
        st.serialize_field("leave", &self.leave)?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for Snapshot<'static> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = PlainSnapshot::deserialize(d)?;
        Ok(Snapshot::new(
            p.tick, p.ack, p.x, p.y, p.enter, p.moves, p.leave,
        ))
    }
}

impl PartialEq for Snapshot<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.tick == other.tick
            && self.ack == other.ack
            && self.x == other.x
            && self.y == other.y
            && self.enter == other.enter
            && self.moves().eq(other.moves())
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
            moves: Moves::Plain(moves),
            leave,
            wire: None,
        }
    }
}

impl<'a> Snapshot<'a> {
    /// Assembles a snapshot whose moves are the rows of `slots` in `table`
    /// (each filled with [`MoveTable::ensure`] this tick), with the binary
    /// form's indices when `wire` is given.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_table(
        tick: u64,
        ack: u64,
        x: f64,
        y: f64,
        enter: Vec<EnterEntry>,
        table: &'a MoveTable,
        slots: Vec<u32>,
        leave: Vec<PlayerId>,
        wire: Option<WireIndices>,
    ) -> Self {
        Snapshot {
            tick,
            ack,
            x,
            y,
            enter,
            moves: Moves::Table { table, slots },
            leave,
            wire,
        }
    }

    /// Takes the snapshot apart to reuse its buffers: enter, move slots
    /// (empty for a plain snapshot), leave, indices.
    pub(crate) fn into_buffers(
        self,
    ) -> (
        Vec<EnterEntry>,
        Vec<u32>,
        Vec<PlayerId>,
        Option<WireIndices>,
    ) {
        let slots = match self.moves {
            Moves::Table { slots, .. } => slots,
            Moves::Plain(_) => Vec::new(),
        };
        (self.enter, slots, self.leave, self.wire)
    }

    /// Whether [`Snapshot::write_binary`] can encode it (every snapshot the
    /// world delivers can).
    pub fn has_binary_form(&self) -> bool {
        self.wire.is_some()
    }

    /// Appends the binary (version 1) encoding to `out`; see
    /// [`super::binary`]. Each mover's delta is shared by every in-sync
    /// viewer's snapshot of the tick, encoded once.
    pub fn write_binary(&self, out: &mut Vec<u8>) -> Result<(), NoBinaryForm> {
        let (Some(wire), Moves::Table { table, slots }) = (&self.wire, &self.moves) else {
            return Err(NoBinaryForm);
        };
        out.reserve(24 + 16 * slots.len() + 16 * self.enter.len() + 3 * self.leave.len());
        out.push(BINARY_VERSION);
        put_uvarint(out, self.tick);
        put_uvarint(out, self.ack);
        put_svarint(out, i64::from(to_cents(self.x)));
        put_svarint(out, i64::from(to_cents(self.y)));
        put_uvarint(out, wire.leave.len() as u64);
        for &i in &wire.leave {
            put_uvarint(out, u64::from(i));
        }
        put_uvarint(out, self.enter.len() as u64);
        for (k, (e, &i)) in self.enter.iter().zip(&wire.enter).enumerate() {
            let (cx, cy) = match wire.enter_at.get(k) {
                Some(&at) => at,
                None => (to_cents(e.x), to_cents(e.y)),
            };
            put_uvarint(out, u64::from(i));
            put_uvarint(out, e.id);
            put_svarint(out, i64::from(cx));
            put_svarint(out, i64::from(cy));
            let name = wire_name(e.name.as_str());
            put_uvarint(out, name.len() as u64);
            out.extend_from_slice(name.as_bytes());
        }
        put_uvarint(out, slots.len() as u64);
        // Each move is written into a fixed 16-byte window of zeroed room
        // (an index varint of at most 5 bytes, then the delta: at most
        // `MOVE_DELTA_MAX` bytes, two varints of `i32` differences), so the
        // copies are of fixed size rather than a `memcpy` call per move; the
        // room left is cut off.
        const WINDOW: usize = 16;
        let mut at = out.len();
        out.resize(at + WINDOW * slots.len(), 0);
        let behind = !wire.move_base.is_empty();
        for (k, (&slot, &index)) in slots.iter().zip(&wire.moves).enumerate() {
            let row = Moves::row(table, slot);
            let window: &mut [u8; WINDOW] = (&mut out[at..at + WINDOW])
                .try_into()
                .expect("a window of room per move");
            if !behind && index < 0x80 {
                // The common case: a one-byte index, then the shared delta.
                window[0] = index as u8;
                window[1..=MOVE_DELTA_MAX].copy_from_slice(&row.delta);
                at += 1 + usize::from(row.delta_len);
                continue;
            }
            let n = uvarint_into(window, u64::from(index));
            at += if let Some(&(bx, by)) = wire.move_base.get(k) {
                let n =
                    n + uvarint_into(&mut window[n..], zigzag(i64::from(row.cx) - i64::from(bx)));
                n + uvarint_into(&mut window[n..], zigzag(i64::from(row.cy) - i64::from(by)))
            } else {
                let delta: &mut [u8; MOVE_DELTA_MAX] = (&mut window[n..n + MOVE_DELTA_MAX])
                    .try_into()
                    .expect("an index varint is at most 5 bytes");
                *delta = row.delta;
                n + usize::from(row.delta_len)
            };
        }
        out.truncate(at);
        Ok(())
    }

    /// The binary encoding as a fresh buffer; see [`Snapshot::write_binary`].
    pub fn to_binary(&self) -> Result<Vec<u8>, NoBinaryForm> {
        let mut out = Vec::with_capacity(32 + 6 * self.moves().len());
        self.write_binary(&mut out)?;
        Ok(out)
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
    /// Players in view that moved, in order.
    pub fn moves(&self) -> MovesIter<'_> {
        let inner = match &self.moves {
            Moves::Plain(v) => MovesInner::Plain(v.iter()),
            Moves::Table { table, slots } => MovesInner::Table(table, slots.iter()),
        };
        MovesIter { inner }
    }
    /// Players that left the view or went offline.
    pub fn leave(&self) -> &[PlayerId] {
        &self.leave
    }

    /// Appends the JSON encoding to `out`: byte for byte what
    /// `serde_json::to_vec(self)` produces, several times faster.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        let _ = self.write_json_inner(out);
    }

    /// The JSON encoding as a fresh buffer; see [`Snapshot::write_json`].
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96 + 24 * self.moves().len());
        self.write_json(&mut out);
        out
    }

    fn write_json_inner(&self, out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(b"{\"tick\":");
        write_id(out, self.tick)?;
        out.extend_from_slice(b",\"ack\":");
        write_id(out, self.ack)?;
        out.extend_from_slice(b",\"x\":");
        write_coord(out, self.x)?;
        out.extend_from_slice(b",\"y\":");
        write_coord(out, self.y)?;
        out.extend_from_slice(b",\"enter\":[");
        // A world snapshot's enters come with their cents (what `x`, `y`
        // are exactly), so they are written without rounding again.
        let cents = self.wire.as_ref().map_or(&[][..], |w| &w.enter_at[..]);
        for (i, e) in self.enter.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"id\":");
            write_id(out, e.id)?;
            out.extend_from_slice(b",\"name\":");
            out.extend_from_slice(e.name.json().as_bytes());
            out.extend_from_slice(b",\"x\":");
            match cents.get(i) {
                Some(&(cx, cy)) => {
                    write_cents(out, cx)?;
                    out.extend_from_slice(b",\"y\":");
                    write_cents(out, cy)?;
                }
                None => {
                    write_coord(out, e.x)?;
                    out.extend_from_slice(b",\"y\":");
                    write_coord(out, e.y)?;
                }
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"move\":[");
        match &self.moves {
            Moves::Plain(moves) => {
                for (i, m) in moves.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_move(out, m)?;
                }
            }
            Moves::Table { table, slots } => {
                if !write_table_moves(out, table, slots) {
                    for (i, &slot) in slots.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        write_move(out, &Moves::row(table, slot).entry())?;
                    }
                }
            }
        }
        out.extend_from_slice(b"],\"leave\":[");
        for (i, &id) in self.leave.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_id(out, id)?;
        }
        out.extend_from_slice(b"]}");
        Ok(())
    }
}

/// Splices the rows of `slots` as comma-separated entries. Each row is a
/// fixed-size copy into a small stack chunk (no per-entry `Vec` bookkeeping),
/// flushed to `out` when full. False (and `out` unchanged) if a row has no
/// cached encoding.
fn write_table_moves(out: &mut Vec<u8>, table: &MoveTable, slots: &[u32]) -> bool {
    const CHUNK: usize = 512;
    let start = out.len();
    let mut chunk = [0u8; CHUNK];
    let mut at = 0;
    for &slot in slots {
        let row = Moves::row(table, slot);
        if row.len == 0 {
            out.truncate(start);
            return false;
        }
        if at + ENCODED_MOVE_MAX + 1 > CHUNK {
            out.extend_from_slice(&chunk[..at]);
            at = 0;
        }
        chunk[at..at + ENCODED_MOVE_MAX].copy_from_slice(&row.json);
        at += usize::from(row.len);
        chunk[at] = b',';
        at += 1;
    }
    // Without the last comma.
    out.extend_from_slice(&chunk[..at.saturating_sub(1)]);
    true
}

fn write_move(out: &mut Vec<u8>, &(id, x, y): &MoveEntry) -> io::Result<()> {
    out.push(b'[');
    write_id(out, id)?;
    out.push(b',');
    write_coord(out, x)?;
    out.push(b',');
    write_coord(out, y)?;
    out.push(b']');
    Ok(())
}

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

/// `welcome {"id","name","x","y","world":{"width","height"},"tick_rate","speed","view_radius"}`,
/// the first event of every connection: who the player is, where it starts,
/// and the world's rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The player's (account) id.
    pub id: PlayerId,
    /// The account's name.
    pub name: String,
    /// Where the player starts (its stored position, or the spawn point).
    pub x: f64,
    /// See `x`.
    pub y: f64,
    /// The world's size.
    pub world: WorldSize,
    /// Ticks (and snapshots) per second.
    pub tick_rate: u32,
    /// Maximum speed, in units per second.
    pub speed: f64,
    /// A player sees others within this radius.
    pub view_radius: f64,
}

/// `welcome.world`: the world runs from (0, 0) to (`width`, `height`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WorldSize {
    /// Width in units.
    pub width: f64,
    /// Height in units.
    pub height: f64,
}

impl Welcome {
    /// The `welcome` of player `id` starting at `start` in a world run by
    /// `rules`.
    pub fn new(id: PlayerId, name: String, start: glam::DVec2, rules: &WorldConfig) -> Self {
        Self {
            id,
            name,
            x: start.x,
            y: start.y,
            world: WorldSize {
                width: rules.width,
                height: rules.height,
            },
            tick_rate: rules.tick_hz,
            speed: rules.speed,
            view_radius: rules.view_radius,
        }
    }
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
    /// The store's admin-reset epoch the position descends from (opaque to
    /// the world): the store skips a save older than the latest reset.
    pub reset_epoch: i64,
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welcome_has_the_contract_shape_and_reads_back() {
        let rules = WorldConfig::default();
        let welcome = Welcome::new(7, "ann".into(), glam::DVec2::new(12.5, 3.0), &rules);
        let json = serde_json::to_value(&welcome).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": 7, "name": "ann", "x": 12.5, "y": 3.0,
                "world": {"width": 4096.0, "height": 4096.0},
                "tick_rate": 20, "speed": 300.0, "view_radius": 600.0
            })
        );
        assert_eq!(serde_json::from_value::<Welcome>(json).unwrap(), welcome);
    }

    fn sample() -> Snapshot<'static> {
        Snapshot::new(
            7,
            3,
            round_wire(12.340000000000002),
            round_wire(2048.0),
            vec![EnterEntry {
                id: 5,
                name: Name::new("ann\"e\u{1F600}\n"),
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
            "{\"tick\":7,\"ack\":3,\"x\":12.34,\"y\":2048.0,\"enter\":[{\"id\":5,\"name\":\"ann\\\"e\u{1F600}\\n\",\"x\":1.0,\"y\":0.3}],\"move\":[[9,100.46,4096.0]],\"leave\":[11,12]}"
        );
        assert_eq!(sample().to_json(), json.as_bytes());
    }

    #[test]
    fn empty_snapshot_json() {
        let s = Snapshot::new(1, 0, 0.0, 0.01, vec![], vec![], vec![]);
        let json = r#"{"tick":1,"ack":0,"x":0.0,"y":0.01,"enter":[],"move":[],"leave":[]}"#;
        assert_eq!(String::from_utf8(s.to_json()).unwrap(), json);
        assert_eq!(serde_json::to_string(&s).unwrap(), json);
    }

    #[test]
    fn unrounded_and_non_finite_values_still_match_serde() {
        // Not what the world sends, but the fast path must never disagree.
        let s = Snapshot::new(
            u64::MAX,
            0,
            1.0 / 3.0,
            -0.0,
            vec![],
            vec![(1, f64::NAN, 1e300), (2, -12.5, 5e-7)],
            vec![],
        );
        assert_eq!(s.to_json(), serde_json::to_vec(&s).unwrap());
    }

    #[test]
    fn table_moves_match_serde() {
        let ids = [1, 2, u64::MAX];
        let cents = [(1050, 2025), (0, 409_600), (101, 299)];
        let mut table = MoveTable::default();
        table.begin(1, 3);
        for (slot, (&id, &c)) in ids.iter().zip(&cents).enumerate() {
            table.ensure(slot as u32, id, c, (0, 0));
        }
        // A second ensure in the same tick keeps the row.
        table.ensure(0, 99, (5, 5), (0, 0));
        let s = Snapshot::from_table(2, 1, 3.5, 4.5, vec![], &table, vec![2, 0, 1], vec![4], None);
        let plain = Snapshot::new(
            2,
            1,
            3.5,
            4.5,
            vec![],
            vec![(u64::MAX, 1.01, 2.99), (1, 10.5, 20.25), (2, 0.0, 4096.0)],
            vec![4],
        );
        assert_eq!(s, plain);
        assert_eq!(s.to_json(), serde_json::to_vec(&plain).unwrap());
        assert_eq!(s.to_json(), serde_json::to_vec(&s).unwrap());
        assert_eq!(s.moves().len(), 3);
    }

    #[test]
    fn binary_moves_of_the_widest_deltas_fit_their_window() {
        use crate::game::binary::{BinarySnapshot, MAX_INDEX};
        // The largest index and the farthest jumps `i32` cents allow, in
        // the shared delta (in sync) and against a held position (behind).
        let mut table = MoveTable::default();
        table.begin(1, 2);
        table.ensure(0, 7, (i32::MAX, i32::MIN), (i32::MIN, i32::MAX));
        table.ensure(1, 8, (0, 1), (0, 0));
        let far = i64::from(i32::MAX) - i64::from(i32::MIN);
        for behind in [false, true] {
            let wire = WireIndices {
                moves: vec![MAX_INDEX - 1, 3],
                move_base: if behind {
                    vec![(i32::MIN, i32::MAX), (0, 0)]
                } else {
                    vec![]
                },
                ..WireIndices::default()
            };
            let s = Snapshot::from_table(
                1,
                0,
                0.0,
                0.0,
                vec![],
                &table,
                vec![0, 1],
                vec![],
                Some(wire),
            );
            let decoded = BinarySnapshot::decode(&s.to_binary().unwrap()).unwrap();
            let moves: Vec<_> = decoded
                .moves
                .iter()
                .map(|m| (m.index, m.dx, m.dy))
                .collect();
            assert_eq!(
                moves,
                vec![(MAX_INDEX - 1, far, -far), (3, 0, 1)],
                "behind: {behind}"
            );
        }
    }

    #[test]
    fn binary_enters_and_leaves_of_the_widest_values_round_trip() {
        use crate::game::binary::{BinarySnapshot, MAX_INDEX, MAX_NAME_BYTES};
        let long = "é".repeat(MAX_NAME_BYTES); // twice the bytes allowed: cut
        let enter = |id, x, y, name: &str| EnterEntry {
            id,
            name: Name::new(name),
            x: from_cents(x),
            y: from_cents(y),
        };
        let table = MoveTable::default();
        let mut json = Vec::new();
        // With the cents handed in (world snapshots) and without (rounded).
        for with_cents in [true, false] {
            let wire = WireIndices {
                enter: vec![MAX_INDEX - 1, 0],
                enter_at: if with_cents {
                    vec![(i32::MIN, i32::MAX), (0, -1)]
                } else {
                    vec![]
                },
                leave: vec![MAX_INDEX - 2, 0, 130],
                ..WireIndices::default()
            };
            let s = Snapshot::from_table(
                u64::MAX,
                u64::MAX,
                0.0,
                0.0,
                vec![
                    enter(u64::MAX, i32::MIN, i32::MAX, &long),
                    enter(0, 0, -1, ""),
                ],
                &table,
                vec![],
                vec![1, 2, 3],
                Some(wire),
            );
            let decoded = BinarySnapshot::decode(&s.to_binary().unwrap()).unwrap();
            assert_eq!(decoded.leave, vec![MAX_INDEX - 2, 0, 130]);
            let enters: Vec<_> = decoded
                .enter
                .iter()
                .map(|e| (e.index, e.id, e.x, e.y, e.name.len()))
                .collect();
            assert_eq!(
                enters,
                vec![
                    (MAX_INDEX - 1, u64::MAX, i32::MIN, i32::MAX, MAX_NAME_BYTES),
                    (0, 0, 0, -1, 0)
                ],
                "with cents: {with_cents}"
            );
            json.push(s.to_json());
            assert_eq!(s.to_json(), serde_json::to_vec(&s).unwrap());
        }
        assert_eq!(
            json[0], json[1],
            "the JSON form does not depend on the cents"
        );
    }

    #[test]
    fn rejects_unknown_table_slots_without_panicking() {
        // A slot outside the table reads as an empty row, never panics.
        let table = MoveTable::default();
        let s = Snapshot::from_table(1, 0, 1.0, 1.0, vec![], &table, vec![5], vec![], None);
        assert_eq!(
            String::from_utf8(s.to_json()).unwrap(),
            r#"{"tick":1,"ack":0,"x":1.0,"y":1.0,"enter":[],"move":[[0,0.0,0.0]],"leave":[]}"#
        );
    }

    #[test]
    fn snapshot_round_trips_through_serde() {
        let json = serde_json::to_string(&sample()).unwrap();
        let back: Snapshot<'static> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn cents_print_exactly_like_serde_json() {
        let mut buf = Vec::new();
        let mut check = |c: i32| {
            buf.clear();
            write_cents(&mut buf, c).unwrap();
            let want = serde_json::to_vec(&from_cents(c)).unwrap();
            assert_eq!(buf, want, "cents {c}");
        };
        // Every coordinate of a 4096 world, and its negative.
        for c in 0..=409_600 {
            check(c);
            check(-c);
        }
        // A spread over the whole i32 range.
        let mut c: i64 = i64::from(i32::MIN);
        while c <= i64::from(i32::MAX) {
            check(c as i32);
            c += 104_729;
        }
        check(i32::MAX);
        check(i32::MIN);
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
