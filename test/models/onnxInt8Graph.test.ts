// The fp32 → fp32 rewrites the int8 quantiser makes before calibration (src/models/onnx/int8Graph.ts): the rewritten
// graph computes the same logits, has the structure each rewrite promises, and its int8 QDQ form is what ONNX
// Runtime runs in int8 kernels end to end (read from the optimised graph ONNX Runtime writes). Images: FracAtlas
// radiographs (Abedeen et al., Scientific Data 10, 521, 2023; CC BY 4.0).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import { buildOnnxGraph, concatenationsChained, decodeModel, finishOnnx, int8Ready, ONNX_INPUT, quantizeInt8, type OnnxGraph } from '../../src/models/index.js';
import { fracAtlasGrey, onnxLogits, seededClassifier } from './onnxFixtures.js';
import { needs, PYTHON } from '../helpers/references.js';

const SIZE = 64;
const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-onnx-int8-graph-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Largest |a − b| over the largest |a|. */
function relativeError(a: Float32Array, b: Float32Array): number {
  return Math.max(...a.map((v, i) => Math.abs(v - (b[i] as number)))) / Math.max(...a.map(Math.abs));
}

/** Operator counts of the graph ONNX Runtime runs for `bytes` (optimisation level 'all'). */
async function optimisedOps(bytes: Uint8Array, name: string): Promise<Record<string, number>> {
  const file = path.join(work, `${name}.optimised.onnx`);
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1, optimizedModelFilePath: file, logSeverityLevel: 3 });
  await session.release();
  const ops: Record<string, number> = {};
  for (const n of decodeModel(readFileSync(file)).graph.node) ops[n.op_type] = (ops[n.op_type] ?? 0) + 1;
  return ops;
}

const body = (g: OnnxGraph, op: string): number => g.graph.nodes.filter((n) => n.op_type === op && !n.name.startsWith('head')).length;

describe('int8 graph rewrites', () => {
  let images: Float32Array;
  let densenet: OnnxGraph;

  test('DenseNet-121: the rewritten graph computes the same logits', async () => {
    images = await fracAtlasGrey(4, 16, SIZE);
    const model = seededClassifier('densenet121', 7);
    densenet = buildOnnxGraph(model, { inputSize: SIZE });
    model.dispose();
    const ready = int8Ready(densenet);
    const expected = await onnxLogits(finishOnnx(densenet, undefined), images, 4);
    const got = await onnxLogits(finishOnnx(ready, undefined), images, 4);
    assert.ok(relativeError(expected, got) <= 1e-4, `max logit change ${relativeError(expected, got).toExponential(2)}`);
  });

  test('DenseNet-121: transitions are strided 2×2 convolutions, concatenations are chained, the stem pool requantises once', () => {
    assert.equal(body(densenet, 'AveragePool'), 3, 'three transition pools before');
    const ready = int8Ready(densenet);
    assert.equal(body(ready, 'AveragePool'), 0, 'no average pool left in the body');
    const transitions = ready.graph.nodes.filter((n) => /transition\d\.pool:Conv$/.test(n.name));
    assert.equal(transitions.length, 3);
    for (const t of transitions) {
      assert.deepEqual(t.attribute.find((a) => a.name === 'kernel_shape')?.ints?.map(Number), [2, 2]);
      assert.deepEqual(t.attribute.find((a) => a.name === 'strides')?.ints?.map(Number), [2, 2]);
    }
    const before = densenet.graph.nodes.filter((n) => n.op_type === 'Concat' && !n.name.startsWith('head'));
    assert.ok(Math.max(...before.map((n) => n.input.length)) > 20, 'the export concatenates every earlier map in each layer');
    const concats = ready.graph.nodes.filter((n) => n.op_type === 'Concat' && !n.name.startsWith('head') && n.input.length > 1 && !n.input.includes(ONNX_INPUT));
    assert.equal(concats.length, before.length - 1, 'as many concatenations (less the input\'s), each on two inputs');
    assert.ok(concats.every((n) => n.input.length === 2));
    const pool = ready.graph.nodes.find((n) => n.op_type === 'MaxPool');
    const readers = ready.graph.nodes.filter((n) => n.input.includes(pool?.output[0] as string));
    assert.ok(readers.some((n) => n.op_type === 'Concat' && n.input.length === 1), 'one single-input Concat (the requantising copy) reads the pool');
    assert.ok(!readers.some((n) => n.op_type === 'Concat' && n.input.length > 1), 'no multi-input concatenation reads the pool directly');
  });

  test('the first convolution reads four channels (two of them zero) instead of two', () => {
    const stem = (g: OnnxGraph): number => {
      const conv = g.graph.nodes.find((n) => n.op_type === 'Conv') as { input: string[] };
      return Number(g.graph.initializers.find((t) => t.name === conv.input[1])?.dims[1]);
    };
    assert.equal(stem(densenet), 2);
    assert.equal(stem(int8Ready(densenet)), 4);
  });

  test('DenseNet-121 int8: ONNX Runtime runs every convolution, pool and concatenation in int8, with no float island in the body', async () => {
    const calibration = await fracAtlasGrey(8, 0, SIZE);
    const int8 = await quantizeInt8(densenet, calibration, 8, { method: 'percentile' });
    const bytes = finishOnnx(int8, undefined);
    writeFileSync(path.join(work, 'densenet121-int8.onnx'), bytes);
    const ops = await optimisedOps(bytes, 'densenet121-int8');
    const convs = int8.graph.nodes.filter((n) => n.op_type === 'Conv').length;
    assert.equal(ops['QLinearConv'], convs, 'every convolution is a QLinearConv');
    assert.equal(ops['Conv'] ?? 0, 0);
    assert.equal(ops['NhwcMaxPool'], 1, 'the stem pool runs on uint8');
    assert.equal(ops['MaxPool'] ?? 0, 0);
    assert.equal(ops['QLinearAveragePool'] ?? 0, 0);
    assert.ok((ops['QLinearConcat'] ?? 0) >= 58, 'the dense blocks concatenate in int8');
    assert.ok((ops['Transpose'] ?? 0) <= 2, `only the layout changes at the ends (${ops['Transpose'] ?? 0} Transpose)`);
    const dequantised = decodeModel(readFileSync(path.join(work, 'densenet121-int8.optimised.onnx'))).graph.node.filter((n) => n.op_type === 'DequantizeLinear').map((n) => n.input[0] as string);
    assert.ok(dequantised.every((t) => /^(body\.relu|inside_batch|zero_channels_batch)\.q$/.test(t)), `only the head's input and the constant input channels are dequantised: ${dequantised.join(', ')}`);
    const expected = await onnxLogits(finishOnnx(densenet, undefined), images, 4);
    const got = await onnxLogits(bytes, images, 4);
    assert.ok(relativeError(expected, got) <= 0.1, `int8 logits within 0.1 of the largest fp32 logit (${relativeError(expected, got).toFixed(4)})`);
  });

  test('the rewritten DenseNet-121 int8 graph (one-input Concat, padded stem) passes ONNX checker', needs('onnx'), () => {
    const run = spawnSync(PYTHON, ['-c', 'import sys, onnx\nonnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', path.join(work, 'densenet121-int8.onnx')], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, run.stderr);
  });

  test('a graph without repeated concatenation inputs is left as it is', () => {
    const model = seededClassifier('resnet18', 3);
    const resnet = buildOnnxGraph(model, { inputSize: SIZE });
    model.dispose();
    assert.equal(concatenationsChained(resnet), resnet);
    const ready = int8Ready(resnet);
    assert.equal(body(ready, 'MaxPool'), 1, 'ResNet\'s pool feeds no concatenation: no requantising copy');
    assert.equal(ready.graph.nodes.filter((n) => n.op_type === 'Concat' && n.input.length === 1).length, 0);
  });
});
