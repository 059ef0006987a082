// In-memory batches: every sample once per epoch, groups kept together and in order, seeded order and
// augmentation, shapes and labels, and inconsistent inputs refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBatches } from '../../src/data/index.js';
import { dispose } from '../../src/torch/index.js';
import { HipfracError } from '../../src/util/index.js';

const n = 20;
// Image i holds i / n plus 0.01 per column, so its first pixel names it and a left/right flip shows.
const images = Float32Array.from({ length: n * 4 * 4 }, (_, i) => Math.floor(i / 16) / n + 0.01 * (i % 4));
const labels = Uint8Array.from({ length: n }, (_, i) => i % 2);
const all = Array.from({ length: n }, (_, i) => i);

async function collect(source: MemoryBatches, epoch: number): Promise<{ indices: number[][]; first: number[][]; labels: number[][]; shapes: number[][] }> {
  const out = { indices: [] as number[][], first: [] as number[][], labels: [] as number[][], shapes: [] as number[][] };
  for await (const b of source.epoch(epoch)) {
    out.indices.push([...b.indices]);
    out.shapes.push([...b.images.shape]);
    out.labels.push(b.labels.toArray());
    const values = b.images.toFloat32Array();
    out.first.push(b.indices.map((_, k) => values[k * 16] as number));
    dispose([b.images, b.labels]);
  }
  return out;
}

test('each epoch serves every sample once, twins side by side, with their own pixels and labels', async () => {
  const source = new MemoryBatches(images, labels, [4, 4], all, { batchSize: 6, groupSize: 2, seed: 9 });
  assert.equal(source.batchesPerEpoch, 4);
  const e0 = await collect(source, 0);
  assert.deepEqual(e0.indices.flat().sort((a, b) => a - b), all);
  for (const batch of e0.indices) for (let k = 0; k < batch.length; k += 2) assert.equal(batch[k + 1], (batch[k] as number) + 1);
  e0.indices.forEach((batch, b) => {
    assert.deepEqual(e0.shapes[b], [batch.length, 1, 4, 4]);
    assert.deepEqual(e0.labels[b], batch.map((i) => i % 2));
    batch.forEach((i, k) => assert.ok(Math.abs((e0.first[b]?.[k] as number) - i / n) < 1e-6));
  });
  assert.deepEqual((await collect(source, 0)).indices, e0.indices, 'same seed and epoch, same order');
  assert.notDeepEqual((await collect(source, 1)).indices, e0.indices, 'another epoch, another order');
});

test('no shuffle keeps the given order; dropLast drops the short batch; augmentation is applied and seeded', async () => {
  const plain = new MemoryBatches(images, labels, [4, 4], all, { batchSize: 8, shuffle: false, dropLast: true });
  assert.deepEqual((await collect(plain, 3)).indices, [all.slice(0, 8), all.slice(8, 16)]);
  const flipped = new MemoryBatches(images, labels, [4, 4], all, { batchSize: 8, augment: { flipP: 1, pAffine: 0, pLighting: 0 }, seed: 2 });
  const a = await collect(flipped, 0);
  const b = await collect(flipped, 0);
  assert.deepEqual(a.first, b.first);
  // Flipped: each image's first pixel is now its last column's.
  a.indices.forEach((batch, k) => batch.forEach((i, j) => assert.ok(Math.abs((a.first[k]?.[j] as number) - (i / n + 0.03)) < 1e-5, `image ${i}: ${a.first[k]?.[j]}`)));
});

test('inconsistent images, labels, indices or group sizes are refused', () => {
  const bad = (f: () => unknown): void => assert.throws(f, (e: unknown) => e instanceof HipfracError && e.code === 'HF_DATA_BAD_SAMPLE');
  bad(() => new MemoryBatches(images, labels, [4, 5], all, { batchSize: 4 }));
  bad(() => new MemoryBatches(images, labels, [4, 4], [0, 99], { batchSize: 2 }));
  bad(() => new MemoryBatches(images, labels, [4, 4], all, { batchSize: 5, groupSize: 2 }));
  bad(() => new MemoryBatches(images, labels, [4, 4], all.slice(0, 3), { batchSize: 4, groupSize: 2 }));
  bad(() => new MemoryBatches(images, labels, [4, 4], [], { batchSize: 4 }));
});
