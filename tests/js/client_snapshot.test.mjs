// Unit tests for static/snapshot.js: the binary snapshot decoder against the
// worked example of docs/protocol.md ("Binary snapshots") and against bytes
// the Rust world wrote (tests/js/fixtures/binary_snapshots.json, checked by
// tests/binary_snapshot_fixture.rs), BinaryIndex turning binary snapshots
// into the JSON form, and every malformed input refused.
// Run: node --test tests/js/

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  BinaryIndex, SnapshotError, decodeBinarySnapshot, isBinarySnapshot,
} from '../../static/snapshot.js';
import { applySnapshot } from '../../static/world.js';
import { reconstructPacket, decodeSocketPacket, SocketType } from '../../static/protocol.js';

const hex = (s) => Uint8Array.from(s.replace(/\s+/g, '').match(/../g) ?? [], (h) => parseInt(h, 16));

/** The worked example's 26 bytes, as docs/protocol.md lists them. */
const WORKED = hex(`01 ac02 11 e48019 01 0102 01 022a d00f ac02 03616e6e 01 00 b817 05`);

describe('decodeBinarySnapshot', () => {
  it('decodes the worked example of docs/protocol.md', () => {
    assert.equal(WORKED.length, 26);
    assert.deepEqual(decodeBinarySnapshot(WORKED), {
      tick: 300,
      ack: 17,
      x: 204850,
      y: -1,
      leave: [2],
      enter: [{ index: 2, id: 42, x: 1000, y: 150, name: 'ann' }],
      move: [{ index: 0, dx: 1500, dy: -3 }],
    });
    // An ArrayBuffer and a Node Buffer decode alike.
    assert.deepEqual(decodeBinarySnapshot(WORKED.slice().buffer), decodeBinarySnapshot(WORKED));
    assert.deepEqual(decodeBinarySnapshot(Buffer.from(WORKED)), decodeBinarySnapshot(WORKED));
  });

  it('turns the worked example into the JSON form', () => {
    const index = new BinaryIndex();
    // Index 0 and 2 are held before it: 0 by player 7 at (1, 2), 2 by player 9.
    index.toSnapshot(hex('01 00 00 00 00 00 02 00 07 c801 9003 00 02 09 00 00 01 7a 00'));
    const s = index.toSnapshot(WORKED);
    assert.deepEqual(s, {
      tick: 300, ack: 17, x: 2048.5, y: -0.01,
      enter: [{ id: 42, name: 'ann', x: 10, y: 1.5 }],
      move: [[7, 16, 1.97]],
      leave: [9],
    });
    assert.equal(index.size, 2);
  });

  it('refuses every malformed input with a SnapshotError', () => {
    const bad = {
      empty: '',
      'unknown version': '02 00 00 00 00 00 00 00',
      'truncated tick': '01 80',
      'non-shortest varint': '01 8000 00 00 00 00 00 00',
      'eleven-byte varint': '01 ffffffffffffffffffff01 00 00 00 00 00 00',
      'tenth byte above 1': '01 ffffffffffffffffff02 00 00 00 00 00 00',
      'coordinate out of range': '01 00 00 8080808010 00 00 00 00',
      'leave count beyond the input': '01 00 00 00 00 05 00',
      'index out of range': '01 00 00 00 00 01 808004 00 00',
      'name too long': '01 00 00 00 00 00 01 00 01 00 00 8108',
      'name not UTF-8': '01 00 00 00 00 00 01 00 01 00 00 01 ff 00',
      'trailing bytes': '01 00 00 00 00 00 00 00 00',
      'truncated move': '01 00 00 00 00 00 00 01 00 02',
    };
    for (const [why, bytes] of Object.entries(bad)) {
      assert.throws(() => decodeBinarySnapshot(hex(bytes)), SnapshotError, why);
    }
    assert.throws(() => decodeBinarySnapshot('01'), SnapshotError, 'a string is not bytes');
    // Every prefix of a valid snapshot is refused, never half-read.
    for (let n = 0; n < WORKED.length; n += 1) {
      assert.throws(() => decodeBinarySnapshot(WORKED.subarray(0, n)), SnapshotError, `prefix ${n}`);
    }
  });

  it('tells the forms apart', () => {
    assert.ok(isBinarySnapshot(WORKED));
    assert.ok(isBinarySnapshot(WORKED.buffer));
    assert.ok(!isBinarySnapshot({ tick: 1 }));
    assert.ok(!isBinarySnapshot(null));
  });
});

describe('BinaryIndex', () => {
  const enterAt = (index, id) => `01 ${index.toString(16).padStart(2, '0')} ${id.toString(16).padStart(2, '0')} 00 00 01 61`;

  it('refuses deltas that do not fit what it holds, and changes nothing then', () => {
    const index = new BinaryIndex();
    index.toSnapshot(hex(`01 01 00 00 00 00 ${enterAt(0, 5)} 00`));
    const cases = {
      'leave of a free index': '01 02 00 00 00 01 03 00 00',
      'enter at a held index': `01 02 00 00 00 00 ${enterAt(0, 6)} 00`,
      'enter of a player held elsewhere': `01 02 00 00 00 00 ${enterAt(1, 5)} 00`,
      'move of a free index': '01 02 00 00 00 00 00 01 04 02 02',
      'move out of range': '01 02 00 00 00 00 00 01 00 8080808010 00',
    };
    for (const [why, bytes] of Object.entries(cases)) {
      assert.throws(() => index.toSnapshot(hex(bytes)), SnapshotError, why);
      assert.deepEqual([...index.held], [[0, { id: 5, x: 0, y: 0 }]], `${why} changed the table`);
    }
    // Leave then enter at the same index in one snapshot is fine.
    const s = index.toSnapshot(hex(`01 03 00 00 00 01 00 ${enterAt(0, 6)} 00`));
    assert.deepEqual(s.leave, [5]);
    assert.deepEqual(s.enter.map((e) => e.id), [6]);
  });

  it('gives the same snapshots and state as the JSON form, on what the Rust world sent', () => {
    const url = new URL('./fixtures/binary_snapshots.json', import.meta.url);
    const fixture = JSON.parse(readFileSync(url, 'utf8'));
    let checked = 0;
    for (const [viewer, snapshots] of Object.entries(fixture.viewers)) {
      const index = new BinaryIndex();
      const fromJson = new Map();
      const fromBinary = new Map();
      for (const [k, pair] of snapshots.entries()) {
        const json = JSON.parse(pair.json);
        const converted = index.toSnapshot(hex(pair.binary));
        // Same snapshot, entry for entry (the world lists moves in the same order in both).
        assert.deepEqual(converted, json, `viewer ${viewer} snapshot ${k}`);
        applySnapshot(fromJson, json, Number(viewer));
        applySnapshot(fromBinary, converted, Number(viewer));
        assert.deepEqual(fromBinary, fromJson, `viewer ${viewer} state after snapshot ${k}`);
        checked += 1;
      }
      assert.equal(index.size, fromJson.size);
    }
    assert.ok(checked > 100, `${checked} snapshots checked`);
  });
});

describe('binary attachments (JSON parser)', () => {
  it('puts the attachment in place of its placeholder', () => {
    const header = decodeSocketPacket('51-["snapshot",{"_placeholder":true,"num":0}]');
    assert.equal(header.type, SocketType.BINARY_EVENT);
    assert.equal(header.attachments, 1);
    const whole = reconstructPacket(header, [WORKED]);
    assert.equal(whole.type, SocketType.EVENT);
    assert.equal(whole.data[0], 'snapshot');
    assert.equal(whole.data[1], WORKED);
  });

  it('refuses placeholders and attachments that do not match', () => {
    const header = decodeSocketPacket('51-["snapshot",{"_placeholder":true,"num":1}]');
    assert.throws(() => reconstructPacket(header, [WORKED]), /does not exist/);
    const two = decodeSocketPacket('52-["snapshot",{"_placeholder":true,"num":0}]');
    assert.throws(() => reconstructPacket(two, [WORKED, WORKED]), /no placeholder/);
    assert.throws(() => reconstructPacket(two, [WORKED]), /announced/);
  });
});
