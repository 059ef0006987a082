// Where an ONNX Runtime session spends its time: the session runs with profiling on (a per-node trace in Chrome's
// JSON format) and writes the graph it runs (optimisation level 'all'); each kernel's time is summed by operator
// type and by the part of the network its node belongs to, read from the node's name, operator and attributes.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { decodeModel } from '../../src/models/index.js';
import { median } from './results.js';

type NodeProto = ReturnType<typeof decodeModel>['graph']['node'][number];

export interface NodeTimes {
  /** Median wall time of one run (ONNX Runtime's model_run event), ms. */
  readonly runMs: number;
  /** Sum of kernel times of one run, ms; this and the sums by operator and part are medians over the runs. */
  readonly kernelMs: number;
  readonly byOp: Record<string, number>;
  readonly byPart: Record<string, number>;
}

interface TraceEvent {
  readonly cat: string;
  readonly name: string;
  readonly ts: number;
  readonly dur: number;
  readonly args?: { readonly op_name?: string };
}

const CONVOLUTIONS = new Set(['Conv', 'QLinearConv', 'FusedConv', 'ConvInteger']);
const SQUEEZE_EXCITATION = /\.(avgpool|fc1|fc2|activation|scale)([._:/]|$)/;

function kernelOf(node: NodeProto, weightDims: ReadonlyMap<string, readonly number[]>): number[] {
  const attr = node.attribute.find((a) => a.name === 'kernel_shape')?.ints?.map(Number);
  if (attr !== undefined && attr.length > 0) return attr;
  const w = weightDims.get(node.input[node.op_type === 'QLinearConv' ? 3 : 1] as string);
  return w === undefined ? [] : w.slice(2);
}

/** The part of a classifier a node of ONNX Runtime's optimised graph belongs to (names are the exporter's paths). */
export function partOf(node: NodeProto, weightDims: ReadonlyMap<string, readonly number[]>): string {
  const op = node.op_type;
  if (node.name.startsWith('head') || op === 'Gemm' || op === 'FusedGemm') return 'head (pool, linear layers)';
  if (SQUEEZE_EXCITATION.test(node.name) || (/Mul$/.test(op) && node.input.some((i) => /\.scale([._:/]|$)/.test(i)))) return 'squeeze-excitation';
  if (CONVOLUTIONS.has(op)) {
    const group = Number(node.attribute.find((a) => a.name === 'group')?.i ?? 1);
    const kernel = kernelOf(node, weightDims);
    const pointwise = kernel.length > 0 && kernel.every((k) => k === 1);
    if (group > 1) return pointwise ? 'norm as depthwise 1×1 conv' : 'depthwise conv';
    return pointwise ? '1×1 conv' : 'k×k conv';
  }
  if (/^(QuickGelu|Sigmoid|QLinearSigmoid|Mul|QLinearMul)$/.test(op)) return 'SiLU (x·sigmoid x)';
  if (/^(Add|QLinearAdd|Sum)$/.test(op)) return 'residual add';
  if (/Concat$/.test(op)) return 'concatenation';
  if (/Pool$/.test(op)) return 'pooling';
  if (/^(Transpose|ReorderInput|ReorderOutput)$/.test(op)) return 'layout (transpose, reorder)';
  if (op === 'QuantizeLinear' || op === 'DequantizeLinear') return 'quantise / dequantise';
  return 'other';
}

/**
 * A profiling session on `model` after two warm-up runs on `feeds`: `run` runs it once more (callers interleave
 * several sessions; `keep` false leaves the run out of the figures), `finish` reads the trace of the kept runs and
 * releases the session.
 */
export async function profileSession(model: Uint8Array, feeds: Record<string, ort.Tensor>, threads: number): Promise<{ run: (keep?: boolean) => Promise<void>; finish: () => Promise<NodeTimes> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-ort-profile-'));
  const optimised = path.join(dir, 'optimised.onnx');
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    enableProfiling: true, profileFilePrefix: path.join(dir, 'trace'), optimizedModelFilePath: optimised, logSeverityLevel: 3,
  });
  for (let i = 0; i < 2; i++) await session.run(feeds);
  // Which runs after the two warm-up runs count (a caller's own warm-up run after switching sessions does not).
  const kept: boolean[] = [];
  return {
    run: async (keep = true) => {
      await session.run(feeds);
      kept.push(keep);
    },
    finish: async () => {
      try {
        session.endProfiling();
        await session.release();
        const trace = readdirSync(dir).find((f) => f.startsWith('trace'));
        if (trace === undefined || !kept.includes(true)) throw new Error(`ONNX Runtime wrote no profile in ${dir}`);
        const events = JSON.parse(readFileSync(path.join(dir, trace), 'utf8')) as TraceEvent[];
        const graph = decodeModel(readFileSync(optimised)).graph;
        const nodes = new Map(graph.node.map((n) => [n.name, n]));
        const weightDims = new Map(graph.initializer.map((t) => [t.name, t.dims.map(Number)]));
        const runEvents = events.filter((e) => e.name === 'model_run').sort((a, b) => a.ts - b.ts).slice(2).filter((_, i) => kept[i] === true);
        // Each kernel event belongs to the run whose span holds it; every figure is the median over the runs, so a
        // run slowed by another process on a shared machine moves it less than a mean.
        const perRun = runEvents.map(() => ({ op: new Map<string, number>(), part: new Map<string, number>() }));
        for (const e of events) {
          if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
          const run = runEvents.findIndex((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
          if (run < 0) continue;
          const { op, part } = perRun[run] as (typeof perRun)[number];
          const opName = e.args?.op_name ?? 'unknown';
          const node = nodes.get(e.name.slice(0, -'_kernel_time'.length));
          const partName = node === undefined ? 'other' : partOf(node, weightDims);
          op.set(opName, (op.get(opName) ?? 0) + e.dur / 1000);
          part.set(partName, (part.get(partName) ?? 0) + e.dur / 1000);
        }
        const medians = (pick: (r: (typeof perRun)[number]) => Map<string, number>): Record<string, number> => {
          const keys = new Set(perRun.flatMap((r) => [...pick(r).keys()]));
          return Object.fromEntries([...keys].map((k) => [k, median(perRun.map((r) => pick(r).get(k) ?? 0))]));
        };
        return {
          runMs: median(runEvents.map((e) => e.dur / 1000)),
          kernelMs: median(perRun.map((r) => [...r.op.values()].reduce((a, b) => a + b, 0))),
          byOp: medians((r) => r.op),
          byPart: medians((r) => r.part),
        };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
