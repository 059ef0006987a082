// A detector of burned-in markers and text on a grey radiograph (lead side letters, rulers, calibration balls,
// annotations): small, flat, sharply bright connected components; and masking that fills them with local background.

/** One detected component: its box [x0, y0, x1, y1] in pixels (x1/y1 exclusive), size and brightness against its ring. */
export interface MarkerComponent {
  readonly box: readonly [number, number, number, number];
  readonly area: number;
  /** Mean value inside minus the mean of the ring of pixels around its box, on [0, 1] pixels. */
  readonly contrast: number;
}

export interface MarkerDetection {
  readonly components: readonly MarkerComponent[];
  /** 1 where a detected component lies (grown by `grow` pixels), row-major. */
  readonly mask: Uint8Array;
}

export interface MarkerDetectorOptions {
  /** Radius of the opening that estimates the background, as a share of the shorter side (default 1/20). */
  readonly backgroundRadius?: number;
  /** Minimum white top-hat (value − opening) a pixel needs to be a candidate, on [0, 1] pixels (default 0.12). */
  readonly topHat?: number;
  /** Minimum mean-inside minus ring-mean of a component (default 0.15). */
  readonly contrast?: number;
  /** Largest standard deviation of the values inside a component: markers are flat (default 0.12). */
  readonly maxStd?: number;
  /** Components with fewer pixels are noise (default 3). */
  readonly minArea?: number;
  /** A component whose box is longer than this share of the shorter side is anatomy or collimation (default 0.6). */
  readonly maxExtent?: number;
  /** Pixels each detected component is grown by in the mask (default 1). */
  readonly grow?: number;
}

const DEFAULTS: Required<MarkerDetectorOptions> = { backgroundRadius: 1 / 20, topHat: 0.12, contrast: 0.15, maxStd: 0.12, minArea: 3, maxExtent: 0.6, grow: 1 };

/**
 * Min (erode) or max (dilate) over every window of `2r + 1` values of one line (`n` values `stride` apart from
 * `start`), windows cut at the ends: van Herk / Gil–Werman, three comparisons a value whatever `r`. The line is
 * copied once into `line`, padded with the operation's identity, split into blocks of the window's length, and each
 * window is the combination of one block's suffix and the next block's prefix. `line`, `g` and `h` are scratch of
 * at least n + 2r values.
 */
function lineFilter(src: Float32Array, dst: Float32Array, start: number, stride: number, n: number, r: number, isMax: boolean, line: Float32Array, g: Float32Array, h: Float32Array): void {
  const k = 2 * r + 1;
  const m = n + 2 * r;
  const identity = isMax ? -Infinity : Infinity;
  line.fill(identity, 0, r);
  for (let i = 0; i < n; i++) line[r + i] = src[start + i * stride] as number;
  line.fill(identity, r + n, m);
  for (let b = 0; b < m; b += k) {
    const end = Math.min(m, b + k);
    let v = identity;
    if (isMax) {
      for (let i = b; i < end; i++) g[i] = v = Math.max(v, line[i] as number);
      v = identity;
      for (let i = end - 1; i >= b; i--) h[i] = v = Math.max(v, line[i] as number);
    } else {
      for (let i = b; i < end; i++) g[i] = v = Math.min(v, line[i] as number);
      v = identity;
      for (let i = end - 1; i >= b; i--) h[i] = v = Math.min(v, line[i] as number);
    }
  }
  const reach = 2 * r;
  if (isMax) for (let x = 0; x < n; x++) dst[start + x * stride] = Math.max(h[x] as number, g[x + reach] as number);
  else for (let x = 0; x < n; x++) dst[start + x * stride] = Math.min(h[x] as number, g[x + reach] as number);
}

/** Min (erode) or max (dilate) over a (2r+1)² square, separably; the square is cut at the image's edges. */
export function squareFilter(src: Float32Array, width: number, height: number, r: number, isMax: boolean): Float32Array {
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  const scratch = Math.max(width, height) + 2 * r;
  const line = new Float32Array(scratch);
  const g = new Float32Array(scratch);
  const h = new Float32Array(scratch);
  for (let y = 0; y < height; y++) lineFilter(src, tmp, y * width, 1, width, r, isMax, line, g, h);
  for (let x = 0; x < width; x++) lineFilter(tmp, out, x, width, height, r, isMax, line, g, h);
  return out;
}

/** Labels 8-connected components of `on` (1 = foreground, row-major); returns each component's pixel indices. */
export function connectedComponents(on: Uint8Array, width: number, height: number): number[][] {
  const seen = new Uint8Array(on.length);
  const out: number[][] = [];
  const stack: number[] = [];
  for (let start = 0; start < on.length; start++) {
    if (on[start] !== 1 || seen[start] === 1) continue;
    const pixels: number[] = [];
    seen[start] = 1;
    stack.push(start);
    while (stack.length > 0) {
      const i = stack.pop() as number;
      pixels.push(i);
      const x = i % width;
      const y = (i - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
          const j = ny * width + nx;
          if (on[j] === 1 && seen[j] === 0) {
            seen[j] = 1;
            stack.push(j);
          }
        }
      }
    }
    out.push(pixels);
  }
  return out;
}

/** Mean of the pixels in the ring `gap` pixels wide around a box, outside the box. */
function ringMean(plane: Float32Array, width: number, height: number, [x0, y0, x1, y1]: readonly [number, number, number, number], gap: number): number {
  let s = 0;
  let n = 0;
  for (let y = Math.max(0, y0 - gap); y < Math.min(height, y1 + gap); y++) {
    for (let x = Math.max(0, x0 - gap); x < Math.min(width, x1 + gap); x++) {
      if (x >= x0 && x < x1 && y >= y0 && y < y1) continue;
      s += plane[y * width + x] as number;
      n++;
    }
  }
  return n > 0 ? s / n : 0;
}

/**
 * Finds burned-in markers on a grey plane (values in [0, 1], row-major): pixels that stand out of a white top-hat
 * (the value minus a morphological opening, so bright structures smaller than the opening remain), grouped into
 * 8-connected components, kept when small, flat and much brighter than the ring around them.
 */
export function detectMarkers(plane: Float32Array, width: number, height: number, options: MarkerDetectorOptions = {}): MarkerDetection {
  const o = { ...DEFAULTS, ...options };
  const r = Math.max(2, Math.round(Math.min(width, height) * o.backgroundRadius));
  const opened = squareFilter(squareFilter(plane, width, height, r, false), width, height, r, true);
  const candidate = new Uint8Array(plane.length);
  for (let i = 0; i < plane.length; i++) if ((plane[i] as number) - (opened[i] as number) >= o.topHat) candidate[i] = 1;
  const kept: MarkerComponent[] = [];
  const mask = new Uint8Array(plane.length);
  const limit = o.maxExtent * Math.min(width, height);
  for (const pixels of connectedComponents(candidate, width, height)) {
    if (pixels.length < o.minArea) continue;
    let x0 = width;
    let y0 = height;
    let x1 = 0;
    let y1 = 0;
    let sum = 0;
    let sumSq = 0;
    for (const i of pixels) {
      const x = i % width;
      const y = (i - x) / width;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x + 1);
      y1 = Math.max(y1, y + 1);
      const v = plane[i] as number;
      sum += v;
      sumSq += v * v;
    }
    if (x1 - x0 > limit || y1 - y0 > limit) continue;
    const mean = sum / pixels.length;
    const std = Math.sqrt(Math.max(0, sumSq / pixels.length - mean * mean));
    const box = [x0, y0, x1, y1] as const;
    const contrast = mean - ringMean(plane, width, height, box, 2);
    if (std > o.maxStd || contrast < o.contrast) continue;
    kept.push({ box, area: pixels.length, contrast });
    for (const i of pixels) {
      const x = i % width;
      const y = (i - x) / width;
      for (let dy = -o.grow; dy <= o.grow; dy++) {
        for (let dx = -o.grow; dx <= o.grow; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          if (nx >= 0 && ny >= 0 && nx < width && ny < height) mask[ny * width + nx] = 1;
        }
      }
    }
  }
  return { components: kept, mask };
}

/**
 * A copy of `plane` with every masked pixel replaced by its local background: the median of the unmasked pixels in
 * a window around it that grows until it holds some (so a marker becomes the tissue or air beside it). Pixels outside
 * the mask are returned unchanged.
 */
export function fillMasked(plane: Float32Array, width: number, height: number, mask: Uint8Array): Float32Array {
  const out = Float32Array.from(plane);
  const values: number[] = [];
  for (let i = 0; i < plane.length; i++) {
    if (mask[i] !== 1) continue;
    const x = i % width;
    const y = (i - x) / width;
    for (let r = 2; r <= Math.max(width, height); r *= 2) {
      values.length = 0;
      for (let yy = Math.max(0, y - r); yy <= Math.min(height - 1, y + r); yy++) {
        for (let xx = Math.max(0, x - r); xx <= Math.min(width - 1, x + r); xx++) {
          const j = yy * width + xx;
          if (mask[j] !== 1) values.push(plane[j] as number);
        }
      }
      if (values.length >= 4) break;
    }
    if (values.length === 0) continue;
    values.sort((a, b) => a - b);
    out[i] = values[values.length >> 1] as number;
  }
  return out;
}

/** detectMarkers then fillMasked: the plane with its burned-in markers replaced by local background. */
export function maskMarkers(plane: Float32Array, width: number, height: number, options: MarkerDetectorOptions = {}): Float32Array {
  const { mask } = detectMarkers(plane, width, height, options);
  return fillMasked(plane, width, height, mask);
}
