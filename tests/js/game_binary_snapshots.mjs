// Issue 11: binary snapshots with the official socket.io-client (Node). Three
// players stand at one spawn point: "bin" connects with
// `auth: {token, snapshot: "binary"}`, "json" and "walker" with
// `auth: {token}`. The walker takes steps and finally disconnects. "bin"
// must get every `snapshot` as one binary argument (a Buffer), which
// static/snapshot.js decodes; "json" gets JSON objects. At every tick both
// received, the walker is where the JSON client says it is, and the binary
// client's own position, ack and view follow the same rules as JSON.
//
// Usage: node js/game_binary_snapshots.mjs <url> <json|msgpack> TOKEN_BIN TOKEN_JSON TOKEN_WALKER
// Prints "ok binary snapshots <parser>" and exits 0 on success; "FAIL ..."
// and exits 1 otherwise. The wire contract is docs/protocol.md.
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";
import { BinaryIndex, isBinarySnapshot } from "../../static/snapshot.js";
import { applySnapshot } from "../../static/world.js";

const [url, parser, tokenBin, tokenJson, tokenWalker] = process.argv.slice(2);

let step = "start";
function fail(message) {
  console.error(`FAIL [binary/${parser}] at ${step}: ${message}`);
  process.exit(1);
}
const deadline = setTimeout(() => fail("timed out"), 30000);
const check = (condition, message) => { if (!condition) fail(message); };

const options = { reconnection: false, forceNew: true, timeout: 10000, transports: ["websocket"] };
if (parser === "msgpack") options.parser = msgpackParser;
else if (parser !== "json") fail(`unknown parser ${parser}`);

/** Connects one player; every snapshot is turned into the JSON shape and applied. */
function join(name, auth) {
  const socket = io(url, { ...options, auth });
  const player = { name, socket, snapshots: [], forms: new Set(), view: new Map(), index: new BinaryIndex(), waiters: [] };
  socket.on("snapshot", (data, ...rest) => {
    check(rest.length === 0, `${name}: snapshot with ${rest.length + 1} arguments`);
    let s = data;
    if (isBinarySnapshot(data)) {
      player.forms.add("binary");
      check(Buffer.isBuffer(data) || data instanceof ArrayBuffer || data instanceof Uint8Array, `${name}: binary of type ${data?.constructor?.name}`);
      try {
        s = player.index.toSnapshot(data);
      } catch (e) {
        fail(`${name}: binary snapshot refused: ${e.message}`);
      }
    } else {
      player.forms.add("json");
    }
    applySnapshot(player.view, s, player.welcome?.id);
    const state = { tick: s.tick, ack: s.ack, x: s.x, y: s.y, view: new Map([...player.view].map(([k, p]) => [k, { ...p }])) };
    player.snapshots.push(state);
    player.waiters = player.waiters.filter((w) => !(w.pred(state) && (w.resolve(state), true)));
  });
  return new Promise((resolve, reject) => {
    socket.once("welcome", (welcome) => { player.welcome = welcome; resolve(player); });
    socket.once("connect_error", (err) => reject(new Error(`${name} refused: ${err.message}`)));
    socket.once("kicked", (k) => reject(new Error(`${name} kicked: ${JSON.stringify(k)}`)));
  }).catch((err) => fail(err.message));
}

function stateWhere(player, pred) {
  const seen = player.snapshots.find(pred);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve) => player.waiters.push({ pred, resolve }));
}

step = "welcome";
const bin = await join("bin", { token: tokenBin, snapshot: "binary" });
const json = await join("json", { token: tokenJson });
const walker = await join("walker", { token: tokenWalker });
const w = String(walker.welcome.id);

step = "enter";
await stateWhere(bin, (s) => s.view.has(w) && s.view.has(String(json.welcome.id)));
await stateWhere(json, (s) => s.view.has(w) && s.view.has(String(bin.welcome.id)));
check(bin.view.get(String(json.welcome.id)).name === json.welcome.name, "bin sees json's name");

step = "walk";
let { x, y } = walker.welcome;
for (let seq = 1; seq <= 12; seq += 1) {
  x = Math.round((x + 7.25) * 100) / 100;
  y = Math.round((y - 3.5) * 100) / 100;
  walker.socket.emit("position", { x, y, seq });
  await stateWhere(walker, (s) => s.ack >= seq);
}
const at = (s) => s.view.get(w);
await stateWhere(bin, (s) => at(s)?.x === x && at(s)?.y === y);
await stateWhere(json, (s) => at(s)?.x === x && at(s)?.y === y);

step = "leave";
walker.socket.disconnect();
await stateWhere(bin, (s) => !s.view.has(w));
await stateWhere(json, (s) => !s.view.has(w));

step = "compare";
check(bin.forms.size === 1 && bin.forms.has("binary"), `bin got ${[...bin.forms]}`);
check(json.forms.size === 1 && json.forms.has("json"), `json got ${[...json.forms]}`);
const byTick = new Map(json.snapshots.map((s) => [s.tick, s]));
let compared = 0;
for (const s of bin.snapshots) {
  const other = byTick.get(s.tick);
  if (!other) continue;
  // The walker's entry, when both hold it, is the same in both forms.
  const a = at(s);
  const b = at(other);
  if (a && b) {
    check(a.x === b.x && a.y === b.y && a.name === b.name, `tick ${s.tick}: binary ${JSON.stringify(a)}, JSON ${JSON.stringify(b)}`);
    compared += 1;
  }
}
check(compared >= 3, `only ${compared} ticks had the walker in both views`);
// Own position and ack in the binary form are the welcome's and 0.
const last = bin.snapshots.at(-1);
check(last.x === bin.welcome.x && last.y === bin.welcome.y && last.ack === 0, `bin's own state ${JSON.stringify(last)}`);
check(bin.index.size === bin.view.size, `index holds ${bin.index.size}, view ${bin.view.size}`);

bin.socket.disconnect();
json.socket.disconnect();
clearTimeout(deadline);
console.log(`ok binary snapshots ${parser} (${compared} ticks compared, ${bin.snapshots.length} binary snapshots)`);
process.exit(0);
