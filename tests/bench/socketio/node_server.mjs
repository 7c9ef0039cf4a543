// The Node socket.io 4.8 side of the broadcast / idle-memory benchmark: the
// same bench protocol as server/examples/broadcast_bench.rs `serve`, so the
// same load client measures both.
//
//   node tests/bench/socketio/node_server.mjs [PORT]
//
// * path /socket.io/, namespace /, default settings (JSON parser, ping 25 s /
//   20 s, no per-message deflate);
// * a socket whose auth is {"role":"controller"} stays out of the room; every
//   other socket joins room "bench";
// * `start` {count: K} emits `tick` with a 100-character string to room
//   "bench" K times (socket.io encodes each broadcast once);
// * `size` with an ack answers the number of sockets in room "bench".
//
// Prints "listening on http://127.0.0.1:PORT" to stderr once bound. Owns only
// this wiring; runs from tests/ so that tests/node_modules resolves.

import { createServer } from "node:http";
import { Server } from "socket.io";

const ROOM = "bench";
const PAYLOAD = "x".repeat(100);
const port = Number(process.argv[2] ?? 0);

const http = createServer();
const io = new Server(http);

io.on("connection", (socket) => {
  if (socket.handshake.auth?.role !== "controller") {
    socket.join(ROOM);
  }
  socket.on("start", (request) => {
    const count = Number(request?.count ?? 1);
    const room = io.to(ROOM);
    for (let i = 0; i < count; i++) {
      room.emit("tick", PAYLOAD);
    }
  });
  socket.on("size", (ack) => {
    if (typeof ack === "function") {
      ack(io.of("/").adapter.rooms.get(ROOM)?.size ?? 0);
    }
  });
});

http.listen(port, "127.0.0.1", () => {
  console.error(`listening on http://127.0.0.1:${http.address().port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
