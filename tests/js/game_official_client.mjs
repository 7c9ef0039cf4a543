// Issue 3: the official socket.io-client (Node) plays the Locus game end to
// end against a running server, unmodified: two players connect with
// `auth: {token}`, get `welcome`, see each other `enter`, one moves (the
// other's snapshot shows the `move`, the mover's snapshot acknowledges its
// seq), then the mover disconnects and the other sees `leave`.
//
// Usage: node js/game_official_client.mjs <url> <default|websocket|polling> [TOKEN_A TOKEN_B]
//   Without tokens, registers and logs in two fresh accounts through
//   /api/register and /api/login first.
// Prints "ok game <mode>" and exits 0 on success; "FAIL ..." and exits 1
// otherwise. Owns only this scenario; the wire contract is
// docs/protocol.md.
import { io } from "socket.io-client";

const [url, mode, tokenA, tokenB] = process.argv.slice(2);

let step = "start";
function fail(message) {
  console.error(`FAIL [game/${mode}] at ${step}: ${message}`);
  process.exit(1);
}
const deadline = setTimeout(() => fail("timed out"), 30000);

function check(condition, message) {
  if (!condition) fail(message);
}

const options = { reconnection: false, forceNew: true, timeout: 10000 };
if (mode === "websocket") options.transports = ["websocket"];
else if (mode === "polling") options.transports = ["polling"];
else if (mode !== "default") fail(`unknown mode ${mode}`);

async function post(path, body, expected) {
  const res = await fetch(new URL(path, url), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  check(res.status === expected, `${path}: status ${res.status}, body ${text}`);
  return JSON.parse(text);
}

/** Registers and logs in a fresh account; returns its token. */
async function account(prefix) {
  const username = `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
  const password = "official-client-1";
  await post("/api/register", { username, password }, 201);
  const { token } = await post("/api/login", { username, password }, 200);
  check(typeof token === "string" && token.length > 0, `login token ${token}`);
  return token;
}

/**
 * Connects one player; records every snapshot. Resolves with the socket and
 * its welcome once both CONNECT and `welcome` arrived.
 */
function join(name, token) {
  const socket = io(url, { ...options, auth: { token } });
  socket.snapshots = [];
  socket.waiters = [];
  socket.on("snapshot", (snapshot) => {
    socket.snapshots.push(snapshot);
    const pending = [];
    for (const waiter of socket.waiters) {
      if (waiter.pred(snapshot)) waiter.resolve(snapshot);
      else pending.push(waiter);
    }
    socket.waiters = pending;
  });
  return new Promise((resolve, reject) => {
    socket.once("welcome", (welcome) => resolve({ socket, welcome }));
    socket.once("connect_error", (err) => reject(new Error(`${name} refused: ${err.message}`)));
    socket.once("kicked", (k) => reject(new Error(`${name} kicked: ${JSON.stringify(k)}`)));
  }).catch((err) => fail(err.message));
}

/** The first snapshot (already received or future) satisfying `pred`. */
function snapshotWhere(socket, pred) {
  const seen = socket.snapshots.find(pred);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve) => socket.waiters.push({ pred, resolve }));
}

function checkWelcome(welcome, name) {
  check(typeof welcome?.id === "number", `${name} welcome id: ${JSON.stringify(welcome)}`);
  check(typeof welcome.name === "string", `${name} welcome name: ${JSON.stringify(welcome)}`);
  check(Number.isFinite(welcome.x) && Number.isFinite(welcome.y), `${name} welcome position: ${JSON.stringify(welcome)}`);
  check(welcome.world?.width > 0 && welcome.world?.height > 0, `${name} welcome world: ${JSON.stringify(welcome)}`);
  for (const key of ["tick_rate", "speed", "view_radius"]) {
    check(welcome[key] > 0, `${name} welcome ${key}: ${JSON.stringify(welcome)}`);
  }
}

step = "accounts";
const [a, b] = tokenA && tokenB ? [tokenA, tokenB] : [await account("alice"), await account("bob")];

step = "welcome";
const alice = await join("alice", a);
checkWelcome(alice.welcome, "alice");
const bob = await join("bob", b);
checkWelcome(bob.welcome, "bob");
check(alice.welcome.id !== bob.welcome.id, "both players got the same id");
check(alice.socket.connected && bob.socket.connected, "not connected after welcome");
if (mode !== "default") {
  check(alice.socket.io.engine.transport.name === mode, `transport ${alice.socket.io.engine.transport.name}`);
}

// Fresh accounts spawn at the same point, well inside each other's view.
step = "enter";
const enters = (id) => (s) => s.enter.some((p) => p.id === id);
const seenByAlice = await snapshotWhere(alice.socket, enters(bob.welcome.id));
const entered = seenByAlice.enter.find((p) => p.id === bob.welcome.id);
check(entered.name === bob.welcome.name, `enter name: ${JSON.stringify(entered)}`);
check(entered.x === bob.welcome.x && entered.y === bob.welcome.y, `enter position: ${JSON.stringify(entered)}`);
await snapshotWhere(bob.socket, enters(alice.welcome.id));

// Bob takes one small step (well under one tick's worth of speed).
step = "move";
const target = { x: bob.welcome.x + 5, y: bob.welcome.y - 3 };
const seq = 1;
bob.socket.emit("position", { ...target, seq });
const ack = await snapshotWhere(bob.socket, (s) => s.ack >= seq);
check(ack.ack === seq, `ack ${ack.ack}, expected ${seq}`);
check(ack.x === target.x && ack.y === target.y, `bob's position after the move: ${JSON.stringify(ack)}`);
const moved = await snapshotWhere(
  alice.socket,
  (s) => s.move.some(([id, x, y]) => id === bob.welcome.id && x === target.x && y === target.y),
);
check(alice.socket.snapshots.indexOf(moved) > alice.socket.snapshots.indexOf(seenByAlice), "move arrived before enter");
check(moved.x === alice.welcome.x && moved.y === alice.welcome.y, `alice's own position: ${JSON.stringify(moved)}`);

// Bob leaves: Alice sees him go.
step = "leave";
bob.socket.disconnect();
const left = await snapshotWhere(alice.socket, (s) => s.leave.includes(bob.welcome.id));
check(!left.enter.some((p) => p.id === bob.welcome.id), `leave and enter together: ${JSON.stringify(left)}`);

// Every snapshot Alice got applies cleanly as a delta, ending with nobody in view.
step = "deltas";
const view = new Map();
for (const s of alice.socket.snapshots) {
  for (const p of s.enter) {
    check(!view.has(p.id), `enter for a player in view: ${JSON.stringify(s)}`);
    view.set(p.id, [p.x, p.y]);
  }
  for (const [id, x, y] of s.move) {
    check(view.has(id), `move for a player not in view: ${JSON.stringify(s)}`);
    view.set(id, [x, y]);
  }
  for (const id of s.leave) {
    check(view.delete(id), `leave for a player not in view: ${JSON.stringify(s)}`);
  }
}
check(view.size === 0, `players still in alice's view: ${JSON.stringify([...view])}`);

alice.socket.disconnect();
clearTimeout(deadline);
console.log(`ok game ${mode}`);
process.exit(0);
