// Three official clients: two join a room, one shouts to it; only the other
// member gets it.
//
// Usage: node js/sio_rooms.mjs <url> <json|msgpack>
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";

const [url, parserName] = process.argv.slice(2);

function fail(message) {
  console.error(`FAIL [rooms/${parserName}]: ${message}`);
  process.exit(1);
}
const deadline = setTimeout(() => fail("timed out"), 20000);

const opts = { reconnection: false, forceNew: true, transports: ["websocket"], auth: { token: "secret" } };
if (parserName === "msgpack") opts.parser = msgpackParser;

async function client(name) {
  const socket = io(url, opts);
  socket.shouted = [];
  socket.on("shouted", (msg, from) => socket.shouted.push([msg, from]));
  await new Promise((resolve, reject) => {
    socket.once("welcome", resolve);
    socket.once("connect_error", reject);
  }).catch((err) => fail(`${name} connect: ${err.message}`));
  return socket;
}

const ack = (socket, event, ...args) => new Promise((resolve) => socket.emit(event, ...args, (...r) => resolve(r)));

const [a, b, c] = [await client("a"), await client("b"), await client("c")];
await ack(a, "join", "red");
await ack(b, "join", "red");

const got = new Promise((resolve) => b.once("shouted", (msg, from) => resolve([msg, from])));
a.emit("shout", "red", "hi");
const [msg, from] = await got;
if (msg !== "hi" || from !== a.id) fail(`b got ${msg} from ${from}`);

// Anything wrongly sent to a or c was queued before these replies.
await ack(a, "echo", "sync");
await ack(c, "echo", "sync");
if (a.shouted.length !== 0) fail(`the sender got its own shout: ${JSON.stringify(a.shouted)}`);
if (c.shouted.length !== 0) fail(`a non-member got the shout: ${JSON.stringify(c.shouted)}`);

for (const s of [a, b, c]) s.close();
clearTimeout(deadline);
console.log(`ok rooms ${parserName}`);
process.exit(0);
