// Region jitter for crop training: the drawn regions stay within their bounds and inside the image, repeat for a
// seed, are off unless asked for (validation, test and predict cut the regions as given), and the fracture-box masks
// are cut to the same jittered region as the image.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode } from 'fast-png';
import { decodeGrey, defaultRegionJitter, ImageLoader, jitterRegion, radiographReader, type RegionJitter, type RegionOfInterest, type Sample } from '../../src/data/index.js';
import { dispose } from '../../src/torch/index.js';
import { HipfracError, Rng } from '../../src/util/index.js';

let dir = '';
/** 200 × 160 px, 16-bit: dark, with a bright rectangle exactly at BOX (a "fracture" the mask must cover). */
const W = 200;
const H = 160;
const BOX: RegionOfInterest = [0.4, 0.45, 0.6, 0.7];
let boxImage = '';
/** Each pixel holds its coordinates (value = 256·y + x), to see where a crop was cut. */
let coordImage = '';

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-jitter-'));
  const bright = new Uint16Array(W * H);
  const coords = new Uint16Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const inBox = (x + 0.5) / W > BOX[0] && (x + 0.5) / W < BOX[2] && (y + 0.5) / H > BOX[1] && (y + 0.5) / H < BOX[3];
      bright[y * W + x] = inBox ? 60000 : 2000;
      coords[y * W + x] = 256 * y + x;
    }
  }
  boxImage = path.join(dir, 'box.png');
  writeFileSync(boxImage, encode({ width: W, height: H, data: bright, depth: 16, channels: 1 }));
  coordImage = path.join(dir, 'coords.png');
  writeFileSync(coordImage, encode({ width: W, height: H, data: coords, depth: 16, channels: 1 }));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const centre = (r: RegionOfInterest): [number, number] => [(r[0] + r[2]) / 2, (r[1] + r[3]) / 2];

test('jitterRegion moves the centre by at most shift × size, scales within its range and spans both', () => {
  const region: RegionOfInterest = [0.3, 0.2, 0.6, 0.5];
  const { shift, scale } = defaultRegionJitter;
  let maxShift = 0;
  let minScale = Infinity;
  let maxScale = 0;
  for (let seed = 0; seed < 2000; seed++) {
    const out = jitterRegion(region, defaultRegionJitter, new Rng(seed));
    const [cx, cy] = centre(out);
    const dx = Math.abs(cx - 0.45) / 0.3;
    const dy = Math.abs(cy - 0.35) / 0.3;
    assert.ok(dx <= shift + 1e-9 && dy <= shift + 1e-9, `seed ${seed}: centre moved ${dx.toFixed(3)}, ${dy.toFixed(3)} of the size (at most ${shift})`);
    const sx = (out[2] - out[0]) / 0.3;
    const sy = (out[3] - out[1]) / 0.3;
    assert.ok(Math.abs(sx - sy) < 1e-9, `seed ${seed}: one scale for both sides (${sx}, ${sy})`);
    assert.ok(sx >= scale[0] - 1e-9 && sx <= scale[1] + 1e-9, `seed ${seed}: scale ${sx} outside ${scale.join('–')}`);
    maxShift = Math.max(maxShift, dx, dy);
    minScale = Math.min(minScale, sx);
    maxScale = Math.max(maxScale, sx);
  }
  // The draws use the whole range (a jitter too small to matter would pass the bounds above).
  assert.ok(maxShift > 0.95 * shift, `largest move ${maxShift}`);
  assert.ok(minScale < scale[0] + 0.01 && maxScale > scale[1] - 0.01, `scales ${minScale}–${maxScale}`);
});

test('jitterRegion keeps the region inside the image, or no further out than the given region reached', () => {
  const big: RegionJitter = { shift: 0.5, scale: [0.5, 2] };
  for (let seed = 0; seed < 2000; seed++) {
    for (const region of [[0.7, 0.75, 1, 1], [0, 0, 0.25, 0.3], [0.1, 0.1, 0.9, 0.9]] as RegionOfInterest[]) {
      const out = jitterRegion(region, big, new Rng(seed));
      assert.ok(out.every((v) => v >= 0 && v <= 1), `seed ${seed}: [${out.join(', ')}] leaves the image (from [${region.join(', ')}])`);
      assert.ok(out[2] > out[0] && out[3] > out[1], `seed ${seed}: empty region [${out.join(', ')}]`);
    }
    // A region the manifest gives past the edge (a hip at the border) may stay as far out, no further.
    const past = jitterRegion([-0.1, 0.2, 0.3, 1.05], big, new Rng(seed));
    assert.ok(past[0] >= -0.1 && past[3] <= 1.05 && past[1] >= 0 && past[2] <= 1, `seed ${seed}: [${past.join(', ')}]`);
  }
  assert.throws(() => jitterRegion([0.5, 0, 0.4, 1], big, new Rng(1)), (e: unknown) => e instanceof HipfracError && e.code === 'HF_DATA_BAD_ROI');
});

const sample = (imagePath: string, region: RegionOfInterest, boxes?: RegionOfInterest[]): Sample => ({ imagePath, label: boxes === undefined ? 0 : 1, region, ...(boxes === undefined ? {} : { boxes }) });

/** The first batch's first image of an epoch, as 16-bit values. */
async function firstImage(loader: ImageLoader, epoch: number): Promise<number[]> {
  for await (const batch of loader.epoch(epoch)) {
    const values = Array.from(batch.images.toFloat32Array().subarray(0, loader.height * loader.width), (v) => Math.round(v * 65535));
    dispose([batch.images, batch.labels]);
    return values;
  }
  throw new Error('no batch');
}

test('the loader jitters each sample per epoch from its seed: the same seed repeats, another seed or epoch differs', async () => {
  const samples = [sample(coordImage, [0.2, 0.2, 0.7, 0.8]), sample(coordImage, [0.3, 0.1, 0.9, 0.6])];
  const make = (seed: number, workers: number): ImageLoader => new ImageLoader(samples, { batchSize: 2, imageSize: 16, shuffle: true, seed, workers, regionJitter: defaultRegionJitter });
  const a = make(7, 0);
  const b = make(7, 1);
  const c = make(8, 0);
  try {
    for (const epoch of [0, 1, 2]) {
      for (const i of [0, 1]) {
        assert.deepEqual(a.regionOf(i, epoch), b.regionOf(i, epoch), `epoch ${epoch}, sample ${i}: same seed`);
        assert.notDeepEqual(a.regionOf(i, epoch), samples[i]?.region, `epoch ${epoch}, sample ${i}: jittered`);
        assert.notDeepEqual(a.regionOf(i, epoch), c.regionOf(i, epoch), `epoch ${epoch}, sample ${i}: another seed`);
      }
      assert.deepEqual(await firstImage(a, epoch), await firstImage(b, epoch), `epoch ${epoch}: the same pixels with and without worker threads`);
    }
    assert.notDeepEqual(a.regionOf(0, 0), a.regionOf(0, 1), 'another epoch, another region');
    assert.notDeepEqual(await firstImage(a, 0), await firstImage(a, 1), 'another epoch, another crop (the memory store is off)');
    assert.equal(a.usesMemoryStore, false);
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});

test('without regionJitter (validation, test, the gate) the loader cuts the region as given, every epoch', async () => {
  const region: RegionOfInterest = [0.25, 0.1, 0.75, 0.9];
  const loader = new ImageLoader([sample(coordImage, region)], { batchSize: 1, imageSize: 16, shuffle: false, seed: 3, workers: 0 });
  try {
    const exact = Array.from(await decodeGrey(coordImage, { width: 16, height: 16 }, 'squish', region));
    for (const epoch of [0, 1, 5]) {
      assert.deepEqual(loader.regionOf(0, epoch), region);
      assert.deepEqual(await firstImage(loader, epoch), exact, `epoch ${epoch}`);
    }
  } finally {
    await loader.close();
  }
});

test('predict cuts the region it is given: the crop starts at the region, with or without jitter in training', async () => {
  const region: RegionOfInterest = [0.25, 0.125, 0.75, 0.875];
  const read = radiographReader({ crop: 'roi' }, undefined, () => [region]);
  for (let k = 0; k < 3; k++) {
    const r = await read(coordImage);
    assert.deepEqual(r.origin, [50, 20], `read ${k}: the crop's top-left pixel`);
    assert.equal(r.original.width, 100);
    assert.equal(r.original.height, 120);
  }
});

test('the fracture-box masks are cut to the same jittered region as the image', async () => {
  const big: RegionJitter = { shift: 0.3, scale: [0.7, 1.5] };
  const size = 48;
  const loader = new ImageLoader([sample(boxImage, [0.25, 0.25, 0.75, 0.85], [BOX])], { batchSize: 1, imageSize: size, shuffle: false, seed: 11, workers: 0, boxMasks: true, regionJitter: big });
  try {
    for (let epoch = 0; epoch < 6; epoch++) {
      for await (const batch of loader.epoch(epoch)) {
        const image = batch.images.toFloat32Array();
        const mask = (batch.boxMasks as NonNullable<typeof batch.boxMasks>).toFloat32Array();
        dispose([batch.images, batch.labels, batch.boxMasks as NonNullable<typeof batch.boxMasks>, batch.boxWeights as NonNullable<typeof batch.boxWeights>]);
        let inMask = 0;
        let disagree = 0;
        for (let p = 0; p < size * size; p++) {
          const bright = (image[p] as number) > 0.5;
          inMask += mask[p] as number;
          if (bright !== ((mask[p] as number) === 1)) disagree++;
        }
        // Only pixels on the box's edge may differ (resampling blends them); a mask cut to another region is off by rows.
        assert.ok(inMask > 50, `epoch ${epoch}: the box is in the crop (${inMask} px)`);
        assert.ok(disagree <= 0.1 * inMask, `epoch ${epoch}: ${disagree} of ${inMask} mask pixels disagree with the bright box (region ${String(loader.regionOf(0, epoch))})`);
      }
    }
  } finally {
    await loader.close();
  }
});
