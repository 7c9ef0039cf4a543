// Unit tests for static/world.js: snapshot delta application, the server
// clock, interpolation of other players, and own-player prediction with
// reconciliation. All times are plain numbers; nothing sleeps.
// Run: node --test tests/js/

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  OwnPlayer, RemoteTrack, ServerClock, applySnapshot, clampToWorld, nameHue, roundWire, stepToward,
} from '../../static/world.js';

/** Small seeded PRNG so failures reproduce. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const near = (a, b, eps, msg) => assert.ok(Math.abs(a - b) <= eps, `${msg ?? ''} ${a} vs ${b} (eps ${eps})`);

describe('applySnapshot', () => {
  it('applies enter, move and leave', () => {
    const view = new Map();
    applySnapshot(view, { enter: [{ id: 2, name: 'bob', x: 10, y: 20 }, { id: 3, name: 'cy', x: 0, y: 0 }], move: [], leave: [] }, 1);
    assert.deepEqual([...view.keys()], ['2', '3']);
    const r = applySnapshot(view, { enter: [], move: [[2, 11, 21]], leave: [3] }, 1);
    assert.deepEqual(r, { entered: [], moved: ['2'], left: ['3'], skipped: 0 });
    assert.deepEqual(view.get('2'), { id: 2, name: 'bob', x: 11, y: 21 });
    assert.equal(view.has('3'), false);
  });

  it('treats numeric and string ids alike', () => {
    const view = new Map();
    applySnapshot(view, { enter: [{ id: 'a7', name: 'x', x: 1, y: 1 }, { id: 7, name: 'y', x: 1, y: 1 }] }, null);
    applySnapshot(view, { move: [['a7', 2, 2], ['7', 3, 3]] }, null);
    assert.equal(view.get('a7').x, 2);
    assert.equal(view.get('7').x, 3);
  });

  it('keeps an id that a merged snapshot lists as leaving and entering', () => {
    const view = new Map([['2', { id: 2, name: 'bob', x: 0, y: 0 }]]);
    applySnapshot(view, { enter: [{ id: 2, name: 'bob', x: 50, y: 50 }], move: [], leave: [2] }, 1);
    assert.deepEqual(view.get('2'), { id: 2, name: 'bob', x: 50, y: 50 });
  });

  it('never stores the own player', () => {
    const view = new Map();
    applySnapshot(view, { enter: [{ id: 1, name: 'me', x: 0, y: 0 }], move: [[1, 5, 5]] }, 1);
    assert.equal(view.size, 0);
  });

  it('skips malformed entries without losing the good ones', () => {
    const view = new Map([['2', { id: 2, name: 'bob', x: 0, y: 0 }]]);
    const r = applySnapshot(view, {
      enter: [null, { id: 4, name: 'ok', x: 1, y: 2 }, { id: 5, name: 'nan', x: 'a', y: 1 }, { name: 'noid', x: 1, y: 1 }],
      move: [[2, 9, 9], [2], 'junk', [99, 1, 1], [2, Infinity, 1]],
      leave: 'not a list',
    }, 1);
    assert.equal(r.skipped, 3 + 4);
    assert.deepEqual(view.get('2'), { id: 2, name: 'bob', x: 9, y: 9 });
    assert.deepEqual(view.get('4'), { id: 4, name: 'ok', x: 1, y: 2 });
    assert.equal(view.size, 2);
  });

  it('tolerates missing lists (a snapshot that only carries the own position)', () => {
    const view = new Map([['2', { id: 2, name: 'bob', x: 0, y: 0 }]]);
    applySnapshot(view, { tick: 5, ack: 1, x: 3, y: 3 }, 1);
    assert.equal(view.size, 1);
  });

  it('holds exactly the players in view after any sequence of deltas', () => {
    // A reference server: random walkers, one viewer, enter at R, leave beyond R+100.
    const R = 600;
    const rand = rng(42);
    const walkers = new Map();
    for (let i = 2; i < 60; i++) walkers.set(i, { x: rand() * 3000, y: rand() * 3000, online: true });
    const viewer = { x: 1500, y: 1500 };
    const sent = new Map(); // what the server believes the client holds
    const client = new Map();
    for (let tick = 1; tick <= 400; tick++) {
      viewer.x += (rand() - 0.5) * 40;
      viewer.y += (rand() - 0.5) * 40;
      for (const [id, w] of walkers) {
        w.x += (rand() - 0.5) * 60;
        w.y += (rand() - 0.5) * 60;
        if (rand() < 0.01) w.online = !w.online;
        if (rand() < 0.003) { w.x = rand() * 3000; w.y = rand() * 3000; } // teleport
        walkers.set(id, w);
      }
      const enter = [];
      const move = [];
      const leave = [];
      for (const [id, last] of sent) {
        const w = walkers.get(id);
        const d = Math.hypot(w.x - viewer.x, w.y - viewer.y);
        if (!w.online || d > R + 100) { sent.delete(id); leave.push(id); } else {
          const x = roundWire(w.x);
          const y = roundWire(w.y);
          if (x !== last.x || y !== last.y) { move.push([id, x, y]); sent.set(id, { x, y }); }
        }
      }
      for (const [id, w] of walkers) {
        if (sent.has(id) || !w.online || Math.hypot(w.x - viewer.x, w.y - viewer.y) > R) continue;
        const x = roundWire(w.x);
        const y = roundWire(w.y);
        sent.set(id, { x, y });
        enter.push({ id, name: `p${id}`, x, y });
      }
      applySnapshot(client, { tick, ack: 0, x: viewer.x, y: viewer.y, enter, move, leave }, 1);
      assert.deepEqual(
        [...client.entries()].map(([k, v]) => [k, v.x, v.y]).sort(),
        [...sent.entries()].map(([k, v]) => [String(k), v.x, v.y]).sort(),
        `tick ${tick}`,
      );
    }
  });
});

describe('ServerClock', () => {
  it('takes the least delayed arrival as the offset', () => {
    const c = new ServerClock(50);
    c.observe(100, 5000 + 30); // 30 ms late
    c.observe(101, 5050 + 5); //  5 ms late
    c.observe(102, 5100 + 40); // 40 ms late: only creeps
    near(c.offset, 5000 - 100 * 50 + 5 + Math.min(35, 50) * 0.02, 1e-9);
    assert.equal(c.tick, 102);
    near(c.serverTime(6000), 6000 - c.offset, 1e-9);
  });

  it('follows a clock that drifts slower, bounded per step', () => {
    const c = new ServerClock(50);
    c.observe(0, 0);
    for (let t = 1; t < 2000; t++) c.observe(t, t * 50 + t * 0.05); // server 0.1% slow
    const expected = 1999 * 0.05;
    assert.ok(Math.abs(c.offset - expected) < 5, `offset ${c.offset} should track ${expected}`);
  });

  it('knows nothing before the first snapshot', () => {
    assert.equal(new ServerClock(50).serverTime(123), null);
  });

  it('ignores a non-numeric tick', () => {
    const c = new ServerClock(50);
    c.observe(undefined, 10);
    assert.equal(c.offset, null);
  });
});

describe('RemoteTrack interpolation', () => {
  it('interpolates linearly between samples and holds the ends', () => {
    const tr = new RemoteTrack(0, 0, 0);
    tr.push(50, 10, 20, 50);
    assert.deepEqual(tr.sample(25), { x: 5, y: 10 });
    assert.deepEqual(tr.sample(-100), { x: 0, y: 0 });
    assert.deepEqual(tr.sample(1000), { x: 10, y: 20 });
  });

  it('starts a player that stood still at the right moment', () => {
    const tr = new RemoteTrack(0, 100, 100);
    // silent for 2 s, then one tick of movement
    tr.push(2050, 115, 100, 50);
    assert.deepEqual(tr.sample(1000), { x: 100, y: 100 }, 'not gliding across the 2 s gap');
    assert.deepEqual(tr.sample(2025), { x: 107.5, y: 100 });
  });

  it('snaps across a teleport instead of sliding over the map', () => {
    const tr = new RemoteTrack(0, 0, 0);
    tr.push(50, 15, 0, 50, 100);
    tr.push(100, 2000, 2000, 50, 100);
    const mid = tr.sample(75);
    assert.ok(mid.x <= 15 || mid.x >= 2000, `no in-between position, got ${mid.x}`);
    assert.deepEqual(tr.sample(100), { x: 2000, y: 2000 });
  });

  it('lets the newest sample of a tick win and ignores older ticks', () => {
    const tr = new RemoteTrack(0, 0, 0);
    tr.push(50, 5, 5, 50);
    tr.push(50, 6, 6, 50);
    tr.push(25, 99, 99, 50);
    assert.deepEqual(tr.samples.map((s) => s.x), [0, 6]);
  });

  it('prunes samples but keeps what is needed for later times', () => {
    const tr = new RemoteTrack(0, 0, 0);
    for (let i = 1; i <= 10; i++) tr.push(i * 50, i, 0, 50);
    tr.prune(260);
    assert.equal(tr.samples[0].t, 250);
    assert.deepEqual(tr.sample(275), { x: 5.5, y: 0 });
  });

  it('bounds its memory', () => {
    const tr = new RemoteTrack(0, 0, 0);
    for (let i = 1; i <= 1000; i++) tr.push(i * 50, i, 0, 50);
    assert.ok(tr.samples.length <= 64);
  });

  it('moves smoothly at 60 fps from 20 Hz snapshots with arrival jitter', () => {
    const tickMs = 50;
    const speed = 300; // units/s
    const rand = rng(7);
    const clock = new ServerClock(tickMs);
    let track = null;
    const arrivals = [];
    for (let tick = 0; tick <= 80; tick++) {
      arrivals.push({ tick, at: tick * tickMs + 20 + rand() * 30, x: 1000 + (speed * tick * tickMs) / 1000 });
    }
    const drawn = [];
    let next = 0;
    for (let now = 0; now < 80 * tickMs; now += 1000 / 60) {
      while (next < arrivals.length && arrivals[next].at <= now) {
        const a = arrivals[next++];
        clock.observe(a.tick, a.at);
        if (!track) track = new RemoteTrack(a.tick * tickMs, a.x, 0);
        else track.push(a.tick * tickMs, a.x, 0, tickMs);
      }
      if (track && now > 500) drawn.push(track.sample(clock.serverTime(now) - 100).x);
    }
    const steps = drawn.slice(1).map((x, i) => x - drawn[i]);
    const ideal = speed / 60;
    for (const s of steps) {
      assert.ok(s >= 0, 'never moves backwards');
      assert.ok(Math.abs(s - ideal) < ideal * 0.5, `frame step ${s.toFixed(2)} far from ${ideal.toFixed(2)}`);
    }
  });
});

describe('OwnPlayer prediction', () => {
  const world = { width: 4096, height: 4096 };
  const make = (x = 2048, y = 2048) => new OwnPlayer({ speed: 300, tickMs: 50, world, x, y });

  it('moves at speed in the held direction, diagonals normalised', () => {
    const p = make();
    p.advance(1000, { x: 1, y: 0 });
    near(p.x, 2348, 1e-9);
    p.advance(1000, { x: 1, y: 1 });
    near(Math.hypot(p.x - 2348, p.y - 2048), 300, 1e-9);
  });

  it('stays inside the world', () => {
    const p = make(10, 10);
    p.advance(1000, { x: -1, y: -1 });
    assert.deepEqual([p.x, p.y], [0, 0]);
    const q = make(4090, 2000);
    q.advance(1000, { x: 1, y: 0 });
    assert.equal(q.x, 4096);
  });

  it('walks to a clicked point and stops there', () => {
    const p = make(0, 0);
    p.moveTo(30, 40);
    p.advance(100, null);
    near(Math.hypot(p.x, p.y), 30, 1e-9);
    p.advance(1000, null);
    assert.deepEqual([p.x, p.y], [30, 40]);
    assert.equal(p.target, null);
    assert.equal(p.advance(100, null), false, 'no movement once arrived');
  });

  it('keys cancel a click target', () => {
    const p = make();
    p.moveTo(0, 0);
    p.advance(100, { x: 1, y: 0 });
    assert.equal(p.target, null);
  });

  it('sends only while moving, seq up by one, rounded to 0.01', () => {
    const p = make();
    assert.equal(p.takeOutgoing(0), null);
    p.advance(50, { x: 1, y: 0 });
    assert.deepEqual(p.takeOutgoing(50), { x: 2063, y: 2048, seq: 1 });
    p.advance(33.333, { x: 1, y: 0 });
    const out = p.takeOutgoing(83);
    assert.equal(out.seq, 2);
    assert.equal(out.x, roundWire(out.x));
    assert.equal(p.takeOutgoing(100), null);
    assert.equal(p.pending.length, 2);
  });

  it('keeps the prediction when the server trails by a tick', () => {
    const p = make();
    p.advance(50, { x: 1, y: 0 });
    p.takeOutgoing(50);
    p.advance(50, { x: 1, y: 0 });
    p.takeOutgoing(100);
    const before = p.x;
    assert.equal(p.reconcile(1, 2048 + 10, 2048, 120), 'ok');
    assert.equal(p.x, before);
    assert.deepEqual(p.pending.map((e) => e.seq), [2]);
  });

  it('glides to a moderate correction, replaying the input still in flight', () => {
    const p = make();
    p.advance(50, { x: 1, y: 0 }); // 2063
    p.takeOutgoing(50);
    p.advance(50, { x: 1, y: 0 }); // 2078
    p.takeOutgoing(100);
    // the server put us 80 units lower than target #1
    assert.equal(p.reconcile(1, 2063, 2128, 120), 'smoothed');
    near(p.x, 2078, 1e-9, 'unacked movement kept');
    near(p.y, 2128, 1e-9, 'error applied');
    near(p.pending[0].y, 2128, 1e-9, 'in-flight target shifted too, so it is not corrected twice');
    const drawn = p.renderPosition(0);
    near(drawn.y, 2048, 1e-9, 'no visible jump at the moment of correction');
    let y = drawn.y;
    for (let i = 0; i < 60; i++) y = p.renderPosition(16).y; // ~16 half-lives
    near(y, 2128, 0.05, 'visual offset decays');
    assert.equal(p.reconcile(2, 2078, 2128, 170), 'ok', 'second ack agrees');
  });

  it('snaps when far off', () => {
    const p = make();
    p.advance(50, { x: 1, y: 0 });
    p.takeOutgoing(50);
    assert.equal(p.reconcile(1, 500, 500, 80), 'snapped');
    assert.deepEqual([p.x, p.y], [500, 500]);
    assert.deepEqual(p.renderPosition(0), { x: 500, y: 500 });
    assert.equal(p.corrections.snapped, 1);
  });

  it('ignores snapshots older than the newest ack', () => {
    const p = make();
    p.reconcile(5, 1, 1, 0);
    assert.equal(p.reconcile(4, 9, 9, 10), 'stale');
    assert.equal(p.reconcile(5, NaN, 1, 10), 'stale');
  });

  it('settles onto the server position once idle and acknowledged', () => {
    const p = make();
    p.advance(50, { x: 1, y: 0 });
    p.takeOutgoing(50);
    p.reconcile(1, 2060, 2048, 100); // within lag allowance
    assert.equal(p.settle(110, true), 'waiting', 'server may still be moving');
    assert.equal(p.settle(300, false), 'waiting', 'not while input is held');
    assert.equal(p.settle(300, true), 'smoothed');
    near(p.x, 2060, 1e-9);
    assert.equal(p.takeOutgoing(310), null, 'no need to send where the server already is');
    assert.equal(p.settle(400, true), 'ok');
  });

  it('re-sends a position that was never acknowledged', () => {
    const p = make();
    p.advance(50, { x: 1, y: 0 });
    p.takeOutgoing(50);
    assert.equal(p.settle(500, true), 'waiting');
    p.settle(1200, true);
    assert.equal(p.pending.length, 0);
    assert.deepEqual(p.takeOutgoing(1210), { x: 2063, y: 2048, seq: 2 });
  });

  it('starts each connection at seq 0 from the welcome position', () => {
    const p = make();
    p.advance(50, { x: 1, y: 0 });
    p.takeOutgoing(50);
    p.reconcile(1, 2063, 2048, 60);
    p.newSession(100, 200, 70);
    assert.deepEqual([p.x, p.y, p.seq, p.server.ack, p.pending.length], [100, 200, 0, 0, 0]);
    p.advance(50, { x: 0, y: 1 });
    assert.equal(p.takeOutgoing(120).seq, 1);
  });

  it('continues a handed-over session from its prediction, so the walk never goes back', () => {
    const p = make(0, 0);
    p.moveTo(300, 0);
    p.advance(100, null);
    assert.deepEqual(p.takeOutgoing(100), { x: 30, y: 0, seq: 1 });
    // The old node handed the player over at x = 20 (one tick behind) with our target x = 30,
    // which the new node walks on to: we predict on from 30, not from 20.
    p.continueSession(20, 0, 150);
    assert.deepEqual([p.x, p.y, p.seq, p.server.ack, p.pending.length], [30, 0, 1, 0, 0], 'seq goes on');
    assert.deepEqual(p.server, { x: 20, y: 0, ack: 0, at: 150 });
    assert.deepEqual(p.target, { x: 300, y: 0 }, 'still walking to the clicked point');
    assert.deepEqual(p.renderPosition(0), { x: 30, y: 0 }, 'drawn where it was: no jump back');
    assert.deepEqual(p.takeOutgoing(160), { x: 30, y: 0, seq: 2 }, 'the prediction is sent once more');
    p.advance(100, null);
    assert.deepEqual(p.takeOutgoing(260), { x: 60, y: 0, seq: 3 }, 'and goes on ahead of the server');
    // The new node acks from 0 (a fresh connection) or from the old node's ack: both are taken.
    assert.equal(p.reconcile(0, 20, 0, 270), 'ok');
    assert.equal(p.reconcile(3, 60, 0, 300), 'ok');
    assert.deepEqual([p.server.ack, p.pending.length], [3, 0]);
    // Held keys walk on from the prediction too: every target sent is ahead of the last.
    const k = make(0, 0);
    k.advance(100, { x: 1, y: 0 });
    assert.deepEqual(k.takeOutgoing(100), { x: 30, y: 0, seq: 1 });
    k.continueSession(15, 0, 120);
    k.advance(20, { x: 1, y: 0 });
    assert.deepEqual(k.takeOutgoing(140), { x: 36, y: 0, seq: 2 });
    // Handed over far from where it was predicted: a jump, not a slow slide.
    const q = make(0, 0);
    q.moveTo(300, 0);
    q.continueSession(1000, 1000, 10);
    assert.deepEqual([q.x, q.y], [1000, 1000]);
    assert.deepEqual(q.renderPosition(0), { x: 1000, y: 1000 });
    assert.equal(q.target, null);
  });

  it('reset drops in-flight input and does not send the new position back', () => {
    const p = make();
    p.advance(50, { x: 1, y: 0 });
    p.takeOutgoing(50);
    p.reset(10, 10, 60);
    assert.equal(p.pending.length, 0);
    assert.equal(p.takeOutgoing(70), null);
    assert.equal(p.reconcile(1, 2063, 2048, 80), 'ok', 'the stale ack has no target to compare');
  });

  it('teleport sends the new position once so the server stops walking to the old target', () => {
    const p = make();
    p.advance(50, { x: 1, y: 0 });
    p.takeOutgoing(50);
    p.teleport(10, 20, 60);
    assert.deepEqual([p.x, p.y, p.pending.length], [10, 20, 0]);
    assert.deepEqual(p.takeOutgoing(70), { x: 10, y: 20, seq: 2 });
    assert.equal(p.takeOutgoing(120), null);
  });

  /**
   * Client and a simulated authoritative server with one-way latency `lat`:
   * the server moves toward the newest target by speed*dt per tick.
   */
  function simulate({ serverSpeed = 300, lat = 40, seconds = 3, seed = 1 }) {
    const rand = rng(seed);
    const p = make();
    const server = { x: p.x, y: p.y, target: { x: p.x, y: p.y }, ack: 0 };
    const toServer = [];
    const toClient = [];
    let nextTick = 50;
    let lastSend = 0;
    const results = [];
    const frame = 1000 / 60;
    for (let now = 0; now < seconds * 1000 + 1500; now += frame) {
      const moving = now < seconds * 1000;
      const dir = moving ? (now < 1500 ? { x: 1, y: 0 } : { x: 0, y: 1 }) : null;
      p.advance(frame, dir);
      if (now - lastSend >= 46) {
        const out = p.takeOutgoing(now);
        if (out) toServer.push({ at: now + lat + rand() * 10, msg: out });
        lastSend = now;
      }
      while (nextTick <= now) {
        while (toServer.length && toServer[0].at <= nextTick) {
          const { msg } = toServer.shift();
          server.target = { x: msg.x, y: msg.y };
          server.ack = msg.seq;
        }
        const s = stepToward(server, server.target, serverSpeed * 0.05);
        server.x = roundWire(s.x);
        server.y = roundWire(s.y);
        toClient.push({ at: nextTick + lat + rand() * 10, msg: { ack: server.ack, x: server.x, y: server.y } });
        nextTick += 50;
      }
      while (toClient.length && toClient[0].at <= now) {
        const { msg } = toClient.shift();
        results.push(p.reconcile(msg.ack, msg.x, msg.y, now));
      }
      p.settle(now, !dir);
    }
    return { p, server, results };
  }

  it('converges on the server with no corrections when both agree on speed', () => {
    const { p, server, results } = simulate({});
    assert.ok(!results.includes('snapped') && !results.includes('smoothed'), `corrections: ${results.filter((r) => r !== 'ok')}`);
    near(p.x, server.x, 0.01);
    near(p.y, server.y, 0.01);
  });

  it('converges on a slower server and never snaps', () => {
    const { p, server, results } = simulate({ serverSpeed: 270, seed: 3 });
    assert.ok(!results.includes('snapped'));
    near(p.x, server.x, 0.01);
    near(p.y, server.y, 0.01);
  });
});

describe('helpers', () => {
  it('stepToward stops exactly on the target', () => {
    assert.deepEqual(stepToward({ x: 0, y: 0 }, { x: 3, y: 4 }, 10), { x: 3, y: 4, arrived: true });
    const s = stepToward({ x: 0, y: 0 }, { x: 30, y: 40 }, 5);
    assert.deepEqual([s.x, s.y, s.arrived], [3, 4, false]);
  });

  it('clampToWorld', () => {
    assert.deepEqual(clampToWorld({ x: -1, y: 5000 }, { width: 4096, height: 4096 }), { x: 0, y: 4096 });
  });

  it('nameHue is stable and spread', () => {
    assert.equal(nameHue('alice'), nameHue('alice'));
    const hues = new Set(['alice', 'bob', 'carol', 'dave', 'erin', 'frank'].map(nameHue));
    assert.ok(hues.size >= 5);
    for (const h of hues) assert.ok(h >= 0 && h < 360);
  });
});
