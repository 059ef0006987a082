// Batch augmentation on tensors with fastai's defaults (flip, rotate, zoom, symmetric warp, lighting): the
// random parameters are drawn with a seeded Rng, the geometry is resampled once per batch with gridSample.
//
// The formulas follow fastai v2's `aug_transforms` (fastai/vision/augment.py, Apache-2.0): `flip_mat`,
// `rotate_mat`, `zoom_mat` composed in that order into one affine matrix, then `_WarpCoord`'s perspective warp
// applied to the sampling coordinates, `align_corners=True`, reflection padding; then `_BrightnessLogit` and
// `_ContrastLogit` in logit space. Written from the published formulas; no fastai code is copied.
import { type Rng } from '../util/index.js';
import { DataError } from './errors.js';
import { callInplace, callTensor, gridSample, mm, reshape, select, stack, tensor, tidy, type Tensor } from '../torch/index.js';

/** Every augmentation setting; `defaultAugmentConfig` holds fastai's (and the study's) values. */
export interface AugmentConfig {
  /** Probability of a left/right flip. */
  readonly flipP: number;
  /** Largest rotation, degrees either way. */
  readonly maxRotate: number;
  /** Zoom factor range (≥ 1 zooms in). */
  readonly minZoom: number;
  readonly maxZoom: number;
  /** Largest corner displacement of the symmetric perspective warp, in half-widths (fastai `max_warp`). */
  readonly maxWarp: number;
  /** Brightness and contrast change (fastai `max_lighting`). */
  readonly maxLighting: number;
  /** Probability that each geometric transform (rotate, zoom, warp) is drawn for an image. */
  readonly pAffine: number;
  /** Probability that each lighting transform (brightness, contrast) is drawn for an image. */
  readonly pLighting: number;
  /** What is sampled outside the image. */
  readonly padding: 'reflection' | 'border' | 'zeros';
  readonly interpolation: 'bilinear' | 'nearest';
}

/** fastai's `aug_transforms()` defaults, which the study used. */
export const defaultAugmentConfig: AugmentConfig = Object.freeze({
  flipP: 0.5,
  maxRotate: 10,
  minZoom: 1,
  maxZoom: 1.1,
  maxWarp: 0.2,
  maxLighting: 0.2,
  pAffine: 0.75,
  pLighting: 0.75,
  padding: 'reflection',
  interpolation: 'bilinear',
});

/** The transform drawn for one image. The neutral values are those of `identityAugment`. */
export interface AugmentParams {
  readonly flip: boolean;
  /** Degrees; positive turns the image content clockwise on screen (fastai's sign). */
  readonly rotate: number;
  /** Zoom factor ≥ 1 (1 = none). */
  readonly zoom: number;
  /** Where the zoom is centred, as fractions (column, row) in [0, 1]; 0.5, 0.5 is the centre. */
  readonly zoomCentre: readonly [number, number];
  /** Perspective warp magnitudes (x, y) in half-widths; 0, 0 = none. */
  readonly warp: readonly [number, number];
  /** Brightness in (0, 1); 0.5 = none. Added in logit space. */
  readonly brightness: number;
  /** Contrast factor > 0; 1 = none. Multiplies in logit space. */
  readonly contrast: number;
}

export const identityAugment: AugmentParams = Object.freeze({
  flip: false,
  rotate: 0,
  zoom: 1,
  zoomCentre: [0.5, 0.5] as const,
  warp: [0, 0] as const,
  brightness: 0.5,
  contrast: 1,
});

/** Checks a partial config over the defaults; throws one error listing every problem. */
export function resolveAugmentConfig(overrides: Partial<AugmentConfig> = {}): AugmentConfig {
  const config: AugmentConfig = { ...defaultAugmentConfig, ...overrides };
  const problems: string[] = [];
  const probability = (name: keyof AugmentConfig): void => {
    const v = config[name] as number;
    if (!(v >= 0 && v <= 1)) problems.push(`${name} must be a probability in [0, 1], got ${v}`);
  };
  probability('flipP');
  probability('pAffine');
  probability('pLighting');
  if (!(config.maxRotate >= 0 && config.maxRotate <= 180)) problems.push(`maxRotate must be in [0, 180] degrees, got ${config.maxRotate}`);
  if (!(config.minZoom > 0 && config.maxZoom >= config.minZoom)) problems.push(`zoom range must satisfy 0 < minZoom ≤ maxZoom, got ${config.minZoom}..${config.maxZoom}`);
  if (!(config.maxWarp >= 0 && config.maxWarp < 1)) problems.push(`maxWarp must be in [0, 1), got ${config.maxWarp}`);
  if (!(config.maxLighting >= 0 && config.maxLighting < 1)) problems.push(`maxLighting must be in [0, 1), got ${config.maxLighting}`);
  if (!['reflection', 'border', 'zeros'].includes(config.padding)) problems.push(`padding must be 'reflection', 'border' or 'zeros', got '${String(config.padding)}'`);
  if (!['bilinear', 'nearest'].includes(config.interpolation)) problems.push(`interpolation must be 'bilinear' or 'nearest', got '${String(config.interpolation)}'`);
  if (problems.length > 0) {
    throw new DataError('HF_DATA_BAD_AUGMENT_CONFIG', `Invalid augmentation settings: ${problems.join('; ')}.`, {
      fix: 'see defaultAugmentConfig in src/data/augment.ts for the accepted values.',
    });
  }
  return Object.freeze(config);
}

/**
 * Draws one `AugmentParams` per image. Every value is drawn whether or not its transform fires, so changing a
 * probability does not shift the other draws of the same seed.
 */
export function drawAugmentParams(count: number, rng: Rng, config: AugmentConfig = defaultAugmentConfig): AugmentParams[] {
  const out: AugmentParams[] = [];
  const logLighting = -Math.log(1 - config.maxLighting);
  for (let i = 0; i < count; i++) {
    const flip = rng.bernoulli(config.flipP);
    const rotateOn = rng.bernoulli(config.pAffine);
    const rotate = rng.uniform(-config.maxRotate, config.maxRotate);
    const zoomOn = rng.bernoulli(config.pAffine);
    const zoom = rng.uniform(config.minZoom, config.maxZoom);
    const zoomCentre: [number, number] = [rng.next(), rng.next()];
    const warpOn = rng.bernoulli(config.pAffine);
    const warp: [number, number] = [rng.uniform(-config.maxWarp, config.maxWarp), rng.uniform(-config.maxWarp, config.maxWarp)];
    const brightnessOn = rng.bernoulli(config.pLighting);
    const brightness = rng.uniform(0.5 * (1 - config.maxLighting), 0.5 * (1 + config.maxLighting));
    const contrastOn = rng.bernoulli(config.pLighting);
    const contrast = Math.exp(rng.uniform(-logLighting, logLighting));
    out.push({
      flip,
      rotate: rotateOn ? rotate : 0,
      zoom: zoomOn ? zoom : 1,
      zoomCentre: zoomOn ? zoomCentre : [0.5, 0.5],
      warp: warpOn ? warp : [0, 0],
      brightness: brightnessOn ? brightness : 0.5,
      contrast: contrastOn ? contrast : 1,
    });
  }
  return out;
}

type Mat3 = [number, number, number, number, number, number, number, number, number];

function mul3(a: Mat3, b: Mat3): Mat3 {
  const out = new Array<number>(9).fill(0) as Mat3;
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) out[r * 3 + c] = a[r * 3]! * b[c]! + a[r * 3 + 1]! * b[3 + c]! + a[r * 3 + 2]! * b[6 + c]!;
  return out;
}

/** Solves the 8×8 system A·x = b by Gaussian elimination with partial pivoting. */
function solve8(a: number[][], b: number[]): number[] {
  const n = 8;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    const p = m[col]![col]!;
    for (let r = col + 1; r < n; r++) {
      const f = m[r]![col]! / p;
      for (let c = col; c <= n; c++) m[r]![c]! -= f * m[col]![c]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r]![n]!;
    for (let c = r + 1; c < n; c++) s -= m[r]![c]! * x[c]!;
    x[r] = s / m[r]![r]!;
  }
  return x;
}

/**
 * The homography of fastai's symmetric warp: it sends each displaced corner (the "target" points) back to
 * the image corner, so the output pixel at a displaced corner shows the input's corner.
 */
function warpHomography(wx: number, wy: number): Mat3 {
  const orig: [number, number][] = [[-1, -1], [-1, 1], [1, -1], [1, 1]];
  const targ: [number, number][] = [[-1 - wy, -1 - wx], [-1 + wy, 1 + wx], [1 + wy, -1 + wx], [1 - wy, 1 - wx]];
  const rows: number[][] = [];
  const rhs: number[] = [];
  for (let i = 0; i < 4; i++) {
    const [X, Y] = targ[i]!;
    const [x, y] = orig[i]!;
    rows.push([X, Y, 1, 0, 0, 0, -x * X, -x * Y]);
    rhs.push(x);
    rows.push([0, 0, 0, X, Y, 1, -y * X, -y * Y]);
    rhs.push(y);
  }
  const h = solve8(rows, rhs);
  return [h[0]!, h[1]!, h[2]!, h[3]!, h[4]!, h[5]!, h[6]!, h[7]!, 1];
}

/**
 * The 3×3 map (row-major) from output to input sampling coordinates for one image, both in gridSample's
 * normalised [-1, 1] space with `alignCorners` true (-1 and 1 are the centres of the edge pixels), x = column.
 * A point (x, y) of the output samples the input at (u/w, v/w) with [u, v, w] = M·[x, y, 1].
 */
export function samplingMatrix(params: AugmentParams, height: number, width: number): Mat3 {
  let m: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  if (params.flip) m = mul3(m, [-1, 0, 0, 0, 1, 0, 0, 0, 1]);
  if (params.rotate !== 0) {
    const t = (params.rotate * Math.PI) / 180;
    const c = Math.cos(t);
    const s = Math.sin(t);
    m = mul3(m, [c, s, 0, -s, c, 0, 0, 0, 1]);
  }
  if (params.zoom !== 1) {
    const s = 1 / params.zoom;
    const [colPct, rowPct] = params.zoomCentre;
    m = mul3(m, [s, 0, (1 - s) * (2 * colPct - 1), 0, s, (1 - s) * (2 * rowPct - 1), 0, 0, 1]);
  }
  // Rotation in normalised coordinates is not a rotation in pixels unless the image is square (fastai's _prepare_mat).
  m[1] *= height / width;
  m[3] *= width / height;
  const [wx, wy] = params.warp;
  if (wx !== 0 || wy !== 0) m = mul3(warpHomography(wx, wy), m);
  return m;
}

function isIdentityGeometry(p: AugmentParams): boolean {
  return !p.flip && p.rotate === 0 && p.zoom === 1 && p.warp[0] === 0 && p.warp[1] === 0;
}
function isIdentityLighting(p: AugmentParams): boolean {
  return p.brightness === 0.5 && p.contrast === 1;
}

const EPS = 1e-7;
/** log(x / (1 − x)) after clamping to [ε, 1 − ε], as fastai's logit, in one operator. */
function logitTensor(x: Tensor): Tensor {
  return callTensor('aten::logit', '', [x, EPS]);
}
function logit(p: number): number {
  const c = Math.min(1 - EPS, Math.max(EPS, p));
  return Math.log(c) - Math.log(1 - c);
}

/**
 * Applies one transform per image to a batch `images` [N, C, H, W] (float, values in [0, 1]) and returns a
 * new tensor of the same shape: the geometry in one gridSample pass, then brightness and contrast in logit
 * space (results stay in [0, 1]). The input is not modified; the caller owns and disposes both.
 */
export function applyAugment(images: Tensor, params: readonly AugmentParams[], config: AugmentConfig = defaultAugmentConfig): Tensor {
  const shape = images.shape;
  if (shape.length !== 4) {
    throw new DataError('HF_DATA_BAD_BATCH', `augmentation needs images [N, C, H, W], got shape [${shape.join(', ')}].`);
  }
  const [n, , h, w] = shape as [number, number, number, number];
  if (params.length !== n) {
    throw new DataError('HF_DATA_BAD_BATCH', `got ${params.length} augmentation parameter sets for a batch of ${n} images.`, { fix: 'draw one AugmentParams per image (drawAugmentParams(n, …)).' });
  }
  // The small tensors built here go where the images are (CPU or GPU).
  const on = { device: images.device };
  return tidy(() => {
    let out = images;
    if (!params.every(isIdentityGeometry)) {
      // Output pixel centres in normalised coordinates, as homogeneous columns [x; y; 1] (3 × HW).
      const base = new Float32Array(3 * h * w);
      for (let r = 0; r < h; r++) {
        const y = h === 1 ? 0 : -1 + (2 * r) / (h - 1);
        for (let c = 0; c < w; c++) {
          const i = r * w + c;
          base[i] = w === 1 ? 0 : -1 + (2 * c) / (w - 1);
          base[h * w + i] = y;
          base[2 * h * w + i] = 1;
        }
      }
      // Every image's matrix stacked (3N × 3): one matrix product maps every pixel of every image, and each
      // coordinate comes out as a contiguous plane (gridSample reads a strided grid far more slowly).
      const mats = new Float32Array(9 * n);
      params.forEach((p, i) => mats.set(samplingMatrix(p, h, w), 9 * i));
      const coords = reshape(mm(tensor(mats, [3 * n, 3], on), tensor(base, [3, h * w], on)), [n, 3, h * w]);
      let gx = select(coords, 1, 0);
      let gy = select(coords, 1, 1);
      if (!params.every((p) => p.warp[0] === 0 && p.warp[1] === 0)) {
        const gw = select(coords, 1, 2);
        gx = gx.div(gw);
        gy = gy.div(gw);
      }
      const grid = reshape(stack([gx, gy], 2), [n, h, w, 2]);
      out = gridSample(images.to('float32'), grid, config.interpolation, config.padding, true);
    }
    if (!params.every(isIdentityLighting)) {
      const shift = tensor(Float32Array.from(params, (p) => logit(p.brightness)), [n, 1, 1, 1], on);
      const scale = tensor(Float32Array.from(params, (p) => p.contrast), [n, 1, 1, 1], on);
      // In place after the one new tensor: fewer passes and allocations over the batch.
      const z = logitTensor(out).add_(shift).mul_(scale);
      out = callInplace(z, 'aten::sigmoid_', '', []);
    }
    // Always hand back a tensor the caller owns, even for an all-identity batch.
    return out === images ? images.clone() : out;
  });
}

/** Draws the parameters for a batch from `rng` and applies them (the training path; evaluation skips it). */
export function augmentBatch(images: Tensor, rng: Rng, config: AugmentConfig = defaultAugmentConfig): Tensor {
  return applyAugment(images, drawAugmentParams(images.size(0), rng, config), config);
}
