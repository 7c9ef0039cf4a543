// Issue 13: one player of a Locus cluster on the official socket.io-client,
// driven by a Rust test (tests/cluster_*.rs) over stdin/stdout. It follows
// `moved` (CONNECT_ERROR {"message":"moved","data":{"url"}}) by connecting
// to that URL with the same token, and when its node goes away (or refuses
// with a retryable error) it connects again, with a short backoff, to the
// next of the node URLs it was given, which sends it on to the region's
// owner.
//
// Usage: node js/cluster_player.mjs TOKEN URL [URL...]
// stdout, one JSON object a line: {"event":"welcome","url","x","y"},
//   {"event":"moved","from","to"}, {"event":"retry","url","message"},
//   {"event":"disconnect","url","reason"}, {"event":"kicked","url","reason"},
//   {"event":"teleport","url","x","y","reason"}.
// stdin, one command a line: `move X Y` (a position event), `quit`.
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

function say(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

/** Connects to `url`; every way it can end leads to another attempt. */
function connect(url) {
  if (quitting) return;
  current = url;
  socket = io(url, { auth: { token }, reconnection: false, forceNew: true, timeout: 5000 });
  const mine = socket;
  socket.on("welcome", (w) => say({ event: "welcome", url, x: w.x, y: w.y }));
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
  } else if (command === "quit") {
    quitting = true;
    if (socket) socket.disconnect();
    process.exit(0);
  }
});
process.stdin.on("end", () => process.exit(0));
