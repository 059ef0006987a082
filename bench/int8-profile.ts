// Where ONNX Runtime spends the time of hipfrac's fp32 and int8 QDQ exports: both graphs of each model run
// interleaved in profiling sessions (per-node kernel times), summed by operator type and by part of the network
// (1×1 / k×k / depthwise convolutions, DenseNet's norms as depthwise 1×1 convolutions, concatenations, SiLU,
// squeeze-excitation, layout changes, quantise / dequantise). Per model and batch it reports the speed-up of int8
// over fp32 (ONNX Runtime's model_run medians) and a ceiling: fp32 kernel time over the sum, part by part, of the
// faster engine's kernel time, i.e. the speed-up of a graph running every part in the faster of the two kernels
// and paying nothing to convert between them.
// Run: node dist/bench/int8-profile.js [--models densenet169,efficientnet_b0] [--batches 1,8,32] [--runs 8]
//      [--calibration-images 32] [--quick] [--out bench/results/int8-profile.json]
// Writes the JSON and, unless --quick or --out elsewhere, its section of docs/benchmarks.md. Weights are random
// (seeded); int8 is calibrated on FracAtlas images (see bench/lib/calibration.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { buildOnnxGraph, createClassifier, finishOnnx, quantizeInt8 } from '../src/models/index.js';
import { getNumThreads, manualSeed } from '../src/torch/index.js';
import { calibrationImages } from './lib/calibration.js';
import { profileSession, type NodeTimes } from './lib/ortProfile.js';
import { REPO_ROOT, loadNote, machineDescription, writeDocSection } from './lib/results.js';

const SIZE = 224;
const RUNS_PER_TURN = 2;
const HANDOVER_MS = 100;
const DEFAULT_OUT = path.join(REPO_ROOT, 'bench/results/int8-profile.json');

interface Profile {
  model: string;
  batch: number;
  fp32: NodeTimes;
  int8: NodeTimes;
  /** fp32 over int8 median run time. */
  speedup: number;
  /** fp32 over int8 kernel time. */
  kernelSpeedup: number;
  /** fp32 kernel time over Σ_part min(fp32 part, int8 part). */
  ceiling: number;
}

function ceilingOf(fp32: NodeTimes, int8: NodeTimes): number {
  const parts = new Set([...Object.keys(fp32.byPart), ...Object.keys(int8.byPart)]);
  let best = 0;
  for (const p of parts) best += Math.min(fp32.byPart[p] ?? 0, int8.byPart[p] ?? 0);
  return fp32.kernelMs / best;
}

async function profileModel(name: string, batches: readonly number[], runs: number, threads: number, calibration: Float32Array): Promise<Profile[]> {
  manualSeed(0);
  const model = createClassifier(name, { weights: null }).eval();
  const graph = buildOnnxGraph(model, { inputSize: SIZE });
  model.dispose();
  const fp32Bytes = finishOnnx(graph, undefined);
  const int8Bytes = finishOnnx(await quantizeInt8(graph, calibration, calibration.length / (SIZE * SIZE), { method: 'percentile', threads }), undefined);
  const out: Profile[] = [];
  for (const batch of batches) {
    const x = new Float32Array(batch * SIZE * SIZE);
    for (let i = 0; i < x.length; i++) x[i] = ((i * 2654435761) % 4096) / 4096;
    const feeds = { images: new ort.Tensor('float32', x, [batch, 1, SIZE, SIZE]) };
    const fp32 = await profileSession(fp32Bytes, feeds, threads);
    const int8 = await profileSession(int8Bytes, feeds, threads);
    for (let r = 0; r < runs; r += RUNS_PER_TURN) {
      // Alternate who goes first, so load drifting on a shared machine hits both alike. Each turn starts with a
      // pause (the other session's thread pool stops spinning) and an unkept run (its weights back in cache).
      for (const s of (r / RUNS_PER_TURN) % 2 === 0 ? [fp32, int8] : [int8, fp32]) {
        await new Promise((resolve) => setTimeout(resolve, HANDOVER_MS));
        await s.run(false);
        for (let k = 0; k < Math.min(RUNS_PER_TURN, runs - r); k++) await s.run();
      }
    }
    const f = await fp32.finish();
    const q = await int8.finish();
    const p: Profile = { model: name, batch, fp32: f, int8: q, speedup: f.runMs / q.runMs, kernelSpeedup: f.kernelMs / q.kernelMs, ceiling: ceilingOf(f, q) };
    console.log(`${name} b${batch}: fp32 ${f.runMs.toFixed(1)} ms, int8 ${q.runMs.toFixed(1)} ms per run: ${p.speedup.toFixed(2)}x (kernels ${p.kernelSpeedup.toFixed(2)}x); best-of-both ceiling ${p.ceiling.toFixed(2)}x`);
    out.push(p);
  }
  return out;
}

const ms = (v: number | undefined): string => (v === undefined || v < 0.0005 ? '–' : v.toFixed(v < 10 ? 2 : 1));

function table(result: { profiles: readonly Profile[]; machine: string; load: string; threads: number; runs: number }): string {
  const lines = [
    '### Where the int8 time goes (`bench/int8-profile.ts`, ONNX Runtime per-node profiles, random seeded weights, 224 px)',
    '',
    `${result.machine}; ${result.threads} intra-op threads, onnxruntime-node ${ort.env.versions.common}; ${result.runs} profiled runs per graph and batch, two at a turn, each turn after a 100 ms pause and an unprofiled run; ${result.load}. fp32 is hipfrac's fp32 export on ONNX Runtime (as fast as the torch.onnx export in \`bench/infer.ts\`); int8 its QDQ export calibrated on 32 FracAtlas images. Kernel times in ms per run, summed by part of the network, medians over the runs; × is fp32 over int8.`,
    '',
    'The ceiling is fp32 kernel time over the sum, part by part, of the faster engine\'s time: what a graph mixing the two could reach if converting between them cost nothing.',
  ];
  for (const model of [...new Set(result.profiles.map((p) => p.model))]) {
    const rows = result.profiles.filter((p) => p.model === model);
    const parts = [...new Set(rows.flatMap((p) => [...Object.keys(p.fp32.byPart), ...Object.keys(p.int8.byPart)]))];
    const first = rows[0] as Profile;
    parts.sort((a, b) => (first.fp32.byPart[b] ?? 0) + (first.int8.byPart[b] ?? 0) - (first.fp32.byPart[a] ?? 0) - (first.int8.byPart[a] ?? 0));
    lines.push('', `**${model}**`, '', `| part | ${rows.map((p) => `b${p.batch} fp32 | b${p.batch} int8 | ×`).join(' | ')} |`, `|---|${rows.map(() => '---:|---:|---:').join('|')}|`);
    for (const part of parts) {
      lines.push(`| ${part} | ${rows.map((p) => {
        const f = p.fp32.byPart[part];
        const q = p.int8.byPart[part];
        return `${ms(f)} | ${ms(q)} | ${f !== undefined && q !== undefined && q > 0 ? (f / q).toFixed(2) : ''}`;
      }).join(' | ')} |`);
    }
    lines.push(`| **kernels** | ${rows.map((p) => `${ms(p.fp32.kernelMs)} | ${ms(p.int8.kernelMs)} | **${p.kernelSpeedup.toFixed(2)}**`).join(' | ')} |`);
    lines.push(`| **run (median)** | ${rows.map((p) => `${ms(p.fp32.runMs)} | ${ms(p.int8.runMs)} | **${p.speedup.toFixed(2)}**`).join(' | ')} |`);
    lines.push(`| ceiling | ${rows.map((p) => ` | | ${p.ceiling.toFixed(2)}`).join(' | ')} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: 'densenet169,efficientnet_b0' },
      batches: { type: 'string', default: '1,8,32' },
      runs: { type: 'string', default: '8' },
      'calibration-images': { type: 'string', default: '32' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: DEFAULT_OUT },
    },
  });
  const threads = getNumThreads();
  const runs = values.quick === true ? 3 : Number(values.runs);
  const batches = (values.batches as string).split(',').map(Number);
  const calibration = await calibrationImages(Number(values['calibration-images']), SIZE);
  const load = `${loadNote()} at start`;
  const profiles: Profile[] = [];
  for (const name of (values.models as string).split(',')) profiles.push(...(await profileModel(name, batches, runs, threads, calibration)));
  const result = { machine: machineDescription(), load: `${load}, ${loadNote()} at the end`, threads, runs, date: new Date().toISOString(), quick: values.quick === true, profiles };
  const out = values.out as string;
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  const markdown = table(result);
  console.log(`\n${markdown}`);
  if (values.quick !== true && path.resolve(out) === DEFAULT_OUT) writeDocSection('int8-profile', markdown);
}

await main();
