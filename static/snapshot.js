// Locus client: the binary snapshot format (version 1), as "Binary
// snapshots" in docs/protocol.md specifies it byte by byte.
//
// Owns: decoding one binary snapshot from untrusted bytes
// (decodeBinarySnapshot), and BinaryIndex, the per-connection table of
// indices a client must keep to turn binary snapshots back into the JSON
// snapshot's shape, so world.js's applySnapshot cannot tell which form
// arrived. Every malformed input throws a SnapshotError (the caller drops
// the connection and reconnects); nothing is applied from a bad snapshot.
// Must not touch: the DOM, sockets, or the world state itself.

export const BINARY_VERSION = 1;
/** Indices are below this. */
export const MAX_INDEX = 65536;
/** Longest name, in bytes of UTF-8. */
export const MAX_NAME_BYTES = 1024;

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

/** A binary snapshot this client cannot accept, with where and why. */
export class SnapshotError extends Error {
  constructor(message) {
    super(message);
    this.name = 'SnapshotError';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A cursor over the bytes. Numbers stay exact: values above 2^53 - 1 are refused. */
class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
  }

  /** Unsigned LEB128, at most 10 bytes, shortest form only. */
  uvarint(field) {
    const start = this.at;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i += 1) {
      if (this.at >= this.bytes.length) throw new SnapshotError(`truncated at byte ${this.at} while reading ${field}`);
      const b = this.bytes[this.at];
      this.at += 1;
      if (i === 9 && b > 1) throw new SnapshotError(`bad varint at byte ${start} (${field})`);
      value += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw new SnapshotError(`bad varint at byte ${start} (${field}): not in its shortest form`);
        if (value > Number.MAX_SAFE_INTEGER) throw new SnapshotError(`${field} at byte ${start} is too large for this client`);
        return value;
      }
    }
    throw new SnapshotError(`bad varint at byte ${start} (${field}): longer than 10 bytes`);
  }

  /** A zigzagged signed value: 0, 1, 2, 3 ... are 0, -1, 1, -2 ... */
  svarint(field) {
    const z = this.uvarint(field);
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  /** A coordinate in hundredths, in the signed 32-bit range. */
  coordinate(field) {
    const at = this.at;
    const v = this.svarint(field);
    if (v < I32_MIN || v > I32_MAX) throw new SnapshotError(`coordinate out of range at byte ${at} (${field})`);
    return v;
  }

  index() {
    const v = this.uvarint('index');
    if (v >= MAX_INDEX) throw new SnapshotError(`index ${v} out of range (max ${MAX_INDEX})`);
    return v;
  }

  /** A section's count, refused when even its smallest entries could not fit in what is left. */
  count(section, minEntry) {
    const n = this.uvarint(section);
    const left = this.bytes.length - this.at;
    if (n > Math.floor(left / minEntry)) throw new SnapshotError(`${section} count ${n} cannot fit in the ${left} bytes left`);
    return n;
  }

  name() {
    const len = this.uvarint('name length');
    if (len > MAX_NAME_BYTES) throw new SnapshotError(`name of ${len} bytes is longer than ${MAX_NAME_BYTES}`);
    const start = this.at;
    if (start + len > this.bytes.length) throw new SnapshotError(`truncated at byte ${this.bytes.length} while reading name`);
    this.at += len;
    try {
      return utf8.decode(this.bytes.subarray(start, start + len));
    } catch {
      throw new SnapshotError(`name at byte ${start} is not UTF-8`);
    }
  }
}

/** The bytes of a binary argument as a Uint8Array (socket clients hand over ArrayBuffers, Buffers or typed arrays). */
export function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

/** Whether a `snapshot` argument is the binary form. */
export function isBinarySnapshot(data) {
  return asBytes(data) !== null;
}

/**
 * Decodes one binary snapshot. Coordinates stay in hundredths.
 * @param {Uint8Array | ArrayBuffer} data
 * @returns {{tick: number, ack: number, x: number, y: number,
 *   leave: number[], enter: {index: number, id: number, x: number, y: number, name: string}[],
 *   move: {index: number, dx: number, dy: number}[]}}
 */
export function decodeBinarySnapshot(data) {
  const bytes = asBytes(data);
  if (!bytes) throw new SnapshotError('a binary snapshot must be bytes');
  if (bytes.length === 0) throw new SnapshotError('empty binary snapshot');
  if (bytes[0] !== BINARY_VERSION) throw new SnapshotError(`unknown binary snapshot version ${bytes[0]} (expected ${BINARY_VERSION})`);
  const r = new Reader(bytes);
  r.at = 1;
  const tick = r.uvarint('tick');
  const ack = r.uvarint('ack');
  const x = r.coordinate('x');
  const y = r.coordinate('y');
  // Smallest entries: leave 1 byte, enter 5, move 3.
  const leave = [];
  for (let n = r.count('leave', 1); n > 0; n -= 1) leave.push(r.index());
  const enter = [];
  for (let n = r.count('enter', 5); n > 0; n -= 1) {
    const index = r.index();
    const id = r.uvarint('enter id');
    const ex = r.coordinate('enter x');
    const ey = r.coordinate('enter y');
    enter.push({ index, id, x: ex, y: ey, name: r.name() });
  }
  const move = [];
  for (let n = r.count('move', 3); n > 0; n -= 1) {
    const index = r.index();
    const dx = r.svarint('move dx');
    const dy = r.svarint('move dy');
    move.push({ index, dx, dy });
  }
  if (r.at !== bytes.length) throw new SnapshotError(`${bytes.length - r.at} trailing bytes after the snapshot`);
  return { tick, ack, x, y, leave, enter, move };
}

/** Hundredths to the JSON's number (the same double as parsing its two-decimal text). */
const fromCents = (c) => c / 100;

/**
 * What one connection holds of its binary snapshots: index -> {id, x, y}
 * (hundredths). `toSnapshot` checks a snapshot against it, then returns it
 * in the JSON form's shape ({tick, ack, x, y, enter, move, leave}) with
 * absolute positions, and only then commits the new table: a bad snapshot
 * throws and changes nothing. Start a new BinaryIndex for every connection
 * (the server's indices start empty with each `welcome`).
 */
export class BinaryIndex {
  constructor() {
    /** @type {Map<number, {id: number, x: number, y: number}>} */
    this.held = new Map();
  }

  /** Number of players held. */
  get size() {
    return this.held.size;
  }

  /**
   * Decodes `data` and turns it into the JSON snapshot's shape.
   * @param {Uint8Array | ArrayBuffer} data
   */
  toSnapshot(data) {
    const s = decodeBinarySnapshot(data);
    const next = new Map(this.held);
    const ids = new Set();
    for (const p of next.values()) ids.add(p.id);
    const leave = [];
    for (const index of s.leave) {
      const p = next.get(index);
      if (!p) throw new SnapshotError(`leave of index ${index}, which is not held`);
      next.delete(index);
      ids.delete(p.id);
      leave.push(p.id);
    }
    const enter = [];
    for (const e of s.enter) {
      if (next.has(e.index)) throw new SnapshotError(`enter at index ${e.index}, which is already held`);
      if (ids.has(e.id)) throw new SnapshotError(`player ${e.id} entered at index ${e.index} but is held at another index`);
      next.set(e.index, { id: e.id, x: e.x, y: e.y });
      ids.add(e.id);
      enter.push({ id: e.id, name: e.name, x: fromCents(e.x), y: fromCents(e.y) });
    }
    const move = [];
    for (const m of s.move) {
      const p = next.get(m.index);
      if (!p) throw new SnapshotError(`move of index ${m.index}, which is not held`);
      const x = p.x + m.dx;
      const y = p.y + m.dy;
      if (x < I32_MIN || x > I32_MAX || y < I32_MIN || y > I32_MAX) {
        throw new SnapshotError(`move of index ${m.index} leaves the coordinate range`);
      }
      next.set(m.index, { id: p.id, x, y });
      move.push([p.id, fromCents(x), fromCents(y)]);
    }
    this.held = next;
    return { tick: s.tick, ack: s.ack, x: fromCents(s.x), y: fromCents(s.y), enter, move, leave };
  }
}
