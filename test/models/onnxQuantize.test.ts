// int8 QDQ quantisation of an exported graph: on a fixed set of FracAtlas radiographs (Abedeen et al., Scientific
// Data 10, 521, 2023; CC BY 4.0) the int8 logits stay within a stated tolerance of fp32 for each calibration method,
// the graph holds int8 per-channel weights and uint8 activations in QDQ form, passes ONNX's checker, and says int8.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { buildOnnxGraph, createClassifier, decodeModel, finishOnnx, normsAsConvolutions, quantizeInt8, writeOnnxFile, type CalibrationMethod, type OnnxGraph } from '../../src/models/index.js';
import { manualSeed } from '../../src/torch/index.js';
import { fracAtlasGrey, onnxLogits, seededClassifier, spreadRunningVariances } from './onnxFixtures.js';
import { needs, PYTHON } from '../helpers/references.js';

const SIZE = 64;
// int8 logits within this fraction of the largest fp32 logit. Measured on this random-weight ResNet-18 and set: 0.038
// (percentile), 0.058 (entropy), 0.067 (min-max); a trained network's logits move less (docs/inference.md).
const INT8_TOLERANCE = 0.1;
const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-onnx-int8-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('int8 QDQ quantisation', () => {
  let fp32: OnnxGraph;
  let calibration: Float32Array;
  let evaluation: Float32Array;
  let reference: Float32Array;

  test('an fp32 graph and a fixed set: 8 calibration and 8 other FracAtlas radiographs', async () => {
    manualSeed(5);
    const model = createClassifier('resnet18', { head: 'fastai', weights: null });
    spreadRunningVariances(model);
    model.eval();
    fp32 = buildOnnxGraph(model, { inputSize: SIZE });
    model.dispose();
    calibration = await fracAtlasGrey(8, 0, SIZE);
    evaluation = await fracAtlasGrey(8, 8, SIZE);
    reference = await onnxLogits(finishOnnx(fp32, undefined), evaluation, 8);
  });

  for (const method of ['minmax', 'percentile', 'entropy'] as CalibrationMethod[]) {
    test(`${method}: int8 logits within ${INT8_TOLERANCE} of the largest fp32 logit on images not used for calibration`, async () => {
      const int8 = await quantizeInt8(fp32, calibration, 8, { method });
      const bytes = finishOnnx(int8, undefined);
      writeOnnxFile(path.join(work, `${method}.onnx`), bytes);
      const got = await onnxLogits(bytes, evaluation, 8);
      const scale = Math.max(...reference.map(Math.abs));
      const worst = Math.max(...reference.map((v, i) => Math.abs(v - (got[i] as number)))) / scale;
      assert.ok(worst <= INT8_TOLERANCE, `${method}: max logit error ${worst.toFixed(4)} of the largest logit`);
      assert.ok(worst > 0, 'the int8 graph computes in reduced precision');
      const model = decodeModel(bytes);
      const ops = new Set(model.graph.node.map((n) => n.op_type));
      assert.ok(ops.has('QuantizeLinear') && ops.has('DequantizeLinear'));
      const conv1 = model.graph.initializer.find((t) => t.name === 'body.layer1.0.conv1.weight.int8');
      assert.equal(conv1?.data_type, 3, 'int8 weights');
      assert.deepEqual(model.graph.initializer.find((t) => t.name === 'body.layer1.0.conv1.weight.scale')?.dims, [64], 'one scale per output channel');
      assert.ok(!model.graph.initializer.some((t) => t.name === 'body.layer1.0.conv1.weight'), 'the fp32 weights are gone');
      assert.equal(int8.facts.precision, 'int8');
      assert.equal(int8.facts.quantization?.['method'], method);
    });
  }

  test('DenseNet: its pre-activation BatchNorms become depthwise 1×1 convolutions (same fp32 logits), so no float island is left', async () => {
    const model = seededClassifier('densenet121', 6);
    const graph = buildOnnxGraph(model, { inputSize: SIZE });
    model.dispose();
    const norms = graph.graph.nodes.filter((n) => n.op_type === 'BatchNormalization').length;
    assert.ok(norms > 50, `DenseNet-121 keeps its ${norms} pre-activation norms in the fp32 graph`);
    const asConv = normsAsConvolutions(graph);
    assert.equal(asConv.graph.nodes.filter((n) => n.op_type === 'BatchNormalization').length, 0);
    assert.equal(asConv.graph.nodes.length, graph.graph.nodes.length);
    const expected = await onnxLogits(finishOnnx(graph, undefined), evaluation.subarray(0, 4 * SIZE * SIZE), 4);
    const got = await onnxLogits(finishOnnx(asConv, undefined), evaluation.subarray(0, 4 * SIZE * SIZE), 4);
    const scale = Math.max(...expected.map(Math.abs));
    assert.ok(Math.max(...expected.map((v, i) => Math.abs(v - (got[i] as number)))) / scale <= 1e-4);
    const int8 = await quantizeInt8(graph, calibration, 8, { method: 'percentile' });
    const ops = int8.graph.nodes.map((n) => n.op_type);
    assert.ok(!ops.includes('BatchNormalization'));
    const weights = int8.facts.quantization?.['quantisedWeights'] as number;
    assert.equal(weights, ops.filter((o) => o === 'Conv').length, 'every convolution (the former norms too) has int8 weights');
    const q = await onnxLogits(finishOnnx(int8, undefined), evaluation.subarray(0, 4 * SIZE * SIZE), 4);
    const worst = Math.max(...expected.map((v, i) => Math.abs(v - (q[i] as number)))) / scale;
    assert.ok(worst <= INT8_TOLERANCE, `max logit error ${worst.toFixed(4)} of the largest logit`);
  });

  test('the int8 graphs pass ONNX checker', needs('onnx'), () => {
    const files = ['minmax', 'percentile', 'entropy'].map((m) => path.join(work, `${m}.onnx`));
    const run = spawnSync(PYTHON, ['-c', 'import sys, onnx\nfor f in sys.argv[1:]: onnx.checker.check_model(onnx.load(f), full_check=True)', ...files], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, run.stderr);
  });

  test('calibration without images is refused', async () => {
    await assert.rejects(() => quantizeInt8(fp32, new Float32Array(0), 0), (e: Error & { code?: string }) => e.code === 'HF_MODELS_ONNX_CALIBRATION');
  });
});
