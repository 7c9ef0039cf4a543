// Tests static/socketio.js (our own Socket.IO client) against the official
// Node `socket.io` server from tests/node_modules, over WebSocket and over
// HTTP long-polling, with the default parser and with
// `socket.io-msgpack-parser`, plus raw `ws` servers for the heartbeat
// timeout and malformed packets. A cluster's `moved` and `migrate` are played
// by several official servers, one per node.
// Everything waits on events; there are no timing assertions.
// Run: node --test tests/js/   (needs `npm ci` in tests/)

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { after, describe, it } from 'node:test';
import { encode as pack } from '../../static/msgpack.js';
import { SocketClient } from '../../static/socketio.js';

// The official server and `ws` come from tests/node_modules (bash tests/run.sh installs them).
// Without them these tests are skipped, loudly, unless CI is set.
const require = createRequire(new URL('../package.json', import.meta.url));
let Server;
let WebSocket;
let WebSocketServer;
let msgpackParser;
let missing = false;
try {
  ({ Server } = require('socket.io'));
  ({ WebSocket, WebSocketServer } = require('ws'));
  msgpackParser = require('socket.io-msgpack-parser');
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

for (const [transport, parser] of [['websocket', 'json'], ['polling', 'json'], ['websocket', 'msgpack'], ['polling', 'msgpack']]) {
  suite(`over ${transport} with the ${parser} parser`, () => {
    const WebSocketImpl = transport === 'websocket' ? WebSocket : FailingWebSocket;
    /** A client on this suite's transport and parser. */
    const clientOpts = { WebSocket: WebSocketImpl, parser };
    /** The official server speaking this suite's parser. */
    const startParserServer = (setup, opts = {}) => startServer(setup, parser === 'msgpack' ? { ...opts, parser: msgpackParser } : opts);

    it('connects with the auth payload and exchanges events', async () => {
      const seen = {};
      const srv = await startParserServer(echoServer(seen));
      const c = makeClient(srv.url, { ...clientOpts });
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
      const srv = await startParserServer((io) => {
        io.on('connection', (socket) => {
          socket.conn.on('packet', (p) => { if (p.type === 'pong' && ++pongs === 5) reachedFive(socket.connected); });
        });
      }, { pingInterval: 30, pingTimeout: 200 });
      const c = makeClient(srv.url, { ...clientOpts });
      c.open();
      assert.equal(await five, true, 'still connected after five ping/pong rounds');
      assert.equal(c.state, 'connected');
      c.close();
    });

    it('delivers a burst of emits in order', async () => {
      const got = [];
      let done;
      const all = new Promise((r) => { done = r; });
      const srv = await startParserServer((io) => {
        io.on('connection', (socket) => {
          socket.on('n', (v) => { got.push(v.i); if (got.length === 100) done(); });
        });
      });
      const c = makeClient(srv.url, { ...clientOpts });
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
      const srv = await startParserServer((io) => {
        io.on('connection', (socket) => socket.on('disconnect', (why) => { reason = why; gotReason(); }));
      });
      const c = makeClient(srv.url, { ...clientOpts });
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
      const srv = await startParserServer((io) => {
        io.on('connection', (socket) => {
          connections += 1;
          if (connections === 1) setTimeout(() => socket.conn.close(), 10);
          socket.emit('welcome', { n: connections });
        });
      });
      let authCalls = 0;
      const c = makeClient(srv.url, { ...clientOpts, auth: () => { authCalls += 1; return { token: 't' }; } });
      const dropped = nextStatus(c, 'disconnected');
      const second = new Promise((resolve) => c.on('welcome', (w) => { if (w.n === 2) resolve(); }));
      c.open();
      await dropped;
      await second;
      assert.equal(c.state, 'connected');
      assert.equal(authCalls, 2, 'auth is asked again on each attempt (the token may have changed)');
      c.close();
    });

    // (A client that waited for a backoff would hang here: the timeout fails it instead.)
    it('follows a cluster\'s migrate to the named node at once, with the same auth', { timeout: 20_000 }, async () => {
      const seen = {};
      const target = await startParserServer(echoServer(seen));
      const source = await startParserServer((io) => {
        io.on('connection', (socket) => {
          socket.emit('welcome', { id: 7, name: 'alice', x: 1, y: 1 });
          // As a node does: the event, then DISCONNECT for `/` and the connection closed.
          setTimeout(() => { socket.emit('migrate', { url: `${target.url}/` }); socket.disconnect(true); }, 10);
        });
      });
      // A backoff this long would time the test out: the move must not wait for one.
      const c = makeClient(source.url, {
        ...clientOpts, auth: () => ({ token: 'tok', snapshot: 'binary' }), backoff: { base: 60_000, max: 60_000, jitter: 0 },
      });
      const statuses = [];
      c.onStatus((st) => statuses.push(st));
      const welcomes = [];
      const second = new Promise((resolve) => c.on('welcome', (w) => { welcomes.push(w); if (welcomes.length === 2) resolve(); }));
      const migrateEvents = [];
      c.on('migrate', (m) => migrateEvents.push(m));
      c.open();
      await second;
      assert.equal(c.state, 'connected');
      assert.equal(c.url, target.url);
      assert.equal(c.homeUrl, source.url, 'retries still start from the given URL');
      assert.deepEqual(seen.auth, { token: 'tok', snapshot: 'binary' });
      assert.equal(seen.transport, transport);
      assert.deepEqual(statuses.map((st) => st.state), ['connecting', 'connected', 'migrating', 'connected']);
      assert.equal(statuses[2].url, target.url);
      assert.equal(c.attempt, 0, 'not a failed attempt');
      assert.equal(c.timers.retry, null);
      assert.deepEqual(migrateEvents, [], 'migrate is the client\'s, not an app event');
      c.close();
    });

    it('answers a server event that asks for an ack', async () => {
      let acked;
      const got = new Promise((r) => { acked = r; });
      const srv = await startParserServer((io) => {
        io.on('connection', (socket) => {
          socket.timeout(2000).emit('question', { q: 1 }, (err, ...args) => acked({ err, args }));
        });
      });
      const c = makeClient(srv.url, { ...clientOpts });
      const question = nextEvent(c, 'question');
      c.open();
      assert.deepEqual(await question, [{ q: 1 }]);
      assert.deepEqual(await got, { err: null, args: [] });
      c.close();
    });

    it('carries every kind of value the game sends, both ways', async () => {
      const sample = { text: 'héllo 🌍 "\x1e', ints: [0, -1, -33, 255, 65536, 2 ** 40], floats: [1.5, -0.001], none: null, yes: true, nested: { a: [{ b: [] }] } };
      const srv = await startParserServer((io) => {
        io.on('connection', (socket) => socket.on('sample', (v) => socket.emit('sample', v, [v])));
      });
      const c = makeClient(srv.url, { ...clientOpts });
      const up = nextStatus(c, 'connected');
      c.open();
      await up;
      const back = nextEvent(c, 'sample');
      c.emit('sample', sample);
      assert.deepEqual(await back, [sample, [sample]]);
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

  it('follows a cluster\'s moved to the named node and starts from its given URL again once that node is gone', async () => {
    const target = await startServer(() => {});
    let entryTries = 0;
    let targetUp = true;
    const entry = await startServer((io) => {
      io.use((_s, next) => {
        entryTries += 1;
        if (!targetUp) return next();
        const err = new Error('moved');
        err.data = { url: target.url };
        return next(err);
      });
    });
    const c = makeClient(entry.url);
    const up = nextStatus(c, 'connected');
    c.open();
    await up;
    assert.equal(c.url, target.url);
    assert.equal(entryTries, 1);
    // The node it was sent to goes away: the retry goes to the entry again, which now takes it.
    targetUp = false;
    const again = nextStatus(c, 'connected');
    await target.close();
    await again;
    assert.equal(c.url, entry.url);
    assert.equal(entryTries, 2);
    c.close();
  });

  it('after a migrate, follows the new node\'s moved, and starts from its given URL again once gone', async () => {
    const final = await startServer((io) => io.on('connection', (socket) => socket.emit('welcome', { at: 'final' })));
    const middle = await startServer((io) => {
      io.use((_s, next) => {
        const err = new Error('moved');
        err.data = { url: final.url };
        next(err);
      });
    });
    let entryConnections = 0;
    const entry = await startServer((io) => {
      io.on('connection', (socket) => {
        entryConnections += 1;
        socket.emit('welcome', { at: 'entry', n: entryConnections });
        if (entryConnections === 1) setTimeout(() => { socket.emit('migrate', { url: middle.url }); socket.disconnect(true); }, 10);
      });
    });
    const c = makeClient(entry.url);
    const atFinal = new Promise((resolve) => c.on('welcome', (w) => { if (w.at === 'final') resolve(); }));
    c.open();
    await atFinal;
    assert.equal(c.url, final.url);
    // The node it ended on goes away: the retry goes to the given URL, which takes it now.
    const back = new Promise((resolve) => c.on('welcome', (w) => { if (w.at === 'entry' && w.n === 2) resolve(); }));
    await final.close();
    await back;
    assert.equal(c.url, entry.url);
    c.close();
  });

  it('ignores a migrate with a bad url: the disconnect after it is an ordinary one', async () => {
    let connections = 0;
    const srv = await startServer((io) => {
      io.on('connection', (socket) => {
        connections += 1;
        socket.emit('welcome', { n: connections });
        const bad = [{ url: 'ftp://10.0.0.2:3000' }, { url: 5 }, { nope: 1 }, 'http://10.0.0.2:3000', { url: 'http:///x' }][connections - 1];
        if (bad !== undefined) setTimeout(() => { socket.emit('migrate', bad); socket.disconnect(true); }, 10);
      });
    });
    const c = makeClient(srv.url);
    const statuses = [];
    c.onStatus((st) => statuses.push(st.state));
    const last = new Promise((resolve) => c.on('welcome', (w) => { if (w.n === 6) resolve(); }));
    c.open();
    await last;
    assert.equal(c.url, srv.url);
    assert.equal(statuses.filter((st) => st === 'migrating').length, 0);
    assert.equal(statuses.filter((st) => st === 'disconnected').length, 5, 'each one a server disconnect, retried');
    c.close();
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

/** A raw Engine.IO WebSocket server; `onMessage(ws, data, isBinary, conn)` answers the client. */
async function rawServer(onMessage) {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  let conns = 0;
  wss.on('connection', (ws) => {
    const conn = ++conns;
    ws.send('0{"sid":"abc","upgrades":[],"pingInterval":5000,"pingTimeout":5000,"maxPayload":1000}');
    ws.on('message', (data, isBinary) => onMessage(ws, data, isBinary, conn));
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  servers.push({ close: () => new Promise((r) => { wss.close(); http.close(() => r()); http.closeAllConnections?.(); }) });
  return `http://127.0.0.1:${http.address().port}`;
}

suite('choosing the parser', () => {
  it('asks a parser function before every attempt and follows its answer', async () => {
    let asked = 0;
    let connections = 0;
    const srv = await startServer((io) => {
      io.on('connection', (socket) => {
        connections += 1;
        if (connections === 1) setTimeout(() => socket.conn.close(), 10);
        socket.emit('welcome', { n: connections });
      });
    }, { parser: msgpackParser });
    const c = makeClient(srv.url, { parser: async () => { asked += 1; return 'msgpack'; } });
    const second = new Promise((resolve) => c.on('welcome', (w) => { if (w.n === 2) resolve(); }));
    c.open();
    await second;
    assert.equal(c.parser.name, 'msgpack');
    assert.equal(asked, 2, 'asked again for the reconnect');
    c.close();
  });

  it('retries with backoff while the parser cannot be learned', async () => {
    let asked = 0;
    const srv = await startServer(echoServer());
    const c = makeClient(srv.url, {
      parser: async () => {
        asked += 1;
        if (asked < 3) throw new Error('Cannot reach the server. Is it running?');
        return 'json';
      },
    });
    const retry = nextStatus(c, 'reconnecting', (s) => /cannot learn the server's parser: Cannot reach/.test(s.reason));
    const up = nextStatus(c, 'connected');
    c.open();
    await retry;
    await up;
    assert.equal(asked, 3);
    c.close();
  });

  it('stops as incompatible on a parser it does not know, without connecting', async () => {
    let connections = 0;
    const srv = await startServer((io) => io.on('connection', () => { connections += 1; }));
    const c = makeClient(srv.url, { parser: async () => 'cbor' });
    const stopped = nextStatus(c, 'incompatible');
    const errors = [];
    const consoleError = console.error;
    console.error = (...a) => errors.push(a.join(' '));
    try {
      c.open();
      const status = await stopped;
      assert.match(status.reason, /"cbor".*does not know.*json and msgpack/);
    } finally {
      console.error = consoleError;
    }
    assert.equal(errors.length, 1, 'one console error says why');
    assert.equal(c.state, 'incompatible');
    assert.equal(c.timers.retry, null);
    assert.equal(c.transport, null);
    assert.equal(connections, 0);
    c.open(); // the app may try again (the server may have been restarted)
    assert.equal((await nextStatus(c, 'incompatible')).state, 'incompatible');
  });

  it('a JSON client given a binary message closes with a hint and retries', async () => {
    // (The official msgpack server just drops a text CONNECT; a server that answers in msgpack gets the hint.)
    const url = await rawServer((ws, data, isBinary) => {
      if (!isBinary && String(data).startsWith('40')) ws.send(pack({ type: 0, data: { sid: 's1' }, nsp: '/' }));
    });
    const c = makeClient(url, { parser: 'json' });
    const failed = nextStatus(c, 'reconnecting', (s) => /parse error: binary message.*--parser msgpack/.test(s.reason));
    c.open();
    await failed;
    c.close();
  });

  it('closes a connection that sends malformed msgpack, then retries', async () => {
    const url = await rawServer((ws, data, isBinary, conn) => {
      if (!isBinary) return;
      ws.send(pack({ type: 0, data: { sid: 's1' }, nsp: '/' }));
      ws.send(conn === 1 ? new Uint8Array([0x83, 0xa4, 0x74]) : pack({ type: 2, data: ['ok', 1], nsp: '/' }));
    });
    const c = makeClient(url, { parser: 'msgpack' });
    const bad = nextStatus(c, 'disconnected');
    const ok = nextEvent(c, 'ok');
    c.open();
    assert.match((await bad).reason, /parse error: socket.io packet is not MessagePack: truncated/);
    assert.deepEqual(await ok, [1]);
    c.close();
  });

  it('closes a msgpack connection on a text message, then retries', async () => {
    const url = await rawServer((ws, data, isBinary, conn) => {
      if (!isBinary) return;
      ws.send(pack({ type: 0, data: { sid: 's1' }, nsp: '/' }));
      if (conn === 1) ws.send('42["ok",0]');
      else ws.send(pack({ type: 2, data: ['ok', 2], nsp: '/' }));
    });
    const c = makeClient(url, { parser: 'msgpack' });
    const bad = nextStatus(c, 'disconnected');
    const ok = nextEvent(c, 'ok');
    c.open();
    assert.match((await bad).reason, /parse error: text message, but this client uses the msgpack parser/);
    assert.deepEqual(await ok, [2]);
    c.close();
  });

  it('sends its msgpack CONNECT as one binary frame holding {type, data, nsp}', async () => {
    let first;
    const got = new Promise((r) => { first = r; });
    const url = await rawServer((ws, data, isBinary) => first({ isBinary, bytes: new Uint8Array(data) }));
    const c = makeClient(url, { parser: 'msgpack' });
    c.open();
    const { isBinary, bytes } = await got;
    assert.equal(isBinary, true);
    assert.deepEqual(bytes, pack({ type: 0, data: { token: 'tok' }, nsp: '/' }));
    c.close();
  });
});
