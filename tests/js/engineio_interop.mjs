// Drives the official `engine.io-client` against a Locus engine.
//
// Usage: node js/engineio_interop.mjs <http://host:port> <websocket|polling|upgrade>
//
// Checks, for the chosen transport setup: the handshake, text and binary
// echo (small, large, and a burst that polling must batch), at least two
// server pings answered, and a clean close. Prints `ok <mode>` and exits 0
// on success; any failure exits 1 with the reason on stderr.
import { Socket } from "engine.io-client";

const [url, mode] = process.argv.slice(2);
const setups = {
  websocket: { transports: ["websocket"], expect: "websocket" },
  polling: { transports: ["polling"], expect: "polling" },
  upgrade: { transports: ["polling", "websocket"], expect: "websocket" },
};
const setup = setups[mode];
if (!url || !setup) {
  console.error("usage: engineio_interop.mjs <url> <websocket|polling|upgrade>");
  process.exit(2);
}

const fail = (reason) => {
  console.error(`FAIL ${mode}: ${reason}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 30_000).unref();

const socket = new Socket(url, { path: "/engine.io/", transports: setup.transports });
socket.on("error", (error) => fail(`socket error: ${error?.message ?? error}`));

const once = (event) => new Promise((resolve) => socket.once(event, resolve));
const nextMessage = () => once("message");

function sameBytes(received, expected) {
  const bytes = received instanceof ArrayBuffer ? new Uint8Array(received) : new Uint8Array(received.buffer, received.byteOffset, received.byteLength);
  return bytes.length === expected.length && bytes.every((b, i) => b === expected[i]);
}

async function echo(payload, label) {
  const reply = nextMessage();
  socket.send(payload);
  const data = await reply;
  if (typeof payload === "string") {
    if (data !== payload) fail(`${label}: echoed ${JSON.stringify(String(data).slice(0, 80))}`);
  } else if (typeof data === "string" || !sameBytes(data, payload)) {
    fail(`${label}: binary echo differs`);
  }
}

await once("open");
if (mode === "upgrade" && socket.transport.name !== "websocket") {
  await once("upgrade");
}
if (socket.transport.name !== setup.expect) fail(`transport is ${socket.transport.name}, expected ${setup.expect}`);

await echo("hello", "text");
await echo("héllo ✓ \u{1F600}", "unicode text");
await echo(Uint8Array.from([1, 2, 3, 4]), "binary");
await echo(Uint8Array.from([52, 0, 255]), "binary starting with '4'");
await echo("x".repeat(100_000), "large text");
await echo(new Uint8Array(64 * 1024).map((_, i) => i % 251), "large binary");

// A burst: every echo comes back, in order (polling batches them).
const burst = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
const received = [];
const allBack = new Promise((resolve) => {
  const onMessage = (data) => {
    received.push(data);
    if (received.length === burst.length) {
      socket.off("message", onMessage);
      resolve();
    }
  };
  socket.on("message", onMessage);
});
burst.forEach((message) => socket.send(message));
await allBack;
if (received.join() !== burst.join()) fail(`burst came back as ${received.join()}`);

// The heartbeat keeps the session alive across several pings.
for (let i = 0; i < 2; i++) await once("ping");
if (socket.readyState !== "open") fail(`not open after pings: ${socket.readyState}`);
if (socket.transport.name !== setup.expect) fail(`transport changed to ${socket.transport.name}`);

const closed = once("close");
socket.close();
const reason = await closed;
if (reason !== "forced close") fail(`closed with ${reason}`);
console.log(`ok ${mode}`);
// Let the client finish sending its close (a POST on polling) before node
// exits; never wait more than a few seconds for stray handles.
setTimeout(() => process.exit(0), 5_000).unref();
