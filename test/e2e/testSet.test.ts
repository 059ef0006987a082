// The held-out test set reaches nothing that is chosen: two runs on the same data, the second with every test
// image's label flipped and its pixels replaced by noise, end with the same weights, the same validation history
// (so the same epochs), the same temperature and the same triage cut-off — while their reported figures, which
// come from the test images alone, differ.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { cachedPngPath, importDataset, manifestPath, readManifestRows, splitByPatient, splitPath, writeJsonAtomic } from '../../src/data/index.js';
import { readSafetensors } from '../../src/nn/index.js';
import { dispose } from '../../src/torch/index.js';
import { Rng } from '../../src/util/index.js';
import { configFromFlags } from '../../src/cli/commands/train.js';
import { trainRun, type TrainRunResult } from '../../src/cli/pipeline/trainRun.js';
import { triageFromRun } from '../../src/cli/pipeline/afterTraining.js';
import { writeRunReport } from '../../src/cli/pipeline/runReport.js';
import { writeFolderDataset } from '../helpers/folders.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-testset-'));
after(() => rmSync(work, { recursive: true, force: true }));

const config = configFromFlags({
  arch: 'resnet18', scratch: true, head: 'linear', 'input-size': '48', 'batch-size': '16', 'unfrozen-epochs': '3', patience: '10',
  'unfrozen-lr': '0.002', 'no-lr-find': true, 'no-augment': true, seed: '5',
});

async function run(datasetDir: string, name: string): Promise<TrainRunResult> {
  return trainRun({ datasetDir, outDir: path.join(work, name), config, resume: false, workers: 1, log: () => {} });
}

test('no test image reaches training, epoch choice, temperature or the triage cut-off', { timeout: 600_000 }, async () => {
  const folders = path.join(work, 'folders');
  const datasetA = path.join(work, 'dataset-a');
  const datasetB = path.join(work, 'dataset-b');
  await writeFolderDataset(folders, 50, 21);
  await importDataset({ inputDir: folders, outDir: datasetA, layout: 'folders', saltFile: path.join(work, 'salt.key'), workers: 2 });
  const rows = await readManifestRows(datasetA);
  const split = splitByPatient(rows, { valFraction: 0.25, testFraction: 0.2, seed: 1 });
  await writeJsonAtomic(splitPath(datasetA), split);
  const testIds = new Set(Object.entries(split.assignments).filter(([, s]) => s === 'test').map(([id]) => id));
  assert.equal(testIds.size, 20);
  assert.equal(split.unit, 'image', 'folder images carry no patient keys');

  // Dataset B: the same, but each test image's label flipped and its cached pixels replaced by noise.
  cpSync(datasetA, datasetB, { recursive: true });
  const rng = new Rng(99);
  const lines = readFileSync(manifestPath(datasetB), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; label: number; labelName: string });
  writeFileSync(manifestPath(datasetB), `${lines.map((r) => JSON.stringify(testIds.has(r.id) ? { ...r, label: 1 - r.label } : r)).join('\n')}\n`);
  for (const row of rows.filter((r) => testIds.has(r.id))) {
    const noise = Buffer.from(Array.from({ length: row.cacheWidth * row.cacheHeight }, () => rng.int(0, 256)));
    writeFileSync(cachedPngPath(datasetB, row), await sharp(noise, { raw: { width: row.cacheWidth, height: row.cacheHeight, channels: 1 } }).png().toBuffer());
  }

  const a = await run(datasetA, 'run-a');
  const b = await run(datasetB, 'run-b');
  try {
    // The sets as the run used them.
    assert.equal(a.evaluation.set, 'test');
    assert.deepEqual(new Set(a.evaluatedRows.map((r) => r.id)), testIds);
    for (const r of [...a.trainRows, ...a.validRows]) assert.ok(!testIds.has(r.id), `test row ${r.id} in training or validation`);

    // Everything chosen is identical: weights, validation history (epochs), temperature, cut-off.
    const wa = readSafetensors(path.join(a.checkpointDir, 'model.safetensors')).tensors;
    const wb = readSafetensors(path.join(b.checkpointDir, 'model.safetensors')).tensors;
    try {
      assert.deepEqual([...wa.keys()], [...wb.keys()]);
      for (const [key, t] of wa) {
        const x = t.toFloat32Array();
        const y = (wb.get(key) as typeof t).toFloat32Array();
        let diff = 0;
        for (let i = 0; i < x.length; i++) diff = Math.max(diff, Math.abs((x[i] as number) - (y[i] as number)));
        assert.ok(diff < 1e-5, `${key} differs by ${diff}`);
      }
    } finally {
      dispose([...wa.values(), ...wb.values()]);
    }
    assert.equal(a.history.length, b.history.length);
    a.history.forEach((h, i) => assert.ok(Math.abs(h.validLoss - (b.history[i]?.validLoss ?? Number.NaN)) < 1e-5, `epoch ${i} validation loss`));
    assert.equal(a.protocol.bestEpoch, b.protocol.bestEpoch);
    assert.ok(Math.abs(a.validEvaluation.temperature.temperature - b.validEvaluation.temperature.temperature) < 1e-5);
    assert.ok(Math.abs(a.validEvaluation.temperature.bias - b.validEvaluation.temperature.bias) < 1e-5, 'the calibration bias is chosen on validation');
    const ta = triageFromRun(a, 0.05);
    const tb = triageFromRun(b, 0.05);
    assert.equal(ta.policy.cutoff, tb.policy.cutoff);
    // The model card's policy carries the calibration predict and the server apply (a bias of 0 is left out).
    assert.equal(ta.policy.temperature, a.validEvaluation.temperature.temperature);
    assert.equal(ta.policy.bias ?? 0, a.validEvaluation.temperature.bias);
    assert.equal(ta.measuredOn, 'test');

    // The reported figures are the test images' own: their flipped labels and noise pixels show up there only.
    assert.deepEqual(Array.from(b.evaluation.labels), Array.from(a.evaluation.labels, (y) => 1 - y));
    assert.ok(Array.from(a.evaluation.probs).some((p, i) => Math.abs(p - (b.evaluation.probs[i] as number)) > 1e-3), 'noise pixels change the test probabilities');
    assert.deepEqual(Array.from(b.validEvaluation.labels), Array.from(a.validEvaluation.labels), 'validation labels untouched');

    // results.json and the report say where each number comes from.
    const results = JSON.parse(readFileSync(path.join(work, 'run-a', 'results.json'), 'utf8')) as {
      evaluatedOn: string; splitUnit: string; images: { test: number }; predictions: { id: string }[]; chosenOn: Record<string, string>;
      calibrationBias: number; ece: { after: number; perfectModel: { median: number; upper: number }; fractureProbability: { before: number; after: number } };
    };
    assert.equal(results.calibrationBias, a.evaluation.temperature.bias);
    assert.ok(results.ece.perfectModel.median > 0 && results.ece.perfectModel.upper >= results.ece.perfectModel.median, 'ECE of a perfectly calibrated model on as many images');
    assert.ok(results.ece.fractureProbability.after >= 0 && results.ece.fractureProbability.after <= 1);
    assert.equal(results.evaluatedOn, 'test');
    assert.equal(results.splitUnit, 'image');
    assert.equal(results.images.test, 20);
    assert.deepEqual(new Set(results.predictions.map((p) => p.id)), testIds);
    assert.deepEqual(results.chosenOn, { epochs: 'validation', temperature: 'validation', triageCutoff: 'validation' });
    const report = readFileSync(await writeRunReport({ run: a, config, datasetDir: datasetA, outDir: path.join(work, 'run-a') }), 'utf8');
    assert.match(report, /measured on the 20 held-out test images/);
    assert.match(report, /Which images each number comes from/);
    // The split is by image here, and the report says so rather than promising patients apart.
    assert.match(report, /image-level \(the dataset has no patient keys\)/);
    assert.doesNotMatch(report, /no patient in two sets/);
    assert.match(report, /a perfectly calibrated model with these probabilities would show \d\.\d{3} on 20 images/);
    assert.match(report, /after \(T = [\d.]+, bias -?[\d.]+\)/);
  } finally {
    a.model.dispose();
    b.model.dispose();
  }
});
