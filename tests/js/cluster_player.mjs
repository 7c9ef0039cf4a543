// Issue 13: one player of a Locus cluster on the official socket.io-client,
// driven by a Rust test (tests/cluster_*.rs) over stdin/stdout. It follows
// `moved` (CONNECT_ERROR {"message":"moved","data":{"url"}}) by connecting
// to that URL with the same token, and `migrate` (event {"url"}: handed over
// to that node) by connecting there at once with the same token; the old
// node's disconnect that follows a migrate is printed but not retried. When
// its node goes away (or refuses with a retryable error) it connects again,
// with a short backoff, to the next of the node URLs it was given, which
// sends it on to the region's owner.
//
// It holds its view from the JSON snapshots ({"tick","ack","x","y","enter":
// [{"id","name","x","y"}],"move":[[id,x,y]],"leave":[id]}), starting empty at
// every welcome (a connection's first snapshot lists everyone in view), and
// prints it only when asked (`report`), to keep the output small.
//
// Usage: node js/cluster_player.mjs TOKEN URL [URL...]
// stdout, one JSON object a line: {"event":"welcome","url","x","y"},
//   {"event":"moved","from","to"}, {"event":"migrate","from","to"},
//   {"event":"retry","url","message"}, {"event":"disconnect","url","reason"},
//   {"event":"kicked","url","reason"}, {"event":"teleport","url","x","y","reason"},
//   {"event":"chat","url","id","name","text"} (a chat line received),
//   {"event":"report","url","x","y","seen":[ids in view, sorted],
//    "left":[every id of every snapshot's leave list, in order]} (x,y: the own
//    position of the last snapshot, null before any).
// stdin, one command a line: `move X Y` (a position event), `chat TEXT...`
//   (a chat event with the rest of the line), `report`, `quit`.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [token, ...urls] = process.argv.slice(2);
if (!token || urls.length === 0) {
  console.error("usage: cluster_player.mjs TOKEN URL [URL...]");
  process.exit(2);
}

const RETRY_MS = 300;
let socket = null;
let current = null;
let next = 0;
let seq = 0;
let quitting = false;
/** Own position of the last snapshot, or null. */
let self = null;
/** Ids in view on the current connection. */
let seen = new Set();
/** Every id of every leave list, in order, over every connection. */
const left = [];

function say(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

/** Connects to `url`; every way it can end leads to another attempt. */
function connect(url) {
  if (quitting) return;
  current = url;
  socket = io(url, { auth: { token }, reconnection: false, forceNew: true, timeout: 5000 });
  const mine = socket;
  socket.on("welcome", (w) => {
    if (mine !== socket) return;
    seen = new Set();
    say({ event: "welcome", url, x: w.x, y: w.y });
  });
  socket.on("snapshot", (s) => {
    if (mine !== socket) return;
    if (Number.isFinite(s.x) && Number.isFinite(s.y)) self = [s.x, s.y];
    for (const id of s.leave ?? []) {
      seen.delete(id);
      left.push(id);
    }
    for (const e of s.enter ?? []) seen.add(e.id);
  });
  socket.on("chat", (m) => say({ event: "chat", url, id: m.id, name: m.name, text: m.text }));
  socket.on("migrate", (m) => {
    if (mine !== socket || !m || typeof m.url !== "string" || !/^https?:\/\/[^/]/.test(m.url)) return;
    say({ event: "migrate", from: url, to: m.url });
    // The old node disconnects this socket next: `retry(mine)` then sees a newer socket.
    connect(m.url);
  });
  socket.on("teleport", (t) => say({ event: "teleport", url, x: t.x, y: t.y, reason: t.reason }));
  socket.on("kicked", (k) => say({ event: "kicked", url, reason: k.reason }));
  socket.on("connect_error", (err) => {
    if (err.message === "moved" && err.data && typeof err.data.url === "string") {
      say({ event: "moved", from: url, to: err.data.url });
      connect(err.data.url);
      return;
    }
    say({ event: "retry", url, message: err.message });
    setTimeout(() => retry(mine), RETRY_MS);
  });
  socket.on("disconnect", (reason) => {
    say({ event: "disconnect", url, reason });
    if (reason !== "io client disconnect") setTimeout(() => retry(mine), RETRY_MS);
  });
}

/** Another attempt, on the next given URL, unless a newer socket exists. */
function retry(from) {
  if (from !== socket || quitting) return;
  const url = urls[next % urls.length];
  next += 1;
  connect(url);
}

connect(urls[0]);

createInterface({ input: process.stdin }).on("line", (line) => {
  const [command, x, y] = line.trim().split(/\s+/);
  if (command === "move" && socket) {
    seq += 1;
    socket.emit("position", { x: Number(x), y: Number(y), seq });
  } else if (command === "chat" && socket) {
    socket.emit("chat", { text: line.trim().replace(/^chat\s+/, "") });
  } else if (command === "report") {
    say({
      event: "report",
      url: current,
      x: self ? self[0] : null,
      y: self ? self[1] : null,
      seen: [...seen].sort((a, b) => a - b),
      left,
    });
  } else if (command === "quit") {
    quitting = true;
    if (socket) socket.disconnect();
    process.exit(0);
  }
});
process.stdin.on("end", () => process.exit(0));
