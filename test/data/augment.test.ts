// Batch augmentation: marked points land where the geometry says, identity gives the input back, the whole
// composition matches PyTorch running fastai's published formulas, seeds reproduce, lighting stays in [0, 1].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyAugment, augmentBatch, defaultAugmentConfig, drawAugmentParams, identityAugment, resolveAugmentConfig, type AugmentParams } from '../../src/data/augment.js';
import { augmentPreviewCommand } from '../../src/cli/commands/augment-preview.js';
import { decode, encode } from 'fast-png';
import { HipfracError, Rng } from '../../src/util/index.js';
import { dispose, rand, tensor, tidy } from '../../src/torch/index.js';
import { needs, PYTHON } from '../helpers/references.js';


/** A Gaussian spot (σ 1.2 px) centred at (x, y) on an h×w image, so its centroid survives resampling. */
function spot(h: number, w: number, x: number, y: number): Float32Array {
  const out = new Float32Array(h * w);
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) out[r * w + c] = Math.exp(-((c - x) ** 2 + (r - y) ** 2) / (2 * 1.2 ** 2));
  return out;
}

function centroid(pixels: Float32Array, w: number): { x: number; y: number } {
  let sx = 0;
  let sy = 0;
  let s = 0;
  pixels.forEach((v, i) => {
    sx += v * (i % w);
    sy += v * Math.floor(i / w);
    s += v;
  });
  return { x: sx / s, y: sy / s };
}

/** Where the spot at (x, y) lands under `params` (geometry only), measured on the augmented image. */
function landing(h: number, w: number, x: number, y: number, params: Partial<AugmentParams>): { x: number; y: number } {
  return tidy(() => {
    const image = tensor(spot(h, w, x, y), [1, 1, h, w]);
    const out = applyAugment(image, [{ ...identityAugment, ...params }], { ...defaultAugmentConfig, padding: 'zeros' });
    return centroid(out.toFloat32Array(), w);
  });
}

function near(actual: { x: number; y: number }, expected: { x: number; y: number }, tolerance: number, what: string): void {
  const d = Math.hypot(actual.x - expected.x, actual.y - expected.y);
  assert.ok(d <= tolerance, `${what}: landed at (${actual.x.toFixed(2)}, ${actual.y.toFixed(2)}), expected (${expected.x.toFixed(2)}, ${expected.y.toFixed(2)}), off by ${d.toFixed(2)} px`);
}

test('identity parameters give the input back', () => {
  tidy(() => {
    const image = rand([3, 2, 20, 28]);
    const out = applyAugment(image, [identityAugment, identityAugment, identityAugment]);
    assert.deepEqual(out.shape, [3, 2, 20, 28]);
    assert.deepEqual(Array.from(out.toFloat32Array()), Array.from(image.toFloat32Array()));
    assert.notEqual(out, image, 'a new tensor the caller owns');
    // With one non-identity image in the batch the resampling runs; the identity images must still come back.
    const mixed = applyAugment(image, [identityAugment, { ...identityAugment, rotate: 5 }, identityAugment]);
    const a = image.toFloat32Array();
    const b = mixed.toFloat32Array();
    const plane = 2 * 20 * 28;
    let worst = 0;
    for (const k of [0, 2]) for (let i = 0; i < plane; i++) worst = Math.max(worst, Math.abs((a[k * plane + i] as number) - (b[k * plane + i] as number)));
    assert.ok(worst < 1e-5, `identity images changed by ${worst} when resampled`);
  });
});

test('a left/right flip mirrors a marked pixel exactly', () => {
  const [h, w] = [24, 32];
  tidy(() => {
    const data = new Float32Array(h * w);
    data[5 * w + 3] = 1;
    const out = applyAugment(tensor(data, [1, 1, h, w]), [{ ...identityAugment, flip: true }]).toFloat32Array();
    assert.equal(out[5 * w + (w - 1 - 3)], 1);
    assert.ok(Math.abs(out.reduce((s, v) => s + v, 0) - 1) < 1e-6);
  });
});

test('a rotation turns a marked point about the image centre (positive = clockwise on screen)', () => {
  const [h, w] = [40, 40];
  const [cx, cy] = [(w - 1) / 2, (h - 1) / 2];
  const [x, y] = [27, 12];
  for (const degrees of [10, -7, 90]) {
    const t = (degrees * Math.PI) / 180;
    // Image rows grow downwards, so a clockwise turn on screen is (dx, dy) → (dx·cos − dy·sin, dx·sin + dy·cos).
    const expected = { x: cx + (x - cx) * Math.cos(t) - (y - cy) * Math.sin(t), y: cy + (x - cx) * Math.sin(t) + (y - cy) * Math.cos(t) };
    near(landing(h, w, x, y, { rotate: degrees }), expected, 1, `rotate ${degrees}°`);
  }
});

test('a rotation of a non-square image is a rotation in pixels (aspect corrected)', () => {
  const [h, w] = [30, 50];
  const [cx, cy] = [(w - 1) / 2, (h - 1) / 2];
  const [x, y] = [33, 20];
  const t = (10 * Math.PI) / 180;
  const expected = { x: cx + (x - cx) * Math.cos(t) - (y - cy) * Math.sin(t), y: cy + (x - cx) * Math.sin(t) + (y - cy) * Math.cos(t) };
  near(landing(h, w, x, y, { rotate: 10 }), expected, 1, 'rotate 10° on 50×30');
});

test('a zoom scales distances from its centre, which stays put', () => {
  const [h, w] = [40, 48];
  const [x, y] = [30, 14];
  for (const [zoom, colPct, rowPct] of [[1.1, 0.5, 0.5], [1.1, 0.25, 0.75], [1.05, 1, 0]] as const) {
    const fixed = { x: colPct * (w - 1), y: rowPct * (h - 1) };
    const expected = { x: fixed.x + zoom * (x - fixed.x), y: fixed.y + zoom * (y - fixed.y) };
    near(landing(h, w, x, y, { zoom, zoomCentre: [colPct, rowPct] }), expected, 1, `zoom ${zoom} at (${colPct}, ${rowPct})`);
  }
});

test('flip, rotation and zoom compose as fastai composes them (flip · rotate · zoom on sampling coordinates)', () => {
  const [h, w] = [40, 40];
  const [cx, cy] = [(w - 1) / 2, (h - 1) / 2];
  const [x, y] = [12, 25];
  // Output → input is F·R·Z, so input → output is Z⁻¹·R⁻¹·F⁻¹: flip first, then rotate, then zoom (about the centre).
  const fx = 2 * cx - x;
  const t = (8 * Math.PI) / 180;
  const rx = cx + (fx - cx) * Math.cos(t) - (y - cy) * Math.sin(t);
  const ry = cy + (fx - cx) * Math.sin(t) + (y - cy) * Math.cos(t);
  const expected = { x: cx + 1.08 * (rx - cx), y: cy + 1.08 * (ry - cy) };
  near(landing(h, w, x, y, { flip: true, rotate: 8, zoom: 1.08 }), expected, 1, 'flip + rotate 8° + zoom 1.08');
});

test('the symmetric warp moves a marked point as the corner-to-corner perspective map says', () => {
  // fastai's warp displaces the four corners (its _WarpCoord target points) and resamples so that the image
  // corners land on them. Expected position: the projective map of the unit square onto the displaced corners,
  // in Heckbert's closed form (Fundamentals of Texture Mapping, 1989, §2.2.3), a different route from the code's.
  const [h, w] = [41, 41];
  const [wx, wy] = [0.15, -0.1];
  const quad: [number, number][] = [[-1 - wy, -1 - wx], [1 + wy, -1 + wx], [1 - wy, 1 - wx], [-1 + wy, 1 + wx]]; // (0,0) (1,0) (1,1) (0,1)
  const [[x0, y0], [x1, y1], [x2, y2], [x3, y3]] = quad as [[number, number], [number, number], [number, number], [number, number]];
  const [dx1, dx2, dx3] = [x1 - x2, x3 - x2, x0 - x1 + x2 - x3];
  const [dy1, dy2, dy3] = [y1 - y2, y3 - y2, y0 - y1 + y2 - y3];
  const det = dx1 * dy2 - dx2 * dy1;
  const g = (dx3 * dy2 - dx2 * dy3) / det;
  const hh = (dx1 * dy3 - dx3 * dy1) / det;
  const map = (u: number, v: number): [number, number] => {
    const z = g * u + hh * v + 1;
    return [((x1 - x0 + g * x1) * u + (x3 - x0 + hh * x3) * v + x0) / z, ((y1 - y0 + g * y1) * u + (y3 - y0 + hh * y3) * v + y0) / z];
  };
  const toPixel = (v: number): number => ((v + 1) / 2) * (w - 1);
  for (const [x, y] of [[10, 28], [30, 9], [20, 20]] as const) {
    const [ox, oy] = map(x / (w - 1), y / (h - 1));
    near(landing(h, w, x, y, { warp: [wx, wy] }), { x: toPixel(ox), y: toPixel(oy) }, 1, `warp (${wx}, ${wy}) of (${x}, ${y})`);
  }
});

test('one composed batch matches PyTorch running fastai\'s formulas (affine_grid · warp · grid_sample · lighting)', needs('torch'), () => {
  const [n, h, w] = [4, 24, 32];
  const params = drawAugmentParams(n, new Rng(11), { ...defaultAugmentConfig, pAffine: 1, pLighting: 1, flipP: 0.5 });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-aug-'));
  try {
    const ours = tidy(() => {
      const image = rand([n, 1, h, w]);
      writeFileSync(path.join(dir, 'in.json'), JSON.stringify({ image: Array.from(image.toFloat32Array()), params, n, h, w }));
      return applyAugment(image, params).toFloat32Array();
    });
    // fastai/vision/augment.py's formulas (flip_mat, rotate_mat, zoom_mat, _prepare_mat, _WarpCoord.find_coeffs,
    // apply_perspective, _BrightnessLogit, _ContrastLogit), restated in plain PyTorch.
    const script = String.raw`
import json, math, sys, torch, torch.nn.functional as F
d = json.load(open(sys.argv[1]))
n, h, w = d['n'], d['h'], d['w']
x = torch.tensor(d['image'], dtype=torch.float32).view(n, 1, h, w)
out = []
for i, p in enumerate(d['params']):
    m = torch.eye(3, dtype=torch.float64)
    if p['flip']: m = m @ torch.tensor([[-1., 0, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float64)
    t = p['rotate'] * math.pi / 180
    m = m @ torch.tensor([[math.cos(t), math.sin(t), 0], [-math.sin(t), math.cos(t), 0], [0, 0, 1]], dtype=torch.float64)
    s = 1 / p['zoom']; c, r = p['zoomCentre']
    m = m @ torch.tensor([[s, 0, (1 - s) * (2 * c - 1)], [0, s, (1 - s) * (2 * r - 1)], [0, 0, 1]], dtype=torch.float64)
    m[0, 1] *= h / w; m[1, 0] *= w / h
    grid = F.affine_grid(m[:2].unsqueeze(0).float(), (1, 1, h, w), align_corners=True)
    xt, yt = p['warp']
    orig = torch.tensor([[-1., -1], [-1, 1], [1, -1], [1, 1]], dtype=torch.float64)
    targ = torch.tensor([[-1 - yt, -1 - xt], [-1 + yt, 1 + xt], [1 + yt, -1 + xt], [1 - yt, 1 - xt]], dtype=torch.float64)
    rows, rhs = [], []
    for k in range(4):
        X, Y = targ[k]; xo, yo = orig[k]
        rows.append([X, Y, 1, 0, 0, 0, -xo * X, -xo * Y]); rhs.append(xo)
        rows.append([0, 0, 0, X, Y, 1, -yo * X, -yo * Y]); rhs.append(yo)
    coeffs = torch.linalg.solve(torch.tensor(rows, dtype=torch.float64), torch.tensor(rhs, dtype=torch.float64))
    H = torch.cat([coeffs, torch.ones(1, dtype=torch.float64)]).view(3, 3).float()
    g = grid.view(1, -1, 2)
    g3 = g @ H[:, :2].t() + H[:, 2]
    grid = (g3[..., :2] / g3[..., 2:]).view(1, h, w, 2)
    y = F.grid_sample(x[i:i + 1], grid, mode='bilinear', padding_mode='reflection', align_corners=True)
    logit = lambda v: torch.log(v.clamp(1e-7, 1 - 1e-7)) - torch.log(1 - v.clamp(1e-7, 1 - 1e-7))
    b = torch.tensor(p['brightness'], dtype=torch.float32)
    y = torch.sigmoid((logit(y) + logit(b)) * p['contrast'])
    out.append(y)
json.dump(torch.cat(out).flatten().tolist(), open(sys.argv[2], 'w'))
`;
    writeFileSync(path.join(dir, 'ref.py'), script);
    const run = spawnSync(PYTHON, [path.join(dir, 'ref.py'), path.join(dir, 'in.json'), path.join(dir, 'out.json')], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, run.stderr);
    const reference = JSON.parse(readFileSync(path.join(dir, 'out.json'), 'utf8')) as number[];
    assert.equal(reference.length, ours.length);
    let worst = 0;
    reference.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - (ours[i] as number)))));
    assert.ok(worst < 1e-4, `largest difference from the reference: ${worst}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the same seed gives the same augmented batch; another seed does not', () => {
  tidy(() => {
    const image = rand([6, 1, 32, 32]);
    const a = augmentBatch(image, new Rng(42)).toFloat32Array();
    const b = augmentBatch(image, new Rng(42)).toFloat32Array();
    const c = augmentBatch(image, new Rng(43)).toFloat32Array();
    assert.deepEqual(Array.from(a), Array.from(b));
    assert.notDeepEqual(Array.from(a), Array.from(c));
  });
});

test('lighting keeps values in [0, 1] and moves brightness the way it says', () => {
  tidy(() => {
    const data = new Float32Array(2 * 16 * 16);
    for (let i = 0; i < data.length; i++) data[i] = (i % 17) / 16; // includes exact 0 and 1
    const image = tensor(data, [2, 1, 16, 16]);
    const strong = resolveAugmentConfig({ maxLighting: 0.9, pLighting: 1 });
    for (let seed = 0; seed < 5; seed++) {
      const out = augmentBatch(image, new Rng(seed), strong).toFloat32Array();
      for (const v of out) assert.ok(v >= 0 && v <= 1 && Number.isFinite(v), `value ${v} outside [0, 1]`);
    }
    const mean = (t: Float32Array): number => t.reduce((s, v) => s + v, 0) / t.length;
    const brighter = applyAugment(image, [{ ...identityAugment, brightness: 0.7 }, { ...identityAugment, brightness: 0.7 }]).toFloat32Array();
    const darker = applyAugment(image, [{ ...identityAugment, brightness: 0.3 }, { ...identityAugment, brightness: 0.3 }]).toFloat32Array();
    assert.ok(mean(brighter) > mean(data) + 0.05 && mean(darker) < mean(data) - 0.05);
  });
});

test('drawn parameters respect the ranges and probabilities', () => {
  const draws = drawAugmentParams(4000, new Rng(3));
  const share = (f: (p: AugmentParams) => boolean): number => draws.filter(f).length / draws.length;
  assert.ok(Math.abs(share((p) => p.flip) - 0.5) < 0.03);
  assert.ok(Math.abs(share((p) => p.rotate !== 0) - 0.75) < 0.03);
  assert.ok(Math.abs(share((p) => p.warp[0] !== 0) - 0.75) < 0.03);
  assert.ok(Math.abs(share((p) => p.brightness !== 0.5) - 0.75) < 0.03);
  for (const p of draws) {
    assert.ok(Math.abs(p.rotate) <= 10 && p.zoom >= 1 && p.zoom <= 1.1);
    assert.ok(Math.abs(p.warp[0]) <= 0.2 && Math.abs(p.warp[1]) <= 0.2);
    assert.ok(p.brightness >= 0.4 && p.brightness <= 0.6 && p.contrast >= 0.8 && p.contrast <= 1.25);
  }
  const off = drawAugmentParams(200, new Rng(3), resolveAugmentConfig({ pAffine: 0, pLighting: 0, flipP: 0 }));
  assert.ok(off.every((p) => JSON.stringify(p) === JSON.stringify(identityAugment)));
});

test('bad settings are reported together with a coded error', () => {
  assert.throws(
    () => resolveAugmentConfig({ pAffine: 1.5, maxZoom: 0.5, padding: 'wrap' as 'zeros' }),
    (e: unknown) => e instanceof HipfracError && e.code === 'HF_DATA_BAD_AUGMENT_CONFIG' && /pAffine/.test(e.message) && /zoom/.test(e.message) && /padding/.test(e.message),
  );
  assert.throws(() => {
    const image = rand([2, 1, 8, 8]);
    try {
      applyAugment(image, [identityAugment]);
    } finally {
      dispose(image);
    }
  }, /2 images/);
  assert.ok(Object.isFrozen(defaultAugmentConfig));
});

test('augment-preview writes the original and n augmented tiles as one grey PNG grid', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-preview-'));
  try {
    const size = 32;
    const source = new Uint8Array(size * size);
    for (let i = 0; i < source.length; i++) source[i] = (i % size) * 8; // a horizontal ramp: flips show
    const image = path.join(dir, 'ramp.png');
    writeFileSync(image, encode({ width: size, height: size, data: source, depth: 8, channels: 1 }));
    const out = path.join(dir, 'grid.png');
    const log = console.log;
    console.log = () => undefined;
    let code: number;
    try {
      code = await augmentPreviewCommand.run(['--image', image, '--out', out, '--n', '3', '--seed', '5', '--size', String(size)]);
    } finally {
      console.log = log;
    }
    assert.equal(code, 0);
    const grid = decode(readFileSync(out));
    // 4 tiles in 2 columns and 2 rows, 2 px apart.
    assert.equal(grid.width, 2 * size + 2);
    assert.equal(grid.height, 2 * size + 2);
    assert.equal(grid.channels, 1);
    const tile = (t: number): number[] => {
      const [left, top] = [(t % 2) * (size + 2), Math.floor(t / 2) * (size + 2)];
      const px: number[] = [];
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) px.push(grid.data[(top + y) * grid.width + left + x] as number);
      return px;
    };
    assert.deepEqual(tile(0), Array.from(source), 'first tile is the image itself');
    for (const t of [1, 2, 3]) assert.notDeepEqual(tile(t), Array.from(source), `tile ${t + 1} is augmented`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
