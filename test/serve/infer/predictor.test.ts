// The node's inference step on each engine, on one checkpoint and FracAtlas radiographs (Abedeen et al., Scientific
// Data 10, 521, 2023; CC BY 4.0): 'auto' predicts on ONNX Runtime when the graph has parity and then gives LibTorch's
// probabilities (float32 rounding) and heatmaps; an int8 model.onnx fails parity, so 'auto' stays on LibTorch and
// says why, while 'onnx' runs it; 'libtorch' never opens a graph.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { readRadiograph, type Radiograph } from '../../../src/data/index.js';
import { buildOnnxGraph, CHECKPOINT_ONNX, finishOnnx, quantizeInt8, saveCheckpoint, writeOnnxFile } from '../../../src/models/index.js';
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
});
