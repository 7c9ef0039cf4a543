// Locus client: the page's entry point. Wires the account forms, the socket,
// the game state, input and rendering together, and exposes read-only state
// as `window.locus` for tests and the curious.
//
// Owns: the screen flow (login -> game -> logout/kicked), the frame loop
// (prediction, sending `position` at the tick rate, interpolation, drawing),
// the HUD, chat, and the reconnect banner.
// A cluster may hand the player over to another node (`migrate`): socketio.js
// connects there at once; the page keeps walking and keeps drawing the others
// where they were until the new node's first (full) snapshot replaces them.
// Must not touch: wire formats (protocol.js, snapshot.js), transports
// (socketio.js), or the game math (world.js); it calls them.
//
// Snapshots: the page asks for the binary form (`auth.snapshot = "binary"`)
// and turns each binary snapshot into the JSON form's shape with the
// connection's BinaryIndex before world.js applies it; a server that sends
// JSON snapshots is played as before.

import * as api from './api.js';
import { Input } from './input.js';
import { Renderer } from './render.js';
import { BinaryIndex, isBinarySnapshot } from './snapshot.js';
import { SocketClient } from './socketio.js';
import { OwnPlayer, RemoteTrack, ServerClock, applySnapshot, nameHue } from './world.js';

const $ = (id) => document.getElementById(id);

/** How far in the past other players are drawn, at least two snapshot intervals. */
const MIN_INTERP_DELAY_MS = 100;
/** Never send `position` faster than this, whatever the tick rate (the server allows 60/s). */
const MAX_SEND_HZ = 30;
/** Longest the old node's view is drawn after a handoff's welcome without a snapshot. */
const GHOST_MS = 1000;
/** How long a chat line floats above its speaker. */
const BUBBLE_MS = 6000;
const CHAT_LOG_MAX = 60;

/** Everything the page knows. One object so `window.locus` can read it. */
const game = {
  /** 'logged-out' | 'connecting' | 'joining' | 'connected' | 'reconnecting' | 'kicked' | 'incompatible' */
  state: 'logged-out',
  /** session token (also in localStorage) */
  token: null,
  username: '',
  /** @type {SocketClient|null} */
  socket: null,
  /** the last `welcome` payload */
  welcome: null,
  /** @type {OwnPlayer|null} */
  me: null,
  /** own id and name from welcome */
  self: null,
  /** players in view, authoritative (exactly what the snapshots say): key -> {id,name,x,y} */
  view: new Map(),
  /** between a `migrate` and the new node's welcome: the session continues there */
  handoff: false,
  /**
   * After a handoff's welcome, the old node's view, drawn (not in `view`) until the new
   * node's first snapshot, which lists everyone in view again, or `until` passes
   * (a node sends no snapshot while nothing changes): {players: Map, until} or null
   */
  ghosts: null,
  /** this connection's binary snapshot indices; a new one with every welcome */
  binary: new BinaryIndex(),
  /** interpolation history per player in view */
  tracks: new Map(),
  /** @type {ServerClock|null} */
  clock: null,
  /** key -> {text, until} speech bubbles */
  bubbles: new Map(),
  /** last chat messages [{id,name,text,at}] */
  chat: [],
  /** numbers for the HUD */
  stats: {
    pings: [], ping: null, ack: null, snapshots: 0, snapshotTimes: [], skipped: 0,
    reconnects: 0, positionsSent: 0,
    /** the form of the last snapshot: 'binary' | 'json' | null */
    snapshotForm: null,
  },
  /** performance.now() when each seq was sent, to time acks */
  sentAt: new Map(),
  /** where the camera looks; follows the own player */
  camera: { x: 2048, y: 2048 },
  /** reason the socket stopped, for the notice */
  lastReason: null,
};

const canvas = $('world');
const renderer = new Renderer(canvas);
const input = new Input(canvas, {
  onPoint(cx, cy) {
    if (!game.me || game.state !== 'connected') return;
    const r = canvas.getBoundingClientRect();
    const sx = cx - r.left;
    const sy = cy - r.top;
    if (renderer.onMinimap(sx, sy)) return;
    const w = renderer.toWorld(sx, sy);
    game.me.moveTo(w.x, w.y);
    hideHint();
  },
  onMoveKey: () => hideHint(),
});

// ---------------------------------------------------------------- accounts

let registerMode = false;

function showAuth(message = '') {
  $('auth').hidden = false;
  $('hud').hidden = true;
  $('notice').hidden = true;
  setAuthError(message);
  const last = api.session.lastUsername();
  if (last && !$('username').value) $('username').value = last;
  ($('username').value ? $('password') : $('username')).focus();
}

function setAuthError(message) {
  $('auth-error').textContent = message;
  $('auth-error').hidden = !message;
}

function setRegisterMode(on) {
  registerMode = on;
  $('tab-login').setAttribute('aria-selected', String(!on));
  $('tab-register').setAttribute('aria-selected', String(on));
  $('auth-submit').textContent = on ? 'Create account and play' : 'Log in';
  $('password').autocomplete = on ? 'new-password' : 'current-password';
  $('auth-hint').hidden = !on;
  setAuthError('');
}

$('tab-login').addEventListener('click', () => setRegisterMode(false));
$('tab-register').addEventListener('click', () => setRegisterMode(true));
setRegisterMode(false);

$('auth-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const username = $('username').value.trim();
  const password = $('password').value;
  if (registerMode) {
    const problem = api.validateCredentials(username, password);
    if (problem) { setAuthError(problem); return; }
  } else if (!username || !password) {
    setAuthError('Enter your username and password.');
    return;
  }
  const button = $('auth-submit');
  button.disabled = true;
  setAuthError('');
  try {
    if (registerMode) await api.register(username, password);
    const { token } = await api.login(username, password);
    if (typeof token !== 'string' || !token) throw new api.ApiError('The server sent no token.', 200);
    api.session.save(token, username);
    $('password').value = '';
    startGame(token, username);
  } catch (err) {
    setAuthError(err instanceof api.ApiError ? err.message : 'Something went wrong. Try again.');
  } finally {
    button.disabled = false;
  }
});

async function logOut() {
  const token = game.token;
  stopGame('logout');
  api.session.clear();
  showAuth('');
  if (token) {
    try { await api.logout(token); } catch { /* the token is gone locally either way */ }
  }
}

$('logout').addEventListener('click', logOut);
$('notice-logout').addEventListener('click', logOut);
$('notice-action').addEventListener('click', () => {
  $('notice').hidden = true;
  if (game.token) startGame(game.token, game.username);
});

// ---------------------------------------------------------------- the game session

function startGame(token, username) {
  stopGame('restart');
  game.token = token;
  game.username = username;
  $('auth').hidden = true;
  $('notice').hidden = true;
  $('hud').hidden = false;
  $('me-name').textContent = username;
  document.activeElement?.blur?.(); // keys go to the game, not to a hidden form button
  const socket = new SocketClient({
    url: location.origin,
    // Binary snapshots when the server knows them; JSON ones are played all the same.
    auth: () => ({ token: game.token, snapshot: 'binary' }),
    // Asked before every attempt: the server's `--parser` (json or msgpack) may change across a restart.
    parser: api.serverParser,
  });
  game.socket = socket;
  socket.onStatus(onSocketStatus);
  socket.on('welcome', onWelcome);
  socket.on('snapshot', onSnapshot);
  socket.on('teleport', onTeleport);
  socket.on('chat', onChat);
  socket.on('kicked', onKicked);
  setState('connecting');
  socket.open();
}

function stopGame(reason) {
  if (game.socket) {
    game.socket.close(reason);
    game.socket = null;
  }
  input.setEnabled(false);
  game.state = 'logged-out';
  game.token = null;
  game.welcome = null;
  game.me = null;
  game.self = null;
  game.view.clear();
  game.handoff = false;
  game.ghosts = null;
  game.tracks.clear();
  game.bubbles.clear();
  game.clock = null;
  game.sentAt.clear();
  $('chat-log').replaceChildren();
  game.chat = [];
}

function setState(state) {
  game.state = state;
  // Held keys survive a handoff: the player walks on once the new node welcomes it.
  input.setEnabled(state === 'connected' || (state === 'joining' && game.handoff));
  updateStatus();
}

function onSocketStatus(status) {
  switch (status.state) {
    case 'connecting':
      setState('connecting');
      break;
    case 'connected':
      setState('joining'); // in the world once `welcome` arrives
      break;
    case 'disconnected':
      // Keep drawing the others, dimmed, until the next welcome replaces them.
      game.stats.reconnects += 1;
      game.sentAt.clear();
      break;
    case 'migrating':
      // Handed over to another node (socketio.js is connecting there): not a lost connection.
      game.handoff = true;
      game.sentAt.clear();
      setState('joining');
      break;
    case 'reconnecting':
      game.handoff = false;
      setState('reconnecting');
      break;
    case 'unauthorized':
      stopGame('unauthorized');
      api.session.clear();
      showAuth('Your session has expired. Please log in again.');
      break;
    case 'incompatible':
      // The socket stopped itself; say why and offer to try again (the server may be restarted).
      game.lastReason = status.reason;
      setState('incompatible');
      showNotice('Cannot talk to this server', `This page cannot play here: ${status.reason}.`, 'Try again');
      break;
    default:
      break;
  }
}

function onWelcome(w) {
  if (!w || typeof w !== 'object' || !Number.isFinite(w.x) || !Number.isFinite(w.y)) return;
  const now = performance.now();
  const world = {
    width: Number.isFinite(w.world?.width) ? w.world.width : 4096,
    height: Number.isFinite(w.world?.height) ? w.world.height : 4096,
  };
  const tickRate = Number.isFinite(w.tick_rate) && w.tick_rate > 0 ? w.tick_rate : 20;
  const speed = Number.isFinite(w.speed) && w.speed > 0 ? w.speed : 300;
  game.welcome = { ...w, world, tick_rate: tickRate, speed };
  game.self = { id: w.id, name: typeof w.name === 'string' ? w.name : game.username };
  const cfg = { speed, tickMs: 1000 / tickRate, world };
  const handoff = game.handoff && game.me !== null;
  game.handoff = false;
  if (!game.me) game.me = new OwnPlayer({ ...cfg, x: w.x, y: w.y });
  game.me.configure(cfg);
  if (handoff) {
    // The new node continues from where the old one left the player.
    game.me.continueSession(w.x, w.y, now);
  } else {
    game.me.newSession(w.x, w.y, now);
    game.camera = { x: w.x, y: w.y };
  }
  // A new session starts from an empty view: the server re-sends everyone as `enter`.
  // After a handoff the old view is still drawn, where it stood, until then (its tracks
  // are on the old node's ticks, so they go; speech bubbles stay with their speakers).
  game.ghosts = handoff && game.view.size > 0 ? { players: drawnView(now), until: now + GHOST_MS } : null;
  game.clock = new ServerClock(1000 / tickRate);
  game.view.clear();
  game.binary = new BinaryIndex();
  game.tracks.clear();
  if (!handoff) game.bubbles.clear();
  game.sentAt.clear();
  $('me-name').textContent = game.self.name;
  setState('connected');
}

/** Stops drawing the old node's view (and the speech bubbles of those no longer in view). */
function dropGhosts() {
  if (!game.ghosts) return;
  for (const key of game.ghosts.players.keys()) if (!game.view.has(key)) game.bubbles.delete(key);
  game.ghosts = null;
}

/** How far in the past other players are drawn now. */
function interpDelay() {
  return Math.max(MIN_INTERP_DELAY_MS, 2 * game.clock.tickMs);
}

/** The players in view where they are drawn at local time `now`: key -> {name, x, y}. */
function drawnView(now) {
  const serverNow = game.clock ? game.clock.serverTime(now) : null;
  const out = new Map();
  for (const [key, p] of game.view) {
    const track = game.tracks.get(key);
    const at = track && serverNow !== null ? track.sample(serverNow - interpDelay()) : p;
    out.set(key, { name: p.name, x: at.x, y: at.y });
  }
  return out;
}

/** A snapshot in either form, in the JSON form's shape; null (and the connection dropped) when malformed. */
function snapshotObject(data) {
  if (!isBinarySnapshot(data)) {
    game.stats.snapshotForm = 'json';
    return data;
  }
  game.stats.snapshotForm = 'binary';
  try {
    return game.binary.toSnapshot(data);
  } catch (e) {
    // Indices can no longer be trusted: start over from a fresh connection's view.
    console.warn(`locus: malformed binary snapshot: ${e.message}`);
    game.socket?.failConnection(`malformed binary snapshot: ${e.message}`);
    return null;
  }
}

function onSnapshot(data) {
  if (!game.me || !game.clock) return;
  const s = snapshotObject(data);
  if (!s || typeof s !== 'object') return;
  const now = performance.now();
  const tickMs = game.clock.tickMs;
  game.clock.observe(s.tick, now);
  game.stats.snapshots += 1;
  game.stats.snapshotTimes.push(now);

  const result = applySnapshot(game.view, s, game.self?.id);
  game.stats.skipped += result.skipped;
  // The first snapshot after a handoff lists everyone in view: the old node's view goes.
  dropGhosts();
  const t = Number.isFinite(s.tick) ? s.tick * tickMs : game.clock.serverTime(now);
  const jumpLimit = game.welcome.speed * (tickMs / 1000) * 4 + 1;
  for (const key of result.left) {
    game.tracks.delete(key);
    game.bubbles.delete(key);
  }
  for (const key of result.entered) {
    const p = game.view.get(key);
    game.tracks.set(key, new RemoteTrack(t, p.x, p.y));
  }
  for (const key of result.moved) {
    const p = game.view.get(key);
    game.tracks.get(key)?.push(t, p.x, p.y, tickMs, jumpLimit);
  }

  if (Number.isFinite(s.ack) && game.sentAt.has(s.ack)) {
    const ms = now - game.sentAt.get(s.ack);
    game.stats.ack = game.stats.ack === null ? ms : game.stats.ack * 0.8 + ms * 0.2;
    for (const seq of game.sentAt.keys()) if (seq <= s.ack) game.sentAt.delete(seq);
  }
  game.me.reconcile(s.ack, s.x, s.y, now);
}

function onTeleport(t) {
  if (!t || !game.me || !Number.isFinite(t.x) || !Number.isFinite(t.y)) return;
  game.me.teleport(t.x, t.y, performance.now());
  game.camera = { x: t.x, y: t.y };
  const why = t.reason === 'admin_reset' ? 'An admin moved you.' : 'The server corrected your position.';
  flashBanner(why);
}

function onChat(m) {
  if (!m || typeof m.text !== 'string') return;
  const name = typeof m.name === 'string' ? m.name : String(m.id);
  const entry = { id: m.id, name, text: m.text, at: Date.now() };
  game.chat.push(entry);
  if (game.chat.length > CHAT_LOG_MAX) game.chat.shift();
  game.bubbles.set(String(m.id), { text: m.text, until: performance.now() + BUBBLE_MS });
  appendChatLine(entry);
}

function onKicked(k) {
  const reason = k && typeof k.reason === 'string' ? k.reason : 'disconnected by the server';
  game.lastReason = reason;
  // Do not reconnect on our own: two tabs would kick each other forever.
  game.socket?.close('kicked');
  setState('kicked');
  if (reason === 'logged in elsewhere') {
    showNotice('Playing somewhere else', 'This account just logged in from another tab or device.', 'Play here');
  } else {
    showNotice('Disconnected', `The server disconnected you: ${reason}.`, 'Play here');
  }
}

/** The dialog over the game; its first button starts the game again, the second logs out. */
function showNotice(title, text, action) {
  $('notice-title').textContent = title;
  $('notice-text').textContent = text;
  $('notice-action').textContent = action;
  $('notice').hidden = false;
}

// ---------------------------------------------------------------- chat

function appendChatLine(entry, system = false) {
  const li = document.createElement('li');
  if (system) li.className = 'system';
  else {
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = entry.name;
    who.style.color = String(entry.id) === String(game.self?.id) ? 'var(--accent)' : `hsl(${nameHue(entry.name)}, 80%, 72%)`;
    li.append(who);
  }
  li.append(document.createTextNode(entry.text));
  const log = $('chat-log');
  log.append(li);
  while (log.children.length > 12) log.firstElementChild.remove();
  setTimeout(() => li.classList.add('old'), 20000);
}

$('chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const inputEl = $('chat-input');
  const text = inputEl.value;
  if (text.trim().length === 0 || text.length > 200) return;
  if (!game.socket || !game.socket.emit('chat', { text })) {
    appendChatLine({ text: 'Not connected; message not sent.' }, true);
    return;
  }
  inputEl.value = '';
  inputEl.blur(); // back to walking; Enter opens the chat again
});

if (window.matchMedia?.('(pointer: coarse)').matches) $('chat-input').placeholder = 'Tap to chat';

window.addEventListener('keydown', (e) => {
  const inputEl = $('chat-input');
  if (e.key === 'Enter' && document.activeElement !== inputEl && !$('hud').hidden
      && document.activeElement?.tagName !== 'INPUT' && document.activeElement?.tagName !== 'BUTTON') {
    inputEl.focus();
    e.preventDefault();
  } else if (e.key === 'Escape' && document.activeElement === inputEl) {
    inputEl.blur();
  }
});

// ---------------------------------------------------------------- HUD

let hintTimer = setTimeout(hideHint, 15000);
function hideHint() {
  $('hint').classList.add('gone');
  clearTimeout(hintTimer);
}

let bannerTimer = null;
function flashBanner(text) {
  const b = $('banner');
  b.textContent = text;
  b.className = 'banner info';
  b.hidden = false;
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => { b.hidden = true; bannerTimer = null; }, 3500);
}

const STATUS_TEXT = {
  'logged-out': 'offline',
  connecting: 'connecting…',
  joining: 'joining…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  kicked: 'offline',
  incompatible: 'offline',
};

function updateStatus() {
  const el = $('status');
  const offline = game.state === 'kicked' || game.state === 'logged-out' || game.state === 'incompatible';
  const shown = offline ? 'offline' : game.state === 'joining' ? 'connecting' : game.state;
  el.dataset.state = shown;
  const transport = game.socket?.transportName;
  $('status-text').textContent = STATUS_TEXT[game.state] + (game.state === 'connected' && transport === 'polling' ? ' (polling)' : '');

  const b = $('banner');
  if (game.state === 'reconnecting') {
    const s = game.socket;
    const wait = s?.nextRetryAt ? Math.max(0, (s.nextRetryAt - Date.now()) / 1000) : 0;
    b.textContent = wait > 0.25
      ? `Connection lost — reconnecting in ${wait.toFixed(wait < 10 ? 1 : 0)} s…`
      : 'Connection lost — reconnecting…';
    b.className = 'banner';
    b.hidden = false;
  } else if (!bannerTimer) {
    b.hidden = true;
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function updateHud(now) {
  updateStatus();
  const st = game.stats;
  const live = game.state === 'connected';
  $('stat-ping').textContent = live && st.ping !== null ? `${Math.round(st.ping)} ms` : '–';
  $('stat-ack').textContent = live && st.ack !== null ? `${Math.round(st.ack)} ms` : '–';
  $('stat-players').textContent = String(game.view.size);
  while (st.snapshotTimes.length && st.snapshotTimes[0] < now - 1000) st.snapshotTimes.shift();
  $('stat-tick').textContent = game.welcome
    ? `${game.welcome.tick_rate} Hz · ${st.snapshotTimes.length}/s`
    : '–';
  $('me-pos').textContent = game.me ? `${Math.round(game.me.x)}, ${Math.round(game.me.y)}` : '';
}

setInterval(async () => {
  if (game.state !== 'connected' || document.hidden) return;
  try {
    const ms = await api.timedHealth();
    game.stats.pings.push(ms);
    if (game.stats.pings.length > 5) game.stats.pings.shift();
    game.stats.ping = median(game.stats.pings);
  } catch { /* the socket status already tells the story */ }
}, 3000);

// ---------------------------------------------------------------- frame loop

let lastFrame = performance.now();
let lastSend = 0;
let lastHud = 0;

function frame(now) {
  const dt = Math.min(100, Math.max(0, now - lastFrame));
  lastFrame = now;
  const me = game.me;
  const connected = game.state === 'connected';

  if (me && connected) {
    const dir = input.direction();
    me.advance(dt, dir);
    const sendEvery = 1000 / Math.min(MAX_SEND_HZ, game.welcome.tick_rate);
    if (now - lastSend >= sendEvery - 4) {
      const out = me.takeOutgoing(now);
      if (out) {
        if (game.socket.emit('position', out)) {
          game.sentAt.set(out.seq, now);
          game.stats.positionsSent += 1;
        }
      }
      lastSend = now;
    }
    me.settle(now, !dir && !input.dragging);
  }

  let scene;
  if (me && game.welcome) {
    const pos = me.renderPosition(dt);
    game.camera = pos;
    const delay = interpDelay();
    const serverNow = game.clock.serverTime(now);
    const others = [];
    if (game.ghosts && now >= game.ghosts.until) dropGhosts();
    for (const [key, p] of game.ghosts ? game.ghosts.players : []) {
      const bubble = game.bubbles.get(key);
      others.push({ x: p.x, y: p.y, name: p.name, bubble: bubble && bubble.until > now ? bubble.text : null });
    }
    for (const [key, p] of game.view) {
      const track = game.tracks.get(key);
      let at = p;
      if (track && serverNow !== null) {
        at = track.sample(serverNow - delay);
        track.prune(serverNow - delay - 500);
      }
      const bubble = game.bubbles.get(key);
      others.push({ x: at.x, y: at.y, name: p.name, bubble: bubble && bubble.until > now ? bubble.text : null });
    }
    const mine = game.bubbles.get(String(game.self?.id));
    scene = {
      world: game.welcome.world,
      camera: pos,
      time: now,
      me: { x: pos.x, y: pos.y, name: game.self?.name || game.username },
      others,
      viewRadius: game.welcome.view_radius,
      target: me.target,
      showMinimap: true,
      myBubble: mine && mine.until > now ? mine.text : null,
    };
  } else {
    // Logged out: drift slowly over the world behind the login card.
    const t = now / 1000;
    scene = {
      world: { width: 4096, height: 4096 },
      camera: { x: 2048 + Math.sin(t * 0.05) * 900, y: 2048 + Math.sin(t * 0.037) * 700 },
      time: now,
      me: null,
      others: [],
      viewRadius: 0,
      target: null,
      showMinimap: false,
    };
  }
  renderer.draw(scene);
  canvas.style.filter = game.state === 'reconnecting' ? 'saturate(0.45) brightness(0.8)' : '';

  if (now - lastHud > 250) {
    lastHud = now;
    updateHud(now);
  }
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);

// ---------------------------------------------------------------- browser events

window.addEventListener('online', () => game.socket?.retryNow());
window.addEventListener('pagehide', () => game.socket?.close('page hidden'));
window.addEventListener('pageshow', (e) => {
  // Coming back from the back/forward cache: the socket was closed on pagehide.
  if (e.persisted && game.token) startGame(game.token, game.username);
});

// ---------------------------------------------------------------- test hook

/** Read-only view of the client state, for end-to-end tests and debugging. */
const locus = Object.freeze({
  get state() { return game.state; },
  get transport() { return game.socket?.transportName ?? null; },
  /** the node the socket connects to (a cluster may send it elsewhere) */
  get url() { return game.socket?.url ?? null; },
  /** the Socket.IO parser of the current connection attempt: 'json' or 'msgpack' */
  get parser() { return game.socket?.parser.name ?? null; },
  get me() {
    if (!game.me || !game.self) return null;
    return Object.freeze({
      id: game.self.id,
      name: game.self.name,
      x: game.me.x,
      y: game.me.y,
      serverX: game.me.server.x,
      serverY: game.me.server.y,
      ack: game.me.server.ack,
      seq: game.me.seq,
      pending: game.me.pending.length,
    });
  },
  get players() {
    const out = {};
    for (const [key, p] of game.view) out[key] = Object.freeze({ id: p.id, name: p.name, x: p.x, y: p.y });
    return Object.freeze(out);
  },
  get tick() { return game.clock?.tick ?? null; },
  get welcome() { return game.welcome ? JSON.parse(JSON.stringify(game.welcome)) : null; },
  get chat() { return game.chat.map((c) => ({ ...c })); },
  get stats() {
    const s = game.stats;
    return Object.freeze({
      ping: s.ping, ack: s.ack, snapshots: s.snapshots, skipped: s.skipped,
      reconnects: s.reconnects, positionsSent: s.positionsSent, snapshotForm: s.snapshotForm,
      binaryHeld: game.binary.size,
      corrections: game.me ? { ...game.me.corrections } : null,
    });
  },
  get lastReason() { return game.lastReason ?? game.socket?.lastReason ?? null; },
});
Object.defineProperty(window, 'locus', { value: locus, enumerable: true });

// ---------------------------------------------------------------- boot

const saved = api.session.load();
if (saved) startGame(saved.token, saved.username);
else showAuth('');
