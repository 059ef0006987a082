// Box supervision on a small phantom cohort (128 px radiographs, ResNet-18 from scratch at 128 px, a few epochs on the
// CPU): the box loss falls, the box head's heatmap lands on the fracture boxes of training and held-out images far more
// than a random map would, the head survives a checkpoint round trip (and checkpoints without one still load), and
// `hipfrac predict` returns fracture boxes with scores. What this does NOT prove: that box supervision makes Grad-CAM of
// the classification output point at fractures better than the same run without it. With a few epochs on ~100 images
// that comparison is noise (one run of this set-up, seed for seed: Grad-CAM pointing game 0.29 with and without, heat
// in boxes 0.08 against 0.14), so it is not run here; the FracAtlas ablation row (docs/real-images.md) is where it is judged.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cachedPngPath, defaultAugmentConfig, ImageLoader, importDataset, readManifestRows, splitByPatient, type ManifestRow, type Sample } from '../../src/data/index.js';
import { createClassifier, loadCheckpoint, saveCheckpoint, type Classifier } from '../../src/models/index.js';
import { cohortLabelSpec, generateCohort } from '../../src/phantom/index.js';
import { AdamW } from '../../src/nn/index.js';
import { heatmapsFromTensor, localisationScores, resizeHeatmap, type Box, type Heatmap } from '../../src/explain/index.js';
import { defaultThreadCount, manualSeed, noGrad, rand, setNumThreads, sigmoid, tidy, type Tensor } from '../../src/torch/index.js';
import { Learner, type Callback } from '../../src/train/index.js';

setNumThreads(defaultThreadCount());
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-boxsup-'));
const datasetDir = path.join(work, 'dataset');
const SIZE = 128;
const EPOCHS = 6;
let train: ManifestRow[] = [];
let held: ManifestRow[] = [];
let supervised: Classifier;
const boxLosses: number[][] = [];

const samples = (rows: readonly ManifestRow[]): Sample[] => rows.map((r) => ({ imagePath: cachedPngPath(datasetDir, r), label: r.label as number, boxes: r.boxes ?? null }));

async function fit(boxLossWeight: number): Promise<Classifier> {
  manualSeed(3);
  const model = createClassifier('resnet18', { weights: null, head: 'linear', boxHead: true });
  const loader = new ImageLoader(samples(train), { batchSize: 16, imageSize: SIZE, seed: 5, workers: 0, dropLast: true, boxMasks: true, augment: defaultAugmentConfig });
  const valid = new ImageLoader(samples(held), { batchSize: 16, imageSize: SIZE, shuffle: false, workers: 0 });
  const perEpoch: Callback = {
    name: 'BoxLossRecorder',
    beforeEpoch: () => void boxLosses.push([]),
    afterStep: (l: Learner) => void boxLosses[boxLosses.length - 1]?.push(l.lastBoxLoss),
  };
  const learner = new Learner({ model, train: loader, valid, optimizer: (groups: Tensor[][]) => new AdamW(groups.filter((g) => g.length > 0).map((g) => ({ params: g })), { lr: 2e-3 }), boxLossWeight, seed: 7, callbacks: [perEpoch] });
  try {
    await learner.fitOneCycle(EPOCHS, 2e-3);
  } finally {
    await loader.close();
    await valid.close();
  }
  model.eval();
  return model;
}

async function inputs(rows: readonly ManifestRow[]): Promise<Tensor> {
  const loader = new ImageLoader(samples(rows), { batchSize: rows.length, imageSize: SIZE, shuffle: false, workers: 0 });
  try {
    for await (const batch of loader.epoch(0)) {
      batch.labels.dispose();
      return batch.images;
    }
  } finally {
    await loader.close();
  }
  throw new Error('no batch');
}

const pixelBoxes = (r: ManifestRow): Box[] => (r.boxes ?? []).map(([x0, y0, x1, y1]) => [x0 * SIZE, y0 * SIZE, x1 * SIZE, y1 * SIZE] as const);

/** The box head's heatmap of each image, upsampled to the input size. */
async function headMaps(model: Classifier, rows: readonly ManifestRow[]): Promise<Heatmap[]> {
  const x = await inputs(rows);
  try {
    return tidy(() => {
      const h = noGrad(() => sigmoid(model.forwardWithHeatmap(x).heatmap));
      const [n, , hh, ww] = h.shape as [number, number, number, number];
      const data = h.toFloat32Array();
      return Array.from({ length: n }, (_, i) => resizeHeatmap({ width: ww, height: hh, data: data.slice(i * hh * ww, (i + 1) * hh * ww) }, SIZE, SIZE));
    });
  } finally {
    x.dispose();
  }
}

before(async () => {
  await generateCohort({ out: path.join(work, 'cohort'), patients: 70, seed: 21, difficulty: 'easy', size: SIZE, workers: 2 });
  await importDataset({ inputDir: path.join(work, 'cohort', 'images'), outDir: datasetDir, labels: cohortLabelSpec(path.join(work, 'cohort')), saltFile: path.join(work, 'salt.key'), workers: 2 });
  const rows = (await readManifestRows(datasetDir)).filter((r) => r.label !== null);
  const split = splitByPatient(rows, { valFraction: 0.3, seed: 2 });
  train = rows.filter((r) => split.assignments[r.id] === 'train');
  held = rows.filter((r) => split.assignments[r.id] === 'val');
  supervised = await fit(1);
});

after(() => {
  supervised?.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe('box supervision on the phantom', { timeout: 900_000 }, () => {
  it('imports the phantom fracture boxes into the manifest', () => {
    const fractured = train.filter((r) => r.label === 1);
    assert.ok(fractured.length >= 20);
    assert.ok(fractured.every((r) => (r.boxes?.length ?? 0) >= 1), 'every truly fractured phantom image has a box');
    assert.ok(train.filter((r) => r.label === 0).every((r) => r.boxes !== undefined && r.boxes.length === 0), 'intact images carry an empty box list');
  });

  it('lowers the box loss over training', () => {
    const mean = (v: readonly number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
    const first = mean(boxLosses[0] ?? []);
    const last = mean(boxLosses[EPOCHS - 1] ?? []);
    // CPU training is not bit-reproducible across machines: runs here fell to 0.65–0.82 of the first epoch's loss.
    assert.ok(last < 0.9 * first, `box loss ${first.toFixed(4)} in the first epoch, ${last.toFixed(4)} in the last`);
  });

  // Asserted on the training images, which the box loss fits. On 17 held-out images after 6 CPU epochs the result
  // swings from run to run (pointing game 0–0.41 against 0.06–0.18 for a random map in the runs so far): logged only.
  // On training images the pointing game measured 0.25–0.48 against 0.075 for a random map.
  it('puts the head\'s heat on the fracture boxes of the training images, far above a random map (held-out: logged)', async () => {
    for (const [set, rows] of [['training', train], ['held-out', held]] as const) {
      const fractured = rows.filter((r) => r.label === 1 && (r.boxes?.length ?? 0) > 0);
      const scores = localisationScores(await headMaps(supervised, fractured), fractured.map(pixelBoxes));
      manualSeed(4);
      const random = localisationScores(tidy(() => heatmapsFromTensor(rand([fractured.length, SIZE, SIZE]))), fractured.map(pixelBoxes));
      console.log(`# ${set}: head pointing game ${scores.pointingGame.toFixed(3)}, heat in boxes ${scores.energyInBoxes.toFixed(3)}; random map ${random.pointingGame.toFixed(3)} / ${random.energyInBoxes.toFixed(3)}; box area ${scores.randomBaseline.toFixed(3)} (n = ${scores.n})`);
      if (set === 'held-out') continue;
      assert.ok(scores.energyInBoxes >= 1.3 * scores.randomBaseline, `${set}: heat in boxes ${scores.energyInBoxes.toFixed(3)} vs area share ${scores.randomBaseline.toFixed(3)}`);
      assert.ok(scores.pointingGame >= random.pointingGame + 0.1, `${set}: pointing game ${scores.pointingGame.toFixed(3)} vs random ${random.pointingGame.toFixed(3)}`);
    }
  });

  it('keeps the head through a checkpoint round trip; a checkpoint without one loads as before', async () => {
    const dir = path.join(work, 'ckpt');
    saveCheckpoint(dir, supervised, { classes: ['no fracture', 'fracture'], inputSize: SIZE, boxHead: { threshold: 0.4 } });
    const card = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as { boxHead?: { threshold: number } };
    assert.deepEqual(card.boxHead, { threshold: 0.4 });
    const { model: loaded } = loadCheckpoint(dir);
    try {
      const rows = held.slice(0, 4);
      const [a, b] = [await headMaps(supervised, rows), await headMaps(loaded, rows)];
      a.forEach((m, i) => m.data.forEach((v, k) => assert.ok(Math.abs(v - ((b[i] as Heatmap).data[k] as number)) < 1e-5)));
    } finally {
      loaded.dispose();
    }
    const oldDir = path.join(work, 'old');
    const withoutHead = createClassifier('resnet18', { weights: null, head: 'linear' });
    saveCheckpoint(oldDir, withoutHead, { classes: ['no fracture', 'fracture'], inputSize: SIZE });
    withoutHead.dispose();
    const old = loadCheckpoint(oldDir);
    assert.equal(old.model.boxHead, null);
    assert.equal(old.card.boxHead, undefined);
    assert.throws(() => old.model.forwardWithHeatmap(rand([1, 1, SIZE, SIZE])), /HF_MODELS_NO_BOX_HEAD|no box head/);
    old.model.dispose();
  });

  it('hipfrac predict returns fracture boxes with scores in predictions.json', async () => {
    const inputDir = path.join(work, 'inputs');
    mkdirSync(inputDir);
    const cases = held.filter((r) => r.label === 1).slice(0, 3);
    cases.forEach((r, i) => copyFileSync(cachedPngPath(datasetDir, r), path.join(inputDir, `case${i}.png`)));
    // The card's threshold at 0.8 of the strongest heat on these images: predict must turn that heat into a box
    // (what the head learned is the previous test's subject; this one is predict's plumbing).
    const strongest = Math.max(...(await headMaps(supervised, cases)).map((m) => Math.max(...m.data)));
    const threshold = 0.8 * strongest;
    const dir = path.join(work, 'ckpt-predict');
    saveCheckpoint(dir, supervised, { classes: ['no fracture', 'fracture'], inputSize: SIZE, boxHead: { threshold } });
    const out = path.join(work, 'pred');
    const run = spawnSync(process.execPath, [CLI, 'predict', inputDir, '--model', dir, '--out', out, '--no-heatmaps', '--engine', 'libtorch'], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(run.status, 0, run.stderr);
    const doc = JSON.parse(readFileSync(path.join(out, 'predictions.json'), 'utf8')) as { predictions: { boxes?: { box: number[]; score: number }[] }[] };
    assert.ok(doc.predictions.length > 0);
    for (const p of doc.predictions) {
      assert.ok(Array.isArray(p.boxes), 'every prediction carries a box list');
      for (const b of p.boxes ?? []) {
        assert.ok(b.score > threshold && b.score <= 1, `score ${b.score} above the card's threshold ${threshold}`);
        const [x0, y0, x1, y1] = b.box as [number, number, number, number];
        assert.ok(x0 >= 0 && y0 >= 0 && x1 > x0 && y1 > y0 && x1 <= SIZE && y1 <= SIZE, `box ${b.box.join(',')} inside the ${SIZE} px image`);
      }
    }
    assert.ok(doc.predictions.some((p) => (p.boxes?.length ?? 0) > 0), 'at least one fractured image gets a box');
  });
});
