// Localisation and faithfulness of Grad-CAM on a CNN trained in the test to find a bright "lesion":
// pointing game far above a random heatmap, energy in the box, deletion/insertion against random order;
// plus the scores and overlays on hand-made maps.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode } from 'fast-png';
import sharp from 'sharp';
import {
  boxAreaShare,
  colormap,
  energyInBoxes,
  GradCam,
  GradCamPlusPlus,
  heatmapsFromTensor,
  localisationScores,
  perturbationCurve,
  pointingGameHit,
  readGreyPng,
  renderOverlay,
  scaleBoxes,
  writeOverlayPng,
  type Heatmap,
} from '../../src/explain/index.js';
import { manualSeed, rand, setNumThreads, tidy } from '../../src/torch/index.js';
import { HipfracError } from '../../src/util/index.js';
import { lesionBatch, TinyCnn, trainTinyCnn, type LesionBatch } from './fixtures.js';

setNumThreads(1);

let model: TinyCnn;
let data: LesionBatch;

before(() => {
  model = trainTinyCnn(new TinyCnn(1), 150);
  data = lesionBatch(96, 777);
});

const positives = (): number[] => data.labelList.flatMap((l, i) => (l === 1 ? [i] : []));

test('Grad-CAM and Grad-CAM++ point at the lesion far more often than a random heatmap would', () => {
  tidy(() => {
    const idx = positives();
    for (const Cam of [GradCam, GradCamPlusPlus]) {
      const maps = heatmapsFromTensor(new Cam(model, 'features.relu2').compute(data.images));
      const summary = localisationScores(idx.map((i) => maps[i] as Heatmap), idx.map((i) => data.boxes[i] ?? []));
      assert.equal(summary.n, 48);
      assert.ok(summary.randomBaseline > 0.03 && summary.randomBaseline < 0.1, `random baseline ${summary.randomBaseline}`);
      assert.ok(summary.pointingGame >= 0.9, `${Cam.name} pointing game ${summary.pointingGame}`);
      assert.ok(summary.pointingGame > 5 * summary.randomBaseline);
      assert.ok(summary.energyInBoxes > 3 * summary.randomBaseline, `${Cam.name} energy share ${summary.energyInBoxes}`);
      // Random heatmaps, scored the same way, sit near the baseline.
      manualSeed(4);
      const random = heatmapsFromTensor(rand([idx.length, 32, 32]));
      const chance = localisationScores(random, idx.map((i) => data.boxes[i] ?? []));
      assert.ok(chance.pointingGame < 0.3, `random pointing game ${chance.pointingGame}`);
    }
  });
});

test('deletion drops confidence faster, insertion raises it faster, than a random pixel order', () => {
  tidy(() => {
    const cam = new GradCam(model, 'features.relu2').compute(data.images);
    manualSeed(9);
    const random = rand([96, 32, 32]);
    const deletion = perturbationCurve(model, data.images, cam, { mode: 'deletion', steps: 8 });
    const deletionRandom = perturbationCurve(model, data.images, random, { mode: 'deletion', steps: 8 });
    const insertion = perturbationCurve(model, data.images, cam, { mode: 'insertion', steps: 8 });
    const insertionRandom = perturbationCurve(model, data.images, random, { mode: 'insertion', steps: 8 });
    assert.equal(deletion.curves.length, 96);
    assert.equal(deletion.fractions.length, 9);
    assert.ok(deletion.meanAuc < deletionRandom.meanAuc - 0.03, `deletion AUC ${deletion.meanAuc} vs random ${deletionRandom.meanAuc}`);
    assert.ok(insertion.meanAuc > insertionRandom.meanAuc + 0.03, `insertion AUC ${insertion.meanAuc} vs random ${insertionRandom.meanAuc}`);
    assert.throws(() => perturbationCurve(model, data.images, rand([96, 16, 16])), (e: unknown) => e instanceof HipfracError && e.code === 'HF_EXPLAIN_HEATMAP_SHAPE');
  });
});

test('pointing game, energy share and box scaling on hand-made maps', () => {
  const map: Heatmap = { width: 10, height: 8, data: new Float32Array(80) };
  map.data[3 * 10 + 7] = 1; // peak at x = 7, y = 3
  map.data[0] = 0.5;
  assert.equal(pointingGameHit(map, [[6, 2, 9, 5]]), true);
  assert.equal(pointingGameHit(map, [[0, 0, 5, 5]]), false);
  assert.equal(pointingGameHit(map, [[0, 0, 5, 5], [7, 3, 8, 4]]), true);
  assert.equal(pointingGameHit(map, [[0, 0, 7, 3]]), false);
  assert.equal(pointingGameHit(map, [[0, 0, 7, 3]], 1), true, 'tolerance grows the box');
  assert.ok(Math.abs(energyInBoxes(map, [[6, 2, 9, 5]]) - 1 / 1.5) < 1e-6);
  assert.equal(boxAreaShare(10, 8, [[0, 0, 5, 4]]), 0.25);
  assert.deepEqual(scaleBoxes([[10, 20, 30, 40]], { width: 100, height: 200 }, { width: 50, height: 50 }), [[5, 5, 15, 10]]);
  assert.throws(() => pointingGameHit(map, []), (e: unknown) => e instanceof HipfracError && e.code === 'HF_EXPLAIN_BAD_OPTION');
});

test('overlays: at the image\'s own resolution, opacity 0 keeps the radiograph, colour maps as documented; 16-bit PNG round trip', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-overlay-'));
  try {
    const width = 48;
    const height = 40;
    const pixels = new Uint16Array(width * height);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 997) % 65536;
    const pngFile = path.join(dir, 'image.png');
    writeFileSync(pngFile, encode({ width, height, data: pixels, depth: 16, channels: 1 }));
    const image = readGreyPng(pngFile);
    assert.equal(image.maxValue, 65535);
    assert.deepEqual(Array.from(image.data.slice(0, 5)), Array.from(pixels.slice(0, 5)));
    const heat: Heatmap = { width: 4, height: 4, data: Float32Array.from({ length: 16 }, (_, i) => i / 15) };
    const plain = renderOverlay(image, heat, { opacity: 0 });
    assert.equal(plain.width, 48);
    assert.equal(plain.data[3 * 100], Math.round((255 * (pixels[100] as number)) / 65535));
    const full = renderOverlay(image, heat, { opacity: 1, colormap: 'viridis' });
    assert.deepEqual(Array.from(full.data.slice(0, 3)), [68, 1, 84], 'the darkest corner is viridis(0)');
    assert.deepEqual(colormap('jet', 1).map(Math.round), [128, 0, 0]);
    assert.deepEqual(colormap('cividis', 0), [0, 34, 78]);
    assert.throws(() => renderOverlay(image, heat, { opacity: 2 }), (e: unknown) => e instanceof HipfracError && e.code === 'HF_EXPLAIN_BAD_OPTION');
    const out = path.join(dir, 'nested', 'overlay.png');
    await writeOverlayPng(out, image, heat, { colormap: 'cividis' });
    const meta = await sharp(out).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels], [48, 40, 3]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
