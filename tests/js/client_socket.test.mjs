// Tests static/socketio.js (our own Socket.IO client) against the official
// Node `socket.io` server from tests/node_modules, over WebSocket and over
// HTTP long-polling, plus a raw `ws` server for the heartbeat timeout.
// Everything waits on events; there are no timing assertions.
// Run: node --test tests/js/   (needs `npm ci` in tests/)

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { after, describe, it } from 'node:test';
import { SocketClient } from '../../static/socketio.js';

// The official server and `ws` come from tests/node_modules (bash tests/run.sh installs them).
// Without them these tests are skipped, loudly, unless CI is set.
const require = createRequire(new URL('../package.json', import.meta.url));
let Server;
let WebSocket;
let WebSocketServer;
let missing = false;
try {
  ({ Server } = require('socket.io'));
  ({ WebSocket, WebSocketServer } = require('ws'));
} catch {
  missing = 'SKIPPED: socket.io / ws not installed; run bash tests/run.sh (it runs npm ci in tests/)';
  if (process.env.CI) throw new Error(missing);
  console.log(missing);
}
const suite = missing ? (name, fn) => describe(name, { skip: missing }, fn) : describe;

/** A WebSocket constructor whose handshake always fails, to force the polling fallback. */
class FailingWebSocket {
  constructor() {
    setTimeout(() => { this.onerror?.({}); this.onclose?.({}); }, 0);
  }
  close() {}
}

const servers = [];
after(async () => {
  for (const s of servers) await s.close();
});

/** Starts a socket.io server on 127.0.0.1:0; `setup(io)` installs handlers. */
async function startServer(setup, opts = {}) {
  const http = createServer();
  const io = new Server(http, { path: '/socket.io/', serveClient: false, ...opts });
  setup(io);
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${http.address().port}`;
  const handle = { io, http, url, close: () => new Promise((r) => { io.close(); http.close(() => r()); http.closeAllConnections?.(); }) };
  servers.push(handle);
  return handle;
}

const clients = [];
after(() => { for (const c of clients) c.close('test over'); });

function makeClient(url, extra = {}) {
  const c = new SocketClient({
    url,
    auth: () => ({ token: 'tok' }),
    WebSocket,
    backoff: { base: 20, factor: 1.5, max: 200, jitter: 0.5 },
    ...extra,
  });
  clients.push(c);
  return c;
}

/** Resolves with the first status whose state is `state` (optionally matching `pred`). */
function nextStatus(client, state, pred = () => true) {
  return new Promise((resolve) => {
    const off = client.onStatus((s) => {
      if (s.state === state && pred(s)) { off(); resolve(s); }
    });
  });
}

function nextEvent(client, name) {
  return new Promise((resolve) => {
    const off = client.on(name, (...args) => { off(); resolve(args); });
  });
}

function echoServer(seen = {}) {
  return (io) => {
    io.use((socket, next) => {
      seen.auth = socket.handshake.auth;
      next();
    });
    io.on('connection', (socket) => {
      seen.transport = socket.conn.transport.name;
      socket.emit('welcome', { id: 7, name: 'alice', x: 1.5, y: 2 });
      socket.on('position', (p) => socket.emit('echo', p));
    });
  };
}

for (const transport of ['websocket', 'polling']) {
  suite(`over ${transport}`, () => {
    const WebSocketImpl = transport === 'websocket' ? WebSocket : FailingWebSocket;

    it('connects with the auth payload and exchanges events', async () => {
      const seen = {};
      const srv = await startServer(echoServer(seen));
      const c = makeClient(srv.url, { WebSocket: WebSocketImpl });
      const welcome = nextEvent(c, 'welcome');
      c.open();
      assert.deepEqual(await welcome, [{ id: 7, name: 'alice', x: 1.5, y: 2 }]);
      assert.equal(c.state, 'connected');
      assert.equal(c.transportName, transport);
      assert.equal(seen.transport, transport);
      assert.deepEqual(seen.auth, { token: 'tok' });
      const echo = nextEvent(c, 'echo');
      assert.equal(c.emit('position', { x: 3.25, y: 4, seq: 1 }), true);
      assert.deepEqual(await echo, [{ x: 3.25, y: 4, seq: 1 }]);
      c.close();
    });

    it('answers server pings so the server keeps the session', async () => {
      let pongs = 0;
      let reachedFive;
      const five = new Promise((r) => { reachedFive = r; });
      const srv = await startServer((io) => {
        io.on('connection', (socket) => {
          socket.conn.on('packet', (p) => { if (p.type === 'pong' && ++pongs === 5) reachedFive(socket.connected); });
        });
      }, { pingInterval: 30, pingTimeout: 200 });
      const c = makeClient(srv.url, { WebSocket: WebSocketImpl });
      c.open();
      assert.equal(await five, true, 'still connected after five ping/pong rounds');
      assert.equal(c.state, 'connected');
      c.close();
    });

    it('delivers a burst of emits in order', async () => {
      const got = [];
      let done;
      const all = new Promise((r) => { done = r; });
      const srv = await startServer((io) => {
        io.on('connection', (socket) => {
          socket.on('n', (v) => { got.push(v.i); if (got.length === 100) done(); });
        });
      });
      const c = makeClient(srv.url, { WebSocket: WebSocketImpl });
      const up = nextStatus(c, 'connected');
      c.open();
      await up;
      for (let i = 0; i < 100; i++) c.emit('n', { i, pad: 'x'.repeat(50) });
      await all;
      assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i));
      c.close();
    });

  it('close() leaves the namespace and does not come back', async () => {
    let reason;
    let gotReason;
    const left = new Promise((r) => { gotReason = r; });
    const srv = await startServer((io) => {
      io.on('connection', (socket) => socket.on('disconnect', (why) => { reason = why; gotReason(); }));
    });
    const c = makeClient(srv.url, { WebSocket: WebSocketImpl });
    const up = nextStatus(c, 'connected');
    c.open();
    await up;
    c.close('bye');
    await left;
    assert.equal(reason, 'client namespace disconnect', 'the DISCONNECT packet reached the server before the transport closed');
    assert.equal(c.state, 'closed');
    assert.equal(c.timers.retry, null);
    assert.equal(c.emit('position', {}), false, 'emit while closed sends nothing');
  });

    it('reconnects by itself after the server drops the connection', async () => {
      let connections = 0;
      const srv = await startServer((io) => {
        io.on('connection', (socket) => {
          connections += 1;
          if (connections === 1) setTimeout(() => socket.conn.close(), 10);
          socket.emit('welcome', { n: connections });
        });
      });
      let authCalls = 0;
      const c = makeClient(srv.url, { WebSocket: WebSocketImpl, auth: () => { authCalls += 1; return { token: 't' }; } });
      const dropped = nextStatus(c, 'disconnected');
      const second = new Promise((resolve) => c.on('welcome', (w) => { if (w.n === 2) resolve(); }));
      c.open();
      await dropped;
      await second;
      assert.equal(c.state, 'connected');
      assert.equal(authCalls, 2, 'auth is asked again on each attempt (the token may have changed)');
      c.close();
    });
  });
}

suite('connect errors', () => {
  it('stops on unauthorized without scheduling a retry', async () => {
    const srv = await startServer((io) => io.use((_s, next) => next(new Error('unauthorized'))));
    const c = makeClient(srv.url);
    const status = nextStatus(c, 'unauthorized');
    c.open();
    assert.equal((await status).reason, 'unauthorized');
    assert.equal(c.state, 'unauthorized');
    assert.equal(c.timers.retry, null);
    assert.equal(c.transport, null);
  });

  it('retries other connect errors with backoff until they pass', async () => {
    let tries = 0;
    const srv = await startServer((io) => {
      io.use((_s, next) => (++tries < 3 ? next(new Error('server busy')) : next()));
    });
    const c = makeClient(srv.url);
    const retry = nextStatus(c, 'reconnecting', (s) => /server busy/.test(s.reason));
    const up = nextStatus(c, 'connected');
    c.open();
    await retry;
    await up;
    assert.equal(tries, 3);
    assert.equal(c.attempt, 0, 'a successful connect resets the backoff');
    c.close();
  });

  it('retries when nothing listens', async () => {
    const probe = createServer();
    await new Promise((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address();
    await new Promise((r) => probe.close(r)); // now nothing listens there
    const c = makeClient(`http://127.0.0.1:${port}`, { transports: ['websocket', 'polling'] });
    const s1 = nextStatus(c, 'reconnecting', (s) => s.attempt === 1);
    const s2 = nextStatus(c, 'reconnecting', (s) => s.attempt === 2);
    c.open();
    await s1;
    const second = await s2;
    assert.ok(second.delay >= 0);
    c.close();
    assert.equal(c.state, 'closed');
  });
});

suite('lifecycle', () => {
  it('retries after a server-side namespace DISCONNECT (a game wants to be back)', async () => {
    let n = 0;
    const srv = await startServer((io) => {
      io.on('connection', (socket) => {
        n += 1;
        if (n === 1) setTimeout(() => socket.disconnect(), 10);
      });
    });
    const c = makeClient(srv.url);
    const gone = nextStatus(c, 'disconnected', (s) => s.reason === 'io server disconnect');
    c.open();
    await gone;
    await nextStatus(c, 'connected');
    assert.equal(n, 2);
    c.close();
  });

  it('answers a server event that asks for an ack', async () => {
    let acked;
    const got = new Promise((r) => { acked = r; });
    const srv = await startServer((io) => {
      io.on('connection', (socket) => {
        socket.timeout(2000).emit('question', { q: 1 }, (err, ...args) => acked({ err, args }));
      });
    });
    const c = makeClient(srv.url);
    const question = nextEvent(c, 'question');
    c.open();
    assert.deepEqual(await question, [{ q: 1 }]);
    assert.deepEqual(await got, { err: null, args: [] });
    c.close();
  });

  it('declares the connection dead when pings stop (pingInterval + pingTimeout)', async () => {
    // A raw Engine.IO server that completes the handshake and then never pings.
    const http = createServer();
    const wss = new WebSocketServer({ server: http });
    wss.on('connection', (ws) => {
      ws.send('0{"sid":"abc","upgrades":[],"pingInterval":40,"pingTimeout":40,"maxPayload":1000}');
      ws.on('message', (m) => { if (String(m).startsWith('40')) ws.send('40{"sid":"s1"}'); });
    });
    await new Promise((r) => http.listen(0, '127.0.0.1', r));
    servers.push({ close: () => new Promise((r) => { wss.close(); http.close(() => r()); http.closeAllConnections?.(); }) });
    const c = makeClient(`http://127.0.0.1:${http.address().port}`);
    const up = nextStatus(c, 'connected');
    const dead = nextStatus(c, 'disconnected');
    c.open();
    await up;
    assert.equal((await dead).reason, 'ping timeout');
    c.close();
  });

  it('closes a connection that sends a malformed packet, then retries', async () => {
    const http = createServer();
    const wss = new WebSocketServer({ server: http });
    let conns = 0;
    wss.on('connection', (ws) => {
      conns += 1;
      ws.send('0{"sid":"abc","upgrades":[],"pingInterval":5000,"pingTimeout":5000,"maxPayload":1000}');
      ws.on('message', (m) => {
        if (!String(m).startsWith('40')) return;
        ws.send('40{"sid":"s1"}');
        ws.send(conns === 1 ? '42{"not":"an array"}' : '42["ok",1]');
      });
    });
    await new Promise((r) => http.listen(0, '127.0.0.1', r));
    servers.push({ close: () => new Promise((r) => { wss.close(); http.close(() => r()); http.closeAllConnections?.(); }) });
    const c = makeClient(`http://127.0.0.1:${http.address().port}`);
    const bad = nextStatus(c, 'disconnected');
    const ok = nextEvent(c, 'ok');
    c.open();
    assert.match((await bad).reason, /parse error/);
    assert.deepEqual(await ok, [1]);
    c.close();
  });
});
