// Locus client: a small Socket.IO v5 client over Engine.IO v4.
//
// Owns: the two transports (WebSocket first, HTTP long-polling when the
// WebSocket handshake fails), text and binary Engine.IO messages on both,
// the Engine.IO heartbeat (answer the server's pings, declare the connection
// dead when no ping arrives within pingInterval + pingTimeout), choosing the
// Socket.IO parser (JSON or msgpack) before each attempt, the Socket.IO
// CONNECT with an auth payload (following a cluster's `moved` refusal to the
// node it names), following a cluster's `migrate` event (the player was
// handed over to another node: connect there at once, same auth, no backoff),
// event dispatch, and reconnection with backoff.
// Must not touch: the DOM, game state, or storage. Wire formats live in
// protocol.js (and msgpack.js); this file only moves packets.
//
// Deliberate differences from the official client: no polling->websocket
// upgrade (we try WebSocket first and fall back to polling for the whole
// session), no acks from our side, binary attachments only received (a
// BINARY_EVENT from the server, such as a binary snapshot; msgpack carries
// bytes inline), never sent, no buffering of emits while
// offline (a game must not replay stale positions), and a server DISCONNECT
// is retried like a dropped connection unless the app stops us first
// (it does on `kicked`) or a `migrate` came first (then we are already
// connecting to the node it names; the old connection's end is not seen).

import {
  PARSERS, ProtocolError, SocketType, DEFAULT_BACKOFF, backoffDelay, connectErrorMessage, migrateUrl, movedUrl,
  MAX_ATTACHMENTS, decodeEnginePacket, decodePollingPayload, encodeEngineMessage, encodeEnginePacket,
  encodePollingPayload, eventPacket, parseHandshake, pollingEntry, reconstructPacket,
} from './protocol.js';

/** How long a transport may take to deliver the Engine.IO `open` packet. */
const OPEN_TIMEOUT_MS = 8000;
/** How long the server may take to answer our Socket.IO CONNECT. */
const CONNECT_TIMEOUT_MS = 10000;
/** `moved` refusals followed in a row before the attempt counts as failed (nodes that disagree while regions change hands). */
const MAX_MOVES = 3;

// ---------------------------------------------------------------- transports

/**
 * Engine.IO over one WebSocket. Lifecycle: `await open()` resolves with the
 * handshake; `start()` then delivers the packets that followed it.
 */
export class WebSocketTransport {
  /**
   * @param {string} url ws:// or wss:// URL including the query string
   * @param {{WebSocket: any, onPacket: Function, onClose: Function}} env
   */
  constructor(url, env) {
    this.name = 'websocket';
    this.url = url;
    this.env = env;
    /** packets that arrived before start(), so none is lost to an unset handler */
    this.early = [];
    this.started = false;
    this.closed = false;
    this.ws = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      let handshake = null;
      const fail = (why) => {
        if (handshake) return;
        this.closeQuietly();
        reject(new Error(why));
      };
      const timer = setTimeout(() => fail('websocket open timeout'), OPEN_TIMEOUT_MS);
      let ws;
      try {
        ws = new this.env.WebSocket(this.url);
      } catch (e) {
        clearTimeout(timer);
        reject(e);
        return;
      }
      this.ws = ws;
      ws.binaryType = 'arraybuffer';
      ws.onmessage = (ev) => {
        let packet;
        try {
          packet = decodeFrame(ev.data);
        } catch (e) {
          if (!handshake) { clearTimeout(timer); fail(e.message); return; }
          console.warn(`locus: closing the connection, malformed engine.io packet: ${e.message}`);
          this.finish('parse error');
          return;
        }
        if (!handshake) {
          clearTimeout(timer);
          if (packet.type !== 'open') { fail('first packet is not open'); return; }
          try {
            handshake = parseHandshake(packet.data);
          } catch (e) {
            fail(e.message);
            return;
          }
          resolve(handshake);
          return;
        }
        if (this.started) this.env.onPacket(packet);
        else this.early.push(packet);
      };
      ws.onerror = () => { if (!handshake) { clearTimeout(timer); fail('websocket error'); } };
      ws.onclose = () => {
        if (!handshake) { clearTimeout(timer); fail('websocket closed before open'); return; }
        this.finish('transport close');
      };
    });
  }

  start() {
    this.started = true;
    const early = this.early;
    this.early = [];
    for (const p of early) if (!this.closed) this.env.onPacket(p);
  }

  /** @param {(string | Uint8Array)[]} packets encoded Engine.IO packets (bytes: binary messages) */
  send(packets) {
    if (this.closed || !this.ws || this.ws.readyState !== 1) return;
    for (const p of packets) this.ws.send(p);
  }

  finish(reason) {
    if (this.closed) return;
    this.closeQuietly();
    this.env.onClose(reason);
  }

  /** Closes without reporting (used by the owner, who already knows). */
  closeQuietly() {
    this.closed = true;
    if (this.ws) {
      this.ws.onmessage = this.ws.onerror = this.ws.onclose = null;
      try { this.ws.close(); } catch { /* already closed */ }
    }
  }

  close() {
    // A WebSocket close frame is how a client ends the session; no `1` needed.
    this.closeQuietly();
  }
}

/**
 * One WebSocket frame as an Engine.IO packet: a text frame is a text packet,
 * a binary frame (an ArrayBuffer with binaryType "arraybuffer", or a typed
 * array from Node's `ws`) is a whole binary message with no type prefix.
 */
function decodeFrame(data) {
  if (typeof data === 'string') return decodeEnginePacket(data);
  if (data instanceof ArrayBuffer) return { type: 'message', data: new Uint8Array(data) };
  if (ArrayBuffer.isView(data)) return { type: 'message', data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  throw new ProtocolError('websocket frame is neither text nor an ArrayBuffer');
}

/**
 * Engine.IO over HTTP long-polling: one pending GET to receive, one POST at
 * a time to send, bodies are packets joined with \x1e (binary messages as
 * `b` + base64).
 */
export class PollingTransport {
  /**
   * @param {string} url http(s) URL including `?EIO=4&transport=polling`
   * @param {{fetch: Function, onPacket: Function, onClose: Function}} env
   */
  constructor(url, env) {
    this.name = 'polling';
    this.url = url;
    this.env = env;
    this.sid = null;
    this.maxPayload = 1e6;
    /** packets queued while a POST is in flight */
    this.outbox = [];
    this.posting = false;
    this.closed = false;
    this.started = false;
    this.early = [];
    /** aborts the pending GET (stop receiving) */
    this.pollAbort = new AbortController();
    /** aborts POSTs too (only when the session is abandoned, not on a polite close) */
    this.sendAbort = new AbortController();
    /** a polite close is in progress: the outbox (ending in `1`) is still being posted */
    this.closing = false;
    this.requestCount = 0;
  }

  /** URL with sid and a cache buster (some proxies cache identical GETs). */
  requestUrl() {
    this.requestCount += 1;
    const t = `${Date.now().toString(36)}.${this.requestCount}`;
    return `${this.url}${this.sid ? `&sid=${encodeURIComponent(this.sid)}` : ''}&t=${t}`;
  }

  async request(method, body, { keepalive = false } = {}) {
    const res = await this.env.fetch(this.requestUrl(), {
      method,
      body,
      cache: 'no-store',
      credentials: 'same-origin',
      headers: body !== undefined ? { 'Content-Type': 'text/plain;charset=UTF-8' } : undefined,
      signal: method === 'GET' ? this.pollAbort.signal : this.sendAbort.signal,
      keepalive,
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`polling ${method} answered ${res.status}`);
    return text;
  }

  async open() {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => { this.closeQuietly(); reject(new Error('polling open timeout')); }, OPEN_TIMEOUT_MS);
    });
    try {
      const body = await Promise.race([this.request('GET'), timeout]);
      const packets = decodePollingPayload(body);
      if (packets[0].type !== 'open') throw new ProtocolError('first packet is not open');
      const handshake = parseHandshake(packets[0].data);
      this.sid = handshake.sid;
      this.maxPayload = handshake.maxPayload;
      this.early = packets.slice(1);
      return handshake;
    } catch (e) {
      this.closeQuietly();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  start() {
    this.started = true;
    const early = this.early;
    this.early = [];
    if (this.deliver(early)) this.pollLoop();
  }

  /** Hands packets to the owner; returns false once the session is over. */
  deliver(packets) {
    for (const p of packets) {
      if (this.closed) return false;
      if (p.type === 'close') { this.finish('transport close'); return false; }
      if (p.type === 'noop') continue;
      this.env.onPacket(p);
    }
    return !this.closed;
  }

  async pollLoop() {
    while (!this.closed) {
      let packets;
      try {
        packets = decodePollingPayload(await this.request('GET'));
      } catch (e) {
        this.finish(e instanceof ProtocolError ? 'parse error' : 'transport error');
        return;
      }
      if (!this.deliver(packets)) return;
    }
  }

  /** @param {(string | Uint8Array)[]} packets encoded Engine.IO packets (bytes: binary messages) */
  send(packets) {
    if (this.closed || this.closing) return;
    this.outbox.push(...packets);
    this.flush();
  }

  /** Posts the outbox, one POST at a time (a second concurrent POST is a protocol error). */
  async flush() {
    if (this.posting || (this.closed && !this.closing) || this.outbox.length === 0) return;
    this.posting = true;
    // Take as many packets as fit in the server's maxPayload (at least one).
    const batch = [];
    let bytes = 0;
    while (this.outbox.length > 0) {
      const size = utf8Length(pollingEntry(this.outbox[0])) + 1;
      if (batch.length > 0 && bytes + size > this.maxPayload) break;
      batch.push(this.outbox.shift());
      bytes += size;
    }
    const last = batch[batch.length - 1] === encodeEnginePacket('close');
    try {
      // keepalive lets the goodbye survive the page unloading
      await this.request('POST', encodePollingPayload(batch), { keepalive: last });
    } catch {
      this.closing = false;
      this.finish('transport error');
      return;
    } finally {
      this.posting = false;
    }
    if (last) { this.closing = false; return; }
    this.flush();
  }

  finish(reason) {
    if (this.closed) return;
    this.closeQuietly();
    this.env.onClose(reason);
  }

  /** Abandons the session: every request is aborted, nothing more is sent. */
  closeQuietly() {
    this.closed = true;
    this.closing = false;
    this.pollAbort.abort();
    this.sendAbort.abort();
  }

  /** Polite close: stop polling, post what is queued followed by `1` (close), then stop. */
  close() {
    if (this.closed || !this.sid) { this.closeQuietly(); return; }
    this.closed = true;
    this.closing = true;
    this.pollAbort.abort();
    this.outbox.push(encodeEnginePacket('close'));
    this.flush();
  }
}

const encoder = new TextEncoder();
/** Bytes of `s` in UTF-8: maxPayload counts bytes, not UTF-16 units. */
function utf8Length(s) {
  return encoder.encode(s).length;
}

// ---------------------------------------------------------------- client

/**
 * States reported through onStatus:
 *   idle         not started
 *   connecting   first attempt in progress
 *   connected    Socket.IO namespace joined
 *   migrating    handed over to another cluster node (`migrate`); connecting there now,
 *                status {url} names it. Ends in `connected` (the app gets a new `welcome`)
 *                or, when that attempt fails, in `reconnecting` (from the given URL)
 *   reconnecting waiting for / running a retry after a drop or failed attempt
 *   unauthorized the server refused our auth (CONNECT_ERROR "unauthorized"); stopped
 *   incompatible the server speaks a Socket.IO parser this client does not know; stopped
 *   closed       stopped by the app (logout, kicked, page leaving)
 */
export class SocketClient {
  /**
   * @param {object} opts
   * @param {string} opts.url http(s) origin of the server, e.g. location.origin
   * @param {string} [opts.path] Engine.IO path, default '/socket.io/'
   * @param {() => object} opts.auth returns the CONNECT auth payload (called per attempt)
   * @param {string[]} [opts.transports] order to try, default ['websocket','polling']
   * @param {string | (() => Promise<string>)} [opts.parser] the server's Socket.IO parser, a
   *   name in PARSERS ('json' by default), or an async function asked before every attempt
   *   (the page asks GET /api/health, so a server restarted with another parser is followed).
   *   A function that throws fails the attempt, which is retried; an unknown name stops the
   *   client in state `incompatible`.
   * @param {object} [opts.backoff] see DEFAULT_BACKOFF
   * @param {any} [opts.WebSocket] WebSocket constructor (browser global by default)
   * @param {Function} [opts.fetch] fetch implementation (global by default)
   */
  constructor(opts) {
    this.url = opts.url.replace(/\/$/, '');
    /** the URL we were given: a cluster may send us elsewhere (`moved`, `migrate`); retries start here again */
    this.homeUrl = this.url;
    /** `moved` refusals followed since the last connect (a loop of them is a failure) */
    this.moves = 0;
    this.path = opts.path || '/socket.io/';
    this.authFn = opts.auth || (() => ({}));
    this.transports = opts.transports || ['websocket', 'polling'];
    this.parserSource = opts.parser || 'json';
    /** the parser of the current attempt, an entry of PARSERS */
    this.parser = PARSERS.json;
    this.backoff = { ...DEFAULT_BACKOFF, ...(opts.backoff || {}) };
    this.env = {
      WebSocket: opts.WebSocket || globalThis.WebSocket,
      fetch: opts.fetch || ((...a) => globalThis.fetch(...a)),
    };
    /** current state, see class comment */
    this.state = 'idle';
    /** name of the live transport, or null */
    this.transportName = null;
    /** Socket.IO socket id given by the server in the CONNECT reply */
    this.sid = null;
    /** consecutive failed attempts since the last successful connect; drives backoff */
    this.attempt = 0;
    /** bumped on every new attempt; callbacks from an older attempt check it and bail */
    this.generation = 0;
    this.transport = null;
    this.handshake = null;
    /** A BINARY_EVENT waiting for its attachments: {packet, buffers}. */
    this.pendingBinary = null;
    this.timers = { heartbeat: null, connect: null, retry: null };
    this.handlers = new Map();
    this.statusHandlers = new Set();
    /** wall-clock time of the next retry, for "reconnecting in N s" */
    this.nextRetryAt = null;
    /** last reason the connection ended, for the UI */
    this.lastReason = null;
    /** performance.now() of the last server ping; used to show liveness */
    this.lastPingAt = null;
  }

  /** Subscribes to a server event; returns an unsubscribe function. */
  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(fn);
    return () => this.handlers.get(event)?.delete(fn);
  }

  /** Subscribes to state changes: fn({state, reason, attempt, delay, transport}). */
  onStatus(fn) {
    this.statusHandlers.add(fn);
    return () => this.statusHandlers.delete(fn);
  }

  /** Starts connecting (idempotent while running). */
  open() {
    if (!['idle', 'closed', 'unauthorized', 'incompatible'].includes(this.state)) return;
    this.attempt = 0;
    this.setState('connecting');
    this.runAttempt();
  }

  /** Stops for good: no reconnect until open() is called again. */
  close(reason = 'client close') {
    this.generation += 1;
    this.clearTimers();
    this.dropTransport(true);
    this.lastReason = reason;
    this.setState('closed', { reason });
  }

  /** Skips the remaining backoff wait (e.g. the browser just came back online). */
  retryNow() {
    if (this.state !== 'reconnecting' || !this.timers.retry) return;
    clearTimeout(this.timers.retry);
    this.timers.retry = null;
    this.runAttempt();
  }

  /**
   * Sends `event` with one JSON argument. Returns false (and sends nothing)
   * when not connected: callers decide what is worth re-sending.
   */
  emit(event, data) {
    if (this.state !== 'connected' || !this.transport) return false;
    this.sendSocket(eventPacket(event, data));
    return true;
  }

  // ------------------------------------------------------------ internals

  setState(state, extra = {}) {
    this.state = state;
    const status = { state, transport: this.transportName, attempt: this.attempt, ...extra };
    for (const fn of [...this.statusHandlers]) {
      try { fn(status); } catch (e) { console.error('status handler failed', e); }
    }
  }

  dispatch(event, args) {
    const set = this.handlers.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try { fn(...args); } catch (e) { console.error(`handler for ${event} failed`, e); }
    }
  }

  clearTimers() {
    for (const k of Object.keys(this.timers)) {
      clearTimeout(this.timers[k]);
      this.timers[k] = null;
    }
  }

  dropTransport(graceful) {
    const t = this.transport;
    this.transport = null;
    this.transportName = null;
    this.sid = null;
    this.pendingBinary = null;
    if (!t) return;
    if (graceful) {
      // Socket.IO DISCONNECT for the namespace, then close the Engine.IO session.
      try { t.send([encodeEngineMessage(this.parser.encode({ type: SocketType.DISCONNECT }))]); } catch { /* closing anyway */ }
      t.close();
    } else {
      t.closeQuietly();
    }
  }

  engineUrl(transport) {
    const base = new URL(this.path, this.url + '/');
    base.searchParams.set('EIO', '4');
    base.searchParams.set('transport', transport);
    if (transport === 'websocket') base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    return base.toString();
  }

  /**
   * One connection attempt to `this.url`.
   * @param {{keepParser?: boolean}} [opts] keepParser: speak the current parser without asking
   *   (a `migrate` continues the session in the same cluster; the parser source may ask a node
   *   that is going away)
   */
  async runAttempt({ keepParser = false } = {}) {
    const gen = ++this.generation;
    this.timers.retry = null;
    this.nextRetryAt = null;
    const current = () => gen === this.generation;

    if (!keepParser) {
      let parserName;
      try {
        parserName = typeof this.parserSource === 'function' ? await this.parserSource() : this.parserSource;
      } catch (e) {
        if (current()) this.scheduleRetry(`cannot learn the server's parser: ${e.message}`);
        return;
      }
      if (!current()) return;
      if (!Object.hasOwn(PARSERS, parserName)) {
        this.stopIncompatible(`the server speaks the Socket.IO parser ${JSON.stringify(parserName)}, which this client does not know (it speaks ${Object.keys(PARSERS).join(' and ')})`);
        return;
      }
      this.parser = PARSERS[parserName];
    }

    const env = {
      ...this.env,
      onPacket: (p) => { if (current()) this.onEnginePacket(p); },
      onClose: (reason) => { if (current()) this.onTransportClosed(reason); },
    };

    let transport = null;
    let handshake = null;
    let lastError = null;
    for (const name of this.transports) {
      if (name === 'websocket' && !this.env.WebSocket) continue;
      const t = name === 'websocket'
        ? new WebSocketTransport(this.engineUrl('websocket'), env)
        : new PollingTransport(this.engineUrl('polling'), env);
      try {
        handshake = await t.open();
        transport = t;
        break;
      } catch (e) {
        lastError = e;
        if (!current()) return;
      }
    }
    if (!current()) { transport?.closeQuietly(); return; }
    if (!transport) {
      this.scheduleRetry(lastError ? lastError.message : 'no transport');
      return;
    }

    this.transport = transport;
    this.transportName = transport.name;
    this.handshake = handshake;
    this.armHeartbeat();
    this.timers.connect = setTimeout(() => {
      if (current()) this.failConnection('connect timeout');
    }, CONNECT_TIMEOUT_MS);
    let auth;
    try {
      auth = this.authFn() || {};
    } catch {
      auth = {};
    }
    this.sendSocket({ type: SocketType.CONNECT, data: auth });
    transport.start();
  }

  /** Encodes a Socket.IO packet with the current parser and sends it. */
  sendSocket(packet) {
    this.transport?.send([encodeEngineMessage(this.parser.encode(packet))]);
  }

  /** Stops for good because the server and this client cannot understand each other. */
  stopIncompatible(reason) {
    this.generation += 1;
    this.clearTimers();
    this.dropTransport(false);
    this.lastReason = reason;
    console.error(`locus: ${reason}`);
    this.setState('incompatible', { reason });
  }

  /** The client-side half of the heartbeat: no ping for pingInterval+pingTimeout means dead. */
  armHeartbeat() {
    clearTimeout(this.timers.heartbeat);
    const h = this.handshake;
    const gen = this.generation;
    this.timers.heartbeat = setTimeout(() => {
      if (gen === this.generation) this.failConnection('ping timeout');
    }, h.pingInterval + h.pingTimeout);
  }

  onEnginePacket(packet) {
    switch (packet.type) {
      case 'ping':
        this.lastPingAt = now();
        this.transport.send([encodeEnginePacket('pong', packet.data)]);
        this.armHeartbeat();
        break;
      case 'message': {
        if (this.pendingBinary) {
          this.onAttachment(packet.data);
          return;
        }
        let decoded;
        try {
          decoded = this.parser.decode(packet.data);
        } catch (e) {
          // Whatever the decoder threw, the bytes were bad: end this connection, not the page.
          const why = e instanceof ProtocolError ? e.message : `${e.name}: ${e.message}`;
          console.warn(`locus: closing the connection, malformed ${this.parser.name} packet: ${why}`);
          this.failConnection(`parse error: ${why}`);
          return;
        }
        this.onSocketPacket(decoded);
        break;
      }
      case 'close':
        this.failConnection('transport close');
        break;
      case 'open':
      case 'upgrade':
      case 'pong':
        // A second open, or packets a v4 server never sends to a client.
        this.failConnection(`unexpected engine.io ${packet.type}`);
        break;
      default:
        break; // noop
    }
  }

  onSocketPacket(p) {
    if (p.nsp !== '/') return; // we only join the main namespace
    switch (p.type) {
      case SocketType.CONNECT:
        clearTimeout(this.timers.connect);
        this.timers.connect = null;
        this.sid = p.data && typeof p.data.sid === 'string' ? p.data.sid : null;
        this.attempt = 0;
        this.moves = 0;
        this.lastReason = null;
        this.setState('connected');
        break;
      case SocketType.CONNECT_ERROR: {
        const message = connectErrorMessage(p.data);
        const moved = movedUrl(p.data);
        if (moved && this.moves < MAX_MOVES) {
          // A cluster node: the player's region lives at `moved`; go there now, same auth.
          this.moves += 1;
          this.generation += 1;
          this.clearTimers();
          this.dropTransport(false);
          this.url = moved.replace(/\/$/, '');
          this.runAttempt();
        } else if (message === 'unauthorized') {
          this.generation += 1;
          this.clearTimers();
          this.dropTransport(false);
          this.lastReason = message;
          this.setState('unauthorized', { reason: message });
        } else {
          this.failConnection(`connect error: ${message}`);
        }
        break;
      }
      case SocketType.EVENT: {
        if (this.state !== 'connected') return;
        if (p.id !== undefined) {
          // The contract has no server->client acks; answer empty so the server is not left waiting.
          this.sendSocket({ type: SocketType.ACK, id: p.id, data: [] });
        }
        const name = String(p.data[0]);
        if (name === 'migrate') {
          // Ours, not the app's. One with a bad url is ignored: the DISCONNECT that follows is
          // then an ordinary server disconnect.
          const url = migrateUrl(p.data[1]);
          if (url) this.migrate(url);
          return;
        }
        this.dispatch(name, p.data.slice(1));
        break;
      }
      case SocketType.DISCONNECT:
        this.failConnection('io server disconnect');
        break;
      case SocketType.BINARY_EVENT:
        // The JSON parser's binary event: its attachments follow as binary messages.
        if (!(p.attachments >= 1 && p.attachments <= MAX_ATTACHMENTS)) {
          this.failConnection(`binary event with ${p.attachments} attachments`);
          return;
        }
        this.pendingBinary = { packet: p, buffers: [] };
        break;
      case SocketType.BINARY_ACK:
        this.failConnection('binary ack, but this client never asks for acks');
        break;
      default:
        break; // ACK: we never ask for one
    }
  }

  /** One binary message after a BINARY_EVENT header; the last one completes the event. */
  onAttachment(data) {
    const pending = this.pendingBinary;
    if (!(data instanceof Uint8Array)) {
      this.failConnection('parse error: a text packet while binary attachments were due');
      return;
    }
    pending.buffers.push(data);
    if (pending.buffers.length < pending.packet.attachments) return;
    this.pendingBinary = null;
    let whole;
    try {
      whole = reconstructPacket(pending.packet, pending.buffers);
    } catch (e) {
      this.failConnection(`parse error: ${e.message}`);
      return;
    }
    this.onSocketPacket(whole);
  }

  /**
   * The server handed the player over to the cluster node at `url` (`migrate`); it is about
   * to disconnect us. Connect there now with the same auth and parser (the parser source is
   * not asked: it may ask the node that is going away): no backoff, not a failed attempt
   * (`attempt` stays 0). That node continues the session (a new `welcome`, then a full
   * snapshot); if it answers `moved`, that is followed as on any connect, and if the attempt
   * fails, the retries start from the given URL again.
   */
  migrate(url) {
    this.generation += 1;
    this.clearTimers();
    // The old node closes the session itself right after `migrate`; nothing to tell it.
    this.dropTransport(false);
    this.url = url.replace(/\/$/, '');
    this.moves = 0;
    this.lastReason = 'migrate';
    const gen = this.generation;
    this.setState('migrating', { reason: 'migrate', url: this.url });
    // A status handler may have closed us.
    if (gen === this.generation) this.runAttempt({ keepParser: true });
  }

  onTransportClosed(reason) {
    this.failConnection(reason);
  }

  /** Ends the current connection attempt or session and schedules a retry. */
  failConnection(reason) {
    if (this.state === 'closed' || this.state === 'unauthorized' || this.state === 'incompatible') return;
    this.generation += 1;
    const wasConnected = this.state === 'connected';
    clearTimeout(this.timers.heartbeat);
    clearTimeout(this.timers.connect);
    this.timers.heartbeat = this.timers.connect = null;
    this.dropTransport(false);
    this.lastReason = reason;
    if (wasConnected) this.dispatchDisconnect(reason);
    this.scheduleRetry(reason);
  }

  dispatchDisconnect(reason) {
    for (const fn of [...this.statusHandlers]) {
      try { fn({ state: 'disconnected', reason, transport: null, attempt: this.attempt }); } catch { /* ignore */ }
    }
  }

  scheduleRetry(reason) {
    // The node we were sent to may be gone: the given URL sends us on to its successor.
    this.url = this.homeUrl;
    this.moves = 0;
    const delay = backoffDelay(this.attempt, this.backoff);
    this.attempt += 1;
    this.nextRetryAt = Date.now() + delay;
    this.lastReason = reason;
    this.setState('reconnecting', { reason, delay });
    const gen = this.generation;
    this.timers.retry = setTimeout(() => {
      if (gen === this.generation) this.runAttempt();
    }, delay);
  }
}

function now() {
  return globalThis.performance ? performance.now() : Date.now();
}
