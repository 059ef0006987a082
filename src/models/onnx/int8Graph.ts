// Rewrites of an fp32 graph into an equal one (the same function up to float rounding) whose QDQ form ONNX Runtime
// runs in its faster int8 kernels end to end: norms as depthwise convolutions, a 1×1 convolution and the average
// pool after it as one strided convolution, concatenations chained on the previous one, one requantising copy where
// a max pool feeds concatenations, and the first convolution's input channels padded to four. The quantiser applies
// them all (int8Ready) before calibration.
import { ONNX_INPUT, type OnnxGraph } from './export.js';
import { attribute, type GraphBuilder } from './graph.js';
import type { AttributeProto, NodeProto } from './proto.js';

/** The values left float by default: the classifier's head (pooling and two small fully connected layers). */
export const inHead = (value: string): boolean => value.startsWith('head.');

const ints = (node: NodeProto, name: string): number[] | undefined => node.attribute.find((a: AttributeProto) => a.name === name)?.ints?.map(Number);
const int = (node: NodeProto, name: string): number | undefined => {
  const a = node.attribute.find((x) => x.name === name);
  return a?.i === undefined ? undefined : Number(a.i);
};
const all = (values: readonly number[] | undefined, v: number): boolean => values === undefined || values.every((x) => x === v);

/** `onnx` with the nodes and initialisers of `g` (unused initialisers pruned). */
export function withNodes(onnx: OnnxGraph, g: GraphBuilder): OnnxGraph {
  g.pruneInitializers();
  return { ...onnx, graph: g, model: { ...onnx.model, graph: { ...onnx.model.graph, node: g.nodes, initializer: g.initializers } } };
}

/** The nodes that read each value. */
export function readersOf(nodes: readonly NodeProto[]): Map<string, NodeProto[]> {
  const readers = new Map<string, NodeProto[]>();
  for (const n of nodes) for (const i of n.input) readers.set(i, [...(readers.get(i) ?? []), n]);
  return readers;
}

/**
 * The graph with each BatchNormalization (one not folded into a convolution: DenseNet's pre-activation norms) written
 * as the depthwise 1×1 convolution it is, x·γ/√(σ²+ε) + (β − μ·γ/√(σ²+ε)) per channel. ONNX Runtime has no int8
 * BatchNormalization; as a convolution it runs as QLinearConv like its neighbours instead of leaving a float island
 * (dequantise, normalise, quantise and two layout transposes) before every dense layer.
 */
export function normsAsConvolutions(onnx: OnnxGraph): OnnxGraph {
  if (!onnx.graph.nodes.some((n) => n.op_type === 'BatchNormalization')) return onnx;
  const g = onnx.graph.derive();
  for (const node of onnx.graph.nodes) {
    const [x, gamma, beta, mean, variance] = node.input.map((i) => (i === '' ? undefined : onnx.graph.floatValues(i)));
    if (node.op_type !== 'BatchNormalization' || x !== undefined || gamma === undefined || beta === undefined || mean === undefined || variance === undefined) {
      g.nodes.push(node);
      continue;
    }
    const eps = node.attribute.find((a) => a.name === 'epsilon')?.f ?? 1e-5;
    const channels = gamma.length;
    const scale = new Float32Array(channels);
    const shift = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      const s = (gamma[c] as number) / Math.sqrt((variance[c] as number) + eps);
      scale[c] = s;
      shift[c] = (beta[c] as number) - (mean[c] as number) * s;
    }
    const name = node.output[0] as string;
    const w = g.float(`${name}.dw_weight`, scale, [channels, 1, 1, 1]);
    const b = g.float(`${name}.dw_bias`, shift, [channels]);
    g.nodes.push({ name: `${name}:Conv`, op_type: 'Conv', input: [node.input[0] as string, w, b], output: [name], attribute: [attribute('kernel_shape', [1, 1]), attribute('group', channels)] });
  }
  return withNodes(onnx, g);
}

/** A k×k average pool with stride k and no padding: the pool a 1×1 convolution before it can absorb. */
function tilingPool(node: NodeProto): [number, number] | undefined {
  if (node.op_type !== 'AveragePool') return undefined;
  const kernel = ints(node, 'kernel_shape');
  if (kernel?.length !== 2) return undefined;
  const strides = ints(node, 'strides');
  if (strides === undefined || strides[0] !== kernel[0] || strides[1] !== kernel[1]) return undefined;
  if (!all(ints(node, 'pads'), 0) || (int(node, 'ceil_mode') ?? 0) !== 0) return undefined;
  const autoPad = node.attribute.find((a) => a.name === 'auto_pad')?.s;
  if (autoPad !== undefined && new TextDecoder().decode(autoPad) !== 'NOTSET') return undefined;
  return [kernel[0] as number, kernel[1] as number];
}

/** A plain 1×1 convolution: stride 1, no padding, no groups, no dilation. */
function pointwise(node: NodeProto | undefined): boolean {
  return node?.op_type === 'Conv' && all(ints(node, 'kernel_shape'), 1) && all(ints(node, 'strides'), 1) && all(ints(node, 'pads'), 0) && all(ints(node, 'dilations'), 1) && (int(node, 'group') ?? 1) === 1;
}

/**
 * The graph with each 1×1 convolution followed by a k×k average pool of stride k (DenseNet's transitions) written as
 * the one k×k convolution of stride k they are, its weights the 1×1 weights over k² at every tap (the mean of a
 * linear map is the map of the mean). The multiply-adds stay the same; the pool — a slow int8 kernel in ONNX
 * Runtime, with a requantisation per value — and the full-resolution convolution output it read are gone.
 */
export function poolsIntoConvolutions(onnx: OnnxGraph): OnnxGraph {
  const nodes = onnx.graph.nodes;
  const readers = readersOf(nodes);
  const producer = new Map(nodes.flatMap((n) => n.output.map((o) => [o, n] as const)));
  const dims = new Map(onnx.graph.initializers.map((t) => [t.name, t.dims.map(Number)]));
  const folded = new Map<NodeProto, { conv: NodeProto; kernel: [number, number] }>();
  for (const pool of nodes) {
    const kernel = tilingPool(pool);
    const conv = producer.get(pool.input[0] as string);
    if (kernel === undefined || conv === undefined || !pointwise(conv) || readers.get(conv.output[0] as string)?.length !== 1) continue;
    const w = dims.get(conv.input[1] as string);
    if (w?.length !== 4 || onnx.graph.floatValues(conv.input[1] as string) === undefined) continue;
    folded.set(pool, { conv, kernel });
  }
  if (folded.size === 0) return onnx;
  const absorbed = new Set([...folded.values()].map((f) => f.conv));
  const g = onnx.graph.derive();
  for (const node of nodes) {
    if (absorbed.has(node)) continue;
    const fold = folded.get(node);
    if (fold === undefined) {
      g.nodes.push(node);
      continue;
    }
    const { conv, kernel: [kh, kw] } = fold;
    const weights = onnx.graph.floatValues(conv.input[1] as string) as Float32Array;
    const [outC, inC] = dims.get(conv.input[1] as string) as [number, number, number, number];
    const taps = kh * kw;
    const tiled = new Float32Array(outC * inC * taps);
    for (let i = 0; i < outC * inC; i++) tiled.fill((weights[i] as number) / taps, i * taps, (i + 1) * taps);
    const w = g.float(`${conv.input[1] as string}.pooled`, tiled, [outC, inC, kh, kw]);
    const name = node.output[0] as string;
    g.nodes.push({ name: `${name}:Conv`, op_type: 'Conv', input: [conv.input[0] as string, w, ...conv.input.slice(2)], output: [name], attribute: [attribute('kernel_shape', [kh, kw]), attribute('strides', [kh, kw])] });
  }
  return withNodes(onnx, g);
}

/**
 * The graph with one requantising copy (a single-input Concat, the identity) between each max pool and the
 * concatenations that read it. ONNX Runtime pools in int8 only when the pool's input and output share one range,
 * and a concatenation copies bytes only when its inputs share its range; a pool after a ReLU that feeds DenseNet's
 * first block cannot have both without widening the ReLU's range below zero (which keeps the ReLU out of the
 * convolution before it). With the copy, the pool takes the ReLU's range and the copy requantises once to the
 * block's range, instead of a float pool between dequantise, quantise and four layout transposes.
 */
export function requantiseBeforeConcat(onnx: OnnxGraph, keepFloat: (value: string) => boolean): OnnxGraph {
  const nodes = onnx.graph.nodes;
  const readers = readersOf(nodes);
  const pooled = nodes.filter((n) => n.op_type === 'MaxPool' && !keepFloat(n.output[0] as string) && (readers.get(n.output[0] as string) ?? []).some((r) => r.op_type === 'Concat'));
  if (pooled.length === 0) return onnx;
  const g = onnx.graph.derive();
  const copies = new Map<string, string>();
  for (const node of nodes) {
    const inputs = node.op_type === 'Concat' ? node.input.map((i) => copies.get(i) ?? i) : node.input;
    g.nodes.push({ ...node, input: inputs });
    if (pooled.includes(node)) copies.set(node.output[0] as string, g.node('Concat', [node.output[0] as string], { axis: 1 }, `${node.output[0] as string}.requantised`));
  }
  return withNodes(onnx, g);
}

/**
 * The graph with each concatenation that repeats an earlier one's inputs as its first inputs reading that earlier
 * output instead: DenseNet's layer l concatenates x0, f1 … f(l−1), which is layer l−1's input and f(l−1). The bytes
 * copied stay the same, but ONNX Runtime's int8 graph is channels-last, where a channel concatenation copies each
 * input's channels pixel by pixel: l small copies per pixel (32 bytes each, the growth rate) become two, one long.
 */
export function concatenationsChained(onnx: OnnxGraph): OnnxGraph {
  const nodes = onnx.graph.nodes;
  const axis = (n: NodeProto): number => int(n, 'axis') ?? 0;
  const done: NodeProto[] = [];
  let changed = false;
  const out = nodes.map((node) => {
    if (node.op_type !== 'Concat') return node;
    let best: NodeProto | undefined;
    for (const m of node.input.length > 2 ? done : []) {
      if (axis(m) === axis(node) && m.input.length >= 2 && m.input.length < node.input.length && m.input.every((i, k) => node.input[k] === i) && m.input.length > (best?.input.length ?? 0)) best = m;
    }
    done.push(node);
    if (best === undefined) return node;
    changed = true;
    return { ...node, input: [best.output[0] as string, ...node.input.slice(best.input.length)] };
  });
  if (!changed) return onnx;
  const g = onnx.graph.derive();
  g.nodes.push(...out);
  return withNodes(onnx, g);
}

/**
 * The graph with the first convolution's input channels (the grey image and its inside indicator, concatenated)
 * padded with zero channels, and zero weights for them, to a multiple of four. ONNX Runtime's fast int8 convolution
 * (the symmetric-weight kernels, VNNI on this CPU) takes input channels in groups of four; with two it falls back
 * to an im2col and a general int8 matrix product, which makes DenseNet's 7×7 stem cost as much as several dense
 * layers.
 */
export function inputChannelsPadded(onnx: OnnxGraph): OnnxGraph {
  if (onnx.inputShape[0] !== 1) return onnx;
  const nodes = onnx.graph.nodes;
  const producer = new Map(nodes.flatMap((n) => n.output.map((o) => [o, n] as const)));
  const readers = readersOf(nodes);
  const dims = new Map(onnx.graph.initializers.map((t) => [t.name, t.dims.map(Number)]));
  const conv = nodes.find((n) => {
    const input = producer.get(n.input[0] as string);
    const w = dims.get(n.input[1] as string);
    return n.op_type === 'Conv' && (int(n, 'group') ?? 1) === 1 && w?.length === 4 && (w[1] as number) % 4 !== 0 && input?.op_type === 'Concat' && int(input, 'axis') === 1 && input.input.includes(ONNX_INPUT) && readers.get(n.input[0] as string)?.length === 1;
  });
  const weights = conv === undefined ? undefined : onnx.graph.floatValues(conv.input[1] as string);
  if (conv === undefined || weights === undefined) return onnx;
  const concat = producer.get(conv.input[0] as string) as NodeProto;
  const [outC, inC, kh, kw] = dims.get(conv.input[1] as string) as [number, number, number, number];
  const extra = 4 - (inC % 4);
  const taps = kh * kw;
  const padded = new Float32Array(outC * (inC + extra) * taps);
  for (let o = 0; o < outC; o++) padded.set(weights.subarray(o * inC * taps, (o + 1) * inC * taps), o * (inC + extra) * taps);
  const g = onnx.graph.derive();
  for (const node of nodes) {
    if (node === concat) {
      const shape = g.node('Shape', [ONNX_INPUT], {}, 'input_shape');
      const zeros = g.node('Expand', [g.float('zero_channels', new Float32Array(extra), [1, extra, 1, 1]), shape], {}, 'zero_channels_batch');
      g.nodes.push({ ...node, input: [...node.input, zeros] });
    } else if (node === conv) {
      g.nodes.push({ ...node, input: [node.input[0] as string, g.float(`${node.input[1] as string}.padded`, padded, [outC, inC + extra, kh, kw]), ...node.input.slice(2)] });
    } else {
      g.nodes.push(node);
    }
  }
  return withNodes(onnx, g);
}

/** The fp32 graph rewritten for int8 (same function): every rewrite above, values kept float left as they are. */
export function int8Ready(onnx: OnnxGraph, keepFloat: (value: string) => boolean = inHead): OnnxGraph {
  return inputChannelsPadded(requantiseBeforeConcat(concatenationsChained(poolsIntoConvolutions(normsAsConvolutions(onnx))), keepFloat));
}
