// Static int8 quantisation of an exported graph in ONNX's QDQ form: int8 weights per output channel (symmetric),
// uint8 activations per tensor (asymmetric, ranges calibrated on images with min-max, percentile or entropy),
// int32 biases at the product of the scales. ONNX Runtime fuses the QDQ patterns into its int8 kernels.
import ort from 'onnxruntime-node';
import { HipfracError } from '../../util/index.js';
import { ONNX_INPUT, ONNX_OUTPUT, type OnnxGraph } from './export.js';
import type { GraphBuilder } from './graph.js';
import { inHead, int8Ready, readersOf, withNodes } from './int8Graph.js';
import { DataType, encodeModel, type NodeProto } from './proto.js';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';

export interface QuantizeOptions {
  /** How an activation's range is chosen from the calibration values (default 'percentile'). */
  readonly method?: CalibrationMethod;
  /** Percentile kept by 'percentile' at each end (default 99.999, as ONNX Runtime's tool). */
  readonly percentile?: number;
  /** Images per calibration run (default 2: every activation of the batch is held at once). */
  readonly batchSize?: number;
  readonly threads?: number;
  /**
   * Values left in float32, with the weights of the nodes producing them (default: the classifier's head, names
   * starting 'head.': pooling and two small fully connected layers, under 0.1 % of the work and the most
   * sensitive to rounding, as first/last layers usually are).
   */
  readonly keepFloat?: (value: string) => boolean;
}

// Operators whose inputs and outputs are quantised: ONNX Runtime has int8 kernels for them in QDQ form.
const QUANTISED_OPS = new Set(['Conv', 'Gemm', 'Add', 'Concat', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'Relu', 'Mul', 'Sigmoid', 'Flatten']);
const BINS = 2048;

interface Range {
  min: number;
  max: number;
}

/** Activations to quantise: outputs of or inputs to quantised ops, except a tensor only a Relu reads (its output is quantised). */
export function activationsToQuantise(nodes: readonly NodeProto[], keepFloat: (value: string) => boolean = inHead): string[] {
  const consumers = readersOf(nodes);
  const out: string[] = [];
  for (const n of nodes) {
    for (const t of n.output) {
      if (t === ONNX_OUTPUT || keepFloat(t)) continue;
      const readers = consumers.get(t) ?? [];
      if (readers.length > 0 && readers.every((r) => r.op_type === 'Relu')) continue;
      if (QUANTISED_OPS.has(n.op_type) || readers.some((r) => QUANTISED_OPS.has(r.op_type))) out.push(t);
    }
  }
  return out;
}

async function calibrationSession(onnx: OnnxGraph, tensors: readonly string[], threads: number | undefined): Promise<ort.InferenceSession> {
  const model = { ...onnx.model, graph: { ...onnx.model.graph, output: [...onnx.model.graph.output, ...tensors.map((name) => ({ name, type: { tensor_type: { elem_type: DataType.FLOAT } } }))] } };
  return ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: 'basic', intraOpNumThreads: threads ?? 2, executionMode: 'sequential' });
}

async function forEachBatch(session: ort.InferenceSession, images: Float32Array, count: number, shape: readonly number[], batchSize: number, tensors: readonly string[], visit: (name: string, data: Float32Array) => void): Promise<void> {
  const plane = shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < count; i += batchSize) {
    const n = Math.min(batchSize, count - i);
    const feeds = { [ONNX_INPUT]: new ort.Tensor('float32', images.slice(i * plane, (i + n) * plane), [n, ...shape]) };
    const result = await session.run(feeds, [...tensors]);
    for (const name of tensors) visit(name, result[name]?.data as Float32Array);
  }
}

/** The value at quantile q of a histogram over [min, max]. */
function histogramQuantile(hist: Float64Array, range: Range, q: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  const width = (range.max - range.min) / BINS;
  let cumulative = 0;
  for (let b = 0; b < BINS; b++) {
    cumulative += hist[b] as number;
    if (cumulative >= q * total) return range.min + (b + 1) * width;
  }
  return range.max;
}

/**
 * The threshold on |x| that minimises the KL divergence between the histogram of |x| and its quantisation
 * to `levels` levels (the entropy calibration of TensorRT, Migacz 2017), as a bin count.
 */
function klThresholdBins(counts: Float64Array, levels: number): number {
  // The exact zeros a ReLU writes (often half the values) fall in bin 0 and would dominate the divergence.
  const hist = Float64Array.from(counts);
  hist[0] = 0;
  let bestBins = BINS;
  let bestKl = Infinity;
  for (let i = levels; i <= BINS; i += 8) {
    const p = Float64Array.from(hist.subarray(0, i));
    let outliers = 0;
    for (let b = i; b < BINS; b++) outliers += hist[b] as number;
    p[i - 1] = (p[i - 1] as number) + outliers;
    const q = new Float64Array(i);
    const per = i / levels;
    for (let l = 0; l < levels; l++) {
      const start = Math.floor(l * per);
      const end = l === levels - 1 ? i : Math.floor((l + 1) * per);
      let sum = 0;
      let nonzero = 0;
      for (let b = start; b < end; b++) {
        sum += hist[b] as number;
        if ((hist[b] as number) > 0) nonzero++;
      }
      for (let b = start; b < end; b++) if ((hist[b] as number) > 0) q[b] = sum / nonzero;
    }
    const pSum = p.reduce((a, b) => a + b, 0);
    const qSum = q.reduce((a, b) => a + b, 0);
    if (pSum === 0 || qSum === 0) continue;
    let kl = 0;
    for (let b = 0; b < i; b++) {
      const pb = (p[b] as number) / pSum;
      if (pb === 0) continue;
      const qb = (q[b] as number) / qSum;
      kl += qb === 0 ? pb * 20 : pb * Math.log(pb / qb);
    }
    if (kl < bestKl) {
      bestKl = kl;
      bestBins = i;
    }
  }
  return bestBins;
}

/** Runs the fp32 graph on the calibration images and chooses each activation's range. */
export async function calibrate(onnx: OnnxGraph, images: Float32Array, count: number, tensors: readonly string[], options: QuantizeOptions = {}): Promise<Map<string, Range>> {
  if (count < 1) throw new HipfracError('HF_MODELS_ONNX_CALIBRATION', 'int8 calibration needs at least one image.', { fix: 'give calibration images (--calibration DATASET with a validation split).' });
  const method = options.method ?? 'percentile';
  const batch = options.batchSize ?? 2;
  const session = await calibrationSession(onnx, tensors, options.threads);
  try {
    const ranges = new Map<string, Range>(tensors.map((t) => [t, { min: Infinity, max: -Infinity }]));
    await forEachBatch(session, images, count, onnx.inputShape, batch, tensors, (name, data) => {
      const r = ranges.get(name) as Range;
      for (let i = 0; i < data.length; i++) {
        const v = data[i] as number;
        if (v < r.min) r.min = v;
        if (v > r.max) r.max = v;
      }
    });
    if (method === 'minmax') return ranges;
    const signed = new Map<string, Float64Array>(tensors.map((t) => [t, new Float64Array(BINS)]));
    const magnitude = new Map<string, Float64Array>(tensors.map((t) => [t, new Float64Array(BINS)]));
    await forEachBatch(session, images, count, onnx.inputShape, batch, tensors, (name, data) => {
      const r = ranges.get(name) as Range;
      const width = (r.max - r.min) / BINS || 1;
      const top = Math.max(Math.abs(r.min), Math.abs(r.max)) / BINS || 1;
      const h = signed.get(name) as Float64Array;
      const m = magnitude.get(name) as Float64Array;
      for (let i = 0; i < data.length; i++) {
        const v = data[i] as number;
        h[Math.min(BINS - 1, Math.floor((v - r.min) / width))]++;
        m[Math.min(BINS - 1, Math.floor(Math.abs(v) / top))]++;
      }
    });
    const chosen = new Map<string, Range>();
    for (const t of tensors) {
      const r = ranges.get(t) as Range;
      if (method === 'percentile') {
        const p = (options.percentile ?? 99.999) / 100;
        const h = signed.get(t) as Float64Array;
        chosen.set(t, { min: r.min >= 0 ? r.min : histogramQuantile(h, r, 1 - p), max: histogramQuantile(h, r, p) });
      } else {
        const top = Math.max(Math.abs(r.min), Math.abs(r.max));
        const threshold = ((klThresholdBins(magnitude.get(t) as Float64Array, r.min >= 0 ? 256 : 128) + 0.5) * top) / BINS;
        chosen.set(t, { min: Math.max(r.min, -threshold), max: Math.min(r.max, threshold) });
      }
    }
    return chosen;
  } finally {
    await session.release();
  }
}

/** uint8 asymmetric parameters covering [min(0, lo), max(0, hi)]. */
function activationParameters(r: Range): { scale: number; zeroPoint: number } {
  const lo = Math.min(0, r.min);
  const hi = Math.max(0, r.max);
  const scale = hi - lo > 0 ? (hi - lo) / 255 : 1;
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
}

/** Per-output-channel symmetric int8 weights: scale = max|w| / 127 per channel. */
function quantiseWeight(w: Float32Array, channels: number): { q: Int8Array; scales: Float32Array } {
  const per = w.length / channels;
  const q = new Int8Array(w.length);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let max = 0;
    for (let i = c * per; i < (c + 1) * per; i++) max = Math.max(max, Math.abs(w[i] as number));
    const s = max > 0 ? max / 127 : 1;
    scales[c] = s;
    for (let i = c * per; i < (c + 1) * per; i++) q[i] = Math.max(-127, Math.min(127, Math.round((w[i] as number) / s)));
  }
  return { q, scales };
}

// Operators whose output values are some of their input values: their quantised input and output can share a range.
const VALUE_PRESERVING = new Set(['MaxPool', 'GlobalMaxPool', 'Flatten', 'Reshape', 'Transpose', 'Identity']);

/**
 * Shares activation ranges where ONNX Runtime's int8 kernels want equal scales. A concatenation's output and its
 * quantised inputs take their union (the output's values are the inputs'): QLinearConcat then copies bytes
 * instead of requantising each input through a lookup table, which in a DenseNet block (each layer concatenates
 * the same growing list of feature maps) is most of the int8 graph's memory traffic outside the convolutions.
 * A max pool (or a reshape) and its input take their union too, since ONNX Runtime pools in int8 only when input
 * and output share scale and zero point (percentile calibration gives a pool's output another range) — unless the
 * output already belongs to a concatenation's range, which would widen a ReLU output's range below zero and stop
 * the ReLU from fusing into the convolution before it (int8Ready puts a requantising one-input Concat between
 * DenseNet's first pool and its block, so that pool joins its input; a one-input Concat joins nothing).
 */
function shareRanges(nodes: readonly NodeProto[], ranges: Map<string, Range>): Map<string, Range> {
  const parent = new Map<string, string>();
  const root = (t: string): string => {
    let r = t;
    while (parent.has(r)) r = parent.get(r) as string;
    return r;
  };
  const join = (n: NodeProto): void => {
    const out = root(n.output[0] as string);
    for (const i of n.input) {
      const r = ranges.has(i) ? root(i) : out;
      if (r !== out) parent.set(r, out);
    }
  };
  const quantised = (n: NodeProto): boolean => ranges.has(n.output[0] as string);
  const concatenated = new Set<string>();
  for (const n of nodes.filter((x) => x.op_type === 'Concat' && x.input.length > 1 && quantised(x))) {
    join(n);
    for (const t of [...n.input, ...n.output]) concatenated.add(t);
  }
  for (const n of nodes) if (VALUE_PRESERVING.has(n.op_type) && quantised(n) && !concatenated.has(n.output[0] as string)) join(n);
  const union = new Map<string, Range>();
  for (const [t, r] of ranges) {
    const u = union.get(root(t)) ?? { min: Infinity, max: -Infinity };
    union.set(root(t), { min: Math.min(u.min, r.min), max: Math.max(u.max, r.max) });
  }
  return new Map([...ranges.keys()].map((t) => [t, union.get(root(t)) as Range]));
}

/**
 * The int8 QDQ form of an fp32 graph from buildOnnxGraph, calibrated on `count` images ([N, 1, S, S] in [0, 1]).
 * `onnx` is left unchanged.
 */
export async function quantizeInt8(fp32: OnnxGraph, images: Float32Array, count: number, options: QuantizeOptions = {}): Promise<OnnxGraph> {
  const keepFloat = options.keepFloat ?? inHead;
  const onnx = int8Ready(fp32, keepFloat);
  const method = options.method ?? 'percentile';
  const nodes = onnx.graph.nodes;
  const tensors = activationsToQuantise(nodes, keepFloat);
  const ranges = shareRanges(nodes, await calibrate(onnx, images, count, tensors, options));
  const g: GraphBuilder = onnx.graph.derive();
  const params = new Map<string, { scale: number; zeroPoint: number; scaleName: string; zeroName: string }>();
  for (const t of tensors) {
    const p = activationParameters(ranges.get(t) as Range);
    params.set(t, { ...p, scaleName: g.float(`${t}.scale`, Float32Array.of(p.scale), []), zeroName: g.raw(`${t}.zero_point`, DataType.UINT8, Uint8Array.of(p.zeroPoint), []) });
  }
  const renamed = new Map<string, string>();
  const dims = new Map(onnx.graph.initializers.map((t) => [t.name, t.dims]));
  let weights = 0;
  for (const node of nodes) {
    const inputs = node.input.map((i) => renamed.get(i) ?? i);
    if ((node.op_type === 'Conv' || node.op_type === 'Gemm') && params.has(node.input[0] as string) && !node.output.some(keepFloat)) {
      const wName = node.input[1] as string;
      const w = onnx.graph.floatValues(wName);
      const wDims = dims.get(wName);
      if (w !== undefined && wDims !== undefined) {
        const channels = wDims[0] as number;
        const { q, scales } = quantiseWeight(w, channels);
        const wq = g.raw(`${wName}.int8`, DataType.INT8, q, wDims);
        const ws = g.float(`${wName}.scale`, scales, [channels]);
        const wz = g.raw(`${wName}.zero_point`, DataType.INT8, new Int8Array(channels), [channels]);
        inputs[1] = g.node('DequantizeLinear', [wq, ws, wz], { axis: 0 }, `${wName}.dq`);
        weights++;
        const bName = node.input[2];
        const b = bName === undefined ? undefined : onnx.graph.floatValues(bName);
        if (b !== undefined && bName !== undefined) {
          const xScale = (params.get(node.input[0] as string) as { scale: number }).scale;
          const bs = Float32Array.from(scales, (s) => s * xScale);
          const bq = Int32Array.from(b, (v, c) => Math.max(-2147483647, Math.min(2147483647, Math.round(v / (bs[c] as number)))));
          const bInt = g.raw(`${bName}.int32`, DataType.INT32, bq, [channels]);
          const bScale = g.float(`${bName}.scale`, bs, [channels]);
          const bZero = g.raw(`${bName}.zero_point`, DataType.INT32, new Int32Array(channels), [channels]);
          inputs[2] = g.node('DequantizeLinear', [bInt, bScale, bZero], { axis: 0 }, `${bName}.dq`);
        }
      }
    }
    g.nodes.push({ ...node, input: inputs });
    for (const t of node.output) {
      const p = params.get(t);
      if (p === undefined) continue;
      const q = g.node('QuantizeLinear', [t, p.scaleName, p.zeroName], {}, `${t}.q`);
      renamed.set(t, g.node('DequantizeLinear', [q, p.scaleName, p.zeroName], {}, `${t}.dq`));
    }
  }
  return {
    ...withNodes(onnx, g),
    facts: {
      ...onnx.facts,
      precision: 'int8',
      quantization: {
        format: 'QDQ',
        weights: 'int8, symmetric, per output channel',
        activations: 'uint8, asymmetric, per tensor',
        biases: 'int32 at input scale × weight scale',
        method,
        ...(method === 'percentile' ? { percentile: options.percentile ?? 99.999 } : {}),
        calibrationImages: count,
        quantisedActivations: tensors.length,
        quantisedWeights: weights,
      },
    },
  };
}
