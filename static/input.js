// Locus client: keyboard, mouse and touch input turned into movement intent.
//
// Owns: which movement keys are held, and pointer presses/drags on the game
// canvas (click-to-move, touch-and-drag to steer).
// Must not touch: game state directly; it reports through callbacks and
// `direction()`.

const KEYS = {
  KeyW: [0, -1], ArrowUp: [0, -1],
  KeyS: [0, 1], ArrowDown: [0, 1],
  KeyA: [-1, 0], ArrowLeft: [-1, 0],
  KeyD: [1, 0], ArrowRight: [1, 0],
};

/** True when keys should go to a text field rather than to the game. */
function typingInto(target) {
  if (!target || !target.tagName) return false;
  return target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.isContentEditable;
}

export class Input {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{onPoint: (clientX:number, clientY:number) => void, onMoveKey?: () => void}} handlers
   *   onPoint: a press or drag on the canvas at these client coordinates
   */
  constructor(canvas, handlers) {
    /** movement keys currently held (by KeyboardEvent.code) */
    this.held = new Set();
    /** pointerId of the press being dragged, if any */
    this.dragging = null;
    /** false while the game is not accepting input (logged out, offline) */
    this.enabled = false;
    this.handlers = handlers;

    window.addEventListener('keydown', (e) => {
      if (!this.enabled || typingInto(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (KEYS[e.code]) {
        this.held.add(e.code);
        e.preventDefault(); // arrows must not scroll the page
        handlers.onMoveKey?.();
      }
    });
    window.addEventListener('keyup', (e) => { this.held.delete(e.code); });
    // Keys released while the window is not focused never send keyup.
    window.addEventListener('blur', () => this.held.clear());
    document.addEventListener('visibilitychange', () => { if (document.hidden) this.held.clear(); });

    canvas.addEventListener('pointerdown', (e) => {
      if (!this.enabled || (e.pointerType === 'mouse' && e.button !== 0)) return;
      this.dragging = e.pointerId;
      try { canvas.setPointerCapture(e.pointerId); } catch { /* synthetic events */ }
      handlers.onPoint(e.clientX, e.clientY);
      e.preventDefault();
    });
    canvas.addEventListener('pointermove', (e) => {
      if (this.enabled && this.dragging === e.pointerId) handlers.onPoint(e.clientX, e.clientY);
    });
    const end = (e) => { if (this.dragging === e.pointerId) this.dragging = null; };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
    canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  }

  /** Sum of held movement keys as {x, y} (not normalised), or null. */
  direction() {
    if (!this.enabled) return null;
    let x = 0;
    let y = 0;
    for (const code of this.held) {
      x += KEYS[code][0];
      y += KEYS[code][1];
    }
    return x === 0 && y === 0 ? null : { x, y };
  }

  setEnabled(on) {
    this.enabled = on;
    if (!on) {
      this.held.clear();
      this.dragging = null;
    }
  }
}
