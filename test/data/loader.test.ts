// The loader: shapes, labels and pixel values per batch, seeded order, balanced sampling, resize methods,
// the in-memory store, augmentation, errors, and worker threads that end when the loader closes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode } from 'fast-png';
import { ImageLoader, type Batch, type Sample } from '../../src/data/loader.js';
import { decodeGrey } from '../../src/data/imageIo.js';
import { defaultAugmentConfig } from '../../src/data/augment.js';
import { HipfracError } from '../../src/util/index.js';
import { dispose } from '../../src/torch/index.js';
import { needs, PYTHON } from '../helpers/references.js';

let dir = '';
/** Ten uniform images: sample i has grey level LEVELS[i] (16-bit files for even i, 8-bit for odd). */
const LEVELS = [0, 257 * 20, 6000, 257 * 60, 20000, 257 * 100, 33000, 257 * 180, 50000, 65535];
let samples: Sample[] = [];

function writeGrey(file: string, width: number, height: number, depth: 8 | 16, value: (x: number, y: number) => number): string {
  const data = depth === 16 ? new Uint16Array(width * height) : new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = value(x, y);
  const full = path.join(dir, file);
  writeFileSync(full, encode({ width, height, data, depth, channels: 1 }));
  return full;
}

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-loader-'));
  samples = LEVELS.map((level, i) => ({
    imagePath: i % 2 === 0 ? writeGrey(`g${i}.png`, 20, 14, 16, () => level) : writeGrey(`g${i}.png`, 20, 14, 8, () => level / 257),
    label: i % 3 === 0 ? 1 : 0,
  }));
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function collect(loader: ImageLoader, epoch: number): Promise<{ indices: number[][]; labels: number[][]; means: number[][]; shapes: number[][] }> {
  const out = { indices: [] as number[][], labels: [] as number[][], means: [] as number[][], shapes: [] as number[][] };
  for await (const batch of loader.epoch(epoch)) {
    try {
      out.indices.push(batch.indices);
      out.labels.push(batch.labels.toArray());
      out.shapes.push(batch.images.shape);
      assert.equal(batch.images.dtype, 'float32');
      assert.equal(batch.labels.dtype, 'int64');
      const [n, c, h, w] = batch.images.shape as [number, number, number, number];
      const data = batch.images.toFloat32Array();
      const plane = c * h * w;
      out.means.push(Array.from({ length: n }, (_, i) => data.subarray(i * plane, (i + 1) * plane).reduce((s, v) => s + v, 0) / plane));
    } finally {
      dispose(batch);
    }
  }
  return out;
}

for (const workers of [2, 0]) {
  test(`batches have the right shapes, labels and pixel values (${workers} workers)`, async () => {
    const loader = new ImageLoader(samples, { batchSize: 4, imageSize: [8, 6], workers, seed: 5, memoryCacheBytes: 0 });
    try {
      const got = await collect(loader, 0);
      assert.deepEqual(got.shapes, [[4, 1, 8, 6], [4, 1, 8, 6], [2, 1, 8, 6]]);
      assert.equal(loader.batchesPerEpoch, 3);
      assert.deepEqual(got.indices.flat().sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'every sample once');
      assert.notDeepEqual(got.indices.flat(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'shuffled');
      got.indices.forEach((batch, b) =>
        batch.forEach((sample, i) => {
          assert.equal(got.labels[b]?.[i], samples[sample]?.label, `label of sample ${sample}`);
          // 16-bit files read as v/65535, 8-bit ones as v/255 (both depths the same scale).
          assert.ok(Math.abs((got.means[b]?.[i] as number) - (LEVELS[sample] as number) / 65535) < 1e-6, `pixels of sample ${sample}`);
        }),
      );
    } finally {
      await loader.close();
    }
  });
}

test('the same seed gives the same batches; another seed or epoch another order', async () => {
  const order = (seed: number, epoch: number): number[] => new ImageLoader(samples, { seed, workers: 0 }).epochOrder(epoch);
  assert.deepEqual(order(7, 0), order(7, 0));
  assert.notDeepEqual(order(7, 0), order(8, 0));
  assert.notDeepEqual(order(7, 0), order(7, 1));
  assert.deepEqual(new ImageLoader(samples, { shuffle: false, workers: 0 }).epochOrder(3), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const a = new ImageLoader(samples, { batchSize: 3, imageSize: 8, seed: 9, augment: defaultAugmentConfig });
  const b = new ImageLoader(samples, { batchSize: 3, imageSize: 8, seed: 9, augment: defaultAugmentConfig, workers: 0 });
  try {
    const pixels = async (loader: ImageLoader): Promise<number[][]> => {
      const out: number[][] = [];
      for await (const batch of loader.epoch(2)) {
        out.push([...batch.indices, ...batch.images.toFloat32Array()]);
        dispose(batch);
      }
      return out;
    };
    assert.deepEqual(await pixels(a), await pixels(b));
  } finally {
    await a.close();
    await b.close();
  }
});

test('drop_last leaves out the short batch; channels 3 repeats the grey plane', async () => {
  const loader = new ImageLoader(samples, { batchSize: 4, imageSize: 5, channels: 3, dropLast: true, workers: 1 });
  try {
    assert.equal(loader.batchesPerEpoch, 2);
    let batches = 0;
    for await (const batch of loader.epoch(0)) {
      batches++;
      assert.deepEqual(batch.images.shape, [4, 3, 5, 5]);
      const data = batch.images.toFloat32Array();
      for (let i = 0; i < 4; i++) {
        const plane = data.subarray(i * 75, i * 75 + 25);
        assert.deepEqual(data.subarray(i * 75 + 25, i * 75 + 50), plane);
        assert.deepEqual(data.subarray(i * 75 + 50, i * 75 + 75), plane);
      }
      dispose(batch);
    }
    assert.equal(batches, 2);
  } finally {
    await loader.close();
  }
});

test('balanced sampling draws both classes equally often', () => {
  // 18 intact and 2 fractured: plain shuffling shows 10 % fractures, balanced sampling about half.
  const skewed: Sample[] = Array.from({ length: 20 }, (_, i) => ({ imagePath: `unused-${i}.png`, label: i < 18 ? 0 : 1 }));
  const loader = new ImageLoader(skewed, { balanced: true, seed: 1, workers: 0 });
  let fractured = 0;
  let total = 0;
  for (let epoch = 0; epoch < 50; epoch++) {
    const order = loader.epochOrder(epoch);
    assert.equal(order.length, 20);
    fractured += order.filter((i) => skewed[i]?.label === 1).length;
    total += order.length;
  }
  assert.ok(Math.abs(fractured / total - 0.5) < 0.06, `fractured share ${fractured / total}`);
  const plain = new ImageLoader(skewed, { seed: 1, workers: 0 }).epochOrder(0).filter((i) => skewed[i]?.label === 1).length;
  assert.equal(plain, 2);
});

test("'squish' keeps the whole image, 'crop' the centre of the shortest side", async () => {
  // 24 wide × 8 high: the middle third white, the sides black.
  const wide = writeGrey('wide.png', 24, 8, 16, (x) => (x >= 8 && x < 16 ? 65535 : 0));
  const mean = async (resize: 'squish' | 'crop'): Promise<number> => {
    const loader = new ImageLoader([{ imagePath: wide, label: 0 }], { imageSize: 8, resize, workers: 0 });
    try {
      for await (const batch of loader.epoch(0)) {
        const data = batch.images.toFloat32Array();
        dispose(batch);
        return data.reduce((s, v) => s + v, 0) / data.length;
      }
      return Number.NaN;
    } finally {
      await loader.close();
    }
  };
  assert.ok(Math.abs((await mean('crop')) - 1) < 1e-3);
  assert.ok(Math.abs((await mean('squish')) - 1 / 3) < 0.05);
});

test("the resize is Pillow's antialiased bilinear (torchvision's Resize on PIL images) within one grey level", needs('PIL', 'numpy'), async () => {
  const python = PYTHON;
  // A textured 8-bit image: gradient plus a fixed pseudo-random pattern, so every filter tap matters.
  const file = writeGrey('texture.png', 53, 37, 8, (x, y) => (x * 3 + y * 2 + ((x * 7919 + y * 104729) % 61)) % 256);
  for (const [width, height] of [[20, 16], [40, 9], [70, 50]] as const) {
    const ours = await decodeGrey(file, { width, height }, 'squish');
    const script = 'import sys, numpy as np\nfrom PIL import Image\nim = Image.open(sys.argv[1]).convert("L").resize((int(sys.argv[2]), int(sys.argv[3])), Image.BILINEAR)\nprint(" ".join(map(str, np.asarray(im).flatten().tolist())))';
    const run = spawnSync(python, ['-c', script, file, String(width), String(height)], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const pillow = run.stdout.trim().split(' ').map(Number);
    assert.equal(pillow.length, ours.length);
    let worst = 0;
    ours.forEach((v, i) => (worst = Math.max(worst, Math.abs(v / 257 - (pillow[i] as number)))));
    assert.ok(worst <= 1, `${width}×${height}: largest difference from Pillow ${worst.toFixed(2)} grey levels`);
  }
});

test('the memory store decodes each image once', async () => {
  const copies = samples.slice(0, 4).map((s, i) => ({ imagePath: writeGrey(`copy${i}.png`, 10, 10, 16, () => LEVELS[i] as number), label: s.label }));
  const loader = new ImageLoader(copies, { batchSize: 2, imageSize: 6, seed: 3 });
  try {
    assert.equal(loader.usesMemoryStore, true);
    const first = await collect(loader, 0);
    for (const s of copies) unlinkSync(s.imagePath);
    const second = await collect(loader, 1); // would fail to decode without the store
    const byIndex = (run: typeof first): Map<number, number> => new Map(run.indices.flat().map((idx, k) => [idx, run.means.flat()[k] as number]));
    assert.deepEqual(byIndex(second), byIndex(first));
  } finally {
    await loader.close();
  }
  assert.equal(new ImageLoader(copies, { imageSize: 6, memoryCacheBytes: 100, workers: 0 }).usesMemoryStore, false, 'over budget: no store');
});

test('augmentation changes the training batch and keeps it in [0, 1]', async () => {
  const plainLoader = new ImageLoader(samples, { batchSize: 10, imageSize: 12, seed: 4, workers: 0 });
  const augLoader = new ImageLoader(samples, { batchSize: 10, imageSize: 12, seed: 4, workers: 0, augment: { ...defaultAugmentConfig, pLighting: 1, maxLighting: 0.5 } });
  try {
    const take = async (loader: ImageLoader): Promise<Batch> => {
      for await (const batch of loader.epoch(0)) return batch;
      throw new Error('no batch');
    };
    const plain = await take(plainLoader);
    const aug = await take(augLoader);
    assert.deepEqual(aug.indices, plain.indices);
    const a = aug.images.toFloat32Array();
    const p = plain.images.toFloat32Array();
    assert.notDeepEqual(Array.from(a), Array.from(p));
    assert.ok(a.every((v) => v >= 0 && v <= 1));
    dispose([plain, aug]);
  } finally {
    await plainLoader.close();
    await augLoader.close();
  }
});

test('an unreadable image fails with a coded error naming the file', async () => {
  const broken = path.join(dir, 'broken.png');
  writeFileSync(broken, 'not a png');
  for (const workers of [0, 2]) {
    const loader = new ImageLoader([...samples.slice(0, 3), { imagePath: broken, label: 0 }], { batchSize: 2, shuffle: false, workers, memoryCacheBytes: 0 });
    try {
      await assert.rejects(
        async () => {
          for await (const batch of loader.epoch(0)) dispose(batch);
        },
        (e: unknown) => e instanceof HipfracError && e.code === 'HF_DATA_IMAGE_UNREADABLE' && e.input === broken,
      );
    } finally {
      await loader.close();
    }
  }
});

test('close() finishes when a worker\'s answer arrives after it began', async () => {
  // Worker.terminate() refs the worker so its promise settles on 'exit'; an answer handled after that must not
  // unref it again, or the event loop empties first and the awaited close() never returns (node:test then fails
  // this test as still pending). Blocking the main thread while the worker answers queues the answer behind close().
  const loader = new ImageLoader(samples.slice(0, 2), { batchSize: 2, shuffle: false, workers: 1, memoryCacheBytes: 0 });
  for await (const batch of loader.epoch(0)) dispose(batch); // the worker has loaded sharp
  const pending = loader.epoch(1).next(); // posts one decode request
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
  await loader.close();
  assert.equal(loader.liveWorkers, 0);
  const late = await pending.then((r) => r.value, () => undefined);
  if (late !== undefined) dispose(late);
});

test('workers start with the loader and end at close(), also after leaving an epoch early', async () => {
  const loader = new ImageLoader(samples, { batchSize: 2, imageSize: 8, workers: 2, prefetch: 4, memoryCacheBytes: 0 });
  assert.equal(loader.liveWorkers, 2);
  for await (const batch of loader.epoch(0)) {
    assert.equal(loader.liveWorkers, 2);
    dispose(batch);
    break; // prefetched batches are still in flight
  }
  await loader.close();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(loader.liveWorkers, 0);
  await assert.rejects(async () => {
    for await (const batch of loader.epoch(1)) dispose(batch);
  }, (e: unknown) => e instanceof HipfracError && e.code === 'HF_DATA_LOADER_CLOSED');
  await loader.close(); // a second close is harmless
});

test('bad options and samples are refused with coded errors', () => {
  assert.throws(
    () => new ImageLoader(samples, { batchSize: 0, channels: 2 as 1, resize: 'pad' as 'crop' }),
    (e: unknown) => e instanceof HipfracError && e.code === 'HF_DATA_BAD_LOADER_OPTION' && /batchSize/.test(e.message) && /channels/.test(e.message) && /resize/.test(e.message),
  );
  assert.throws(() => new ImageLoader([]), (e: unknown) => e instanceof HipfracError && e.code === 'HF_DATA_EMPTY');
  assert.throws(() => new ImageLoader([{ imagePath: 'a.png', label: 0.5 }]), (e: unknown) => e instanceof HipfracError && e.code === 'HF_DATA_BAD_SAMPLE');
});
