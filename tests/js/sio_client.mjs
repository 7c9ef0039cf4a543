// Drives the official socket.io-client against the Rust server started by
// tests/interop_socketio.rs: connect with auth, acks both ways, binary,
// a second namespace, a refused connection, disconnect.
//
// Usage: node js/sio_client.mjs <url> <websocket|polling|upgrade> <json|msgpack>
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";

const [url, mode, parserName] = process.argv.slice(2);

let step = "start";
function fail(message) {
  console.error(`FAIL [${mode}/${parserName}] at ${step}: ${message}`);
  process.exit(1);
}
const deadline = setTimeout(() => fail("timed out"), 20000);

function check(condition, message) {
  if (!condition) fail(message);
}

function same(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  check(a === e, `${what}: got ${a}, expected ${e}`);
}

const base = { reconnection: false, forceNew: true, timeout: 5000 };
if (mode === "websocket") base.transports = ["websocket"];
else if (mode === "polling") base.transports = ["polling"];
else if (mode === "upgrade") base.transports = ["polling", "websocket"];
else fail(`unknown mode ${mode}`);
if (parserName === "msgpack") base.parser = msgpackParser;

function connected(socket, event) {
  return new Promise((resolve, reject) => {
    socket.once(event, resolve);
    socket.once("connect_error", reject);
  });
}

function withAck(socket, event, ...args) {
  return new Promise((resolve) => socket.emit(event, ...args, (...reply) => resolve(reply)));
}

const socket = io(url, { ...base, auth: { token: "secret" } });
step = "connect";
const welcome = await connected(socket, "welcome").catch((err) => fail(`connect: ${err.message}`));
check(socket.connected, "not connected after welcome");
same(welcome, { sid: socket.id }, "welcome payload");
check(socket.id !== socket.io.engine.id, "the Socket.IO id must differ from the Engine.IO id");

step = "transport";
if (mode === "upgrade") {
  if (socket.io.engine.transport.name !== "websocket") {
    await new Promise((resolve) => socket.io.engine.once("upgrade", resolve));
  }
  same(socket.io.engine.transport.name, "websocket", "transport after upgrade");
} else {
  same(socket.io.engine.transport.name, mode, "transport");
}

step = "echo";
// Client -> server ack with several arguments.
same(await withAck(socket, "echo", 1, "2", { 3: [true] }), [1, "2", { 3: [true] }], "echo ack");
// emitWithAck resolves with the first argument.
same(await socket.timeout(5000).emitWithAck("echo", { k: "v" }), { k: "v" }, "emitWithAck");

step = "binary";
// Binary both ways, nested too.
const [buf, nested] = await withAck(socket, "echo", Buffer.from([1, 2, 3]), { inner: Buffer.from([4, 5]) });
check(Buffer.from(buf).equals(Buffer.from([1, 2, 3])), `binary echo: ${buf}`);
check(Buffer.from(nested.inner).equals(Buffer.from([4, 5])), `nested binary echo: ${JSON.stringify(nested)}`);

step = "ask";
// Server -> client ack.
socket.on("question", (n, callback) => callback({ answer: n * 2 }));
same(await withAck(socket, "ask", 21), [{ answer: 42 }], "server-side emit with ack");

step = "admin";
// A second namespace on the same connection.
// (Manager.socket() connects by itself; calling connect() too would send a
// second CONNECT, which closes the connection.)
const admin = socket.io.socket("/admin");
same(await connected(admin, "hello-admin"), { nsp: "/admin" }, "admin hello");
same(await withAck(admin, "echo", "from admin"), ["from admin"], "admin echo");
admin.disconnect();

step = "refused";
// A refused connection gets connect_error with message and data.
const refused = io(url, { ...base, auth: { token: "wrong" } });
const err = await new Promise((resolve) => refused.once("connect_error", resolve));
same(err.message, "unauthorized", "refusal message");
same(err.data, { reason: "bad token" }, "refusal data");
refused.close();

step = "kick";
// Server-initiated namespace disconnect.
const reason = await new Promise((resolve) => {
  socket.once("disconnect", resolve);
  socket.emit("kick-me");
});
same(reason, "io server disconnect", "disconnect reason");
socket.close();

clearTimeout(deadline);
console.log(`ok ${mode} ${parserName}`);
process.exit(0);
