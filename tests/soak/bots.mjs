// Soak bots for tests/soak/run.sh: BOTS players that log in once, then
// join, walk at random for 5-30 s, leave, wait 1-5 s and join again, until
// DURATION seconds have passed. Uses the official socket.io-client, unmodified.
// Usage: node bots.mjs URL BOTS DURATION_SECONDS
import { io } from "socket.io-client";

const [url, botsArg, durationArg] = process.argv.slice(2);
const bots = Number(botsArg ?? 40);
const until = Date.now() + Number(durationArg ?? 1800) * 1000;
const stats = { joins: 0, leaves: 0, snapshots: 0, kicked: 0, errors: 0 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rand = (lo, hi) => lo + Math.random() * (hi - lo);

async function post(path, body) {
  for (;;) {
    const res = await fetch(url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    if (res.status === 429) {
      await sleep(1000 * Number(res.headers.get("retry-after") ?? 1));
      continue;
    }
    return res;
  }
}

async function token(name) {
  const creds = { username: name, password: "soak-password-1" };
  const reg = await post("/api/register", creds);
  if (reg.status !== 201 && reg.status !== 409) throw new Error(`register ${name}: ${reg.status}`);
  const login = await post("/api/login", creds);
  if (login.status !== 200) throw new Error(`login ${name}: ${login.status}`);
  return (await login.json()).token;
}

/// One session: join, walk for `ms`, leave. Resolves when the socket is gone.
function session(tok, ms) {
  return new Promise((resolve) => {
    const socket = io(url, { auth: { token: tok }, reconnection: false, transports: ["websocket"] });
    let seq = 0;
    let walker;
    let here;
    const done = () => {
      clearInterval(walker);
      socket.close();
      resolve();
    };
    socket.on("welcome", (w) => {
      stats.joins++;
      here = { x: w.x, y: w.y };
      walker = setInterval(() => {
        here = { x: here.x + rand(-10, 10), y: here.y + rand(-10, 10) };
        socket.emit("position", { x: here.x, y: here.y, seq: ++seq });
      }, 100);
      setTimeout(() => {
        stats.leaves++;
        done();
      }, ms);
    });
    socket.on("snapshot", (s) => {
      stats.snapshots++;
      here = { x: s.x, y: s.y };
    });
    socket.on("teleport", (t) => (here = { x: t.x, y: t.y }));
    socket.on("kicked", () => stats.kicked++);
    socket.on("connect_error", () => {
      stats.errors++;
      done();
    });
    socket.on("disconnect", (reason) => {
      if (reason !== "io client disconnect") stats.errors++;
      done();
    });
  });
}

async function bot(i) {
  const tok = await token(`soak${i}`);
  while (Date.now() < until) {
    await session(tok, rand(5000, 30000));
    await sleep(rand(1000, 5000));
  }
}

const report = setInterval(() => console.log(new Date().toISOString(), JSON.stringify(stats)), 60000);
await Promise.all(Array.from({ length: bots }, (_, i) => bot(i)));
clearInterval(report);
console.log("done", JSON.stringify(stats));
