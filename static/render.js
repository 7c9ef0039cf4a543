// Locus client: everything drawn on the canvas.
//
// Owns: the camera (world <-> screen), devicePixelRatio handling, the ground
// with its grid and scenery, world borders, players with names and chat
// bubbles, the click target, and the minimap.
// Must not touch: game state or the network; it draws the `scene` it is given.

import { nameHue } from './world.js';

const PALETTE = {
  void: '#0a101c',
  ground: '#132238',
  groundEdge: '#0f1b2e',
  gridMinor: 'rgba(150, 190, 255, 0.055)',
  gridMajor: 'rgba(150, 190, 255, 0.13)',
  border: '#5eead4',
  text: '#f4f7fb',
  textShadow: 'rgba(5, 10, 20, 0.85)',
  accent: '#fcd34d',
  view: 'rgba(94, 234, 212, 0.22)',
  bubble: 'rgba(250, 252, 255, 0.96)',
  bubbleText: '#1b2433',
};

const MINOR = 64;
const MAJOR = 512;
const SCENERY_CELL = 256;

/** Deterministic pseudo-random numbers for a scenery cell (mulberry32 on a cell hash). */
function cellRandom(cx, cy) {
  let a = (Math.imul(cx, 73856093) ^ Math.imul(cy, 19349663)) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Renderer {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    /** CSS pixels */
    this.width = 0;
    this.height = 0;
    this.dpr = 1;
    /** world units -> CSS pixels */
    this.zoom = 1;
    /** world point at the screen centre */
    this.camera = { x: 0, y: 0 };
    /** minimap rectangle in CSS pixels, for hit tests and layout */
    this.minimap = { x: 0, y: 0, size: 0 };
    this.resize();
  }

  /** Matches the backing store to the window and the device pixel ratio. */
  resize() {
    const dpr = Math.min(window.devicePixelRatio || 1, 3);
    const w = window.innerWidth;
    const h = window.innerHeight;
    if (w === this.width && h === this.height && dpr === this.dpr) return;
    this.width = w;
    this.height = h;
    this.dpr = dpr;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    // Show roughly the view radius: about 460 world units from centre to the shorter edge.
    this.zoom = Math.min(1.25, Math.max(0.45, Math.min(w, h) / 2 / 460));
    const size = Math.round(Math.min(190, Math.max(110, Math.min(w, h) * 0.24)));
    this.minimap = { x: w - size - 16, y: h - size - 16, size };
  }

  /** Screen (CSS px, relative to the canvas) to world coordinates. */
  toWorld(sx, sy) {
    return {
      x: this.camera.x + (sx - this.width / 2) / this.zoom,
      y: this.camera.y + (sy - this.height / 2) / this.zoom,
    };
  }

  toScreen(wx, wy) {
    return {
      x: (wx - this.camera.x) * this.zoom + this.width / 2,
      y: (wy - this.camera.y) * this.zoom + this.height / 2,
    };
  }

  /** True when the point is on the minimap (clicks there are not moves). */
  onMinimap(sx, sy) {
    const m = this.minimap;
    return sx >= m.x && sx <= m.x + m.size && sy >= m.y && sy <= m.y + m.size;
  }

  /**
   * @param {object} scene
   * @param {{width:number,height:number}} scene.world
   * @param {{x:number,y:number}} scene.camera
   * @param {number} scene.time ms, drives small animations
   * @param {{x:number,y:number,name:string}|null} scene.me
   * @param {{x:number,y:number,name:string,bubble?:string}[]} scene.others
   * @param {number} scene.viewRadius
   * @param {{x:number,y:number}|null} scene.target
   * @param {boolean} scene.showMinimap
   * @param {string|null} scene.myBubble
   */
  draw(scene) {
    this.resize();
    const { ctx } = this;
    this.camera = scene.camera;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = PALETTE.void;
    ctx.fillRect(0, 0, this.width, this.height);

    // Everything in world space from here.
    ctx.save();
    ctx.translate(this.width / 2, this.height / 2);
    ctx.scale(this.zoom, this.zoom);
    ctx.translate(-this.camera.x, -this.camera.y);
    const view = this.visibleRect();
    this.drawGround(scene.world, view);
    this.drawScenery(scene.world, view);
    this.drawGrid(scene.world, view);
    this.drawBorder(scene.world, scene.time);
    if (scene.me && scene.viewRadius) this.drawViewRadius(scene.me, scene.viewRadius);
    if (scene.target) this.drawTarget(scene.target, scene.time);
    ctx.restore();

    // Players in screen space so text stays crisp at any zoom.
    const others = [...scene.others].sort((a, b) => a.y - b.y);
    for (const p of others) this.drawPlayer(p, false, scene.time);
    if (scene.me) this.drawPlayer(scene.me, true, scene.time);
    for (const p of others) if (p.bubble) this.drawBubble(p, p.bubble, false);
    if (scene.me && scene.myBubble) this.drawBubble(scene.me, scene.myBubble, true);
    this.drawVignette();
    this.drawEdgeMarkers(others);
    if (scene.showMinimap) this.drawMinimap(scene);
  }

  visibleRect() {
    const hw = this.width / 2 / this.zoom;
    const hh = this.height / 2 / this.zoom;
    return { x0: this.camera.x - hw, y0: this.camera.y - hh, x1: this.camera.x + hw, y1: this.camera.y + hh };
  }

  drawGround(world, v) {
    const { ctx } = this;
    const x0 = Math.max(0, v.x0);
    const y0 = Math.max(0, v.y0);
    const x1 = Math.min(world.width, v.x1);
    const y1 = Math.min(world.height, v.y1);
    if (x1 <= x0 || y1 <= y0) return;
    // A very gentle radial light centred on the world middle.
    const g = ctx.createRadialGradient(world.width / 2, world.height / 2, 0, world.width / 2, world.height / 2, world.width * 0.75);
    g.addColorStop(0, PALETTE.ground);
    g.addColorStop(1, PALETTE.groundEdge);
    ctx.fillStyle = g;
    ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
  }

  /** Soft blobs and dots, fixed per cell, so moving feels like moving over land. */
  drawScenery(world, v) {
    const { ctx } = this;
    const cx0 = Math.max(0, Math.floor(v.x0 / SCENERY_CELL));
    const cy0 = Math.max(0, Math.floor(v.y0 / SCENERY_CELL));
    const cx1 = Math.min(Math.ceil(world.width / SCENERY_CELL), Math.ceil(v.x1 / SCENERY_CELL));
    const cy1 = Math.min(Math.ceil(world.height / SCENERY_CELL), Math.ceil(v.y1 / SCENERY_CELL));
    for (let cy = cy0; cy < cy1; cy++) {
      for (let cx = cx0; cx < cx1; cx++) {
        const rnd = cellRandom(cx, cy);
        const bx = cx * SCENERY_CELL;
        const by = cy * SCENERY_CELL;
        if (rnd() < 0.18) {
          // a pond
          const x = bx + 40 + rnd() * (SCENERY_CELL - 80);
          const y = by + 40 + rnd() * (SCENERY_CELL - 80);
          const r = 26 + rnd() * 46;
          ctx.fillStyle = 'rgba(56, 189, 248, 0.07)';
          ctx.beginPath();
          ctx.ellipse(x, y, r * 1.35, r, rnd() * Math.PI, 0, Math.PI * 2);
          ctx.fill();
          ctx.fillStyle = 'rgba(125, 211, 252, 0.05)';
          ctx.beginPath();
          ctx.ellipse(x - r * 0.2, y - r * 0.15, r * 0.7, r * 0.45, 0, 0, Math.PI * 2);
          ctx.fill();
        }
        const tufts = 2 + Math.floor(rnd() * 4);
        for (let i = 0; i < tufts; i++) {
          const x = bx + rnd() * SCENERY_CELL;
          const y = by + rnd() * SCENERY_CELL;
          const kind = rnd();
          if (kind < 0.55) {
            // a bush: three overlapping dots
            const r = 5 + rnd() * 7;
            ctx.fillStyle = `rgba(52, 211, 153, ${0.10 + rnd() * 0.08})`;
            for (let k = 0; k < 3; k++) {
              ctx.beginPath();
              ctx.arc(x + (k - 1) * r * 0.8, y + (k === 1 ? -r * 0.5 : 0), r, 0, Math.PI * 2);
              ctx.fill();
            }
          } else if (kind < 0.85) {
            // a flower
            ctx.fillStyle = `hsla(${[330, 45, 280, 15][Math.floor(rnd() * 4)]}, 85%, 70%, 0.35)`;
            ctx.beginPath();
            ctx.arc(x, y, 2.4, 0, Math.PI * 2);
            ctx.fill();
          } else {
            // a stone
            ctx.fillStyle = 'rgba(203, 213, 225, 0.09)';
            ctx.beginPath();
            ctx.ellipse(x, y, 7 + rnd() * 6, 5 + rnd() * 3, rnd() * Math.PI, 0, Math.PI * 2);
            ctx.fill();
          }
        }
      }
    }
  }

  drawGrid(world, v) {
    const { ctx } = this;
    const x0 = Math.max(0, v.x0);
    const y0 = Math.max(0, v.y0);
    const x1 = Math.min(world.width, v.x1);
    const y1 = Math.min(world.height, v.y1);
    if (x1 <= x0 || y1 <= y0) return;
    const px = 1 / this.zoom; // one CSS pixel in world units
    for (const [step, color, width] of [[MINOR, PALETTE.gridMinor, px], [MAJOR, PALETTE.gridMajor, 1.5 * px]]) {
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      ctx.beginPath();
      for (let x = Math.ceil(x0 / step) * step; x <= x1; x += step) {
        ctx.moveTo(x, y0);
        ctx.lineTo(x, y1);
      }
      for (let y = Math.ceil(y0 / step) * step; y <= y1; y += step) {
        ctx.moveTo(x0, y);
        ctx.lineTo(x1, y);
      }
      ctx.stroke();
    }
  }

  drawBorder(world, time) {
    const { ctx } = this;
    const px = 1 / this.zoom;
    ctx.save();
    ctx.strokeStyle = PALETTE.border;
    ctx.shadowColor = PALETTE.border;
    ctx.shadowBlur = 14;
    ctx.globalAlpha = 0.75 + 0.2 * Math.sin(time / 700);
    ctx.lineWidth = 3 * px;
    ctx.strokeRect(0, 0, world.width, world.height);
    ctx.restore();
    // Hatching just outside the border tells "you cannot go there".
    ctx.save();
    ctx.beginPath();
    ctx.rect(-4000, -4000, world.width + 8000, world.height + 8000);
    ctx.rect(0, 0, world.width, world.height);
    ctx.clip('evenodd');
    ctx.strokeStyle = 'rgba(94, 234, 212, 0.06)';
    ctx.lineWidth = 6 * px;
    const v = this.visibleRect();
    ctx.beginPath();
    const s = 36;
    for (let d = Math.floor((v.x0 + v.y0) / s) * s; d < v.x1 + v.y1; d += s) {
      ctx.moveTo(d - v.y0, v.y0);
      ctx.lineTo(d - v.y1, v.y1);
    }
    ctx.stroke();
    ctx.restore();
  }

  drawViewRadius(me, radius) {
    const { ctx } = this;
    ctx.save();
    ctx.strokeStyle = PALETTE.view;
    ctx.lineWidth = 1.5 / this.zoom;
    ctx.setLineDash([10 / this.zoom, 10 / this.zoom]);
    ctx.beginPath();
    ctx.arc(me.x, me.y, radius, 0, Math.PI * 2);
    ctx.stroke();
    ctx.restore();
  }

  drawTarget(t, time) {
    const { ctx } = this;
    const phase = (time % 900) / 900;
    ctx.save();
    ctx.strokeStyle = `rgba(252, 211, 77, ${0.9 - phase * 0.7})`;
    ctx.lineWidth = 2 / this.zoom;
    ctx.beginPath();
    ctx.arc(t.x, t.y, (6 + phase * 14) / this.zoom, 0, Math.PI * 2);
    ctx.stroke();
    ctx.fillStyle = PALETTE.accent;
    ctx.beginPath();
    ctx.arc(t.x, t.y, 3 / this.zoom, 0, Math.PI * 2);
    ctx.fill();
    ctx.restore();
  }

  drawPlayer(p, isMe, time) {
    const { ctx } = this;
    const s = this.toScreen(p.x, p.y);
    if (s.x < -80 || s.y < -80 || s.x > this.width + 80 || s.y > this.height + 80) return;
    const hue = nameHue(p.name);
    const r = (isMe ? 15 : 13) * Math.max(0.8, this.zoom);
    // shadow
    ctx.fillStyle = 'rgba(0, 0, 0, 0.32)';
    ctx.beginPath();
    ctx.ellipse(s.x, s.y + r * 0.9, r * 0.95, r * 0.38, 0, 0, Math.PI * 2);
    ctx.fill();
    if (isMe) {
      // a soft pulsing halo
      const pulse = 0.5 + 0.5 * Math.sin(time / 380);
      const g = ctx.createRadialGradient(s.x, s.y, r * 0.8, s.x, s.y, r * 2.6);
      g.addColorStop(0, `rgba(252, 211, 77, ${0.28 + 0.12 * pulse})`);
      g.addColorStop(1, 'rgba(252, 211, 77, 0)');
      ctx.fillStyle = g;
      ctx.beginPath();
      ctx.arc(s.x, s.y, r * 2.6, 0, Math.PI * 2);
      ctx.fill();
    }
    // body: a glossy ball
    const body = ctx.createRadialGradient(s.x - r * 0.35, s.y - r * 0.4, r * 0.15, s.x, s.y, r);
    body.addColorStop(0, `hsl(${hue}, 85%, 78%)`);
    body.addColorStop(1, `hsl(${hue}, 65%, 52%)`);
    ctx.fillStyle = body;
    ctx.beginPath();
    ctx.arc(s.x, s.y, r, 0, Math.PI * 2);
    ctx.fill();
    ctx.lineWidth = isMe ? 3 : 2;
    ctx.strokeStyle = isMe ? PALETTE.accent : `hsl(${hue}, 45%, 28%)`;
    ctx.stroke();
    // name
    ctx.font = `${isMe ? 700 : 600} ${isMe ? 14 : 13}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    ctx.lineJoin = 'round';
    ctx.lineWidth = 4;
    ctx.strokeStyle = PALETTE.textShadow;
    const label = p.name.length > 24 ? `${p.name.slice(0, 23)}…` : p.name;
    ctx.strokeText(label, s.x, s.y - r - 5);
    ctx.fillStyle = isMe ? PALETTE.accent : PALETTE.text;
    ctx.fillText(label, s.x, s.y - r - 5);
  }

  drawBubble(p, text, isMe) {
    const { ctx } = this;
    const s = this.toScreen(p.x, p.y);
    ctx.font = '500 13px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
    const lines = wrap(ctx, text, 220).slice(0, 4);
    const lh = 17;
    const w = Math.max(...lines.map((l) => ctx.measureText(l).width)) + 18;
    const h = lines.length * lh + 10;
    const r = (isMe ? 15 : 13) * Math.max(0.8, this.zoom);
    const x = s.x - w / 2;
    const y = s.y - r - 26 - h;
    ctx.fillStyle = PALETTE.bubble;
    ctx.beginPath();
    ctx.roundRect(x, y, w, h, 8);
    ctx.moveTo(s.x - 6, y + h);
    ctx.lineTo(s.x, y + h + 7);
    ctx.lineTo(s.x + 6, y + h);
    ctx.fill();
    ctx.fillStyle = PALETTE.bubbleText;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    lines.forEach((l, i) => ctx.fillText(l, x + 9, y + 5 + i * lh));
  }

  /** Darkens the screen corners a little: depth, and keeps the eye on the centre. */
  drawVignette() {
    const { ctx } = this;
    const key = `${this.width}x${this.height}`;
    if (this.vignetteKey !== key) {
      const r = Math.hypot(this.width, this.height) / 2;
      const g = ctx.createRadialGradient(this.width / 2, this.height / 2, r * 0.45, this.width / 2, this.height / 2, r);
      g.addColorStop(0, 'rgba(4, 8, 16, 0)');
      g.addColorStop(1, 'rgba(4, 8, 16, 0.55)');
      this.vignette = g;
      this.vignetteKey = key;
    }
    ctx.fillStyle = this.vignette;
    ctx.fillRect(0, 0, this.width, this.height);
  }

  /** Little arrows at the screen edge for players in view but off screen. */
  drawEdgeMarkers(others) {
    const { ctx } = this;
    const m = 22;
    for (const p of others) {
      const s = this.toScreen(p.x, p.y);
      if (s.x >= 0 && s.y >= 0 && s.x <= this.width && s.y <= this.height) continue;
      const cx = this.width / 2;
      const cy = this.height / 2;
      const dx = s.x - cx;
      const dy = s.y - cy;
      const k = Math.min((this.width / 2 - m) / Math.abs(dx || 1e-9), (this.height / 2 - m) / Math.abs(dy || 1e-9));
      const ex = cx + dx * k;
      const ey = cy + dy * k;
      const a = Math.atan2(dy, dx);
      ctx.save();
      ctx.translate(ex, ey);
      ctx.rotate(a);
      ctx.fillStyle = `hsla(${nameHue(p.name)}, 80%, 70%, 0.9)`;
      ctx.beginPath();
      ctx.moveTo(9, 0);
      ctx.lineTo(-6, -7);
      ctx.lineTo(-6, 7);
      ctx.closePath();
      ctx.fill();
      ctx.restore();
    }
  }

  drawMinimap(scene) {
    const { ctx } = this;
    const { x, y, size } = this.minimap;
    const world = scene.world;
    const scale = size / Math.max(world.width, world.height);
    const mw = world.width * scale;
    const mh = world.height * scale;
    const ox = x + (size - mw) / 2;
    const oy = y + (size - mh) / 2;
    ctx.save();
    ctx.fillStyle = 'rgba(8, 13, 24, 0.78)';
    ctx.strokeStyle = 'rgba(148, 190, 255, 0.25)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.roundRect(x - 6, y - 6, size + 12, size + 12, 12);
    ctx.fill();
    ctx.stroke();
    ctx.fillStyle = 'rgba(30, 52, 84, 0.9)';
    ctx.fillRect(ox, oy, mw, mh);
    ctx.strokeStyle = 'rgba(150, 190, 255, 0.12)';
    ctx.beginPath();
    for (let i = 1; i < 4; i++) {
      ctx.moveTo(ox + (mw * i) / 4, oy);
      ctx.lineTo(ox + (mw * i) / 4, oy + mh);
      ctx.moveTo(ox, oy + (mh * i) / 4);
      ctx.lineTo(ox + mw, oy + (mh * i) / 4);
    }
    ctx.stroke();
    ctx.strokeStyle = 'rgba(94, 234, 212, 0.7)';
    ctx.strokeRect(ox + 0.5, oy + 0.5, mw - 1, mh - 1);
    ctx.beginPath();
    ctx.rect(ox, oy, mw, mh);
    ctx.clip();
    // what the screen shows
    const v = this.visibleRect();
    ctx.strokeStyle = 'rgba(244, 247, 251, 0.45)';
    ctx.strokeRect(ox + v.x0 * scale, oy + v.y0 * scale, (v.x1 - v.x0) * scale, (v.y1 - v.y0) * scale);
    for (const p of scene.others) {
      ctx.fillStyle = `hsl(${nameHue(p.name)}, 80%, 70%)`;
      ctx.fillRect(ox + p.x * scale - 1.5, oy + p.y * scale - 1.5, 3, 3);
    }
    if (scene.me) {
      const mx = ox + scene.me.x * scale;
      const my = oy + scene.me.y * scale;
      if (scene.viewRadius) {
        ctx.strokeStyle = 'rgba(94, 234, 212, 0.5)';
        ctx.beginPath();
        ctx.arc(mx, my, scene.viewRadius * scale, 0, Math.PI * 2);
        ctx.stroke();
      }
      const pulse = 0.5 + 0.5 * Math.sin(scene.time / 300);
      ctx.fillStyle = `rgba(252, 211, 77, ${0.25 + 0.25 * pulse})`;
      ctx.beginPath();
      ctx.arc(mx, my, 7, 0, Math.PI * 2);
      ctx.fill();
      ctx.fillStyle = PALETTE.accent;
      ctx.strokeStyle = '#1b2433';
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.arc(mx, my, 3.5, 0, Math.PI * 2);
      ctx.fill();
      ctx.stroke();
    }
    ctx.restore();
  }
}

/** Greedy word wrap to `maxWidth` pixels with the current font. */
function wrap(ctx, text, maxWidth) {
  const words = text.split(/\s+/).filter(Boolean);
  const lines = [];
  let line = '';
  for (const w of words) {
    const tryLine = line ? `${line} ${w}` : w;
    if (ctx.measureText(tryLine).width <= maxWidth || !line) {
      line = tryLine;
    } else {
      lines.push(line);
      line = w;
    }
  }
  if (line) lines.push(line);
  // very long single words
  return lines.flatMap((l) => {
    if (ctx.measureText(l).width <= maxWidth) return [l];
    const parts = [];
    let cur = '';
    for (const ch of l) {
      if (ctx.measureText(cur + ch).width > maxWidth && cur) { parts.push(cur); cur = ch; } else cur += ch;
    }
    if (cur) parts.push(cur);
    return parts;
  });
}
