// The detector and its processing: focal-spot/scintillator blur, motion blur, quantum noise, log response,
// soft-tissue equalisation, windowing, collimation and quantisation to the stored bit depth.
import type { Rng } from '../util/index.js';
import { scratchF32 } from './scratch.js';

export interface DetectorSpec {
  /** Gaussian blur σ in pixels at this image's resolution. */
  readonly blurSigmaPx: number;
  /** Motion blur: direction (unit) and length in pixels, or null. */
  readonly motion: { readonly dx: number; readonly dy: number; readonly lengthPx: number } | null;
  /** Unattenuated photons per pixel (sets quantum noise). */
  readonly photonsPerPixel: number;
  /** Fraction of the soft-tissue thickness gradient removed by processing (0..1). */
  readonly equalisation: number;
  /** Display contrast: 1 = normal; small = washed-out, near-uniform image. */
  readonly contrast: number;
  /** Brightness shift of the display curve. */
  readonly brightness: number;
  /** Anode heel effect: attenuation gradient across the field. */
  readonly heel: number;
  readonly bitsStored: number;
  readonly monochrome1: boolean;
  /** Value (0..1 of display) outside the collimated field: unexposed detector. */
  readonly outsideValue: number;
  readonly noiseSeed: number;
}

// Quantiles of the standard normal at 65,536 evenly spaced probabilities: a fast, deterministic noise source.
const NORMAL_TABLE = (() => {
  const n = 65536;
  const t = new Float32Array(n);
  for (let i = 0; i < n; i++) t[i] = inverseNormal((i + 0.5) / n);
  return t;
})();

/** Acklam's rational approximation of the normal quantile function (relative error < 1.2e-9). */
function inverseNormal(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771875, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  const poly = (cs: number[], x: number): number => cs.reduce((acc, v) => acc * x + v, 0);
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return poly(c, q) / (poly(d, q) * q + 1);
  }
  if (p > 1 - lo) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -poly(c, q) / (poly(d, q) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}

/** Separable Gaussian blur in place (edges clamp). */
export function gaussianBlur(img: Float32Array, size: number, sigma: number): void {
  if (sigma < 0.3) return;
  const radius = Math.ceil(2.5 * sigma);
  const kernel = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += kernel[i + radius] = Math.exp((-i * i) / (2 * sigma * sigma));
  for (let i = 0; i < kernel.length; i++) kernel[i] = (kernel[i] as number) / sum;
  const tmp = scratchF32('blur', img.length);
  const clamp = (i: number): number => (i < 0 ? 0 : i >= size ? size - 1 : i);
  // Rows: the interior runs without bounds checks; only the few edge pixels clamp.
  for (let y = 0; y < size; y++) {
    const row = y * size;
    for (let x = 0; x < size; x++) {
      let s = 0;
      if (x >= radius && x < size - radius) {
        for (let i = -radius; i <= radius; i++) s += (kernel[i + radius] as number) * (img[row + x + i] as number);
      } else {
        for (let i = -radius; i <= radius; i++) s += (kernel[i + radius] as number) * (img[row + clamp(x + i)] as number);
      }
      tmp[row + x] = s;
    }
  }
  // Columns: accumulate whole rows at a time, which walks memory in order.
  img.fill(0);
  for (let y = 0; y < size; y++) {
    const dst = y * size;
    for (let i = -radius; i <= radius; i++) {
      const w = kernel[i + radius] as number;
      const src = clamp(y + i) * size;
      for (let x = 0; x < size; x++) img[dst + x] = (img[dst + x] as number) + w * (tmp[src + x] as number);
    }
  }
}

/** How far (pixels) blur spreads a change: used to grow fracture boxes so they hold every changed pixel. */
export function blurReach(spec: DetectorSpec): number {
  const g = spec.blurSigmaPx < 0.3 ? 0 : Math.ceil(2.5 * spec.blurSigmaPx);
  const m = spec.motion === null ? 0 : Math.ceil(spec.motion.lengthPx / 2) + 1;
  return g + m;
}

/** Averages samples along a line centred on each pixel (linear camera or patient motion). */
function motionBlur(img: Float32Array, size: number, motion: NonNullable<DetectorSpec['motion']>): void {
  const n = Math.max(2, Math.round(motion.lengthPx));
  const offsets: number[] = [];
  const dxs: number[] = [];
  const dys: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = i - (n - 1) / 2;
    const dx = Math.round(t * motion.dx);
    const dy = Math.round(t * motion.dy);
    dxs.push(dx);
    dys.push(dy);
    offsets.push(dy * size + dx);
  }
  const src = scratchF32('motion', img.length);
  src.set(img);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let s = 0;
      for (let i = 0; i < n; i++) {
        let xx = x + (dxs[i] as number);
        let yy = y + (dys[i] as number);
        xx = xx < 0 ? 0 : xx >= size ? size - 1 : xx;
        yy = yy < 0 ? 0 : yy >= size ? size - 1 : yy;
        s += src[yy * size + xx] as number;
      }
      img[y * size + x] = s / n;
    }
  }
}

/** Bilinear upsampling of a low-resolution map (lowSize²) into `out` (size²), or a new array. */
export function upsample(low: Float32Array, lowSize: number, size: number, out: Float32Array = new Float32Array(size * size)): Float32Array {
  const f = lowSize / size;
  // Column indices and weights are the same for every row: compute them once.
  const x0s = new Int32Array(size);
  const x1s = new Int32Array(size);
  const wxs = new Float32Array(size);
  for (let x = 0; x < size; x++) {
    const fx = Math.min(lowSize - 1, Math.max(0, (x + 0.5) * f - 0.5));
    const x0 = Math.floor(fx);
    x0s[x] = x0;
    x1s[x] = Math.min(lowSize - 1, x0 + 1);
    wxs[x] = fx - x0;
  }
  for (let y = 0; y < size; y++) {
    const fy = Math.min(lowSize - 1, Math.max(0, (y + 0.5) * f - 0.5));
    const y0 = Math.floor(fy);
    const r0 = y0 * lowSize;
    const r1 = Math.min(lowSize - 1, y0 + 1) * lowSize;
    const wy = fy - y0;
    const row = y * size;
    for (let x = 0; x < size; x++) {
      const a = x0s[x] as number;
      const b = x1s[x] as number;
      const wx = wxs[x] as number;
      const top = (low[r0 + a] as number) + ((low[r0 + b] as number) - (low[r0 + a] as number)) * wx;
      const bottom = (low[r1 + a] as number) + ((low[r1 + b] as number) - (low[r1 + a] as number)) * wx;
      out[row + x] = top + (bottom - top) * wy;
    }
  }
  return out;
}

/** Box blur in place over a square map, radius r (edges clamp). */
export function boxBlur(img: Float32Array, size: number, r: number): void {
  const tmp = new Float32Array(img.length);
  const n = 2 * r + 1;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += img[y * size + Math.min(size - 1, Math.max(0, x + i))] as number;
      tmp[y * size + x] = s / n;
    }
  }
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += tmp[Math.min(size - 1, Math.max(0, y + i)) * size + x] as number;
      img[y * size + x] = s / n;
    }
  }
}

const LUT_STEPS = 256;
const SIGMA_LO = -12;
const CURVE_LO = -1;
const LUT_SIZE = 18 * LUT_STEPS;

export interface ExposureInputs {
  /** Total line integral (attenuation × thickness) per pixel, size². Modified in place. */
  readonly lineIntegral: Float32Array;
  /** Smooth soft-tissue line integral per pixel, size² (drives equalisation and the display window). */
  readonly softTissue: Float32Array;
  readonly size: number;
  /** Collimated field in pixels (inclusive x0,y0; exclusive x1,y1). */
  readonly field: readonly [number, number, number, number];
}

/**
 * Turns line integrals into stored pixel values. Everything here is local or depends only on the soft-tissue
 * map, never on bone, so a fracture changes pixels only within blur reach of where it changes the line integral.
 */
export function expose(inputs: ExposureInputs, spec: DetectorSpec, rng: Rng): Uint16Array {
  const { lineIntegral: l, softTissue, size } = inputs;
  gaussianBlur(l, size, spec.blurSigmaPx);
  if (spec.motion !== null) motionBlur(l, size, spec.motion);
  const eq = spec.equalisation;
  let sMin = Infinity;
  let sMax = -Infinity;
  for (let i = 0; i < softTissue.length; i += 7) {
    const v = softTissue[i] as number;
    if (v < sMin) sMin = v;
    if (v > sMax) sMax = v;
  }
  const aecRef = 0.5 * (sMin + sMax);
  const lo = (1 - eq) * sMin - 0.15;
  const hi = (1 - eq) * sMax + eq * sMin + 1.6;
  const invRange = 1 / (hi - lo);
  const invSqrtN0 = 1 / Math.sqrt(spec.photonsPerPixel);
  const maxV = (1 << spec.bitsStored) - 1;
  const out = new Uint16Array(size * size);
  const [fx0, fy0, fx1, fy1] = inputs.field;
  // Look-up tables for the two transcendental steps (noise σ and the display S-curve): 1/256 steps are ample.
  const sigmaLut = new Float32Array(LUT_SIZE);
  for (let i = 0; i < LUT_SIZE; i++) sigmaLut[i] = Math.exp(Math.min(i / LUT_STEPS + SIGMA_LO, 6) * 0.5) * invSqrtN0;
  const curveLut = new Float32Array(LUT_SIZE);
  for (let i = 0; i < LUT_SIZE; i++) curveLut[i] = 0.5 + spec.brightness + spec.contrast * Math.tanh(2.6 * (i / LUT_STEPS + CURVE_LO - 0.5)) * 0.5;
  let state = rng.nextUint32() | 1;
  const lutMax = LUT_SIZE - 1;
  const sigmaOffset = (-aecRef - SIGMA_LO) * LUT_STEPS + 0.5;
  const curveScale = invRange * LUT_STEPS;
  const curveOffset = (-lo * invRange - CURVE_LO) * LUT_STEPS + 0.5;
  const mono1 = spec.monochrome1;
  for (let y = 0; y < size; y++) {
    const heel = spec.heel * (y / size - 0.5);
    const rowInField = y >= fy0 && y < fy1;
    const row = y * size;
    for (let x = 0; x < size; x++) {
      const i = row + x;
      // xorshift32 inline: one seeded draw per image, then a cheap stream (a method call per pixel was a hot spot).
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const z = NORMAL_TABLE[(state >>> 16) & 0xffff] as number;
      let d: number;
      if (!rowInField || x < fx0 || x >= fx1) {
        d = spec.outsideValue + 0.004 * z;
      } else {
        const li = (l[i] as number) + heel;
        // Quantum noise in the log domain: σ = 1/√(detected photons). Automatic exposure control sets the dose so that
        // a typical soft-tissue path (aecRef) receives N0 photons; the table caps σ where metal stops the beam.
        let si = li * LUT_STEPS + sigmaOffset;
        si = si < 0 ? 0 : si > lutMax ? lutMax : si | 0;
        const processed = li + z * (sigmaLut[si] as number) - eq * ((softTissue[i] as number) - sMin);
        // A soft S-curve, like a film/processing look-up table.
        let ti = processed * curveScale + curveOffset;
        ti = ti < 0 ? 0 : ti > lutMax ? lutMax : ti | 0;
        d = curveLut[ti] as number;
      }
      if (d < 0) d = 0;
      else if (d > 1) d = 1;
      const q = (d * maxV + 0.5) | 0;
      out[i] = mono1 ? maxV - q : q;
    }
  }
  return out;
}
