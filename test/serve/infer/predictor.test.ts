// The node's inference step on each engine, on one checkpoint and FracAtlas radiographs (Abedeen et al., Scientific
// Data 10, 521, 2023; CC BY 4.0): 'auto' predicts on ONNX Runtime when the graph has parity and then gives LibTorch's
// probabilities (float32 rounding) and heatmaps; an int8 model.onnx fails parity, so 'auto' stays on LibTorch and
// says why, while 'onnx' runs it; 'libtorch' never opens a graph. A checkpoint with an input gate predicts on a graph
// with a pooled-features output, and its verdicts and probabilities equal the LibTorch pass's.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { modelInput, readRadiograph, type Radiograph } from '../../../src/data/index.js';
import { gateFeatures, InputGate, type GateFeatures } from '../../../src/gate/index.js';
import { buildOnnxGraph, CHECKPOINT_ONNX, exportOnnx, finishOnnx, loadCheckpoint, quantizeInt8, saveCheckpoint, writeOnnxFile } from '../../../src/models/index.js';
import { tidy } from '../../../src/torch/index.js';
import { OnnxImagePredictor, TorchPredictor } from '../../../src/serve/infer/predictor.js';
import { policyFromModelCard } from '../../../src/triage/index.js';
import { fracAtlasFiles, fracAtlasGrey, seededClassifier } from '../../models/onnxFixtures.js';

const SIZE = 64;
const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-serve-predictor-'));
after(() => rmSync(work, { recursive: true, force: true }));
const policy = policyFromModelCard({ threshold: { cutoff: 0.8, method: 'given-cutoff' } });

describe('serve inference predictor: ONNX Runtime when it has parity, LibTorch otherwise', () => {
  const checkpoint = path.join(work, 'ckpt');
  let images: Radiograph[] = [];
  let reference: number[][] = [];

  test('a checkpoint, 6 FracAtlas radiographs and LibTorch probabilities', async () => {
    const model = seededClassifier('resnet18', 4);
    saveCheckpoint(checkpoint, model, { classes: ['intact', 'fracture'], inputSize: SIZE, threshold: { cutoff: 0.8, method: 'given-cutoff' } });
    model.dispose();
    images = await Promise.all(fracAtlasFiles(6).map((f) => readRadiograph(f)));
    const torch = new TorchPredictor(checkpoint, policy);
    reference = await torch.predictBatch(images);
    await torch.dispose();
    assert.equal(reference.length, 6);
  });

  test("'auto' runs the fp32 graph on ONNX Runtime: same probabilities, heatmaps from LibTorch", async () => {
    const { predictor, note } = await OnnxImagePredictor.open(checkpoint, policy, 'auto', 2);
    try {
      assert.match(predictor.engine, /^onnx \(fp32, exported in memory/);
      assert.match(note, /logits within/);
      const got = await predictor.predictBatch(images);
      for (const [i, row] of got.entries()) for (const [c, p] of row.entries()) assert.ok(Math.abs(p - (reference[i]?.[c] as number)) < 1e-5, `image ${i} class ${c}: ${p} vs ${reference[i]?.[c]}`);
      const maps = predictor.heatmaps(images.slice(0, 2));
      assert.equal(maps.length, 2);
    } finally {
      await predictor.dispose();
    }
  });

  test("an int8 model.onnx: 'auto' stays on LibTorch and says why, 'onnx' runs it, 'libtorch' ignores it", async () => {
    const model = seededClassifier('resnet18', 4);
    const graph = buildOnnxGraph(model, { inputSize: SIZE });
    model.dispose();
    const card = (await OnnxImagePredictor.open(checkpoint, policy, 'libtorch', 2)).predictor;
    const int8 = await quantizeInt8(graph, await fracAtlasGrey(4, 6, SIZE), 4, { method: 'minmax' });
    writeOnnxFile(path.join(checkpoint, CHECKPOINT_ONNX), finishOnnx(int8, card.card));
    assert.equal(card.engine, 'libtorch');
    await card.dispose();
    const auto = await OnnxImagePredictor.open(checkpoint, policy, 'auto', 2);
    assert.equal(auto.predictor.engine, 'libtorch');
    assert.match(auto.note, /int8\) differs from LibTorch by .*parity needs/);
    await auto.predictor.dispose();
    const forced = await OnnxImagePredictor.open(checkpoint, policy, 'onnx', 2);
    try {
      assert.match(forced.predictor.engine, /^onnx \(int8, .*model\.onnx\)/);
      const got = await forced.predictor.predictBatch(images);
      assert.equal(got.length, 6);
      assert.ok(got.every((row) => Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5));
    } finally {
      await forced.predictor.dispose();
    }
  });

  test('a gated checkpoint predicts on a graph with pooled features: the same verdicts and probabilities as LibTorch', async () => {
    // A gate fitted on 12 FracAtlas radiographs (every other one fits it, the rest set its thresholds, as train does),
    // judged on 6 others and on a uniform grey image, which the gate must refuse on both engines.
    const fit = await Promise.all(fracAtlasFiles(12, 6).map((f) => readRadiograph(f)));
    const { model, card } = loadCheckpoint(checkpoint);
    const set = tidy(() => gateFeatures(model, modelInput(fit, SIZE)));
    model.dispose();
    const part = (keep: (i: number) => boolean): GateFeatures => {
      const pick = <T>(xs: readonly T[]): T[] => xs.filter((_, i) => keep(i));
      return { features: pick(set.features), logits: pick(set.logits), pixels: pick(set.pixels), polarity: pick(set.polarity), invertedPolarity: pick(set.invertedPolarity) };
    };
    const train = part((i) => i % 2 === 0);
    const gate = InputGate.fit({ ...train, labels: train.features.map(() => 0), bodyParts: train.features.map(() => null), views: train.features.map(() => null) }, part((i) => i % 2 === 1));
    const first = images[0] as Radiograph;
    const uniform: Radiograph = { ...first, key: 'uniform', original: { ...first.original, data: new Uint16Array(first.original.width * first.original.height).fill(30000) } };
    const judged = [...images, uniform];
    // A model.onnx without the features output is passed over for the in-memory export that has it.
    const twin = seededClassifier('resnet18', 4);
    writeOnnxFile(path.join(checkpoint, CHECKPOINT_ONNX), exportOnnx(twin, { card }));
    twin.dispose();
    const torch = new TorchPredictor(checkpoint, policy);
    const expected = await torch.predictGated(judged, gate);
    await torch.dispose();
    const { predictor, note } = await OnnxImagePredictor.open(checkpoint, policy, 'auto', 2, false, true);
    try {
      assert.match(predictor.engine, /^onnx \(fp32, exported in memory \(fp32, with features\)\)/);
      assert.match(note, /logits and pooled features within/);
      const got = await predictor.predictGated(judged, gate);
      assert.equal(got.verdicts.length, judged.length);
      assert.equal(expected.verdicts.at(-1)?.pass, false, 'LibTorch: the uniform image fails the gate');
      for (const [i, v] of got.verdicts.entries()) {
        const e = expected.verdicts[i];
        assert.equal(v.pass, e?.pass, `image ${i}: ONNX ${v.reasons.join('; ')} vs LibTorch ${e?.reasons.join('; ')}`);
        assert.deepEqual(v.reasons, e?.reasons);
        for (const [name, score] of Object.entries(v.scores)) assert.ok(Math.abs(score - (e?.scores[name as keyof typeof v.scores] as number)) <= 1e-4 * Math.max(1, Math.abs(score)), `image ${i} ${name}: ${score} vs ${e?.scores[name as keyof typeof v.scores]}`);
        for (const [c, p] of (got.probabilities[i] ?? []).entries()) assert.ok(Math.abs(p - (expected.probabilities[i]?.[c] as number)) < 1e-5);
      }
    } finally {
      await predictor.dispose();
    }
  });
});
