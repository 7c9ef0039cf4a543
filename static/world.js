// Locus client: the pure game-state math.
//
// Owns: the set of players in view (applying `snapshot` deltas exactly as
// protocol.md says), the mapping from server ticks to local time, the
// interpolation of other players ~100 ms in the past, and the prediction of
// the own player with reconciliation against `snapshot.ack` / `snapshot.x,y`.
// Must not touch: sockets, the DOM, timers or clocks. Every time is passed in
// as a number of milliseconds, so node tests can drive it deterministically.

/** Positions on the wire are rounded to 0.01 unit (protocol.md). */
export function roundWire(v) {
  return Math.round(v * 100) / 100;
}

export function clamp(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Keeps a point inside the world rectangle [0,width] x [0,height]. */
export function clampToWorld(p, world) {
  return { x: clamp(p.x, 0, world.width), y: clamp(p.y, 0, world.height) };
}

/** Moves `from` toward `to` by at most `maxDist`; returns the new point and whether it arrived. */
export function stepToward(from, to, maxDist) {
  const dx = to.x - from.x;
  const dy = to.y - from.y;
  const d = Math.hypot(dx, dy);
  if (d <= maxDist || d === 0) return { x: to.x, y: to.y, arrived: true };
  const k = maxDist / d;
  return { x: from.x + dx * k, y: from.y + dy * k, arrived: false };
}

function isNum(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

// ---------------------------------------------------------------- snapshots

/**
 * Applies one `snapshot` delta to `view` (a Map from String(id) to
 * {id, name, x, y}). Order: leave, then enter, then move, so that an id a
 * merged snapshot lists as leaving and re-entering ends up in view. The own
 * id is never stored (the own position comes from snapshot.x,y). Malformed
 * entries are skipped and counted, never thrown: one bad entry must not
 * desynchronise the rest.
 * @returns {{entered: string[], moved: string[], left: string[], skipped: number}}
 */
export function applySnapshot(view, snapshot, selfId) {
  const self = selfId === undefined || selfId === null ? null : String(selfId);
  const result = { entered: [], moved: [], left: [], skipped: 0 };
  const list = (v) => (Array.isArray(v) ? v : []);

  for (const id of list(snapshot.leave)) {
    const key = String(id);
    if (view.delete(key)) result.left.push(key);
  }
  for (const e of list(snapshot.enter)) {
    if (!e || typeof e !== 'object' || e.id === undefined || !isNum(e.x) || !isNum(e.y)) {
      result.skipped += 1;
      continue;
    }
    const key = String(e.id);
    if (key === self) continue;
    view.set(key, { id: e.id, name: typeof e.name === 'string' ? e.name : key, x: e.x, y: e.y });
    result.entered.push(key);
  }
  for (const m of list(snapshot.move)) {
    if (!Array.isArray(m) || m.length < 3 || !isNum(m[1]) || !isNum(m[2])) {
      result.skipped += 1;
      continue;
    }
    const key = String(m[0]);
    const p = view.get(key);
    if (!p) {
      if (key !== self) result.skipped += 1; // a move for someone we were never told about
      continue;
    }
    p.x = m[1];
    p.y = m[2];
    result.moved.push(key);
  }
  return result;
}

// ---------------------------------------------------------------- server clock

/**
 * Maps server ticks to local time. Each snapshot tells us "tick T happened
 * no later than now"; the smallest (local - T*tickMs) seen is the best guess
 * of the offset, since network delay only ever adds. The estimate creeps up
 * slowly so a drifting clock or a route that got slower is followed.
 */
export class ServerClock {
  constructor(tickMs) {
    /** duration of one server tick in ms (1000 / welcome.tick_rate) */
    this.tickMs = tickMs;
    /** local ms minus server ms; null until the first observation */
    this.offset = null;
    /** newest tick seen, for the HUD */
    this.tick = null;
  }

  /** Records that `tick` arrived at local time `localMs`. */
  observe(tick, localMs) {
    if (!isNum(tick)) return;
    const sample = localMs - tick * this.tickMs;
    if (this.offset === null || sample < this.offset) this.offset = sample;
    else this.offset += Math.min(sample - this.offset, this.tickMs) * 0.02;
    if (this.tick === null || tick > this.tick) this.tick = tick;
  }

  /** Server time (ms) corresponding to local time `localMs`. */
  serverTime(localMs) {
    return this.offset === null ? null : localMs - this.offset;
  }
}

// ---------------------------------------------------------------- interpolation

/**
 * Position history of one other player, in server milliseconds, sampled
 * `delay` ms in the past so there is (almost) always a sample on each side.
 */
export class RemoteTrack {
  /**
   * @param {number} t server ms of the first sample
   * @param {number} x
   * @param {number} y
   */
  constructor(t, x, y) {
    /** samples [{t, x, y}], oldest first, t strictly increasing */
    this.samples = [{ t, x, y }];
  }

  /** Starts over at one point (used on enter and on jumps too long to animate). */
  reset(t, x, y) {
    this.samples = [{ t, x, y }];
  }

  /**
   * Adds the position of tick time `t`. A player that stood still sent no
   * samples for a while; a copy of its last position one tick before `t`
   * makes it start moving at the right moment instead of gliding all the
   * way from its last sample.
   * @param {number} tickMs one tick, for the hold sample
   * @param {number} jumpLimit a step longer than this is a teleport: snap
   */
  push(t, x, y, tickMs, jumpLimit = Infinity) {
    const last = this.samples[this.samples.length - 1];
    if (t <= last.t) {
      // Same tick again (or out of order): the newest word wins.
      if (t === last.t) { last.x = x; last.y = y; }
      return;
    }
    if (Math.hypot(x - last.x, y - last.y) > jumpLimit) {
      this.samples.push({ t: t - 0.001, x: last.x, y: last.y }, { t, x, y });
      this.samples.splice(0, this.samples.length - 1);
      return;
    }
    if (t - last.t > tickMs * 1.5) this.samples.push({ t: t - tickMs, x: last.x, y: last.y });
    this.samples.push({ t, x, y });
    if (this.samples.length > 64) this.samples.splice(0, this.samples.length - 64);
  }

  /** Interpolated position at server time `t`; holds the ends (no extrapolation). */
  sample(t) {
    const s = this.samples;
    if (t <= s[0].t) return { x: s[0].x, y: s[0].y };
    const last = s[s.length - 1];
    if (t >= last.t) return { x: last.x, y: last.y };
    let i = s.length - 1;
    while (i > 0 && s[i - 1].t > t) i -= 1;
    const a = s[i - 1];
    const b = s[i];
    const k = (t - a.t) / (b.t - a.t);
    return { x: a.x + (b.x - a.x) * k, y: a.y + (b.y - a.y) * k };
  }

  /** Drops samples no longer needed for times >= t (keeps one before t). */
  prune(t) {
    let n = 0;
    while (n + 1 < this.samples.length && this.samples[n + 1].t <= t) n += 1;
    if (n > 0) this.samples.splice(0, n);
  }
}

// ---------------------------------------------------------------- prediction

/**
 * The own player, predicted locally at `speed` and reconciled with the
 * server. Inputs sent to the server are absolute targets (`position`), so
 * "replaying unacknowledged inputs" reduces to: the server should be near
 * the target we sent with seq = ack; anything beyond what one or two ticks
 * of movement explain is a real divergence, which shifts the prediction
 * (and the still-unacknowledged targets) by the error.
 */
export class OwnPlayer {
  /**
   * @param {{speed:number, tickMs:number, world:{width:number,height:number}}} cfg
   */
  constructor(cfg) {
    this.configure(cfg);
    /** predicted position (what we send and where the camera is) */
    this.x = cfg.x ?? 0;
    this.y = cfg.y ?? 0;
    /** last authoritative position from the server; `at` = when it last changed */
    this.server = { x: this.x, y: this.y, ack: 0, at: -Infinity };
    /** seq of the last position event sent on this connection */
    this.seq = 0;
    /** sent targets not yet acknowledged: [{seq, x, y, at}] */
    this.pending = [];
    /** last position sent, to send only while moving */
    this.lastSent = { x: this.x, y: this.y };
    /** visual offset added when drawing; decays to 0 so corrections glide */
    this.offset = { x: 0, y: 0 };
    /** counts for the HUD / tests */
    this.corrections = { smoothed: 0, snapped: 0 };
    /** click/touch destination, or null */
    this.target = null;
  }

  configure({ speed, tickMs, world }) {
    /** max speed in units/s (welcome.speed) */
    this.speed = speed;
    /** ms per server tick (1000 / welcome.tick_rate) */
    this.tickMs = tickMs;
    /** world size (welcome.world) */
    this.world = world;
    /** the server may trail the target we sent by a couple of ticks of travel */
    this.lagAllowance = speed * (tickMs / 1000) * 3 + 1;
    /** farther off than this and we jump instead of gliding */
    this.snapDistance = Math.max(150, speed * 0.5);
  }

  /** Snaps to a server-chosen position (welcome, teleport). Clears all pending input. */
  reset(x, y, now = 0) {
    this.x = x;
    this.y = y;
    this.server = { x, y, ack: this.server.ack, at: now };
    this.pending = [];
    this.lastSent = { x, y };
    this.offset = { x: 0, y: 0 };
    this.target = null;
  }

  /**
   * The server moved us (`teleport`). Like reset, but the new position is
   * also sent once: the server's movement target is still the last position
   * we sent (or one in flight), and it would walk us back there.
   */
  teleport(x, y, now = 0) {
    this.reset(x, y, now);
    this.forgetLastSent();
  }

  /** A new connection: seq and ack start again from 0 (protocol.md: ack is 0 before any). */
  newSession(x, y, now = 0) {
    this.seq = 0;
    this.server.ack = 0;
    this.reset(x, y, now);
  }

  /**
   * A new connection that continues this session on another cluster node (`migrate`), at
   * the server's `x,y` (the position the old node handed over). Unlike newSession, seq goes
   * on from where it was: higher than any the new node may have been handed, and as good as
   * 1 on a fresh connection (only a seq not above the last one is ignored). The in-flight
   * input is dropped and any ack accepted (the new node's may start at 0 or at the old
   * node's).
   *
   * The prediction goes on from where it was, not from `x,y`: the new node was handed the
   * old one's movement target too (our last position sent, about where we predict) and
   * walks on to it, so predicting again from `x,y` would send targets behind where the
   * server is heading and walk the player back. The prediction is sent once more (the one
   * the old node last had may have been in flight). Only when the handed-over position is
   * farther than snapDistance from the prediction do we jump to it, dropping the
   * click/touch destination.
   */
  continueSession(x, y, now = 0) {
    this.server = { x, y, ack: 0, at: now };
    this.pending = [];
    if (Math.hypot(this.x - x, this.y - y) > this.snapDistance) {
      this.reset(x, y, now);
      return;
    }
    this.forgetLastSent();
  }

  /**
   * Advances the prediction by `dtMs`.
   * @param {{x:number,y:number}|null} dir keyboard direction (any length; normalised here)
   * @returns {boolean} whether the player moved
   */
  advance(dtMs, dir) {
    const maxStep = this.speed * (dtMs / 1000);
    let next = null;
    if (dir && (dir.x !== 0 || dir.y !== 0)) {
      this.target = null;
      const len = Math.hypot(dir.x, dir.y);
      next = { x: this.x + (dir.x / len) * maxStep, y: this.y + (dir.y / len) * maxStep };
    } else if (this.target) {
      const s = stepToward(this, this.target, maxStep);
      if (s.arrived) this.target = null;
      next = s;
    }
    if (!next) return false;
    const c = clampToWorld(next, this.world);
    const moved = c.x !== this.x || c.y !== this.y;
    this.x = c.x;
    this.y = c.y;
    return moved;
  }

  /** Sets a click/touch destination (clamped into the world). */
  moveTo(x, y) {
    this.target = clampToWorld({ x, y }, this.world);
  }

  /**
   * The `position` payload to send now, or null when we have not moved since
   * the last one (we only send while moving).
   */
  takeOutgoing(now = 0) {
    const x = roundWire(this.x);
    const y = roundWire(this.y);
    if (x === this.lastSent.x && y === this.lastSent.y) return null;
    this.seq += 1;
    this.lastSent = { x, y };
    this.pending.push({ seq: this.seq, x, y, at: now });
    if (this.pending.length > 256) this.pending.shift(); // the server stopped acking; keep memory bounded
    return { x, y, seq: this.seq };
  }

  /** Puts the last outgoing position back so the next takeOutgoing sends it again. */
  forgetLastSent() {
    this.lastSent = { x: NaN, y: NaN };
  }

  /**
   * Reconciles with a snapshot's {ack, x, y}.
   * @returns {'ok'|'smoothed'|'snapped'|'stale'}
   */
  reconcile(ack, x, y, now = 0) {
    if (!isNum(x) || !isNum(y)) return 'stale';
    if (isNum(ack) && ack < this.server.ack) return 'stale';
    const changed = x !== this.server.x || y !== this.server.y;
    this.server = { x, y, ack: isNum(ack) ? ack : this.server.ack, at: changed ? now : this.server.at };
    const acked = this.pending.find((p) => p.seq === ack);
    this.pending = this.pending.filter((p) => p.seq > ack);
    // Without the target for `ack` (nothing sent yet on this connection, or
    // it fell out of the bounded history) we compare with the prediction
    // only when no input is in flight, in settle().
    if (!acked) return 'ok';
    const ex = x - acked.x;
    const ey = y - acked.y;
    const err = Math.hypot(ex, ey);
    if (err <= this.lagAllowance) return 'ok';
    return this.shift(ex, ey, err > this.snapDistance);
  }

  /**
   * When the player is idle and every input is acknowledged, the server
   * converges on our last target; a remaining gap (a clamp we did not
   * predict, a dropped event) is corrected here, at most once per snapshot.
   * @param {boolean} idle no movement input right now
   * @returns {'ok'|'smoothed'|'snapped'|'waiting'}
   */
  settle(now, idle) {
    if (!idle || this.target) return 'waiting';
    // The server may still be catching up: wait until our own position has
    // stood still on the server for a few ticks (snapshots about other
    // players keep coming, so "time since the last snapshot" would not do).
    if (now - this.server.at < this.tickMs * 3) return 'waiting';
    if (this.pending.length > 0) {
      // Unacknowledged for a whole second: the event was lost; send again.
      if (now - this.pending[this.pending.length - 1].at < 1000) return 'waiting';
      this.pending = [];
      this.forgetLastSent();
      return 'waiting';
    }
    const ex = this.server.x - this.x;
    const ey = this.server.y - this.y;
    const err = Math.hypot(ex, ey);
    if (err <= 0.02) return 'ok';
    const r = this.shift(ex, ey, err > this.snapDistance);
    this.lastSent = { x: roundWire(this.x), y: roundWire(this.y) }; // already where the server is
    return r;
  }

  shift(ex, ey, snap) {
    const c = clampToWorld({ x: this.x + ex, y: this.y + ey }, this.world);
    const dx = c.x - this.x;
    const dy = c.y - this.y;
    this.x = c.x;
    this.y = c.y;
    for (const p of this.pending) { p.x += ex; p.y += ey; }
    if (snap) {
      this.offset = { x: 0, y: 0 };
      this.corrections.snapped += 1;
      return 'snapped';
    }
    this.offset = { x: this.offset.x - dx, y: this.offset.y - dy };
    this.corrections.smoothed += 1;
    return 'smoothed';
  }

  /** Lets the visual correction offset decay (half-life ~60 ms) and returns the draw position. */
  renderPosition(dtMs) {
    const k = Math.pow(0.5, dtMs / 60);
    this.offset.x *= k;
    this.offset.y *= k;
    if (Math.abs(this.offset.x) < 0.01) this.offset.x = 0;
    if (Math.abs(this.offset.y) < 0.01) this.offset.y = 0;
    return { x: this.x + this.offset.x, y: this.y + this.offset.y };
  }
}

/** Stable, pleasant hue for a player name (FNV-1a hash). */
export function nameHue(name) {
  let h = 0x811c9dc5;
  const s = String(name);
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % 360;
}
