// Locus client: a MessagePack encoder and decoder, for the
// `socket.io-msgpack-parser` wire format (which packs with notepack.io 2.2).
//
// Owns: turning JavaScript values into MessagePack bytes and back, with the
// notepack conventions the Socket.IO msgpack parser relies on (`undefined`
// as fixext1 type 0, Dates as fixext8 type 0, ArrayBuffers as ext type 0).
// Must not touch: Socket.IO or Engine.IO packets (protocol.js), sockets,
// the DOM, or any global state. Every function here is pure.
//
// Written from the MessagePack specification (github.com/msgpack/msgpack,
// spec.md) and notepack's documented conventions; no code from
// notepack or any other implementation.
//
// Value mapping, chosen to match what JSON gives the rest of the client:
//   encode: null -> nil; booleans; integers that are safe integers -> the
//   smallest int/uint form; every other number (fractions, NaN, +-Infinity,
//   integers beyond 2^53) -> float64; strings -> fixstr/str8/16/32;
//   Uint8Array, other typed arrays, DataView and ArrayBuffer -> bin8/16/32;
//   arrays -> fixarray/array16/32 (an `undefined` item becomes nil, as in
//   JSON.stringify); plain objects -> fixmap/map16/32 with string keys (keys
//   whose value is `undefined` are left out, as in JSON.stringify). Anything
//   else (functions, symbols, BigInt, Map, class instances, cycles) is a
//   MsgpackError.
//   decode: every format of the specification. 64-bit integers beyond 2^53
//   become the nearest Number, like JSON.parse does with long digits. bin and
//   ext type 0 (notepack's ArrayBuffer) -> Uint8Array (a copy). fixext1 type 0
//   -> undefined; fixext8 type 0 -> Date. Other ext types are rejected.
//   Map keys must be strings or numbers (numbers become their decimal text).

/** Thrown for a value that cannot be packed or bytes that are not valid MessagePack. */
export class MsgpackError extends Error {
  constructor(message) {
    super(message);
    this.name = 'MsgpackError';
  }
}

/** Deepest nesting of arrays and maps, either way (the server's decoder has the same bound). */
export const MAX_DEPTH = 128;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------- encode

/**
 * Packs `value` into MessagePack bytes.
 * @param {any} value
 * @returns {Uint8Array}
 */
export function encode(value) {
  const w = new Writer();
  w.value(value, 0);
  return w.finish();
}

/** A growable byte buffer. */
class Writer {
  constructor() {
    this.bytes = new Uint8Array(64);
    this.view = new DataView(this.bytes.buffer);
    this.length = 0;
  }

  /** Makes room for `n` more bytes and returns where they start. */
  reserve(n) {
    const at = this.length;
    if (at + n > this.bytes.length) {
      let size = this.bytes.length * 2;
      while (size < at + n) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.bytes.subarray(0, at));
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    this.length += n;
    return at;
  }

  // `reserve` may swap the buffer, so it runs before `this.bytes` / `this.view` is read.
  u8(n) { const at = this.reserve(1); this.bytes[at] = n; }
  u16(n) { const at = this.reserve(2); this.view.setUint16(at, n); }
  u32(n) { const at = this.reserve(4); this.view.setUint32(at, n); }
  raw(bytes) { const at = this.reserve(bytes.length); this.bytes.set(bytes, at); }

  finish() {
    return this.bytes.slice(0, this.length);
  }

  value(v, depth) {
    if (depth > MAX_DEPTH) throw new MsgpackError(`nested deeper than ${MAX_DEPTH} (a cycle?)`);
    switch (typeof v) {
      case 'boolean':
        this.u8(v ? 0xc3 : 0xc2);
        return;
      case 'number':
        this.number(v);
        return;
      case 'string':
        this.string(v);
        return;
      case 'object':
        if (v === null) this.u8(0xc0);
        else if (Array.isArray(v)) this.array(v, depth);
        else if (v instanceof ArrayBuffer) this.binary(new Uint8Array(v));
        else if (ArrayBuffer.isView(v)) this.binary(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
        else if (isPlainObject(v)) this.map(v, depth);
        else throw new MsgpackError(`cannot pack a ${v.constructor?.name ?? 'object'}`);
        return;
      default:
        // undefined at the top level, functions, symbols, BigInt
        throw new MsgpackError(`cannot pack a value of type ${typeof v}`);
    }
  }

  number(n) {
    if (!Number.isSafeInteger(n) || Object.is(n, -0)) {
      const at = this.reserve(9);
      this.bytes[at] = 0xcb;
      this.view.setFloat64(at + 1, n);
    } else if (n >= 0) {
      if (n < 0x80) this.u8(n);
      else if (n < 0x100) { this.u8(0xcc); this.u8(n); }
      else if (n < 0x10000) { this.u8(0xcd); this.u16(n); }
      else if (n < 0x100000000) { this.u8(0xce); this.u32(n); }
      else {
        const at = this.reserve(9);
        this.bytes[at] = 0xcf;
        this.view.setBigUint64(at + 1, BigInt(n));
      }
    } else if (n >= -32) {
      this.u8(n & 0xff); // negative fixint 0xe0..0xff
    } else if (n >= -0x80) {
      const at = this.reserve(2);
      this.bytes[at] = 0xd0;
      this.view.setInt8(at + 1, n);
    } else if (n >= -0x8000) {
      const at = this.reserve(3);
      this.bytes[at] = 0xd1;
      this.view.setInt16(at + 1, n);
    } else if (n >= -0x80000000) {
      const at = this.reserve(5);
      this.bytes[at] = 0xd2;
      this.view.setInt32(at + 1, n);
    } else {
      const at = this.reserve(9);
      this.bytes[at] = 0xd3;
      this.view.setBigInt64(at + 1, BigInt(n));
    }
  }

  string(s) {
    const bytes = utf8Encoder.encode(s);
    const n = bytes.length;
    if (n < 32) this.u8(0xa0 | n);
    else if (n < 0x100) { this.u8(0xd9); this.u8(n); }
    else if (n < 0x10000) { this.u8(0xda); this.u16(n); }
    else { this.u8(0xdb); this.u32(n); }
    this.raw(bytes);
  }

  binary(bytes) {
    const n = bytes.length;
    if (n < 0x100) { this.u8(0xc4); this.u8(n); }
    else if (n < 0x10000) { this.u8(0xc5); this.u16(n); }
    else { this.u8(0xc6); this.u32(n); }
    this.raw(bytes);
  }

  array(items, depth) {
    const n = items.length;
    if (n < 16) this.u8(0x90 | n);
    else if (n < 0x10000) { this.u8(0xdc); this.u16(n); }
    else { this.u8(0xdd); this.u32(n); }
    for (const item of items) {
      if (item === undefined) this.u8(0xc0);
      else this.value(item, depth + 1);
    }
  }

  map(obj, depth) {
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
    const n = keys.length;
    if (n < 16) this.u8(0x80 | n);
    else if (n < 0x10000) { this.u8(0xde); this.u16(n); }
    else { this.u8(0xdf); this.u32(n); }
    for (const k of keys) {
      this.string(k);
      this.value(obj[k], depth + 1);
    }
  }
}

function isPlainObject(v) {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

// ---------------------------------------------------------------- decode

/**
 * Unpacks exactly one MessagePack value filling all of `bytes`.
 * @param {Uint8Array | ArrayBuffer} bytes
 * @returns {any}
 * @throws {MsgpackError} on truncated, trailing, malformed or unsupported input
 */
export function decode(bytes) {
  let input;
  // A plain Uint8Array view (not a Node Buffer, whose slice() would not copy).
  if (bytes instanceof Uint8Array) input = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  else if (bytes instanceof ArrayBuffer) input = new Uint8Array(bytes);
  else throw new MsgpackError('decode wants a Uint8Array or an ArrayBuffer');
  const r = new Reader(input);
  const value = r.value(0);
  if (r.pos !== input.length) throw new MsgpackError(`${input.length - r.pos} trailing bytes after the value`);
  return value;
}

/** A cursor over the input; every read checks the bytes are there first. */
class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  /** Advances past `n` bytes and returns where they start. */
  take(n) {
    if (n > this.bytes.length - this.pos) {
      throw new MsgpackError(`truncated: ${n} bytes wanted at offset ${this.pos}, ${this.bytes.length - this.pos} left`);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8() { return this.bytes[this.take(1)]; }
  u16() { return this.view.getUint16(this.take(2)); }
  u32() { return this.view.getUint32(this.take(4)); }

  value(depth) {
    if (depth > MAX_DEPTH) throw new MsgpackError(`nested deeper than ${MAX_DEPTH}`);
    const at = this.pos;
    const m = this.u8();
    if (m < 0x80) return m; // positive fixint
    if (m >= 0xe0) return m - 0x100; // negative fixint
    if (m < 0x90) return this.map(m & 0x0f, depth);
    if (m < 0xa0) return this.array(m & 0x0f, depth);
    if (m < 0xc0) return this.string(m & 0x1f);
    const v = this.view;
    switch (m) {
      case 0xc0: return null;
      case 0xc1: throw new MsgpackError(`reserved marker 0xc1 at offset ${at}`);
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.binary(this.u8());
      case 0xc5: return this.binary(this.u16());
      case 0xc6: return this.binary(this.u32());
      case 0xc7: return this.ext(this.u8(), at);
      case 0xc8: return this.ext(this.u16(), at);
      case 0xc9: return this.ext(this.u32(), at);
      case 0xca: return v.getFloat32(this.take(4));
      case 0xcb: return v.getFloat64(this.take(8));
      case 0xcc: return this.u8();
      case 0xcd: return this.u16();
      case 0xce: return this.u32();
      case 0xcf: return Number(v.getBigUint64(this.take(8)));
      case 0xd0: return v.getInt8(this.take(1));
      case 0xd1: return v.getInt16(this.take(2));
      case 0xd2: return v.getInt32(this.take(4));
      case 0xd3: return Number(v.getBigInt64(this.take(8)));
      case 0xd4: return this.ext(1, at);
      case 0xd5: return this.ext(2, at);
      case 0xd6: return this.ext(4, at);
      case 0xd7: return this.ext(8, at);
      case 0xd8: return this.ext(16, at);
      case 0xd9: return this.string(this.u8());
      case 0xda: return this.string(this.u16());
      case 0xdb: return this.string(this.u32());
      case 0xdc: return this.array(this.u16(), depth);
      case 0xdd: return this.array(this.u32(), depth);
      case 0xde: return this.map(this.u16(), depth);
      default: return this.map(this.u32(), depth); // 0xdf
    }
  }

  string(n) {
    const at = this.take(n);
    try {
      return utf8Decoder.decode(this.bytes.subarray(at, at + n));
    } catch {
      throw new MsgpackError(`string at offset ${at} is not UTF-8`);
    }
  }

  binary(n) {
    const at = this.take(n);
    return this.bytes.slice(at, at + n);
  }

  /** An ext value of `n` data bytes; `marker` is its offset, for messages. */
  ext(n, marker) {
    const type = this.view.getInt8(this.take(1));
    const at = this.take(n);
    if (type === 0) {
      if (this.bytes[marker] === 0xd4) return undefined; // notepack's undefined
      if (this.bytes[marker] === 0xd7) {
        // notepack's Date: milliseconds since the epoch, signed high word then low word
        return new Date(this.view.getInt32(at) * 0x100000000 + this.view.getUint32(at + 4));
      }
      if (this.bytes[marker] >= 0xc7 && this.bytes[marker] <= 0xc9) return this.bytes.slice(at, at + n); // ArrayBuffer
    }
    throw new MsgpackError(`unsupported ext type ${type} (${n} bytes) at offset ${marker}`);
  }

  array(n, depth) {
    // Every item takes at least one byte: refuse a length the input cannot hold before allocating.
    if (n > this.bytes.length - this.pos) throw new MsgpackError(`truncated: array of ${n} items at offset ${this.pos}`);
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.value(depth + 1);
    return out;
  }

  map(n, depth) {
    if (n * 2 > this.bytes.length - this.pos) throw new MsgpackError(`truncated: map of ${n} entries at offset ${this.pos}`);
    const out = {};
    for (let i = 0; i < n; i++) {
      const at = this.pos;
      const key = this.value(depth + 1);
      if (typeof key !== 'string' && typeof key !== 'number') {
        throw new MsgpackError(`map key at offset ${at} is not a string or a number`);
      }
      // defineProperty, not assignment: a "__proto__" key must stay data, as with JSON.parse
      Object.defineProperty(out, String(key), {
        value: this.value(depth + 1), enumerable: true, writable: true, configurable: true,
      });
    }
    return out;
  }
}
