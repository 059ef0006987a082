// Regions of interest in the data layer: cropGrey cuts exact pixels and repeats the edge outside the image;
// the loader cuts each sample's region before resizing (in worker threads and without them); bad regions fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { cropGrey, decodeGrey, ImageLoader, resampleGrey } from '../../src/data/index.js';
import { dispose } from '../../src/torch/index.js';
import { HipfracError } from '../../src/util/index.js';

const W = 40;
const H = 20;
// Each pixel holds its own coordinates: value = 1000·y + x (16-bit).
const pixels = Uint16Array.from({ length: W * H }, (_, i) => 1000 * Math.floor(i / W) + (i % W));

test('cropGrey cuts the region at whole pixels and repeats the edge outside the image', () => {
  const inside = cropGrey(pixels, W, H, [0.25, 0.5, 0.5, 1]);
  assert.equal(inside.width, 10);
  assert.equal(inside.height, 10);
  assert.equal(inside.pixels[0], 1000 * 10 + 10);
  assert.equal(inside.pixels[9 * 10 + 9], 1000 * 19 + 19);
  const outside = cropGrey(pixels, W, H, [-0.1, -0.1, 0.1, 0.1]);
  assert.equal(outside.width, 8);
  assert.equal(outside.height, 4);
  assert.equal(outside.pixels[0], 0, 'top-left beyond the image repeats pixel (0, 0)');
  assert.equal(outside.pixels[3 * 8 + 7], 1000 * 1 + 3);
  for (const bad of [[0.5, 0, 0.4, 1], [0, 0, Number.NaN, 1]] as const) {
    assert.throws(() => cropGrey(pixels, W, H, bad), (e: unknown) => e instanceof HipfracError && e.code === 'HF_DATA_BAD_ROI');
  }
});

test('the loader cuts each sample to its region before resizing, with and without worker threads', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-roi-data-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'coords.png');
  await sharp(Buffer.from(pixels.buffer), { raw: { width: W, height: H, channels: 1, premultiplied: false } }).toColourspace('grey16').png().toFile(file);
  const region = [0.5, 0, 1, 1] as const;
  const direct = await decodeGrey(file, { width: 8, height: 8 }, 'squish', region);
  const cut = cropGrey(await decodeGrey(file, { width: W, height: H }, 'squish'), W, H, region);
  assert.deepEqual(direct, resampleGrey(cut.pixels, cut.width, cut.height, { width: 8, height: 8 }, 'squish'));
  for (const workers of [0, 1]) {
    const loader = new ImageLoader([{ imagePath: file, label: 1, region }, { imagePath: file, label: 0 }], { batchSize: 2, imageSize: 8, shuffle: false, workers, augment: null, channels: 1 });
    try {
      for await (const batch of loader.epoch(0)) {
        const values = batch.images.toFloat32Array();
        const first = Array.from(values.subarray(0, 64), (v) => Math.round(v * 65535));
        assert.deepEqual(first, Array.from(direct), `workers ${workers}: the cut sample`);
        const whole = await decodeGrey(file, { width: 8, height: 8 }, 'squish');
        assert.deepEqual(Array.from(values.subarray(64, 128), (v) => Math.round(v * 65535)), Array.from(whole), `workers ${workers}: the whole sample`);
        dispose([batch.images, batch.labels]);
      }
    } finally {
      await loader.close();
    }
  }
});
