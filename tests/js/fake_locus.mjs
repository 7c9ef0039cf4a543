#!/usr/bin/env node
// A stand-in for `locus serve`, built on the official Node `socket.io` server.
//
// What it is for:
//   * developing and testing the browser client in static/ without the Rust
//     server (same CLI shape: `fake_locus.mjs serve --listen HOST:PORT --db FILE`,
//     so `node tests/e2e/browser.mjs --locus tests/js/fake_locus.mjs` works);
//   * a cross-check: our own Socket.IO client (static/socketio.js) talking to
//     the reference Socket.IO server proves its codec is not only
//     self-consistent.
// What it is not: a reference for the game rules. It implements enough of
// docs/protocol.md (register/login/logout/health, welcome, delta
// snapshots with enter/move/leave and hysteresis, teleport, chat, kicked,
// static files) to exercise the client. Persistence is a JSON file.
//
// Extra, fake-only: `--bots N` adds wandering players near the spawn point,
// and `POST /api/dev/teleport {"username","x","y"}` teleports an online player.

import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync, renameSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../package.json', import.meta.url));
const { Server } = require('socket.io');

const HERE = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const args = { cmd: argv[0] };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k, v] = a.includes('=') ? a.slice(2).split(/=(.*)/s) : [a.slice(2), argv[++i]];
    args[k] = v;
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
if (args.cmd !== 'serve') {
  console.error('usage: fake_locus.mjs serve [--listen 127.0.0.1:3000] [--db locus.json] [--static DIR] [--bots N] [--tick-hz 20] [--speed 300] [--transports polling,websocket] [--world-size 4096] [--view-radius 600] [--parser json|msgpack]');
  process.exit(2);
}
const listen = args.listen || process.env.LOCUS_LISTEN || '127.0.0.1:3000';
const dbPath = args.db || process.env.LOCUS_DB || './locus.db';
const staticDir = resolve(args.static || join(HERE, '..', '..', 'static'));
const TICK_HZ = Number(args['tick-hz'] || 20);
const SPEED = Number(args.speed || 300);
const WORLD = Number(args['world-size'] || 4096);
const VIEW = Number(args['view-radius'] || 600);
const VIEW_LEAVE = VIEW + 100;
const SPAWN = { x: WORLD / 2, y: WORLD / 2 };
const TOKEN_TTL_S = 7 * 24 * 3600;
const PARSER = args.parser || 'json';
if (PARSER !== 'json' && PARSER !== 'msgpack') {
  console.error(`fake_locus: --parser ${PARSER}: expected json or msgpack`);
  process.exit(2);
}

// ------------------------------------------------------------ storage

/** {users: {name: {id, salt, hash, x, y}}, tokens: {sha256: {username, expires}}, nextId} */
let db = { users: {}, tokens: {}, nextId: 1 };
if (existsSync(dbPath)) {
  try {
    db = JSON.parse(readFileSync(dbPath, 'utf8'));
  } catch {
    console.error(`fake_locus: ${dbPath} is not our JSON database; starting empty`);
  }
}
let dirty = false;
function save() {
  for (const p of players.values()) {
    if (p.bot) continue;
    db.users[p.name].x = round(p.x);
    db.users[p.name].y = round(p.y);
  }
  const tmp = `${dbPath}.tmp`;
  writeFileSync(tmp, JSON.stringify(db));
  renameSync(tmp, dbPath);
  dirty = false;
}
const hashToken = (t) => createHash('sha256').update(t).digest('hex');
const round = (v) => Math.round(v * 100) / 100;

// ------------------------------------------------------------ HTTP

const limits = new Map();
function rateLimited(ip) {
  const now = Date.now();
  const l = limits.get(ip) || { start: now, n: 0 };
  if (now - l.start > 60_000) { l.start = now; l.n = 0; }
  l.n += 1;
  limits.set(ip, l);
  return l.n > 30 ? Math.ceil((l.start + 60_000 - now) / 1000) : 0;
}

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(text);
}

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > 16_384) throw new Error('body too large');
    chunks.push(c);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon' };

async function handleHttp(req, res) {
  const url = new URL(req.url, 'http://x');
  const ip = req.socket.remoteAddress;
  try {
    if (url.pathname === '/api/health' && req.method === 'GET') {
      return send(res, 200, { status: 'ok', players_online: [...players.values()].filter((p) => !p.bot).length, tick, parser: PARSER });
    }
    if (url.pathname === '/api/register' && req.method === 'POST') {
      const wait = rateLimited(ip);
      if (wait) return send(res, 429, { error: 'too many requests' }, { 'Retry-After': String(wait) });
      const { username, password } = await readJson(req);
      if (typeof username !== 'string' || !/^[A-Za-z0-9_-]{3,32}$/.test(username)) return send(res, 400, { error: 'username must be 3-32 characters of A-Z a-z 0-9 _ -' });
      if (typeof password !== 'string' || password.length < 8 || password.length > 128) return send(res, 400, { error: 'password must be 8-128 characters' });
      if (db.users[username]) return send(res, 409, { error: 'username taken' });
      const salt = randomBytes(16).toString('hex');
      const id = db.nextId++;
      db.users[username] = { id, salt, hash: scryptSync(password, salt, 32).toString('hex'), x: SPAWN.x, y: SPAWN.y };
      save();
      return send(res, 201, { id, username });
    }
    if (url.pathname === '/api/login' && req.method === 'POST') {
      const wait = rateLimited(ip);
      if (wait) return send(res, 429, { error: 'too many requests' }, { 'Retry-After': String(wait) });
      const { username, password } = await readJson(req);
      const u = typeof username === 'string' ? db.users[username] : undefined;
      const ok = u && typeof password === 'string'
        && timingSafeEqual(scryptSync(password, u.salt, 32), Buffer.from(u.hash, 'hex'));
      if (!ok) return send(res, 401, { error: 'invalid credentials' });
      const token = randomBytes(24).toString('base64url');
      db.tokens[hashToken(token)] = { username, expires: Date.now() + TOKEN_TTL_S * 1000 };
      save();
      return send(res, 200, { token, expires_in: TOKEN_TTL_S });
    }
    if (url.pathname === '/api/logout' && req.method === 'POST') {
      const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
      const h = m && hashToken(m[1]);
      if (!h || !db.tokens[h]) return send(res, 401, { error: 'invalid token' });
      delete db.tokens[h];
      save();
      res.writeHead(204);
      return res.end();
    }
    if (url.pathname === '/api/dev/teleport' && req.method === 'POST') {
      const { username, x, y } = await readJson(req);
      const p = [...players.values()].find((q) => q.name === username && !q.bot);
      if (!p) return send(res, 404, { error: 'not online' });
      p.x = p.target.x = clamp(x, 0, WORLD);
      p.y = p.target.y = clamp(y, 0, WORLD);
      p.socket.emit('teleport', { x: round(p.x), y: round(p.y), reason: 'admin_reset' });
      return send(res, 200, { ok: true });
    }
    if (url.pathname.startsWith('/api/')) return send(res, 404, { error: 'not found' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method not allowed' });
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname).replace(/^\/+/, '');
    const file = normalize(join(staticDir, rel));
    if (!file.startsWith(staticDir) || !existsSync(file)) return send(res, 404, { error: 'not found' });
    res.writeHead(200, { 'Content-Type': MIME[extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-cache' });
    return res.end(readFileSync(file));
  } catch (e) {
    return send(res, 400, { error: `bad request: ${e.message}` });
  }
}

// ------------------------------------------------------------ game

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
/** id -> player; bots have no socket */
const players = new Map();
let tick = 0;

function addBots(n) {
  for (let i = 0; i < n; i++) {
    const id = 1_000_000 + i;
    const names = ['Mira', 'Odo', 'kestrel_7', 'Juniper', 'Pax', 'Ines-v', 'Tobi', 'quill', 'Saffron', 'Rook', 'Lumen', 'Ada_L'];
    const a = (i / n) * Math.PI * 2;
    const r = 120 + (i % 3) * 110;
    const x = SPAWN.x + Math.cos(a) * r;
    const y = SPAWN.y + Math.sin(a) * r;
    players.set(id, { id, name: names[i % names.length] + (i >= names.length ? i : ''), x, y, target: { x, y }, bot: true, ack: 0, view: new Map() });
  }
}
addBots(Number(args.bots || 0));

function visible(a, b, already) {
  const d = Math.hypot(a.x - b.x, a.y - b.y);
  return d <= (already ? VIEW_LEAVE : VIEW);
}

function step() {
  tick += 1;
  const dt = 1 / TICK_HZ;
  for (const p of players.values()) {
    if (p.bot) {
      if (Math.hypot(p.target.x - p.x, p.target.y - p.y) < 1 && Math.random() < 0.02) {
        p.target = { x: clamp(SPAWN.x + (Math.random() - 0.5) * 900, 0, WORLD), y: clamp(SPAWN.y + (Math.random() - 0.5) * 700, 0, WORLD) };
      }
    }
    const dx = p.target.x - p.x;
    const dy = p.target.y - p.y;
    const d = Math.hypot(dx, dy);
    const max = (p.bot ? SPEED * 0.35 : SPEED) * dt;
    if (d <= max) { p.x = p.target.x; p.y = p.target.y; } else { p.x += (dx / d) * max; p.y += (dy / d) * max; }
    p.x = clamp(p.x, 0, WORLD);
    p.y = clamp(p.y, 0, WORLD);
  }
  for (const me of players.values()) {
    if (me.bot) continue;
    const enter = [];
    const move = [];
    const leave = [];
    for (const [id, last] of me.view) {
      const o = players.get(id);
      if (!o || !visible(me, o, true)) { me.view.delete(id); leave.push(id); continue; }
      const x = round(o.x);
      const y = round(o.y);
      if (x !== last.x || y !== last.y) { move.push([id, x, y]); me.view.set(id, { x, y }); }
    }
    for (const o of players.values()) {
      if (o === me || me.view.has(o.id) || !visible(me, o, false)) continue;
      const x = round(o.x);
      const y = round(o.y);
      me.view.set(o.id, { x, y });
      enter.push({ id: o.id, name: o.name, x, y });
    }
    const x = round(me.x);
    const y = round(me.y);
    const selfChanged = x !== me.sent.x || y !== me.sent.y || me.ack !== me.sent.ack;
    if (enter.length || move.length || leave.length || selfChanged || me.sent.first) {
      me.sent = { x, y, ack: me.ack };
      me.socket.emit('snapshot', { tick, ack: me.ack, x, y, enter, move, leave });
    }
  }
}

// ------------------------------------------------------------ sockets

const http = createServer(handleHttp);
// `--transports polling` refuses WebSocket handshakes, to watch the client fall back.
const io = new Server(http, {
  path: '/socket.io/',
  serveClient: false,
  transports: (args.transports || 'polling,websocket').split(','),
  ...(PARSER === 'msgpack' ? { parser: require('socket.io-msgpack-parser') } : {}),
});

io.use((socket, next) => {
  const token = socket.handshake.auth && socket.handshake.auth.token;
  const t = typeof token === 'string' ? db.tokens[hashToken(token)] : null;
  if (!t || t.expires < Date.now() || !db.users[t.username]) return next(new Error('unauthorized'));
  socket.data.username = t.username;
  return next();
});

io.on('connection', (socket) => {
  const name = socket.data.username;
  const u = db.users[name];
  let start = { x: u.x, y: u.y };
  const old = players.get(u.id);
  if (old) {
    start = { x: old.x, y: old.y };
    old.socket.emit('kicked', { reason: 'logged in elsewhere' });
    old.socket.disconnect(true);
  }
  const me = { id: u.id, name, x: start.x, y: start.y, target: { ...start }, ack: 0, socket, view: new Map(), sent: { first: true }, events: [] };
  players.set(u.id, me);
  socket.emit('welcome', { id: u.id, name, x: me.x, y: me.y, world: { width: WORLD, height: WORLD }, tick_rate: TICK_HZ, speed: SPEED, view_radius: VIEW });

  socket.on('position', (p) => {
    const now = Date.now();
    me.events.push(now);
    while (me.events.length && me.events[0] < now - 1000) me.events.shift();
    if (me.events.length > 60) {
      socket.emit('kicked', { reason: 'flooding' });
      socket.disconnect(true);
      return;
    }
    if (!p || !Number.isFinite(p.x) || !Number.isFinite(p.y) || !Number.isInteger(p.seq)) return;
    me.target = { x: clamp(p.x, 0, WORLD), y: clamp(p.y, 0, WORLD) };
    if (p.seq > me.ack) me.ack = p.seq;
  });
  socket.on('chat', (m) => {
    if (!m || typeof m.text !== 'string' || m.text.length < 1 || m.text.length > 200) return;
    for (const o of players.values()) {
      if (!o.bot && Math.hypot(o.x - me.x, o.y - me.y) <= VIEW) o.socket.emit('chat', { id: me.id, name, text: m.text });
    }
  });
  socket.on('disconnect', () => {
    if (players.get(u.id) === me) {
      players.delete(u.id);
      u.x = round(me.x);
      u.y = round(me.y);
      dirty = true;
    }
  });
});

const [host, port] = listen.split(/:(?=\d+$)/);
http.listen(Number(port), host, () => {
  console.log(`fake_locus: listening on http://${host}:${http.address().port} (db ${dbPath}, static ${staticDir})`);
});
const ticker = setInterval(step, 1000 / TICK_HZ);
const saver = setInterval(() => { if (dirty || players.size) save(); }, 1000);

function shutdown(sig) {
  clearInterval(ticker);
  clearInterval(saver);
  save();
  console.log(`fake_locus: ${sig}, positions saved`);
  io.close();
  http.close();
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
