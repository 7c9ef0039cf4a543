// Locus client: pure Engine.IO v4 / Socket.IO v5 codecs and the reconnect
// backoff schedule.
//
// Owns: turning wire text and bytes into packet objects and back (Engine.IO
// packets, HTTP long-polling payloads with `b`+base64 binary entries, the
// Engine.IO handshake, Socket.IO packets with the default JSON parser (and
// the binary attachments of its BINARY_EVENT packets) and with
// `socket.io-msgpack-parser`, the table of parsers by name), and the
// reconnect delay formula.
// Must not touch: sockets, timers, the DOM, or any global state. Every function
// here is pure so node's test runner can import this file as is. MessagePack
// itself lives in msgpack.js.
//
// Written from the protocol descriptions (engine.io-protocol and
// socket.io-protocol READMEs, socket.io-msgpack-parser's README); no code
// from the official client.

import { decode as unpack, encode as pack } from './msgpack.js';

/** Thrown for any input that breaks the protocol; the caller closes the connection. */
export class ProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ProtocolError';
  }
}

// ---------------------------------------------------------------- Engine.IO

/** Engine.IO packet type names, indexed by their one-digit wire code. */
export const ENGINE_TYPES = Object.freeze(['open', 'close', 'ping', 'pong', 'message', 'upgrade', 'noop']);

/** Separator between packets in an HTTP long-polling body (ASCII record separator). */
export const RECORD_SEPARATOR = '\x1e';

/**
 * Encodes one Engine.IO text packet, e.g. ('message', '2["x"]') -> '42["x"]'.
 * @param {string} type one of ENGINE_TYPES
 * @param {string} [data]
 */
export function encodeEnginePacket(type, data = '') {
  const code = ENGINE_TYPES.indexOf(type);
  if (code < 0) throw new ProtocolError(`unknown engine.io packet type ${type}`);
  if (typeof data !== 'string') throw new ProtocolError('engine.io text packets carry string data');
  return String(code) + data;
}

/**
 * The Engine.IO packet that carries one message: text becomes a `4` text
 * packet; bytes stay as they are, a binary message (a binary WebSocket
 * frame, or `b` + base64 in a polling body).
 * @param {string | Uint8Array} data
 * @returns {string | Uint8Array}
 */
export function encodeEngineMessage(data) {
  return data instanceof Uint8Array ? data : encodeEnginePacket('message', data);
}

/**
 * Decodes one Engine.IO text packet as it arrives in a WebSocket text frame.
 * @param {string} text
 * @returns {{type: string, data: string}}
 */
export function decodeEnginePacket(text) {
  if (typeof text !== 'string' || text.length === 0) {
    throw new ProtocolError('empty engine.io packet');
  }
  const code = text.charCodeAt(0) - 48;
  if (!(code >= 0 && code < ENGINE_TYPES.length)) {
    throw new ProtocolError(`unknown engine.io packet type ${JSON.stringify(text[0])}`);
  }
  return { type: ENGINE_TYPES[code], data: text.slice(1) };
}

/**
 * Joins encoded packets into one long-polling POST body. A Uint8Array is a
 * binary message and is written `b` + base64.
 * Text packets cannot contain \x1e themselves: our JSON Socket.IO packets
 * come from JSON.stringify, which escapes every control character.
 * @param {(string | Uint8Array)[]} packets already encoded Engine.IO packets
 */
export function encodePollingPayload(packets) {
  if (!Array.isArray(packets) || packets.length === 0) {
    throw new ProtocolError('a polling payload holds at least one packet');
  }
  return packets.map(pollingEntry).join(RECORD_SEPARATOR);
}

/** One packet as it appears in a polling body (see encodePollingPayload). */
export function pollingEntry(packet) {
  if (packet instanceof Uint8Array) return `b${bytesToBase64(packet)}`;
  if (typeof packet !== 'string' || packet.length === 0) throw new ProtocolError('empty packet in payload');
  if (packet.includes(RECORD_SEPARATOR)) throw new ProtocolError('packet contains the record separator');
  return packet;
}

/**
 * Splits a long-polling GET body into Engine.IO packets. A `b` + base64 entry
 * is a binary message and comes back as {type:'message', data: Uint8Array}.
 * @param {string} body
 * @returns {{type: string, data: string | Uint8Array}[]}
 */
export function decodePollingPayload(body) {
  if (typeof body !== 'string' || body.length === 0) {
    throw new ProtocolError('empty polling payload');
  }
  return body.split(RECORD_SEPARATOR).map((part) => {
    if (part.length > 0 && part[0] === 'b') {
      return { type: 'message', data: base64ToBytes(part.slice(1)) };
    }
    return decodeEnginePacket(part);
  });
}

/**
 * Validates the JSON of an Engine.IO `open` packet.
 * @param {string} data the packet data (without the leading 0)
 * @returns {{sid: string, upgrades: string[], pingInterval: number, pingTimeout: number, maxPayload: number}}
 */
export function parseHandshake(data) {
  let h;
  try {
    h = JSON.parse(data);
  } catch {
    throw new ProtocolError('handshake is not JSON');
  }
  if (h === null || typeof h !== 'object' || Array.isArray(h)) throw new ProtocolError('handshake is not an object');
  if (typeof h.sid !== 'string' || h.sid.length === 0) throw new ProtocolError('handshake without sid');
  for (const key of ['pingInterval', 'pingTimeout']) {
    if (!Number.isFinite(h[key]) || h[key] <= 0) throw new ProtocolError(`handshake ${key} is not a positive number`);
  }
  const upgrades = Array.isArray(h.upgrades) ? h.upgrades.filter((u) => typeof u === 'string') : [];
  const maxPayload = Number.isFinite(h.maxPayload) && h.maxPayload > 0 ? h.maxPayload : 1e6;
  return { sid: h.sid, upgrades, pingInterval: h.pingInterval, pingTimeout: h.pingTimeout, maxPayload };
}

function bytesToBase64(bytes) {
  // btoa takes a "binary string"; build it in slices so no call gets too many arguments.
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

function base64ToBytes(b64) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 === 1) {
    throw new ProtocolError('binary packet is not base64');
  }
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// ---------------------------------------------------------------- Socket.IO

/** Socket.IO packet type codes. */
export const SocketType = Object.freeze({
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
});

/** Event names a peer may not emit (they collide with the client's own lifecycle events). */
export const RESERVED_EVENTS = Object.freeze([
  'connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener',
]);

/** Checks what both encoders need: a type this client sends (0-4), a namespace, an ack id. */
function checkOutgoing({ type, nsp, id }) {
  if (!Number.isInteger(type) || type < 0 || type > 4) {
    throw new ProtocolError(`cannot encode socket.io packet type ${type}`);
  }
  if (typeof nsp !== 'string' || nsp[0] !== '/') throw new ProtocolError('bad namespace');
  if (id !== undefined && (!Number.isSafeInteger(id) || id < 0)) throw new ProtocolError('bad ack id');
}

/**
 * Encodes a Socket.IO packet with the default (JSON) parser.
 * Binary packets are not supported by this client.
 * @param {{type: number, nsp?: string, id?: number, data?: any}} packet
 * @returns {string} the Engine.IO message data
 */
export function encodeSocketPacket({ type, nsp = '/', id, data }) {
  checkOutgoing({ type, nsp, id });
  let out = String(type);
  if (nsp !== '/') {
    if (nsp.includes(',')) throw new ProtocolError('bad namespace');
    out += nsp + ',';
  }
  if (id !== undefined) out += String(id);
  if (data !== undefined) out += JSON.stringify(data);
  return out;
}

/** The Socket.IO EVENT packet for `emit(name, ...args)` on namespace `/`, for either parser. */
export function eventPacket(name, ...args) {
  if (typeof name !== 'string' || RESERVED_EVENTS.includes(name)) throw new ProtocolError(`bad event name ${name}`);
  return { type: SocketType.EVENT, data: [name, ...args] };
}

/** Convenience: the Socket.IO EVENT text for `emit(name, ...args)` on namespace `/`. */
export function encodeEvent(name, ...args) {
  return encodeSocketPacket(eventPacket(name, ...args));
}

/**
 * Decodes a Socket.IO packet (default parser), with the same validity rules
 * as the reference decoder: known type, integer attachment count, namespace
 * up to `,` or end, decimal ack id, valid JSON of the right shape.
 * @param {string} text the Engine.IO message data
 * @returns {{type: number, nsp: string, id?: number, data?: any, attachments?: number}}
 */
export function decodeSocketPacket(text) {
  if (text instanceof Uint8Array) {
    throw new ProtocolError('binary message, but this client uses the JSON parser (is the server using --parser msgpack?)');
  }
  if (typeof text !== 'string' || text.length === 0) throw new ProtocolError('empty socket.io packet');
  const type = text.charCodeAt(0) - 48;
  if (!(type >= 0 && type <= 6)) throw new ProtocolError(`unknown socket.io packet type ${JSON.stringify(text[0])}`);
  let i = 1;
  const packet = { type, nsp: '/' };

  if (type === SocketType.BINARY_EVENT || type === SocketType.BINARY_ACK) {
    const dash = text.indexOf('-', i);
    const count = dash < 0 ? '' : text.slice(i, dash);
    if (!/^\d{1,4}$/.test(count)) throw new ProtocolError('bad attachment count');
    packet.attachments = Number(count);
    i = dash + 1;
  }

  if (text[i] === '/') {
    const comma = text.indexOf(',', i);
    const end = comma < 0 ? text.length : comma;
    packet.nsp = text.slice(i, end);
    i = comma < 0 ? end : end + 1;
  }

  let digits = '';
  while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) digits += text[i++];
  if (digits) {
    const id = Number(digits);
    if (!Number.isSafeInteger(id)) throw new ProtocolError('ack id too large');
    packet.id = id;
  }

  if (i < text.length) {
    try {
      packet.data = JSON.parse(text.slice(i));
    } catch {
      throw new ProtocolError('socket.io payload is not JSON');
    }
  }
  checkPayloadShape(packet);
  return packet;
}

/** Attachments one binary packet may announce (the game sends one per snapshot). */
export const MAX_ATTACHMENTS = 16;

/**
 * Puts a BINARY_EVENT's attachments in place of its placeholders
 * (`{"_placeholder":true,"num":N}`, anywhere in the arguments) and returns
 * the whole packet as a plain EVENT. Every attachment must be used and every
 * placeholder must name one; anything else is a ProtocolError.
 * @param {{type: number, nsp: string, id?: number, data: any[], attachments: number}} packet
 * @param {Uint8Array[]} buffers the binary messages that followed it, in order
 */
export function reconstructPacket(packet, buffers) {
  if (buffers.length !== packet.attachments) {
    throw new ProtocolError(`${packet.attachments} attachments announced, ${buffers.length} received`);
  }
  const used = new Set();
  const fill = (v, depth) => {
    if (depth > 32) throw new ProtocolError('binary packet nested too deeply');
    if (Array.isArray(v)) return v.map((x) => fill(x, depth + 1));
    if (isPlainObject(v)) {
      if (v._placeholder === true) {
        const n = v.num;
        if (!Number.isInteger(n) || n < 0 || n >= buffers.length) throw new ProtocolError(`placeholder for attachment ${n}, which does not exist`);
        used.add(n);
        return buffers[n];
      }
      const out = {};
      for (const [k, x] of Object.entries(v)) out[k] = fill(x, depth + 1);
      return out;
    }
    return v;
  };
  const data = fill(packet.data, 0);
  if (used.size !== buffers.length) throw new ProtocolError('an attachment no placeholder refers to');
  const type = packet.type === SocketType.BINARY_ACK ? SocketType.ACK : SocketType.EVENT;
  const whole = { type, nsp: packet.nsp, data };
  if (packet.id !== undefined) whole.id = packet.id;
  return whole;
}

/**
 * Encodes a Socket.IO packet with `socket.io-msgpack-parser`: one msgpack
 * map `{type, data?, nsp, id?}` (keys in that order, absent ones left out),
 * sent as one binary Engine.IO message. Only types 0-4 exist in this format.
 * @param {{type: number, nsp?: string, id?: number, data?: any}} packet
 * @returns {Uint8Array} the Engine.IO message data
 */
export function encodeMsgpackPacket({ type, nsp = '/', id, data }) {
  checkOutgoing({ type, nsp, id });
  const packet = { type };
  if (data !== undefined) packet.data = data;
  packet.nsp = nsp;
  if (id !== undefined) packet.id = id;
  try {
    return pack(packet);
  } catch (e) {
    throw new ProtocolError(`cannot pack socket.io packet: ${e.message}`);
  }
}

/**
 * Decodes a Socket.IO packet sent with `socket.io-msgpack-parser`, with the
 * reference decoder's rules (a map; integer type 0-4; string nsp, required
 * even for `/`; integer id when present) plus the payload shapes of the JSON
 * path. Unknown keys (notepack clients add `options`) are ignored. Any
 * failure, malformed MessagePack included, is a ProtocolError.
 * @param {Uint8Array} bytes the binary Engine.IO message
 * @returns {{type: number, nsp: string, id?: number, data?: any}}
 */
export function decodeMsgpackPacket(bytes) {
  if (typeof bytes === 'string') {
    throw new ProtocolError('text message, but this client uses the msgpack parser (is the server using the JSON parser?)');
  }
  let map;
  try {
    map = unpack(bytes);
  } catch (e) {
    throw new ProtocolError(`socket.io packet is not MessagePack: ${e.message}`);
  }
  if (!isPlainObject(map)) {
    throw new ProtocolError('msgpack socket.io packet is not a map');
  }
  const { type, nsp, id, data } = map;
  if (!Number.isInteger(type) || type < 0 || type > SocketType.CONNECT_ERROR) {
    throw new ProtocolError(`unknown socket.io packet type ${JSON.stringify(type)}`);
  }
  if (typeof nsp !== 'string') throw new ProtocolError('msgpack socket.io packet without a string nsp');
  if (id !== undefined && (!Number.isSafeInteger(id) || id < 0)) throw new ProtocolError('bad ack id');
  const packet = { type, nsp };
  if (id !== undefined) packet.id = id;
  if (data !== undefined) packet.data = data;
  checkPayloadShape(packet);
  return packet;
}

/**
 * The Socket.IO parsers this client speaks, by the name the server gives in
 * `GET /api/health` (`parser`). `encode` turns a packet into Engine.IO
 * message data (text for JSON, bytes for msgpack); `decode` is the inverse
 * and throws ProtocolError on anything malformed.
 */
export const PARSERS = Object.freeze({
  json: Object.freeze({ name: 'json', encode: encodeSocketPacket, decode: decodeSocketPacket }),
  msgpack: Object.freeze({ name: 'msgpack', encode: encodeMsgpackPacket, decode: decodeMsgpackPacket }),
});

/** An object literal's shape: not an array, not bytes, not a Date. */
function isPlainObject(v) {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function checkPayloadShape({ type, data, id }) {
  switch (type) {
    case SocketType.CONNECT:
      if (data !== undefined && !isPlainObject(data)) throw new ProtocolError('CONNECT payload must be an object');
      break;
    case SocketType.DISCONNECT:
      if (data !== undefined) throw new ProtocolError('DISCONNECT carries no payload');
      break;
    case SocketType.CONNECT_ERROR:
      if (typeof data !== 'string' && !isPlainObject(data)) throw new ProtocolError('CONNECT_ERROR payload must be a string or object');
      break;
    case SocketType.EVENT:
    case SocketType.BINARY_EVENT: {
      if (!Array.isArray(data) || data.length === 0) throw new ProtocolError('EVENT payload must be a non-empty array');
      const name = data[0];
      if (typeof name === 'string') {
        if (RESERVED_EVENTS.includes(name)) throw new ProtocolError(`reserved event name ${name}`);
      } else if (typeof name !== 'number') {
        throw new ProtocolError('event name must be a string');
      }
      break;
    }
    case SocketType.ACK:
    case SocketType.BINARY_ACK:
      if (!Array.isArray(data)) throw new ProtocolError('ACK payload must be an array');
      if (id === undefined) throw new ProtocolError('ACK without id');
      break;
    default:
      break;
  }
}

/** Normalizes a CONNECT_ERROR payload (an object from Node, a bare string from python-socketio). */
export function connectErrorMessage(data) {
  if (typeof data === 'string') return data;
  if (isPlainObject(data) && typeof data.message === 'string') return data.message;
  return 'connect error';
}

/**
 * The node URL of a cluster's `moved` refusal (`{"message":"moved","data":{"url"}}`), or null
 * when `data` is not one (or names something that is not an http(s) URL).
 */
export function movedUrl(data) {
  if (!isPlainObject(data) || data.message !== 'moved' || !isPlainObject(data.data)) return null;
  return nodeUrl(data.data.url);
}

/**
 * The node URL of a cluster's `migrate` event argument (`{"url": URL}`: the player was handed
 * over to that node), or null when `data` is not one (or names something that is not an
 * http(s) URL). Checked like `moved`.
 */
export function migrateUrl(data) {
  return isPlainObject(data) ? nodeUrl(data.url) : null;
}

/** `url` when it is a string naming an http(s) URL with a host, else null. */
function nodeUrl(url) {
  return typeof url === 'string' && /^https?:\/\/[^/]/.test(url) ? url : null;
}

// ---------------------------------------------------------------- backoff

/** Default reconnect schedule: quick first retry, capped so a restarted server is found within seconds. */
export const DEFAULT_BACKOFF = Object.freeze({ base: 300, factor: 1.8, max: 5000, jitter: 0.5 });

/**
 * Delay before reconnect attempt `attempt` (0 = first retry after a drop).
 * Exponential growth capped at `max`, then "equal jitter": a random share
 * `jitter` of the delay is removed so clients dropped together do not all
 * come back in the same millisecond. Result is in [d*(1-jitter), d].
 * @param {number} attempt
 * @param {{base:number,factor:number,max:number,jitter:number}} [opts]
 * @param {() => number} [random] returns [0,1)
 */
export function backoffDelay(attempt, opts = DEFAULT_BACKOFF, random = Math.random) {
  const { base, factor, max, jitter } = { ...DEFAULT_BACKOFF, ...opts };
  const n = attempt === Infinity ? 64 : Number.isFinite(attempt) ? Math.max(0, Math.floor(attempt)) : 0;
  // Math.min before pow would not stop overflow to Infinity, so cap the exponent.
  const raw = base * Math.pow(factor, Math.min(n, 64));
  const capped = Math.min(max, raw);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(capped * (1 - jitter * r));
}
