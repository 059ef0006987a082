// One image of a study on a canvas: full-resolution 16-bit pixels mapped through a window/level lookup table in
// the browser (drag: horizontal = width, vertical = level), zoom (wheel, +/-), pan (shift-drag or middle button),
// invert, the model's heatmap on top with an opacity and its fracture boxes (a model with a box head) with it, and an
// optional mark (click = point, drag in mark mode = box).
import { binary } from './api.js';
import { h } from './dom.js';

export interface Window { center: number; width: number }

export const PRESETS: readonly { readonly name: string; readonly key: string; readonly pick: (d: Window) => Window }[] = [
  { name: 'Default', key: '1', pick: (d) => ({ ...d }) },
  { name: 'Bone (narrow)', key: '2', pick: (d) => ({ center: d.center + d.width * 0.15, width: d.width * 0.5 }) },
  { name: 'Soft tissue (low)', key: '3', pick: (d) => ({ center: d.center - d.width * 0.25, width: d.width * 0.6 }) },
  { name: 'Full range', key: '4', pick: () => ({ center: 32768, width: 65536 }) },
];

/** A mark on the image as fractions of its width and height; a point has x0 = x1 and y0 = y1. */
export type Mark = [number, number, number, number];

/** A fracture box of the model's box head: [x0, y0, x1, y1] in the image's pixels, and its score. */
export interface ModelBox { readonly box: readonly [number, number, number, number]; readonly score: number }

/** The model's boxes in magenta, as on the Secondary Capture: a colour the jet heatmap over grey never shows. */
const MODEL_BOX_COLOUR = '#ff00ff';

export class ImagePane {
  readonly element: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  readonly caption: HTMLElement;
  width = 0;
  height = 0;
  window: Window = { center: 32768, width: 65536 };
  defaultWindow: Window = { center: 32768, width: 65536 };
  invert = false;
  showHeatmap = false;
  opacity = 0.45;
  zoom = 1;
  panX = 0;
  panY = 0;
  markMode = false;
  mark: Mark | null = null;
  onMark: (mark: Mark | null) => void = () => undefined;
  #pixels: Uint16Array | null = null;
  #base: HTMLCanvasElement = document.createElement('canvas');
  #heatmap: HTMLImageElement | null = null;
  #lutDirty = true;
  #frame = 0;
  #shown = false;

  constructor(readonly index: number, readonly label: string, readonly heatmapUrl: string | null, readonly modelBoxes: readonly ModelBox[] = []) {
    this.canvas = h('canvas', { tabindex: 0, 'aria-label': `${label}: drag to change window and level, shift-drag to pan, wheel to zoom`, 'data-image': index });
    this.caption = h('figcaption', { 'data-window': '' }, `${label}: loading…`);
    this.element = h('figure', { class: 'pane' }, this.canvas, this.caption);
    this.#bindPointer();
  }

  async load(url: string): Promise<void> {
    const { buffer, headers } = await binary(url);
    this.width = Number(headers.get('x-image-width'));
    this.height = Number(headers.get('x-image-height'));
    this.defaultWindow = { center: Number(headers.get('x-window-center')), width: Number(headers.get('x-window-width')) };
    this.window = { ...this.defaultWindow };
    this.#pixels = new Uint16Array(buffer, 0, this.width * this.height);
    this.#base.width = this.width;
    this.#base.height = this.height;
    if (this.heatmapUrl !== null) {
      const img = new Image();
      img.decoding = 'async';
      img.src = this.heatmapUrl;
      img.addEventListener('load', () => this.redraw());
      this.#heatmap = img;
    }
    this.#lutDirty = true;
    this.redraw();
  }

  setWindow(w: Window): void {
    this.window = { center: Math.round(w.center), width: Math.max(1, Math.round(w.width)) };
    this.#lutDirty = true;
    this.redraw();
  }

  setInvert(on: boolean): void {
    this.invert = on;
    this.#lutDirty = true;
    this.redraw();
  }

  resetView(): void {
    this.zoom = 1;
    this.panX = 0;
    this.panY = 0;
    this.redraw();
  }

  zoomBy(factor: number): void {
    this.zoom = Math.min(32, Math.max(0.25, this.zoom * factor));
    this.redraw();
  }

  /** Schedules a draw on the next animation frame (drags call this many times per frame). */
  redraw(): void {
    if (this.#frame !== 0) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#draw();
    });
  }

  #renderBase(): void {
    const pixels = this.#pixels;
    if (pixels === null) return;
    const lut = new Uint32Array(65536);
    const low = this.window.center - this.window.width / 2;
    const scale = 255 / this.window.width;
    for (let v = 0; v < 65536; v++) {
      let g = Math.round((v - low) * scale);
      g = g < 0 ? 0 : g > 255 ? 255 : g;
      if (this.invert) g = 255 - g;
      lut[v] = 0xff000000 | (g << 16) | (g << 8) | g;
    }
    const ctx = this.#base.getContext('2d') as CanvasRenderingContext2D;
    const image = ctx.createImageData(this.width, this.height);
    const out = new Uint32Array(image.data.buffer);
    for (let i = 0; i < pixels.length; i++) out[i] = lut[pixels[i] as number] as number;
    ctx.putImageData(image, 0, 0);
    this.#lutDirty = false;
  }

  /** Image-to-canvas transform: fit, then zoom about the centre, then pan (canvas pixels). */
  #transform(): { scale: number; ox: number; oy: number } {
    const cw = this.canvas.width;
    const ch = this.canvas.height;
    const scale = Math.min(cw / this.width, ch / this.height) * this.zoom;
    return { scale, ox: (cw - this.width * scale) / 2 + this.panX, oy: (ch - this.height * scale) / 2 + this.panY };
  }

  #draw(): void {
    if (this.#pixels === null) return;
    const rect = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const cw = Math.max(1, Math.round(rect.width * dpr));
    const chh = Math.max(1, Math.round(rect.height * dpr));
    if (this.canvas.width !== cw || this.canvas.height !== chh) {
      this.canvas.width = cw;
      this.canvas.height = chh;
    }
    if (this.#lutDirty) this.#renderBase();
    const ctx = this.canvas.getContext('2d') as CanvasRenderingContext2D;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, cw, chh);
    const t = this.#transform();
    ctx.setTransform(t.scale, 0, 0, t.scale, t.ox, t.oy);
    ctx.imageSmoothingEnabled = t.scale < 1;
    ctx.drawImage(this.#base, 0, 0);
    const heat = this.#heatmap;
    if (this.showHeatmap && heat !== null && heat.complete && heat.naturalWidth > 0) {
      ctx.globalAlpha = this.opacity;
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(heat, 0, 0, this.width, this.height);
      ctx.globalAlpha = 1;
    }
    if (this.showHeatmap && this.modelBoxes.length > 0) {
      ctx.lineWidth = 2 / t.scale;
      ctx.strokeStyle = MODEL_BOX_COLOUR;
      ctx.fillStyle = MODEL_BOX_COLOUR;
      ctx.font = `${Math.round(14 / t.scale)}px sans-serif`;
      ctx.textBaseline = 'bottom';
      for (const { box: [x0, y0, x1, y1], score } of this.modelBoxes) {
        ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
        ctx.fillText(`${Math.round(score * 100)} %`, x0 + 2 / t.scale, Math.max(y0, 16 / t.scale));
      }
    }
    if (this.mark !== null) {
      const [x0, y0, x1, y1] = this.mark;
      ctx.lineWidth = 2 / t.scale;
      ctx.strokeStyle = '#ffd400';
      if (x1 === x0 && y1 === y0) {
        ctx.beginPath();
        ctx.arc(x0 * this.width, y0 * this.height, 12 / t.scale, 0, Math.PI * 2);
        ctx.stroke();
      } else ctx.strokeRect(x0 * this.width, y0 * this.height, (x1 - x0) * this.width, (y1 - y0) * this.height);
    }
    this.caption.textContent = `${this.label} · ${this.width} × ${this.height} · W ${Math.round(this.window.width)} L ${Math.round(this.window.center)}${this.invert ? ' · inverted' : ''}${this.showHeatmap ? (this.heatmapUrl === null ? ' · no heatmap' : ` · heatmap ${Math.round(this.opacity * 100)} %`) : ''}${this.showHeatmap && this.modelBoxes.length > 0 ? ` · ${this.modelBoxes.length} predicted fracture box${this.modelBoxes.length === 1 ? '' : 'es'} (magenta)` : ''}`;
    this.caption.setAttribute('data-window', `${Math.round(this.window.width)}/${Math.round(this.window.center)}`);
    // A pane of a case already left (its image arrived late) does not count towards the case on screen.
    if (!this.#shown && this.element.isConnected) {
      this.#shown = true;
      performance.mark(`hf-image-shown-${this.index}`);
      document.body.dataset['imagesShown'] = String(Number(document.body.dataset['imagesShown'] ?? '0') + 1);
    }
  }

  #toImage(event: PointerEvent | WheelEvent): [number, number] {
    const rect = this.canvas.getBoundingClientRect();
    const dpr = this.canvas.width / Math.max(1, rect.width);
    const t = this.#transform();
    return [((event.clientX - rect.left) * dpr - t.ox) / t.scale / this.width, ((event.clientY - rect.top) * dpr - t.oy) / t.scale / this.height];
  }

  #bindPointer(): void {
    let mode: 'window' | 'pan' | 'mark' | null = null;
    let startX = 0;
    let startY = 0;
    let start: Window = this.window;
    let startPan = [0, 0];
    let markStart: [number, number] = [0, 0];
    const clamp = (v: number): number => Math.min(1, Math.max(0, v));
    this.canvas.addEventListener('contextmenu', (e) => e.preventDefault());
    this.canvas.addEventListener('pointerdown', (e) => {
      this.canvas.focus();
      this.canvas.setPointerCapture(e.pointerId);
      startX = e.clientX;
      startY = e.clientY;
      start = { ...this.window };
      startPan = [this.panX, this.panY];
      if (this.markMode && e.button === 0) {
        mode = 'mark';
        const [x, y] = this.#toImage(e);
        markStart = [clamp(x), clamp(y)];
        this.mark = [markStart[0], markStart[1], markStart[0], markStart[1]];
      } else mode = e.shiftKey || e.button === 1 || e.button === 2 ? 'pan' : 'window';
    });
    this.canvas.addEventListener('pointermove', (e) => {
      if (mode === null) return;
      const dx = e.clientX - startX;
      const dy = e.clientY - startY;
      if (mode === 'window') {
        const k = Math.max(1, start.width / 300);
        this.setWindow({ center: start.center - dy * k, width: Math.max(1, start.width + dx * k) });
      } else if (mode === 'pan') {
        const dpr = window.devicePixelRatio || 1;
        this.panX = startPan[0]! + dx * dpr;
        this.panY = startPan[1]! + dy * dpr;
        this.redraw();
      } else {
        const [x, y] = this.#toImage(e);
        this.mark = [Math.min(markStart[0], clamp(x)), Math.min(markStart[1], clamp(y)), Math.max(markStart[0], clamp(x)), Math.max(markStart[1], clamp(y))];
        this.redraw();
      }
    });
    const end = (): void => {
      if (mode === 'mark') this.onMark(this.mark);
      mode = null;
    };
    this.canvas.addEventListener('pointerup', end);
    this.canvas.addEventListener('pointercancel', end);
    this.canvas.addEventListener('wheel', (e) => {
      e.preventDefault();
      this.zoomBy(e.deltaY < 0 ? 1.15 : 1 / 1.15);
    }, { passive: false });
  }
}
