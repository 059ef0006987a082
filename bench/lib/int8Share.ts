// How much of a graph's convolution work ONNX Runtime runs in int8: it writes the graph it runs (optimisation level
// 'all') to a file, and each convolution there is weighed by its multiply-adds, measured on the fp32 graph (weights
// × output positions, the output shapes from one image). A QLinearConv reads the int8 weight `NAME.int8` the
// quantiser wrote for the fp32 weight `NAME`; any other convolution runs in float.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { DataType, decodeModel, encodeModel, int8Ready, type OnnxGraph } from '../../src/models/index.js';

export interface Int8Share {
  /** Share of the convolution multiply-adds in QLinearConv / ConvInteger nodes. */
  readonly share: number;
  readonly int8Convs: number;
  readonly floatConvs: number;
  /** Operator counts of ONNX Runtime's optimised graph ('domain:op' for contrib ops). */
  readonly ops: Record<string, number>;
}

/** Multiply-adds per convolution of the fp32 graph, by weight name. */
async function convMacs(fp32: OnnxGraph, size: number): Promise<Map<string, number>> {
  const g = int8Ready(fp32).model.graph;
  const convs = g.node.filter((n) => n.op_type === 'Conv');
  const model = { ...fp32.model, graph: { ...g, output: [...g.output, ...convs.map((n) => ({ name: n.output[0] as string, type: { tensor_type: { elem_type: DataType.FLOAT } } }))] } };
  const session = await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: 'disabled' });
  try {
    const out = await session.run({ images: new ort.Tensor('float32', new Float32Array(size * size), [1, 1, size, size]) });
    const dims = new Map(g.initializer.map((t) => [t.name, t.dims.map(Number)]));
    return new Map(convs.map((n) => {
      const w = dims.get(n.input[1] as string) ?? [];
      const y = out[n.output[0] as string]?.dims ?? [];
      return [n.input[1] as string, w.reduce((a, b) => a * b, 1) * Number(y[2]) * Number(y[3])];
    }));
  } finally {
    await session.release();
  }
}

/** ONNX Runtime's optimised form of `int8Bytes`, its convolutions weighed with the fp32 graph's multiply-adds. */
export async function int8ConvShare(fp32: OnnxGraph, int8Bytes: Uint8Array, threads: number): Promise<Int8Share> {
  const macs = await convMacs(fp32, fp32.inputShape[1]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-int8-share-'));
  try {
    const file = path.join(dir, 'optimised.onnx');
    const session = await ort.InferenceSession.create(int8Bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: threads, optimizedModelFilePath: file, logSeverityLevel: 3 });
    await session.release();
    const nodes = decodeModel(readFileSync(file)).graph.node;
    const ops: Record<string, number> = {};
    for (const n of nodes) {
      const key = n.domain === undefined || n.domain === '' ? n.op_type : `${n.domain}:${n.op_type}`;
      ops[key] = (ops[key] ?? 0) + 1;
    }
    let int8 = 0;
    let int8Convs = 0;
    for (const n of nodes.filter((x) => x.op_type === 'QLinearConv' || x.op_type === 'ConvInteger')) {
      const weight = (n.input[n.op_type === 'QLinearConv' ? 3 : 1] as string).replace(/\.int8$/, '');
      int8 += macs.get(weight) ?? 0;
      int8Convs++;
    }
    const total = [...macs.values()].reduce((a, b) => a + b, 0);
    return { share: int8 / total, int8Convs, floatConvs: nodes.filter((n) => n.op_type === 'Conv' || n.op_type === 'FusedConv').length, ops };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
