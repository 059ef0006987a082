// `train --mask-markers` fills burned-in markers on the training images only, at their cached resolution, and reads
// validation and test images as they are (docs/real-images.md, "Marker masking"). Every image of a small folder set
// carries a bright square the detector finds. Run A trains on it with --mask-markers; run B trains without the flag on
// a copy whose training images were masked beforehand (the same detector and fill on the cached pixels). If the flag
// masks exactly the training images, both runs see the same pixels everywhere: same weights, same validation and test
// probabilities. Masking no training image changes the weights; masking a validation or test image changes its probability.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cachedPngPath, detectMarkers, encodeGreyPng, maskMarkers, readCachedImage, writeFileAtomic, type ManifestRow } from '../../src/data/index.js';
import { readSafetensors } from '../../src/nn/index.js';
import { dispose } from '../../src/torch/index.js';
import { configFromFlags } from '../../src/cli/commands/train.js';
import { trainRun, type TrainRunResult } from '../../src/cli/pipeline/trainRun.js';
import { splitFolderDataset } from '../helpers/folders.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-maskmarkers-'));
after(() => rmSync(work, { recursive: true, force: true }));

const FLAGS = { arch: 'resnet18', scratch: true, head: 'linear', 'input-size': '32', 'batch-size': '6', 'unfrozen-epochs': '1', patience: '10', 'unfrozen-lr': '0.002', 'no-lr-find': true, 'no-augment': true, seed: '3' } as const;

/** A 6 × 6 px lead-bright square in the top right corner, away from the bone-like band of writeFolderDataset. */
async function burnMarker(file: string): Promise<void> {
  const image = await readCachedImage(file);
  const data = Uint16Array.from(image.data);
  for (let y = 4; y < 10; y++) for (let x = image.width - 10; x < image.width - 4; x++) data[y * image.width + x] = 64_000;
  await writeFileAtomic(file, await encodeGreyPng({ ...image, data }, 16));
}

/** The cached image as `train --mask-markers` reads it: detector and fill on [0, 1], back on the 16-bit scale. */
async function maskedPixels(file: string): Promise<{ width: number; height: number; data: Uint16Array; changed: number }> {
  const image = await readCachedImage(file);
  const masked = maskMarkers(Float32Array.from(image.data, (v) => v / 65535), image.width, image.height);
  const data = Uint16Array.from(masked, (v) => Math.round(Math.min(1, Math.max(0, v)) * 65535));
  return { width: image.width, height: image.height, data, changed: data.reduce((n, v, i) => n + (v === image.data[i] ? 0 : 1), 0) };
}

function maxWeightDifference(a: string, b: string): number {
  const wa = readSafetensors(a).tensors;
  const wb = readSafetensors(b).tensors;
  try {
    assert.deepEqual([...wa.keys()], [...wb.keys()]);
    let diff = 0;
    for (const [key, t] of wa) {
      const x = t.toFloat32Array();
      const y = (wb.get(key) as typeof t).toFloat32Array();
      for (let i = 0; i < x.length; i++) diff = Math.max(diff, Math.abs((x[i] as number) - (y[i] as number)));
    }
    return diff;
  } finally {
    dispose([...wa.values(), ...wb.values()]);
  }
}

test('train --mask-markers masks the training images, and reads validation and test images unmasked', { timeout: 600_000 }, async () => {
  const premasked = path.join(work, 'dataset-premasked');
  const { dataset: flagged, rows, split } = await splitFolderDataset(work, 'dataset-flag', 14, 43, { valFraction: 0.25, testFraction: 0.25, seed: 1 });
  const inSet = (set: string): ManifestRow[] => rows.filter((r) => split.assignments[r.id] === set);
  const [train, valid, heldOut] = [inSet('train'), inSet('val'), inSet('test')];
  assert.ok(train.length >= 8 && valid.length > 0 && heldOut.length > 0, `${train.length}/${valid.length}/${heldOut.length} images`);
  for (const r of rows) {
    await burnMarker(cachedPngPath(flagged, r));
    // The detector finds the planted marker on every image, so masking any of them is visible to the model.
    const image = await readCachedImage(cachedPngPath(flagged, r));
    const { components } = detectMarkers(Float32Array.from(image.data, (v) => v / 65535), image.width, image.height);
    assert.ok(components.some((c) => c.box[0] >= image.width - 11 && c.box[1] <= 5), `${r.id}: the marker is detected (${JSON.stringify(components.map((c) => c.box))})`);
  }
  cpSync(flagged, premasked, { recursive: true });
  for (const r of train) {
    const masked = await maskedPixels(cachedPngPath(flagged, r));
    assert.ok(masked.changed >= 36, `${r.id}: masking fills the marker (${masked.changed} pixels changed)`);
    await writeFileAtomic(cachedPngPath(premasked, r), await encodeGreyPng(masked, 16));
  }

  const run = (datasetDir: string, name: string, flags: Record<string, string | boolean>): Promise<TrainRunResult> =>
    trainRun({ datasetDir, outDir: path.join(work, name), config: configFromFlags(flags), resume: false, workers: 1, log: () => {} });
  const a = await run(flagged, 'run-flag', { ...FLAGS, 'mask-markers': true });
  const b = await run(premasked, 'run-premasked', FLAGS);
  try {
    assert.equal(a.evaluation.set, 'test');
    const weights = maxWeightDifference(path.join(a.checkpointDir, 'model.safetensors'), path.join(b.checkpointDir, 'model.safetensors'));
    assert.ok(weights < 1e-5, `the training images were not masked as the docs say: weights differ by ${weights}`);
    const close = (x: ArrayLike<number>, y: ArrayLike<number>, what: string): void => {
      assert.equal(x.length, y.length);
      for (let i = 0; i < x.length; i++) assert.ok(Math.abs((x[i] as number) - (y[i] as number)) < 1e-5, `${what} ${i}: ${x[i]} vs ${y[i]} (masked with the flag?)`);
    };
    close(a.validEvaluation.probs, b.validEvaluation.probs, 'validation probability');
    close(a.evaluation.probs, b.evaluation.probs, 'test probability');
    assert.deepEqual(new Set(a.evaluation.rowIds), new Set(heldOut.map((r) => r.id)));
  } finally {
    a.model.dispose();
    b.model.dispose();
  }
});
