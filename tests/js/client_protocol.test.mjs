// Unit tests for static/protocol.js: Engine.IO packets and polling payloads,
// the handshake, Socket.IO packets (default parser) and the backoff schedule.
// Run: node --test tests/js/

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_BACKOFF, ProtocolError, RECORD_SEPARATOR, SocketType, backoffDelay, connectErrorMessage, migrateUrl, movedUrl,
  decodeEnginePacket, decodePollingPayload, decodeSocketPacket, encodeEnginePacket, encodeEvent,
  encodePollingPayload, encodeSocketPacket, parseHandshake,
} from '../../static/protocol.js';

const rejects = (fn, re) => assert.throws(fn, (e) => e instanceof ProtocolError && (!re || re.test(e.message)));

describe('engine.io packets', () => {
  it('encodes each type as its digit followed by the data', () => {
    assert.equal(encodeEnginePacket('open', '{}'), '0{}');
    assert.equal(encodeEnginePacket('close'), '1');
    assert.equal(encodeEnginePacket('ping', 'probe'), '2probe');
    assert.equal(encodeEnginePacket('pong'), '3');
    assert.equal(encodeEnginePacket('message', '2["x"]'), '42["x"]');
    assert.equal(encodeEnginePacket('upgrade'), '5');
    assert.equal(encodeEnginePacket('noop'), '6');
  });

  it('rejects_unknown_type_on_encode', () => rejects(() => encodeEnginePacket('hello')));
  it('rejects_binary_data_on_encode', () => rejects(() => encodeEnginePacket('message', new Uint8Array(1))));

  it('decodes text packets', () => {
    assert.deepEqual(decodeEnginePacket('4hello'), { type: 'message', data: 'hello' });
    assert.deepEqual(decodeEnginePacket('2'), { type: 'ping', data: '' });
    assert.deepEqual(decodeEnginePacket('3probe'), { type: 'pong', data: 'probe' });
    assert.deepEqual(decodeEnginePacket('6'), { type: 'noop', data: '' });
    // the data may itself contain digits and separators of other layers
    assert.deepEqual(decodeEnginePacket('442["a"]'), { type: 'message', data: '42["a"]' });
  });

  it('rejects_empty_packet', () => rejects(() => decodeEnginePacket('')));
  it('rejects_non_string_packet', () => rejects(() => decodeEnginePacket(undefined)));
  it('rejects_type_7_and_above', () => { rejects(() => decodeEnginePacket('7')); rejects(() => decodeEnginePacket('9x')); });
  it('rejects_non_digit_type', () => { rejects(() => decodeEnginePacket('x')); rejects(() => decodeEnginePacket('/')); });
  it('rejects_b_prefix_outside_polling', () => rejects(() => decodeEnginePacket('bAQID')));
});

describe('polling payloads', () => {
  it('joins packets with the record separator', () => {
    assert.equal(encodePollingPayload(['4hello', '2', '4world']), '4hello\x1e2\x1e4world');
    assert.equal(encodePollingPayload(['3']), '3');
  });

  it('splits a payload into packets', () => {
    assert.deepEqual(decodePollingPayload('4hello\x1e2\x1e4world'), [
      { type: 'message', data: 'hello' },
      { type: 'ping', data: '' },
      { type: 'message', data: 'world' },
    ]);
  });

  it('decodes a lone open packet (the handshake response)', () => {
    const [p] = decodePollingPayload('0{"sid":"a","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}');
    assert.equal(p.type, 'open');
    assert.equal(parseHandshake(p.data).sid, 'a');
  });

  it('decodes b + base64 entries as binary messages', () => {
    const [a, b] = decodePollingPayload('bAQIDBA==\x1e4text');
    assert.equal(a.type, 'message');
    assert.deepEqual([...a.data], [1, 2, 3, 4]);
    assert.deepEqual(b, { type: 'message', data: 'text' });
  });

  it('keeps a record separator inside JSON strings escaped', () => {
    const text = encodeEvent('chat', { text: `a${RECORD_SEPARATOR}b` });
    assert.ok(!text.includes(RECORD_SEPARATOR), 'JSON.stringify escapes control characters');
    const body = encodePollingPayload([encodeEnginePacket('message', text), '3']);
    const packets = decodePollingPayload(body);
    assert.equal(packets.length, 2);
    assert.equal(decodeSocketPacket(packets[0].data).data[1].text, `a${RECORD_SEPARATOR}b`);
  });

  it('handles multi-byte text', () => {
    const [p] = decodePollingPayload('42["chat",{"text":"héllo 🌍"}]');
    assert.equal(decodeSocketPacket(p.data).data[1].text, 'héllo 🌍');
  });

  it('rejects_empty_body', () => rejects(() => decodePollingPayload('')));
  it('rejects_empty_packet_between_separators', () => rejects(() => decodePollingPayload('4a\x1e\x1e2')));
  it('rejects_trailing_separator', () => rejects(() => decodePollingPayload('4a\x1e')));
  it('rejects_unknown_type_inside_payload', () => rejects(() => decodePollingPayload('4a\x1e8')));
  it('rejects_invalid_base64', () => { rejects(() => decodePollingPayload('b!!!!')); rejects(() => decodePollingPayload('bA')); });
  it('rejects_encoding_packet_holding_separator', () => rejects(() => encodePollingPayload(['4a\x1eb'])));
  it('rejects_encoding_empty_list', () => rejects(() => encodePollingPayload([])));
});

describe('handshake', () => {
  const good = { sid: 'lv_VI97HAXpY6yYWAAAC', upgrades: ['websocket'], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 };

  it('parses the open packet', () => {
    assert.deepEqual(parseHandshake(JSON.stringify(good)), good);
  });

  it('defaults maxPayload and upgrades when missing', () => {
    const h = parseHandshake('{"sid":"x","pingInterval":1,"pingTimeout":2}');
    assert.equal(h.maxPayload, 1e6);
    assert.deepEqual(h.upgrades, []);
  });

  it('rejects_non_json_handshake', () => rejects(() => parseHandshake('{sid')));
  it('rejects_non_object_handshake', () => { rejects(() => parseHandshake('[]')); rejects(() => parseHandshake('null')); });
  it('rejects_missing_sid', () => rejects(() => parseHandshake('{"pingInterval":1,"pingTimeout":1}'), /sid/));
  it('rejects_non_positive_ping_interval', () => rejects(() => parseHandshake('{"sid":"x","pingInterval":0,"pingTimeout":1}'), /pingInterval/));
  it('rejects_string_ping_timeout', () => rejects(() => parseHandshake('{"sid":"x","pingInterval":1,"pingTimeout":"1"}'), /pingTimeout/));
});

describe('socket.io packets: encode', () => {
  it('encodes CONNECT with the auth payload', () => {
    assert.equal(encodeSocketPacket({ type: SocketType.CONNECT, data: { token: 'abc' } }), '0{"token":"abc"}');
    assert.equal(encodeSocketPacket({ type: SocketType.CONNECT }), '0');
  });

  it('encodes EVENT compactly with keys in insertion order', () => {
    assert.equal(encodeEvent('position', { x: 1.5, y: 2, seq: 3 }), '2["position",{"x":1.5,"y":2,"seq":3}]');
  });

  it('encodes namespace and ack id', () => {
    assert.equal(encodeSocketPacket({ type: SocketType.EVENT, nsp: '/admin', id: 12, data: ['a'] }), '2/admin,12["a"]');
    assert.equal(encodeSocketPacket({ type: SocketType.ACK, id: 7, data: [] }), '37[]');
    assert.equal(encodeSocketPacket({ type: SocketType.DISCONNECT, nsp: '/admin' }), '1/admin,');
  });

  it('rejects_reserved_event_name_on_encode', () => rejects(() => encodeEvent('connect', {})));
  it('rejects_binary_types_on_encode', () => rejects(() => encodeSocketPacket({ type: SocketType.BINARY_EVENT, data: ['a'] })));
  it('rejects_bad_namespace_on_encode', () => { rejects(() => encodeSocketPacket({ type: 0, nsp: 'admin' })); rejects(() => encodeSocketPacket({ type: 0, nsp: '/a,b' })); });
  it('rejects_negative_ack_id_on_encode', () => rejects(() => encodeSocketPacket({ type: 3, id: -1, data: [] })));
});

describe('socket.io packets: decode', () => {
  const cases = [
    ['0', { type: 0, nsp: '/' }],
    ['0{"sid":"oSO0"}', { type: 0, nsp: '/', data: { sid: 'oSO0' } }],
    ['0/admin,{"sid":"oSO0"}', { type: 0, nsp: '/admin', data: { sid: 'oSO0' } }],
    ['0/custom', { type: 0, nsp: '/custom' }],
    ['1', { type: 1, nsp: '/' }],
    ['1/admin,', { type: 1, nsp: '/admin' }],
    ['4{"message":"unauthorized"}', { type: 4, nsp: '/', data: { message: 'unauthorized' } }],
    ['4"Unable to connect"', { type: 4, nsp: '/', data: 'Unable to connect' }],
    ['2["foo"]', { type: 2, nsp: '/', data: ['foo'] }],
    ['2/admin,["bar"]', { type: 2, nsp: '/admin', data: ['bar'] }],
    ['212["foo"]', { type: 2, nsp: '/', id: 12, data: ['foo'] }],
    ['3/admin,13["bar"]', { type: 3, nsp: '/admin', id: 13, data: ['bar'] }],
    ['30[]', { type: 3, nsp: '/', id: 0, data: [] }],
    ['2[42,"numeric event names are legal"]', { type: 2, nsp: '/', data: [42, 'numeric event names are legal'] }],
    ['51-["baz",{"_placeholder":true,"num":0}]', { type: 5, nsp: '/', attachments: 1, data: ['baz', { _placeholder: true, num: 0 }] }],
    ['61-15["bar",{"_placeholder":true,"num":0}]', { type: 6, nsp: '/', attachments: 1, id: 15, data: ['bar', { _placeholder: true, num: 0 }] }],
    ['2["snapshot",{"tick":7,"ack":0,"x":1,"y":2,"enter":[],"move":[[5,1.25,3]],"leave":[9]}]',
      { type: 2, nsp: '/', data: ['snapshot', { tick: 7, ack: 0, x: 1, y: 2, enter: [], move: [[5, 1.25, 3]], leave: [9] }] }],
  ];
  for (const [text, expected] of cases) {
    it(`decodes ${text}`, () => assert.deepEqual(decodeSocketPacket(text), expected));
  }

  it('round-trips what it encodes', () => {
    const packets = [
      { type: 0, nsp: '/', data: { token: 'tok"en\\' } },
      { type: 2, nsp: '/', data: ['chat', { text: 'héllo, "world" [1]' }] },
      { type: 2, nsp: '/room', id: 99, data: ['a', 1, null, [true]] },
      { type: 3, nsp: '/', id: 0, data: [] },
      { type: 1, nsp: '/x' },
    ];
    for (const p of packets) assert.deepEqual(decodeSocketPacket(encodeSocketPacket(p)), p);
  });

  it('rejects_empty_packet', () => rejects(() => decodeSocketPacket('')));
  it('rejects_unknown_type', () => { rejects(() => decodeSocketPacket('7')); rejects(() => decodeSocketPacket('abc')); });
  it('rejects_event_payload_not_array', () => rejects(() => decodeSocketPacket('2{}'), /array/));
  it('rejects_event_empty_array', () => rejects(() => decodeSocketPacket('2[]'), /non-empty/));
  it('rejects_bad_ack_id', () => rejects(() => decodeSocketPacket('2abc["foo"]'), /JSON/));
  it('rejects_invalid_json', () => rejects(() => decodeSocketPacket('2["foo"'), /JSON/));
  it('rejects_reserved_event_name', () => {
    for (const name of ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']) {
      rejects(() => decodeSocketPacket(`2["${name}"]`), /reserved/);
    }
  });
  it('rejects_non_string_event_name', () => { rejects(() => decodeSocketPacket('2[null]')); rejects(() => decodeSocketPacket('2[{}]')); });
  it('rejects_connect_payload_not_object', () => { rejects(() => decodeSocketPacket('0[1]')); rejects(() => decodeSocketPacket('0"x"')); });
  it('rejects_disconnect_with_payload', () => rejects(() => decodeSocketPacket('1{"a":1}')));
  it('rejects_connect_error_number_payload', () => rejects(() => decodeSocketPacket('45')));
  it('rejects_connect_error_without_payload', () => rejects(() => decodeSocketPacket('4')));
  it('rejects_ack_without_id', () => rejects(() => decodeSocketPacket('3["x"]')));
  it('rejects_ack_payload_not_array', () => rejects(() => decodeSocketPacket('31{}')));
  it('rejects_missing_attachment_count', () => { rejects(() => decodeSocketPacket('5["a"]')); rejects(() => decodeSocketPacket('5x-["a"]')); });
  it('rejects_huge_ack_id', () => rejects(() => decodeSocketPacket('2123456789012345678901["a"]')));

  it('normalizes connect error messages', () => {
    assert.equal(connectErrorMessage({ message: 'unauthorized' }), 'unauthorized');
    assert.equal(connectErrorMessage('Unable to connect'), 'Unable to connect');
    assert.equal(connectErrorMessage({ nope: 1 }), 'connect error');
    assert.equal(movedUrl({ message: 'moved', data: { url: 'http://10.0.0.2:3000' } }), 'http://10.0.0.2:3000');
    for (const bad of [{ message: 'moved' }, { message: 'moved', data: { url: 'javascript:x' } },
      { message: 'moved', data: { url: 5 } }, { message: 'unauthorized', data: { url: 'http://a' } }, 'moved', null]) {
      assert.equal(movedUrl(bad), null, JSON.stringify(bad));
    }
  });

  it('reads the node URL of a migrate event like that of moved', () => {
    assert.equal(migrateUrl({ url: 'https://node-b.example:3001' }), 'https://node-b.example:3001');
    assert.equal(migrateUrl({ url: 'http://10.0.0.2:3000/' }), 'http://10.0.0.2:3000/');
    for (const bad of [{}, { url: 'javascript:x' }, { url: 'ftp://10.0.0.2' }, { url: 'http:///x' }, { url: 5 },
      { data: { url: 'http://a' } }, 'http://a', null, undefined, ['http://a']]) {
      assert.equal(migrateUrl(bad), null, JSON.stringify(bad));
    }
  });
});

describe('reconnect backoff', () => {
  const noJitter = { ...DEFAULT_BACKOFF, jitter: 0 };

  it('grows exponentially from base', () => {
    assert.equal(backoffDelay(0, noJitter), 300);
    assert.equal(backoffDelay(1, noJitter), 540);
    assert.equal(backoffDelay(2, noJitter), 972);
    assert.equal(backoffDelay(3, noJitter), 1750);
  });

  it('is capped at max', () => {
    assert.equal(backoffDelay(10, noJitter), DEFAULT_BACKOFF.max);
    assert.equal(backoffDelay(1e6, noJitter), DEFAULT_BACKOFF.max);
  });

  it('never becomes Infinity or NaN for silly attempts', () => {
    for (const a of [Infinity, -5, NaN, 2.7]) {
      const d = backoffDelay(a);
      assert.ok(Number.isFinite(d) && d >= 0, `attempt ${a} gave ${d}`);
    }
  });

  it('jitter removes at most the jitter share of the delay', () => {
    const opts = { base: 1000, factor: 2, max: 8000, jitter: 0.5 };
    assert.equal(backoffDelay(0, opts, () => 0), 1000);
    assert.equal(backoffDelay(0, opts, () => 0.999999), 500);
    assert.equal(backoffDelay(5, opts, () => 0.5), 6000);
  });

  it('spreads clients that dropped together', () => {
    let seed = 1;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(3, DEFAULT_BACKOFF, rand)));
    assert.ok(delays.size > 25, `only ${delays.size} distinct delays`);
    for (const d of delays) assert.ok(d >= 1750 * 0.5 - 1 && d <= 1750, `${d} outside [875, 1750]`);
  });

  it('the envelope never shrinks from one attempt to the next', () => {
    for (let a = 0; a < 30; a++) assert.ok(backoffDelay(a + 1, noJitter) >= backoffDelay(a, noJitter));
  });
});
