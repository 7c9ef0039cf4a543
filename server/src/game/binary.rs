//! The binary snapshot format (version 1): its pure encoder and decoder, and
//! [`BinaryView`], the state a client builds by applying binary snapshots.
//! The byte-by-byte specification is the "Binary snapshots" section of
//! `docs/protocol.md`; the worked example there is checked by
//! `worked_example_bytes` below.
//!
//! A snapshot means what the JSON `snapshot` means (tick, ack, own position,
//! enter with names, move, leave), with three differences in form:
//! * every coordinate is a whole number of hundredths (the JSON's 0.01);
//! * a player in view is named by a small per-connection index that its
//!   `enter` assigns and its `leave` frees, not by its account id;
//! * a move is the change of position against what the client holds.
//!
//! The world writes these bytes directly ([`Snapshot::write_binary`], sharing
//! each mover's delta between viewers); [`BinarySnapshot::encode`] here is the
//! plain reference encoder the tests hold it to. The decoder takes untrusted
//! bytes (`locus bots` uses it): every malformed input is a [`BinaryError`],
//! never a panic, and allocation is bounded by the input's length.
//!
//! Owns no world state and no sockets.
//!
//! [`Snapshot::write_binary`]: super::Snapshot::write_binary

use std::collections::HashSet;

use thiserror::Error;

use super::PlayerId;

/// The first byte of every version-1 snapshot.
pub const BINARY_VERSION: u8 = 1;

/// Indices are below this (a view holds at most `view_max` players, and the
/// world's config caps `view_max` at this).
pub const MAX_INDEX: u32 = 1 << 16;

/// Longest name, in bytes of UTF-8, a snapshot may carry.
pub const MAX_NAME_BYTES: usize = 1024;

/// Why bytes are not a valid binary snapshot, or a snapshot cannot apply to
/// a client's state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BinaryError {
    /// The input is empty.
    #[error("empty binary snapshot")]
    Empty,
    /// The first byte is not a version this decoder knows.
    #[error("unknown binary snapshot version {0} (expected {BINARY_VERSION})")]
    Version(u8),
    /// The input ends inside a field.
    #[error("binary snapshot truncated at byte {at} while reading {field}")]
    Truncated {
        /// Offset where more input was needed.
        at: usize,
        /// What was being read.
        field: &'static str,
    },
    /// A varint is longer than 10 bytes, overflows 64 bits, or is not in
    /// its shortest form.
    #[error("bad varint at byte {at} ({field})")]
    Varint {
        /// Offset of the varint's first byte.
        at: usize,
        /// What was being read.
        field: &'static str,
    },
    /// A coordinate does not fit the 32-bit range of hundredths.
    #[error("coordinate out of range at byte {at} ({field})")]
    Coordinate {
        /// Offset of the field.
        at: usize,
        /// What was being read.
        field: &'static str,
    },
    /// A count is larger than the rest of the input could hold.
    #[error("{section} count {count} cannot fit in the {left} bytes left")]
    Count {
        /// The section.
        section: &'static str,
        /// The count read.
        count: u64,
        /// Bytes left after the count.
        left: usize,
    },
    /// An index is not below [`MAX_INDEX`].
    #[error("index {index} out of range (max {MAX_INDEX})")]
    Index {
        /// The index read.
        index: u64,
    },
    /// A name is longer than [`MAX_NAME_BYTES`].
    #[error("name of {len} bytes is longer than {MAX_NAME_BYTES}")]
    NameTooLong {
        /// Its declared length.
        len: u64,
    },
    /// A name is not UTF-8.
    #[error("name at byte {at} is not UTF-8")]
    NameNotUtf8 {
        /// Offset of the name's first byte.
        at: usize,
    },
    /// Bytes follow the last section.
    #[error("{0} trailing bytes after the snapshot")]
    Trailing(usize),
    /// A `leave` or `move` names an index the client does not hold.
    #[error("index {0} is not held")]
    NotHeld(u32),
    /// An `enter` takes an index the client already holds.
    #[error("index {0} is already held")]
    AlreadyHeld(u32),
    /// An `enter` names a player the client already holds at another index.
    #[error("player {id} entered at index {index} but is held at another index")]
    DuplicatePlayer {
        /// The player.
        id: PlayerId,
        /// The index it entered at.
        index: u32,
    },
    /// A move takes a coordinate out of the 32-bit range of hundredths.
    #[error("move of index {0} leaves the coordinate range")]
    MoveOverflow(u32),
}

/// A player coming into view, as the binary form carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryEnter {
    /// The index the client knows it by from now on.
    pub index: u32,
    /// The player's id.
    pub id: PlayerId,
    /// Position x, in hundredths.
    pub x: i32,
    /// Position y, in hundredths.
    pub y: i32,
    /// Display name.
    pub name: String,
}

/// A player in view that moved: the change against what the client holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryMove {
    /// The player's index.
    pub index: u32,
    /// Change of x, in hundredths.
    pub dx: i64,
    /// Change of y, in hundredths.
    pub dy: i64,
}

/// One decoded binary snapshot (the plain form; the world writes the same
/// bytes without building it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BinarySnapshot {
    /// The tick that produced it.
    pub tick: u64,
    /// Highest `position.seq` applied so far.
    pub ack: u64,
    /// The receiver's own position x, in hundredths.
    pub x: i32,
    /// See `x`.
    pub y: i32,
    /// Indices freed: players that left the view. Applied first.
    pub leave: Vec<u32>,
    /// Players that came into view. Applied second.
    pub enter: Vec<BinaryEnter>,
    /// Players in view that moved. Applied last.
    pub moves: Vec<BinaryMove>,
}

/// Appends `v` as an unsigned LEB128 varint (7 bits per byte, low first,
/// high bit set on every byte but the last).
#[inline]
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Zigzag: 0, -1, 1, -2, ... become 0, 1, 2, 3, ...
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Appends `v` zigzagged as an unsigned varint.
#[inline]
pub(crate) fn put_svarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

/// Writes `v`'s varint into `buf` and returns its length (`buf` >= 10).
#[inline]
pub(crate) fn uvarint_into(buf: &mut [u8], mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        buf[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    buf[n] = v as u8;
    n + 1
}

/// The longest prefix of `name` of at most [`MAX_NAME_BYTES`] bytes that
/// ends on a character boundary (usernames are far shorter).
pub(crate) fn wire_name(name: &str) -> &str {
    if name.len() <= MAX_NAME_BYTES {
        return name;
    }
    let mut end = MAX_NAME_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

impl BinarySnapshot {
    /// Appends the version-1 encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(BINARY_VERSION);
        put_uvarint(out, self.tick);
        put_uvarint(out, self.ack);
        put_svarint(out, i64::from(self.x));
        put_svarint(out, i64::from(self.y));
        put_uvarint(out, self.leave.len() as u64);
        for &i in &self.leave {
            put_uvarint(out, u64::from(i));
        }
        put_uvarint(out, self.enter.len() as u64);
        for e in &self.enter {
            put_uvarint(out, u64::from(e.index));
            put_uvarint(out, e.id);
            put_svarint(out, i64::from(e.x));
            put_svarint(out, i64::from(e.y));
            let name = wire_name(&e.name);
            put_uvarint(out, name.len() as u64);
            out.extend_from_slice(name.as_bytes());
        }
        put_uvarint(out, self.moves.len() as u64);
        for m in &self.moves {
            put_uvarint(out, u64::from(m.index));
            put_svarint(out, m.dx);
            put_svarint(out, m.dy);
        }
    }

    /// The encoding as a fresh buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes one whole snapshot; see the module docs for the guarantees.
    pub fn decode(bytes: &[u8]) -> Result<Self, BinaryError> {
        let mut s = BinarySnapshot::default();
        s.decode_into(bytes)?;
        Ok(s)
    }

    /// [`BinarySnapshot::decode`] into `self`, reusing its lists' buffers
    /// (a client decoding a stream allocates only for entering names). On
    /// error `self` holds part of the input and must not be applied.
    pub fn decode_into(&mut self, bytes: &[u8]) -> Result<(), BinaryError> {
        let Some((&version, _)) = bytes.split_first() else {
            return Err(BinaryError::Empty);
        };
        if version != BINARY_VERSION {
            return Err(BinaryError::Version(version));
        }
        let mut r = Reader { bytes, at: 1 };
        self.tick = r.uvarint("tick")?;
        self.ack = r.uvarint("ack")?;
        self.x = r.coordinate("x")?;
        self.y = r.coordinate("y")?;
        self.leave.clear();
        self.enter.clear();
        self.moves.clear();
        // Smallest entries: leave 1 byte, enter 5 (index, id, x, y, name
        // length), move 3.
        let n = r.count("leave", 1)?;
        self.leave.reserve(n);
        for _ in 0..n {
            self.leave.push(r.index()?);
        }
        let n = r.count("enter", 5)?;
        self.enter.reserve(n);
        for _ in 0..n {
            let index = r.index()?;
            let id = r.uvarint("enter id")?;
            let x = r.coordinate("enter x")?;
            let y = r.coordinate("enter y")?;
            let name = r.name()?;
            self.enter.push(BinaryEnter {
                index,
                id,
                x,
                y,
                name,
            });
        }
        let n = r.count("move", 3)?;
        self.moves.reserve(n);
        for _ in 0..n {
            let index = r.index()?;
            let dx = r.svarint("move dx")?;
            let dy = r.svarint("move dy")?;
            self.moves.push(BinaryMove { index, dx, dy });
        }
        let left = bytes.len() - r.at;
        if left > 0 {
            return Err(BinaryError::Trailing(left));
        }
        Ok(())
    }
}

/// A cursor over untrusted input.
struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl Reader<'_> {
    fn uvarint(&mut self, field: &'static str) -> Result<u64, BinaryError> {
        let start = self.at;
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.bytes.get(self.at) else {
                return Err(BinaryError::Truncated { at: self.at, field });
            };
            self.at += 1;
            let bits = u64::from(b & 0x7f);
            // The tenth byte may carry only the top bit of 64.
            if i == 9 && b > 1 {
                return Err(BinaryError::Varint { at: start, field });
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                // Shortest form only: no final zero byte after the first.
                if b == 0 && i > 0 {
                    return Err(BinaryError::Varint { at: start, field });
                }
                return Ok(v);
            }
        }
        Err(BinaryError::Varint { at: start, field })
    }

    fn svarint(&mut self, field: &'static str) -> Result<i64, BinaryError> {
        let z = self.uvarint(field)?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    fn coordinate(&mut self, field: &'static str) -> Result<i32, BinaryError> {
        let at = self.at;
        let v = self.svarint(field)?;
        i32::try_from(v).map_err(|_| BinaryError::Coordinate { at, field })
    }

    fn index(&mut self) -> Result<u32, BinaryError> {
        let v = self.uvarint("index")?;
        if v >= u64::from(MAX_INDEX) {
            return Err(BinaryError::Index { index: v });
        }
        Ok(v as u32)
    }

    /// A section's count, refused when even the smallest entries
    /// (`min_entry` bytes each) could not fit in what is left.
    fn count(&mut self, section: &'static str, min_entry: usize) -> Result<usize, BinaryError> {
        let count = self.uvarint(section)?;
        let left = self.bytes.len() - self.at;
        if count > (left / min_entry) as u64 {
            return Err(BinaryError::Count {
                section,
                count,
                left,
            });
        }
        Ok(count as usize)
    }

    fn name(&mut self) -> Result<String, BinaryError> {
        let len = self.uvarint("name length")?;
        if len > MAX_NAME_BYTES as u64 {
            return Err(BinaryError::NameTooLong { len });
        }
        let start = self.at;
        let end = start + len as usize;
        let Some(raw) = self.bytes.get(start..end) else {
            return Err(BinaryError::Truncated {
                at: self.bytes.len(),
                field: "name",
            });
        };
        self.at = end;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| BinaryError::NameNotUtf8 { at: start })
    }
}

/// One held player of a [`BinaryView`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPlayer {
    /// The player's id.
    pub id: PlayerId,
    /// Position x, in hundredths.
    pub x: i32,
    /// Position y, in hundredths.
    pub y: i32,
    /// Display name.
    pub name: String,
}

/// What a client holds after applying binary snapshots in order: its own
/// position and ack, and the players in view by index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinaryView {
    /// Tick of the last snapshot applied.
    pub tick: u64,
    /// Ack of the last snapshot applied.
    pub ack: u64,
    /// Own position in hundredths, from the last snapshot.
    pub own: (i32, i32),
    /// By index: the player held there, if any.
    held: Vec<Option<HeldPlayer>>,
    /// Ids held, to refuse a second enter of one player in constant time.
    ids: HashSet<PlayerId>,
}

impl BinaryView {
    /// An empty view (a fresh connection).
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one snapshot: leaves, then enters, then moves. On error the
    /// view is left as it was (the snapshot is checked before any change
    /// lands, so a bad snapshot cannot half-apply).
    pub fn apply(&mut self, s: &BinarySnapshot) -> Result<(), BinaryError> {
        let mut next = self.clone();
        next.apply_in_place(s)?;
        *self = next;
        Ok(())
    }

    fn apply_in_place(&mut self, s: &BinarySnapshot) -> Result<(), BinaryError> {
        for &i in &s.leave {
            match self.held.get_mut(i as usize) {
                Some(slot @ Some(_)) => {
                    if let Some(p) = slot.take() {
                        self.ids.remove(&p.id);
                    }
                }
                _ => return Err(BinaryError::NotHeld(i)),
            }
        }
        for e in &s.enter {
            if self.ids.contains(&e.id) {
                return Err(BinaryError::DuplicatePlayer {
                    id: e.id,
                    index: e.index,
                });
            }
            let i = e.index as usize;
            if i >= self.held.len() {
                self.held.resize(i + 1, None);
            }
            if self.held[i].is_some() {
                return Err(BinaryError::AlreadyHeld(e.index));
            }
            self.ids.insert(e.id);
            self.held[i] = Some(HeldPlayer {
                id: e.id,
                x: e.x,
                y: e.y,
                name: e.name.clone(),
            });
        }
        for m in &s.moves {
            let Some(Some(p)) = self.held.get_mut(m.index as usize) else {
                return Err(BinaryError::NotHeld(m.index));
            };
            let moved = |v: i32, d: i64| i32::try_from(i64::from(v).checked_add(d)?).ok();
            match (moved(p.x, m.dx), moved(p.y, m.dy)) {
                (Some(x), Some(y)) => (p.x, p.y) = (x, y),
                _ => return Err(BinaryError::MoveOverflow(m.index)),
            }
        }
        while self.held.last() == Some(&None) {
            self.held.pop();
        }
        self.tick = s.tick;
        self.ack = s.ack;
        self.own = (s.x, s.y);
        Ok(())
    }

    /// The player held at `index`.
    pub fn get(&self, index: u32) -> Option<&HeldPlayer> {
        self.held.get(index as usize)?.as_ref()
    }

    /// Every held player, in index order.
    pub fn players(&self) -> impl Iterator<Item = &HeldPlayer> {
        self.held.iter().flatten()
    }

    /// Number of players held.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no player is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of `docs/protocol.md`, "Binary snapshots".
    fn example() -> BinarySnapshot {
        BinarySnapshot {
            tick: 300,
            ack: 17,
            x: 204_850,
            y: -1,
            leave: vec![2],
            enter: vec![BinaryEnter {
                index: 2,
                id: 42,
                x: 1000,
                y: 150,
                name: "ann".into(),
            }],
            moves: vec![BinaryMove {
                index: 0,
                dx: 1500,
                dy: -3,
            }],
        }
    }

    #[test]
    fn decode_into_reuses_buffers_without_leftovers() {
        let mut s = BinarySnapshot::default();
        s.decode_into(&example().to_bytes()).unwrap();
        assert_eq!(s, example());
        let plain = BinarySnapshot {
            tick: 301,
            ..BinarySnapshot::default()
        };
        s.decode_into(&plain.to_bytes()).unwrap();
        assert_eq!(s, plain);
    }

    #[test]
    fn worked_example_bytes() {
        let want: &[u8] = &[
            0x01, // version
            0xac, 0x02, // tick 300
            0x11, // ack 17
            0xe4, 0x80, 0x19, // x 2048.50 = 204850 -> zigzag 409700
            0x01, // y -0.01 = -1 -> zigzag 1
            0x01, 0x02, // leave: 1 entry, index 2
            0x01, // enter: 1 entry
            0x02, 0x2a, // index 2, id 42
            0xd0, 0x0f, // x 10.00 = 1000 -> 2000
            0xac, 0x02, // y 1.50 = 150 -> 300
            0x03, b'a', b'n', b'n', // name "ann"
            0x01, // move: 1 entry
            0x00, // index 0
            0xb8, 0x17, // dx +15.00 = 1500 -> 3000
            0x05, // dy -0.03 = -3 -> 5
        ];
        assert_eq!(example().to_bytes(), want);
        assert_eq!(BinarySnapshot::decode(want).unwrap(), example());
    }

    #[test]
    fn round_trips_every_boundary() {
        let edges_u = [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ];
        let edges_i = [0i32, 1, -1, 63, -64, 64, -65, i32::MAX, i32::MIN];
        let edges_d = [0i64, 1, -1, i64::from(i32::MAX) * 2, i64::MIN, i64::MAX];
        for &u in &edges_u {
            for &c in &edges_i {
                let s = BinarySnapshot {
                    tick: u,
                    ack: u.rotate_left(7),
                    x: c,
                    y: c.wrapping_neg(),
                    leave: vec![0, MAX_INDEX - 1],
                    enter: vec![BinaryEnter {
                        index: MAX_INDEX - 1,
                        id: u,
                        x: c,
                        y: -c.saturating_add(1),
                        name: "é\u{1F600}".repeat(3),
                    }],
                    moves: edges_d
                        .iter()
                        .map(|&d| BinaryMove {
                            index: 5,
                            dx: d,
                            dy: d.wrapping_neg(),
                        })
                        .collect(),
                };
                let bytes = s.to_bytes();
                assert_eq!(BinarySnapshot::decode(&bytes).unwrap(), s);
            }
        }
        let name = "n".repeat(MAX_NAME_BYTES);
        let s = BinarySnapshot {
            enter: vec![BinaryEnter {
                index: 0,
                id: 1,
                x: 0,
                y: 0,
                name,
            }],
            ..Default::default()
        };
        assert_eq!(BinarySnapshot::decode(&s.to_bytes()).unwrap(), s);
    }

    #[test]
    fn varints_are_little_endian_groups_of_seven() {
        let mut out = Vec::new();
        for (v, want) in [
            (0u64, &[0x00][..]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            out.clear();
            put_uvarint(&mut out, v);
            assert_eq!(out, want, "{v}");
            let mut buf = [0; 10];
            let n = uvarint_into(&mut buf, v);
            assert_eq!(&buf[..n], want);
        }
        for (v, z) in [
            (0i64, 0u64),
            (-1, 1),
            (1, 2),
            (-2, 3),
            (i64::MAX, u64::MAX - 1),
        ] {
            assert_eq!(zigzag(v), z);
        }
        assert_eq!(zigzag(i64::MIN), u64::MAX);
    }

    fn err(bytes: &[u8]) -> BinaryError {
        BinarySnapshot::decode(bytes).unwrap_err()
    }

    #[test]
    fn rejects_empty_and_unknown_version() {
        assert_eq!(err(&[]), BinaryError::Empty);
        assert_eq!(err(&[0]), BinaryError::Version(0));
        assert_eq!(err(&[2, 0, 0, 0, 0, 0, 0, 0]), BinaryError::Version(2));
    }

    #[test]
    fn rejects_every_truncation_of_the_example() {
        let bytes = example().to_bytes();
        for len in 1..bytes.len() {
            let e = err(&bytes[..len]);
            assert!(
                matches!(e, BinaryError::Truncated { .. } | BinaryError::Count { .. }),
                "{len}: {e:?}"
            );
        }
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = example().to_bytes();
        bytes.push(0);
        assert_eq!(err(&bytes), BinaryError::Trailing(1));
    }

    #[test]
    fn rejects_bad_varints() {
        // Overlong zero, eleven bytes, and a tenth byte above 1.
        assert!(matches!(
            err(&[1, 0x80, 0x00]),
            BinaryError::Varint { at: 1, .. }
        ));
        let mut long = vec![1];
        long.extend([0xff; 10]);
        long.push(0x01);
        assert!(matches!(err(&long), BinaryError::Varint { .. }));
        let mut big = vec![1];
        big.extend([0xff; 9]);
        big.push(0x02);
        assert!(matches!(err(&big), BinaryError::Varint { .. }));
    }

    #[test]
    fn rejects_out_of_range_fields() {
        // x = 2^31 (zigzag 2^32).
        let mut bytes = vec![1, 0, 0];
        put_uvarint(&mut bytes, 1 << 32);
        bytes.extend([0, 0, 0, 0]);
        assert!(matches!(err(&bytes), BinaryError::Coordinate { at: 3, .. }));
        // Leave index = MAX_INDEX.
        let mut bytes = vec![1, 0, 0, 0, 0, 1];
        put_uvarint(&mut bytes, u64::from(MAX_INDEX));
        bytes.extend([0, 0]);
        assert_eq!(
            err(&bytes),
            BinaryError::Index {
                index: u64::from(MAX_INDEX)
            }
        );
        // A count far beyond the input (no huge allocation).
        let mut bytes = vec![1, 0, 0, 0, 0];
        put_uvarint(&mut bytes, u64::MAX);
        assert!(matches!(
            err(&bytes),
            BinaryError::Count {
                section: "leave",
                ..
            }
        ));
    }

    #[test]
    fn rejects_bad_names() {
        let enter = |name_len: u64, name: &[u8]| {
            let mut b = vec![1, 0, 0, 0, 0, 0, 1, 0, 7, 0, 0];
            put_uvarint(&mut b, name_len);
            b.extend_from_slice(name);
            b.push(0);
            b
        };
        assert!(BinarySnapshot::decode(&enter(2, b"ok")).is_ok());
        assert_eq!(
            err(&enter(
                MAX_NAME_BYTES as u64 + 1,
                &[b'a'; MAX_NAME_BYTES + 1]
            )),
            BinaryError::NameTooLong {
                len: MAX_NAME_BYTES as u64 + 1
            }
        );
        assert_eq!(
            err(&enter(2, &[0xc3, 0x28])),
            BinaryError::NameNotUtf8 { at: 12 }
        );
        assert!(matches!(
            err(&enter(9, b"ab")),
            BinaryError::Truncated { field: "name", .. }
        ));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: mutations of the example.
        let base = example().to_bytes();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut b = base.clone();
            let at = (seed % b.len() as u64) as usize;
            b[at] = (seed >> 32) as u8;
            if seed & 1 == 0 {
                b.truncate(((seed >> 8) % (b.len() as u64 + 1)) as usize);
            }
            if let Ok(s) = BinarySnapshot::decode(&b) {
                let _ = BinaryView::new().apply(&s);
            }
        }
    }

    fn enter(index: u32, id: PlayerId, x: i32, y: i32) -> BinaryEnter {
        BinaryEnter {
            index,
            id,
            x,
            y,
            name: format!("p{id}"),
        }
    }

    #[test]
    fn view_applies_leave_then_enter_then_move() {
        let mut v = BinaryView::new();
        v.apply(&BinarySnapshot {
            tick: 1,
            enter: vec![enter(0, 10, 100, 100), enter(1, 11, 200, 200)],
            ..Default::default()
        })
        .unwrap();
        // 10 leaves and 12 takes its index in the same snapshot; 11 moves.
        v.apply(&BinarySnapshot {
            tick: 2,
            ack: 4,
            x: 5,
            y: 6,
            leave: vec![0],
            enter: vec![enter(0, 12, 0, 0)],
            moves: vec![BinaryMove {
                index: 1,
                dx: -50,
                dy: 7,
            }],
        })
        .unwrap();
        assert_eq!((v.tick, v.ack, v.own), (2, 4, (5, 6)));
        assert_eq!(v.get(0).unwrap().id, 12);
        assert_eq!((v.get(1).unwrap().x, v.get(1).unwrap().y), (150, 207));
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn view_rejects_inconsistent_snapshots_without_changing() {
        let mut v = BinaryView::new();
        v.apply(&BinarySnapshot {
            enter: vec![enter(0, 10, i32::MAX, 0)],
            ..Default::default()
        })
        .unwrap();
        let before = v.clone();
        let cases = [
            (
                BinarySnapshot {
                    leave: vec![3],
                    ..Default::default()
                },
                BinaryError::NotHeld(3),
            ),
            (
                BinarySnapshot {
                    enter: vec![enter(0, 11, 0, 0)],
                    ..Default::default()
                },
                BinaryError::AlreadyHeld(0),
            ),
            (
                BinarySnapshot {
                    enter: vec![enter(1, 10, 0, 0)],
                    ..Default::default()
                },
                BinaryError::DuplicatePlayer { id: 10, index: 1 },
            ),
            (
                BinarySnapshot {
                    moves: vec![BinaryMove {
                        index: 1,
                        dx: 0,
                        dy: 0,
                    }],
                    ..Default::default()
                },
                BinaryError::NotHeld(1),
            ),
            (
                BinarySnapshot {
                    moves: vec![BinaryMove {
                        index: 0,
                        dx: 1,
                        dy: 0,
                    }],
                    ..Default::default()
                },
                BinaryError::MoveOverflow(0),
            ),
            (
                // Half valid: the leave must not land either.
                BinarySnapshot {
                    leave: vec![0, 0],
                    ..Default::default()
                },
                BinaryError::NotHeld(0),
            ),
        ];
        for (s, want) in cases {
            assert_eq!(v.apply(&s), Err(want));
            assert_eq!(v, before);
        }
    }
}
