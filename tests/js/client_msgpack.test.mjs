// Unit tests for static/msgpack.js (the page's MessagePack codec) and the
// socket.io-msgpack-parser packets of static/protocol.js: exact bytes at
// every format boundary, round trips, agreement with the real `notepack.io`
// and `socket.io-msgpack-parser` from npm (both directions), and malformed
// input, which must only ever raise MsgpackError / ProtocolError.
// Run: node --test tests/js/   (the cross-checks need tests/node_modules: bash tests/run.sh)

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { MAX_DEPTH, MsgpackError, decode, encode } from '../../static/msgpack.js';
import {
  PARSERS, ProtocolError, SocketType, decodeMsgpackPacket, decodePollingPayload, encodeEngineMessage,
  encodeMsgpackPacket, encodePollingPayload,
} from '../../static/protocol.js';

const require = createRequire(new URL('../package.json', import.meta.url));
let notepack;
let msgpackParser;
let engineParser;
let missing = false;
try {
  notepack = require('notepack.io');
  msgpackParser = require('socket.io-msgpack-parser');
  engineParser = require('engine.io-parser');
} catch {
  missing = 'SKIPPED: notepack.io / socket.io-msgpack-parser not installed; run bash tests/run.sh (it runs npm ci in tests/)';
  if (process.env.CI) throw new Error(missing);
  console.log(missing);
}
const crossCheck = missing ? (name, fn) => describe(name, { skip: missing }, fn) : describe;

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const bytes = (h) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const rejectsPack = (fn, re) => assert.throws(fn, (e) => e instanceof MsgpackError && (!re || re.test(e.message)));
const rejectsUnpack = (h, re) => rejectsPack(() => decode(typeof h === 'string' ? bytes(h) : h), re);
const rejectsPacket = (b, re) => assert.throws(() => decodeMsgpackPacket(b), (e) => e instanceof ProtocolError && (!re || re.test(e.message)));

/** A deterministic generator of random values of every kind the codec maps one to one. */
function randomValues(seed, count) {
  let s = seed;
  const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const ints = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1,
    -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53 - 1)];
  const value = (depth) => {
    switch (Math.floor(rand() * (depth > 3 ? 6 : 9))) {
      case 0: return pick([null, true, false]);
      case 1: {
        // near a boundary, but a safe integer (beyond 2^53 we pack float64, notepack an int64)
        const n = pick(ints) + (rand() < 0.3 ? Math.floor(rand() * 3) - 1 : 0);
        return Number.isSafeInteger(n) ? n : Math.trunc(n / 2);
      }
      case 2: return (rand() - 0.5) * 10 ** Math.floor(rand() * 12);
      // sliced by code points: a lone surrogate has no UTF-8 form
      case 3: return [...'é🌍x\u0000"\x1e'.repeat(Math.floor(rand() * 12))].slice(0, Math.floor(rand() * 40)).join('');
      case 4: return 'a'.repeat(pick([0, 31, 32, 255, 256, 1000]));
      case 5: return Uint8Array.from({ length: pick([0, 3, 255, 256]) }, () => Math.floor(rand() * 256));
      case 6: return Array.from({ length: pick([0, 1, 15, 16, 17]) }, () => value(depth + 1));
      default: {
        const o = {};
        for (let i = 0, n = pick([0, 1, 15, 16]); i < n; i++) o[`k${i}${pick(['', 'é', ' x'])}`] = value(depth + 1);
        return o;
      }
    }
  };
  return Array.from({ length: count }, () => value(0));
}

/** Bytes as a Node Buffer, which notepack packs as bin (it packs other typed arrays as ext type 0). */
function buffers(v) {
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (Array.isArray(v)) return v.map(buffers);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, buffers(x)]));
  return v;
}

/** Where two byte strings first differ, for a readable failure message. */
function sameBytes(a, b, what) {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  if (i === n && a.length === b.length) return;
  assert.fail(`${what}: bytes differ at offset ${i} of ${a.length}/${b.length}: ${hex(a.subarray(i, i + 16))} vs ${hex(b.subarray(i, i + 16))}`);
}

/** notepack decodes bin as a Node Buffer; compare bytes as plain Uint8Arrays. */
function plain(v) {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !(v instanceof Date)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

describe('msgpack encode: the smallest format at every boundary', () => {
  const cases = [
    // [value, expected hex]
    [null, 'c0'], [false, 'c2'], [true, 'c3'],
    [0, '00'], [127, '7f'], [128, 'cc80'], [255, 'ccff'], [256, 'cd0100'], [65535, 'cdffff'],
    [65536, 'ce00010000'], [2 ** 32 - 1, 'ceffffffff'], [2 ** 32, 'cf0000000100000000'],
    [2 ** 53 - 1, 'cf001fffffffffffff'],
    [-1, 'ff'], [-32, 'e0'], [-33, 'd0df'], [-128, 'd080'], [-129, 'd1ff7f'], [-32768, 'd18000'],
    [-32769, 'd2ffff7fff'], [-(2 ** 31), 'd280000000'], [-(2 ** 31) - 1, 'd3ffffffff7fffffff'],
    [-(2 ** 53 - 1), 'd3ffe0000000000001'],
    [1.5, 'cb3ff8000000000000'], [-0.25, 'cbbfd0000000000000'], [-0, 'cb8000000000000000'],
    [2 ** 53, 'cb4340000000000000'], [Infinity, 'cb7ff0000000000000'],
    ['', 'a0'], ['a', 'a161'], ['é', 'a2c3a9'],
    [{}, '80'], [[], '90'], [{ a: [1, { b: null }] }, '81a1619201 81a162c0'],
  ];
  for (const [value, expected] of cases) {
    it(`packs ${Object.is(value, -0) ? '-0' : JSON.stringify(value)} as ${expected}`, () => {
      assert.equal(hex(encode(value)), expected.replace(/\s+/g, ''));
    });
  }

  it('packs NaN as float64', () => assert.equal(hex(encode(NaN)).slice(0, 2), 'cb'));

  const sized = (marker, header, n) => (v) => {
    const out = encode(v);
    assert.equal(hex(out.subarray(0, 1 + header)), marker, `${n} items/bytes`);
  };
  it('picks fixstr / str8 / str16 / str32 by UTF-8 byte length', () => {
    sized('bf', 0, 31)('a'.repeat(31));
    sized('d920', 1, 32)('a'.repeat(32));
    sized('d9ff', 1, 255)('a'.repeat(255));
    sized('da0100', 2, 256)('a'.repeat(256));
    sized('daffff', 2, 65535)('a'.repeat(65535));
    sized('db00010000', 4, 65536)('a'.repeat(65536));
    sized('d920', 1, 32)('é'.repeat(16)); // 16 characters, 32 bytes
  });
  it('picks bin8 / bin16 / bin32', () => {
    sized('c400', 1, 0)(new Uint8Array(0));
    sized('c4ff', 1, 255)(new Uint8Array(255));
    sized('c50100', 2, 256)(new Uint8Array(256));
    sized('c5ffff', 2, 65535)(new Uint8Array(65535));
    sized('c600010000', 4, 65536)(new Uint8Array(65536));
  });
  it('packs every byte view and ArrayBuffer as bin', () => {
    const buf = new Uint8Array([1, 2, 3, 4]).buffer;
    for (const v of [buf, new Uint8Array(buf), new DataView(buf), new Uint16Array(buf), new Uint8Array(buf, 1, 2)]) {
      const out = decode(encode(v));
      assert.ok(out instanceof Uint8Array);
    }
    assert.equal(hex(encode(new Uint8Array(buf, 1, 2))), 'c4020203');
  });
  it('picks fixarray / array16 / array32', () => {
    sized('9f', 0, 15)(new Array(15).fill(0));
    sized('dc0010', 2, 16)(new Array(16).fill(0));
    sized('dcffff', 2, 65535)(new Array(65535).fill(0));
    sized('dd00010000', 4, 65536)(new Array(65536).fill(0));
  });
  it('picks fixmap / map16 / map32', () => {
    const map = (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    sized('8f', 0, 15)(map(15));
    sized('de0010', 2, 16)(map(16));
    sized('deffff', 2, 65535)(map(65535));
    sized('df00010000', 4, 65536)(map(65536));
  });
  it('leaves undefined map values out and packs undefined items as nil, like JSON.stringify', () => {
    assert.equal(hex(encode({ a: undefined, b: 1 })), '81a16201');
    assert.equal(hex(encode([undefined, 1])), '92c001');
  });

  it('rejects_unpackable_values', () => {
    rejectsPack(() => encode(undefined), /undefined/);
    rejectsPack(() => encode(() => 1), /function/);
    rejectsPack(() => encode(Symbol('s')), /symbol/);
    rejectsPack(() => encode(10n), /bigint/);
    rejectsPack(() => encode(new Map()), /Map/);
    rejectsPack(() => encode({ when: new Date(0) }), /Date/);
  });
  it('rejects_cycles', () => {
    const a = [];
    a.push(a);
    rejectsPack(() => encode(a), /nested/);
  });
  it('rejects_nesting_deeper_than_the_bound', () => {
    let deep = 1;
    for (let i = 0; i < MAX_DEPTH; i++) deep = [deep];
    assert.doesNotThrow(() => encode(deep));
    rejectsPack(() => encode([deep]), /nested/);
  });
});

describe('msgpack decode: every format of the specification', () => {
  const cases = [
    ['00', 0], ['7f', 127], ['e0', -32], ['ff', -1], ['c0', null], ['c2', false], ['c3', true],
    ['cc00', 0], ['ccff', 255], ['cdffff', 65535], ['ceffffffff', 2 ** 32 - 1], ['cf001fffffffffffff', 2 ** 53 - 1],
    ['d07f', 127], ['d080', -128], ['d17fff', 32767], ['d18000', -32768], ['d27fffffff', 2 ** 31 - 1],
    ['d280000000', -(2 ** 31)], ['d3ffe0000000000001', -(2 ** 53 - 1)], ['d30000000000000005', 5],
    // beyond 2^53: the nearest Number, as JSON.parse gives for long digits
    ['cfffffffffffffffff', 18446744073709551615], ['d38000000000000000', -9223372036854775808],
    ['ca3fc00000', 1.5], ['ca7f800000', Infinity], ['cb3ff8000000000000', 1.5],
    ['a0', ''], ['a3616263', 'abc'], ['d903616263', 'abc'], ['da0003616263', 'abc'], ['db00000003616263', 'abc'],
    ['90', []], ['920102', [1, 2]], ['dc00020102', [1, 2]], ['dd000000020102', [1, 2]],
    ['80', {}], ['81a16101', { a: 1 }], ['de0001a16101', { a: 1 }], ['df00000001a16101', { a: 1 }],
    // numeric keys become their decimal text, as notepack gives them
    ['8101a162', { 1: 'b' }],
    // notepack's undefined (fixext1 type 0)
    ['d40000', undefined], ['81a161d40000', { a: undefined }],
  ];
  for (const [h, expected] of cases) {
    it(`unpacks ${h}`, () => assert.deepEqual(decode(bytes(h)), expected));
  }

  it('unpacks bin8/16/32 and ext8/16/32 type 0 (ArrayBuffer) to a Uint8Array copy', () => {
    for (const h of ['c403010203', 'c50003010203', 'c600000003010203', 'c70300010203', 'c8000300010203', 'c90000000300010203']) {
      const input = bytes(h);
      const out = decode(input);
      assert.ok(out instanceof Uint8Array, h);
      assert.deepEqual([...out], [1, 2, 3], h);
      input.fill(0);
      assert.deepEqual([...out], [1, 2, 3], `${h}: the result does not alias the input`);
    }
  });
  it("unpacks notepack's Date (fixext8 type 0)", () => {
    assert.equal(decode(bytes('d7000000011f71fb04cb')).getTime(), 1234567890123);
    assert.equal(decode(bytes('d700fffffffffffffffb')).getTime(), -5);
  });
  it('accepts an ArrayBuffer, as a binary WebSocket frame arrives', () => {
    assert.deepEqual(decode(bytes('920102').buffer), [1, 2]);
  });
  it('reads a Uint8Array that is a window into a larger buffer', () => {
    const big = bytes('ffff920102ffff');
    assert.deepEqual(decode(big.subarray(2, 5)), [1, 2]);
  });
  it('keeps a "__proto__" key as data, like JSON.parse', () => {
    const out = decode(encode(JSON.parse('{"__proto__":{"polluted":1}}')));
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.keys(out), ['__proto__']);
    assert.equal({}.polluted, undefined);
  });

  it('nesting exactly at the bound decodes', () => {
    assert.doesNotThrow(() => decode(new Uint8Array([...new Array(MAX_DEPTH).fill(0x91), 0x01])));
  });

  it('round-trips random values', () => {
    randomValues(7, 200).forEach((v, i) => assert.deepEqual(decode(encode(v)), v, `value ${i}`));
  });
});

describe('msgpack decode: malformed input raises MsgpackError only', () => {
  it('rejects_empty_input', () => rejectsUnpack('', /truncated/));
  it('rejects_non_bytes', () => { rejectsPack(() => decode('abc')); rejectsPack(() => decode([1, 2])); rejectsPack(() => decode(null)); });
  it('rejects_reserved_marker_c1', () => rejectsUnpack('c1', /reserved/));
  it('rejects_trailing_bytes', () => rejectsUnpack('0102', /trailing/));
  it('rejects_invalid_utf8', () => { rejectsUnpack('a2c328', /UTF-8/); rejectsUnpack('a1ff', /UTF-8/); });
  it('rejects_unknown_ext_types', () => {
    rejectsUnpack('d40500', /ext type 5/);
    rejectsUnpack('d6ffffffffff', /ext type -1/); // the spec's timestamp: notepack never sends it
    rejectsUnpack('d5000000', /ext type 0/); // type 0 with 2 bytes means nothing to notepack
  });
  it('rejects_map_keys_that_are_not_scalars', () => {
    rejectsUnpack('8190c0', /key/);
    rejectsUnpack('8180c0', /key/);
    rejectsUnpack('81c0c0', /key/);
    rejectsUnpack('81c40101c0', /key/);
  });
  it('rejects_lengths_beyond_the_input_without_allocating', () => {
    rejectsUnpack('ddffffffff', /truncated/);
    rejectsUnpack('dfffffffff', /truncated/);
    rejectsUnpack('dbffffffff61', /truncated/);
    rejectsUnpack('c6ffffffff', /truncated/);
    rejectsUnpack('c9ffffffff00', /truncated/);
  });
  it('rejects_nesting_deeper_than_the_bound', () => {
    rejectsUnpack(new Uint8Array([...new Array(MAX_DEPTH + 1).fill(0x91), 0x01]), /nested/);
    rejectsUnpack(new Uint8Array(100_000).fill(0x91), /nested/);
  });
  it('rejects_every_truncation_of_valid_input', () => {
    for (const v of randomValues(11, 60)) {
      const full = encode(v);
      for (let n = 0; n < full.length; n += Math.max(1, Math.floor(full.length / 50))) {
        rejectsUnpack(full.subarray(0, n));
      }
    }
  });
  it('never throws anything but MsgpackError on random or mutated bytes', () => {
    let s = 99;
    const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647);
    const seeds = randomValues(13, 200).map(encode).filter((b) => b.length < 2048).slice(0, 50);
    for (let i = 0; i < 20_000; i++) {
      let input;
      if (i % 2) {
        input = Uint8Array.from({ length: Math.floor(rand() * 24) }, () => Math.floor(rand() * 256));
      } else {
        input = new Uint8Array(seeds[i % seeds.length]);
        for (let k = 0; k < 3; k++) input[Math.floor(rand() * input.length)] = Math.floor(rand() * 256);
      }
      try {
        decode(input);
      } catch (e) {
        assert.ok(e instanceof MsgpackError, `${hex(input)}: ${e}`);
      }
    }
  });
});

crossCheck('msgpack against notepack.io (what socket.io-msgpack-parser packs with)', () => {
  it('packs the same bytes as notepack for every value both map the same way', () => {
    randomValues(17, 200).forEach((v, i) => sameBytes(encode(v), notepack.encode(buffers(v)), `value ${i}`));
  });
  it("unpacks notepack's bytes to the value notepack packed", () => {
    for (const v of randomValues(19, 200)) assert.deepEqual(decode(notepack.encode(buffers(v))), v);
  });
  it('notepack unpacks our bytes to the value we packed', () => {
    for (const v of randomValues(23, 200)) assert.deepEqual(plain(notepack.decode(Buffer.from(encode(v)))), v);
  });
  it("unpacks notepack's undefined, Date and ArrayBuffer", () => {
    const out = decode(notepack.encode({ u: undefined, d: new Date(1234567890123), ab: new Uint8Array([9, 8]).buffer, list: [undefined] }));
    assert.equal(out.u, undefined);
    assert.ok('u' in out);
    assert.equal(out.d.getTime(), 1234567890123);
    assert.deepEqual(out.ab, new Uint8Array([9, 8]));
    assert.deepEqual(out.list, [undefined]);
  });
});

// ---------------------------------------------------------------- Socket.IO packets

describe('socket.io msgpack packets', () => {
  it('packs {type, data, nsp, id} in that order, absent keys left out', () => {
    assert.equal(hex(encodeMsgpackPacket({ type: SocketType.CONNECT, data: { token: 'abc' } })),
      '83 a474797065 00 a464617461 81a5746f6b656e a3616263 a36e7370 a12f'.replace(/\s+/g, ''));
    assert.equal(hex(encodeMsgpackPacket({ type: SocketType.DISCONNECT })), '82a47479706501a36e7370a12f');
    assert.equal(hex(encodeMsgpackPacket({ type: SocketType.ACK, id: 7, data: [] })), '84a47479706503a46461746190a36e7370a12fa26964 07'.replace(/\s+/g, ''));
  });
  it('rejects_packets_this_client_never_sends', () => {
    assert.throws(() => encodeMsgpackPacket({ type: 5, data: ['a'] }), ProtocolError);
    assert.throws(() => encodeMsgpackPacket({ type: 2, nsp: 'x', data: ['a'] }), ProtocolError);
    assert.throws(() => encodeMsgpackPacket({ type: 3, id: -1, data: [] }), ProtocolError);
    assert.throws(() => encodeMsgpackPacket({ type: 2, data: ['a', () => 1] }), /cannot pack/);
  });

  it('decodes what it encodes', () => {
    const packets = [
      { type: 0, nsp: '/', data: { sid: 'abc' } },
      { type: 0, nsp: '/' },
      { type: 1, nsp: '/admin' },
      { type: 2, nsp: '/', data: ['snapshot', { tick: 5, moved: [[1, 2.5, -3]], bytes: new Uint8Array([1, 2]) }] },
      { type: 2, nsp: '/', id: 3, data: ['question'] },
      { type: 3, nsp: '/', id: 12, data: [] },
      { type: 4, nsp: '/', data: { message: 'unauthorized' } },
      { type: 4, nsp: '/', data: 'Unable to connect' },
    ];
    for (const p of packets) assert.deepEqual(decodeMsgpackPacket(encodeMsgpackPacket(p)), p);
  });

  it('ignores unknown keys such as options', () => {
    assert.deepEqual(decodeMsgpackPacket(encode({ type: 2, data: ['a'], options: { compress: true }, nsp: '/' })), { type: 2, nsp: '/', data: ['a'] });
  });

  it('rejects_text_messages_with_a_hint', () => rejectsPacket('42["a"]', /JSON parser/));
  it('rejects_malformed_msgpack', () => { rejectsPacket(bytes('c1'), /not MessagePack/); rejectsPacket(bytes('83a4'), /not MessagePack/); rejectsPacket(new Uint8Array(0)); });
  it('rejects_a_packet_that_is_not_a_map', () => { rejectsPacket(encode([0, '/']), /map/); rejectsPacket(encode(3), /map/); rejectsPacket(encode(new Uint8Array(2)), /map/); });
  it('rejects_unknown_types', () => {
    for (const type of [5, 6, -1, 1.5, '2', null, undefined]) rejectsPacket(encode({ type, nsp: '/', data: ['a'] }), /type/);
  });
  it('rejects_a_missing_or_non_string_nsp', () => {
    rejectsPacket(encode({ type: 2, data: ['a'] }), /nsp/);
    rejectsPacket(encode({ type: 2, data: ['a'], nsp: 1 }), /nsp/);
  });
  it('rejects_bad_ack_ids', () => {
    rejectsPacket(encode({ type: 3, nsp: '/', data: [], id: '1' }), /ack id/);
    rejectsPacket(encode({ type: 3, nsp: '/', data: [], id: -1 }), /ack id/);
    rejectsPacket(encode({ type: 3, nsp: '/', data: [], id: 1.5 }), /ack id/);
    rejectsPacket(encode({ type: 3, nsp: '/', data: [] }), /ACK without id/);
  });
  it('rejects_payloads_of_the_wrong_shape', () => {
    rejectsPacket(encode({ type: 2, nsp: '/', data: { a: 1 } }), /array/);
    rejectsPacket(encode({ type: 2, nsp: '/', data: [] }), /non-empty/);
    rejectsPacket(encode({ type: 2, nsp: '/', data: ['connect'] }), /reserved/);
    rejectsPacket(encode({ type: 2, nsp: '/', data: [null] }), /event name/);
    rejectsPacket(encode({ type: 0, nsp: '/', data: [1] }), /CONNECT/);
    rejectsPacket(encode({ type: 0, nsp: '/', data: new Uint8Array(1) }), /CONNECT/);
    rejectsPacket(encode({ type: 1, nsp: '/', data: {} }), /DISCONNECT/);
    rejectsPacket(encode({ type: 4, nsp: '/', data: 5 }), /CONNECT_ERROR/);
  });
  it('random and mutated bytes only ever raise ProtocolError', () => {
    let s = 5;
    const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647);
    const seed = encodeMsgpackPacket({ type: 2, data: ['snapshot', { tick: 1, enter: [[1, 'bob', 2.5, 3]] }] });
    for (let i = 0; i < 5000; i++) {
      const input = new Uint8Array(seed);
      for (let k = 0; k < 2; k++) input[Math.floor(rand() * input.length)] = Math.floor(rand() * 256);
      try {
        decodeMsgpackPacket(input.subarray(0, Math.floor(rand() * (input.length + 1))));
      } catch (e) {
        assert.ok(e instanceof ProtocolError, `${hex(input)}: ${e}`);
      }
    }
  });

  it('PARSERS maps the names /api/health gives to matching codecs', () => {
    assert.deepEqual(Object.keys(PARSERS).sort(), ['json', 'msgpack']);
    const p = { type: 2, nsp: '/', data: ['position', { x: 1.5, y: 2, seq: 3 }] };
    for (const [name, parser] of Object.entries(PARSERS)) {
      assert.equal(parser.name, name);
      assert.deepEqual(parser.decode(parser.encode(p)), p);
    }
    assert.equal(typeof PARSERS.json.encode(p), 'string');
    assert.ok(PARSERS.msgpack.encode(p) instanceof Uint8Array);
  });
});

describe('binary engine.io messages', () => {
  it('a text message gets the 4 prefix, bytes stay as they are', () => {
    assert.equal(encodeEngineMessage('2["a"]'), '42["a"]');
    const b = new Uint8Array([1, 2]);
    assert.equal(encodeEngineMessage(b), b);
  });
  it('polling bodies carry bytes as b + base64 and read them back', () => {
    const body = encodePollingPayload([new Uint8Array([1, 2, 3, 4]), '3', new Uint8Array(0)]);
    assert.equal(body, 'bAQIDBA==\x1e3\x1eb');
    const back = decodePollingPayload(body);
    assert.deepEqual(back.map((p) => [p.type, p.data instanceof Uint8Array ? [...p.data] : p.data]), [['message', [1, 2, 3, 4]], ['pong', ''], ['message', []]]);
  });
  it('a large binary message survives base64 in a polling body', () => {
    const big = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) % 256);
    const [p] = decodePollingPayload(encodePollingPayload([big]));
    assert.deepEqual(p.data, big);
  });
});

crossCheck('socket.io msgpack packets against socket.io-msgpack-parser and engine.io-parser', () => {
  /** The bytes the real encoder gives for `packet`. */
  const official = (packet) => {
    const [out] = new msgpackParser.Encoder().encode(packet);
    return new Uint8Array(out);
  };
  /** What the real decoder makes of `bytes` (it throws on invalid packets). */
  const officialDecode = (b) => {
    const d = new msgpackParser.Decoder();
    let got;
    d.on('decoded', (p) => { got = p; });
    d.add(Buffer.from(b));
    return got;
  };

  const ours = [
    { type: 0, data: { token: 'tok' }, nsp: '/' },
    { type: 2, data: ['position', { x: 12.25, y: -3, seq: 40000 }], nsp: '/' },
    { type: 2, data: ['chat', { text: 'héllo 🌍' }], nsp: '/' },
    { type: 3, data: [], nsp: '/', id: 9 },
    { type: 1, nsp: '/' },
  ];
  it('our packets are byte for byte what socket.io-msgpack-parser sends', () => {
    for (const p of ours) sameBytes(encodeMsgpackPacket(p), official(p), JSON.stringify(p));
  });
  it('socket.io-msgpack-parser decodes our packets to the same packets', () => {
    for (const p of ours) assert.deepEqual(officialDecode(encodeMsgpackPacket(p)), p);
  });
  it("we decode socket.io-msgpack-parser's packets, as a Node socket.io server sends them", () => {
    const theirs = [
      [{ type: 0, data: { sid: 'AbC', pid: undefined }, nsp: '/' }, { type: 0, nsp: '/', data: { sid: 'AbC', pid: undefined } }],
      [{ type: 2, data: ['welcome', { id: 7, name: 'alice', x: 1.5, y: 2 }], options: { compress: true }, nsp: '/' },
        { type: 2, nsp: '/', data: ['welcome', { id: 7, name: 'alice', x: 1.5, y: 2 }] }],
      [{ type: 2, data: ['blob', Buffer.from([1, 2, 3]), new Uint8Array([4]).buffer], nsp: '/', id: 4 },
        { type: 2, nsp: '/', id: 4, data: ['blob', new Uint8Array([1, 2, 3]), new Uint8Array([4])] }],
      [{ type: 4, data: { message: 'unauthorized' }, nsp: '/' }, { type: 4, nsp: '/', data: { message: 'unauthorized' } }],
      [{ type: 0, data: undefined, nsp: '/' }, { type: 0, nsp: '/' }],
    ];
    for (const [sent, expected] of theirs) assert.deepEqual(decodeMsgpackPacket(official(sent)), expected);
  });
  it('rejects what socket.io-msgpack-parser rejects', () => {
    for (const bad of [{ type: 7, nsp: '/', data: [] }, { type: 2, data: ['a'] }, { type: 2, nsp: '/', data: 'x' }, { type: 3, nsp: '/', data: [], id: 'x' }]) {
      const b = notepack.encode(bad);
      assert.throws(() => officialDecode(b));
      rejectsPacket(new Uint8Array(b));
    }
  });
  it('our polling bodies are what engine.io-parser writes, and we read its bodies', async () => {
    const packets = [{ type: 'message', data: Buffer.from([1, 2, 3, 4]) }, { type: 'message', data: 'x' }];
    const theirs = await new Promise((r) => engineParser.encodePayload(packets, r));
    assert.equal(encodePollingPayload([new Uint8Array([1, 2, 3, 4]), '4x']), theirs);
    const back = engineParser.decodePayload(encodePollingPayload([new Uint8Array([250, 0, 7])]), 'nodebuffer');
    assert.deepEqual([...back[0].data], [250, 0, 7]);
  });
});
