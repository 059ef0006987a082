// Inference engines for the fracture classifier on this CPU, timed interleaved in one run: hipfrac on LibTorch
// (folded BN + channels-last, fp32 and bf16), ONNX Runtime on hipfrac's export (fp32 and int8 QDQ), ONNX Runtime on
// PyTorch's own torch.onnx export of the same weights, and TorchScript frozen + optimize_for_inference (PyTorch's best
// CPU path). Batch 1 / 8 / 32; img/s and GFLOP/s against this CPU's peak (cores × clock × AVX-512 FMA width).
// Run: node dist/bench/infer.js [--models densenet169,resnet50,efficientnet_b0] [--batches 1,8,32] [--rounds N]
//      [--iters N] [--quick] [--calibration-images N] [--out bench/results/infer.json]
// Writes the JSON and, unless --quick or --out elsewhere, its section of docs/benchmarks.md.
// Weights are random (seeded): speed does not depend on their values. int8 is calibrated on FracAtlas images
// (../shared/datasets/fracatlas-nonhip; Abedeen et al., Scientific Data 10, 521, 2023; CC BY 4.0).
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { saveSafetensors } from '../src/nn/index.js';
import { buildOnnxGraph, createClassifier, finishOnnx, optimizeForInference, quantizeInt8, type Classifier } from '../src/models/index.js';
import { buildInfo, getNumThreads, inferenceMode, manualSeed, noGrad, rand, tensor, tidy } from '../src/torch/index.js';
import { forwardFlops } from './lib/flops.js';
import { calibrationImages } from './lib/calibration.js';
import { int8ConvShare } from './lib/int8Share.js';
import { Peer, median, writeDocSection } from './lib/results.js';

const PYTHON = process.env['HIPFRAC_PYTHON'] ?? '/usr/bin/python3';
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const PEER_SCRIPT = path.join(ROOT, 'bench/peers/torch_infer.py');
const DEFAULT_OUT = path.join(ROOT, 'bench/results/infer.json');
const SIZE = 224;
const HANDOVER_MS = 100;
const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, HANDOVER_MS));

const SIDES = {
  libtorch: 'hipfrac LibTorch fp32 (folded BN + channels-last)',
  bf16: 'hipfrac LibTorch bf16 (oneDNN, channels-last)',
  ortOurs: 'ONNX Runtime fp32, hipfrac export',
  ortTorch: 'ONNX Runtime fp32, torch.onnx export',
  script: 'TorchScript frozen + optimize_for_inference',
  int8: 'ONNX Runtime int8 QDQ, hipfrac export',
} as const;
const FP32_PEERS: readonly string[] = [SIDES.ortTorch, SIDES.script];
const OURS_FP32: readonly string[] = [SIDES.libtorch, SIDES.ortOurs];

interface Row {
  model: string;
  batch: number;
  side: string;
  imgPerS: number;
  bestImgPerS: number;
  gflops: number;
  shareOfPeak: number;
  samples: number;
  /** img/s over the fastest fp32 peer's (ORT on torch.onnx, TorchScript), medians. */
  ratioToFastestFp32Peer: number;
  machine: string;
  date: string;
}

/** fp32 peak: cores × clock × 2 FMA pipes × 16 lanes × 2 flops (AVX-512); int8 VNNI: 4× that (64 int8 MACs per pipe). */
function cpuPeak(): { fp32: number; int8: number; clockGhz: number; note: string } {
  const text = readFileSync('/proc/cpuinfo', 'utf8');
  const mhz = Number(/cpu MHz\s*:\s*([\d.]+)/.exec(text)?.[1] ?? '0');
  const cores = os.availableParallelism();
  const fp32 = (cores * mhz * 1e6 * 2 * 16 * 2) / 1e9;
  return { fp32, int8: 4 * fp32, clockGhz: mhz / 1000, note: `${cores} cores × ${(mhz / 1000).toFixed(2)} GHz (/proc/cpuinfo) × 2 AVX-512 FMA pipes × 16 fp32 lanes × 2 = ${fp32.toFixed(0)} GFLOP/s fp32; int8 (VNNI) 4× that. The clock is the nominal one the VM reports: the cores boost above it, so a share over 100 % means a faster real clock, and every share is an upper bound` };
}

async function session(model: Uint8Array | string, threads: number): Promise<ort.InferenceSession> {
  const bytes = typeof model === 'string' ? readFileSync(model) : model;
  return ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' });
}

async function timeAsync(iters: number, warmup: number, fn: () => Promise<void> | void): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < warmup + iters; i++) {
    const start = performance.now();
    await fn();
    if (i >= warmup) times.push((performance.now() - start) / 1000);
  }
  return times;
}

function logitsOf(model: Classifier, value: number): Float32Array {
  const x = tensor(new Float32Array(SIZE * SIZE).fill(value), [1, 1, SIZE, SIZE]);
  const y = noGrad(() => model.call(x));
  const out = y.toFloat32Array();
  x.dispose();
  y.dispose();
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: 'densenet169,resnet50,efficientnet_b0' },
      batches: { type: 'string', default: '1,8,32' },
      rounds: { type: 'string', default: '6' },
      iters: { type: 'string', default: '2' },
      quick: { type: 'boolean', default: false },
      'calibration-images': { type: 'string', default: '32' },
      out: { type: 'string', default: DEFAULT_OUT },
      'doc-only': { type: 'boolean', default: false },
    },
  });
  const out = values.out as string;
  if (values['doc-only'] === true) {
    writeDocSection('infer', table(JSON.parse(readFileSync(out, 'utf8')) as { rows: Row[]; notes: string[]; quick?: boolean }));
    return;
  }
  const names = (values.models as string).split(',');
  const batches = (values.batches as string).split(',').map(Number);
  const rounds = values.quick === true ? 2 : Number(values.rounds);
  const iters = values.quick === true ? 1 : Number(values.iters);
  const threads = getNumThreads();
  const peak = cpuPeak();
  const machine = `${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} cores, ${threads} threads every side, LibTorch ${buildInfo().torchVersion}, onnxruntime-node ${ort.env.versions.common}, load avg ${os.loadavg().map((l) => l.toFixed(1)).join('/')} at start`;
  const date = new Date().toISOString();
  const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-bench-infer-'));
  const peer = new Peer('torch', PYTHON, [PEER_SCRIPT]);
  const setup = await peer.request<{ torch: string; torchvision: string; threads: number }>({ cmd: 'setup', threads });
  const notes = [`machine: ${machine}; peer torch ${setup.torch}, torchvision ${setup.torchvision}, ${setup.threads} threads`, `peak: ${peak.note}`];
  console.log(`# inference engines — ${notes.join('; ')}`);
  const calibration = await calibrationImages(Number(values['calibration-images']), SIZE);
  const calibrationCount = calibration.length / (SIZE * SIZE);
  const rows: Row[] = [];
  try {
    for (const name of names) {
      manualSeed(0);
      const model = createClassifier(name, { weights: null }).eval();
      const flops = forwardFlops(model, [1, 1, SIZE, SIZE]);
      const weights = path.join(work, `${name}.safetensors`);
      saveSafetensors(weights, model.stateDict());
      const torchOnnx = path.join(work, `${name}.torch.onnx`);
      const loaded = await peer.request<{ logits: number[] }>({ cmd: 'load', model: name, weights, size: SIZE, onnx: torchOnnx });
      const ours = logitsOf(model, 0.5);
      const agreement = Math.max(...loaded.logits.map((v, i) => Math.abs(v - (ours[i] as number)))) / Math.max(...ours.map(Math.abs));
      notes.push(`${name}: ${(flops / 1e9).toFixed(2)} GFLOP/image (convolutions + linear layers); PyTorch peer's logits vs hipfrac's on a grey image: max relative difference ${agreement.toExponential(1)} (same network and weights)`);
      const fast = optimizeForInference(model, { channelsLast: true });
      const bf16 = optimizeForInference(model, { channelsLast: true }).to('bfloat16');
      const graph = buildOnnxGraph(model, { inputSize: SIZE });
      const fp32Bytes = finishOnnx(graph, undefined);
      const int8Bytes = finishOnnx(await quantizeInt8(graph, calibration, calibrationCount, { method: 'percentile', threads }), undefined);
      const share = await int8ConvShare(graph, int8Bytes, threads);
      notes.push(`${name} int8: ONNX Runtime's optimised graph runs ${(100 * share.share).toFixed(1)} % of the convolution multiply-adds in int8 (${share.int8Convs} QLinearConv, ${share.floatConvs} float Conv; ${share.ops['Transpose'] ?? 0} Transpose, ${share.ops['DequantizeLinear'] ?? 0} DequantizeLinear left)`);
      console.log(notes[notes.length - 1]);
      const sessions = { ours: await session(fp32Bytes, threads), torch: await session(torchOnnx, threads), int8: await session(int8Bytes, threads) };
      for (const batch of batches) {
        const x = rand([batch, 1, SIZE, SIZE]);
        const xb = x.to('bfloat16');
        const feeds = { images: new ort.Tensor('float32', x.toFloat32Array(), [batch, 1, SIZE, SIZE]) };
        const sides: [string, () => Promise<void> | void][] = [
          [SIDES.libtorch, () => inferenceMode(() => tidy(() => void fast.call(x)))],
          [SIDES.bf16, () => inferenceMode(() => tidy(() => void bf16.call(xb)))],
          [SIDES.ortOurs, async () => void (await sessions.ours.run(feeds))],
          [SIDES.ortTorch, async () => void (await sessions.torch.run(feeds))],
          [SIDES.int8, async () => void (await sessions.int8.run(feeds))],
        ];
        const times = new Map<string, number[]>([...sides.map(([label]) => [label, [] as number[]] as const), [SIDES.script, []]]);
        for (let r = 0; r < rounds; r++) {
          // Rotate who goes first, so load drifting on a shared machine hits every side alike.
          const order = [...sides.map(([label]) => label), SIDES.script];
          for (let k = 0; k < order.length; k++) {
            const label = order[(k + r) % order.length] as string;
            await pause();
            if (label === SIDES.script) {
              const reply = await peer.request<{ times: number[] }>({ cmd: 'run', batch, iters, warmup: 1, size: SIZE });
              times.get(label)?.push(...reply.times);
            } else {
              const fn = (sides.find(([l]) => l === label) as [string, () => Promise<void> | void])[1];
              times.get(label)?.push(...(await timeAsync(iters, 1, fn)));
            }
          }
        }
        const rate = (label: string): number => batch / median(times.get(label) as number[]);
        const fastestPeer = Math.max(...FP32_PEERS.map(rate));
        for (const [label, ts] of times) {
          const imgPerS = batch / median(ts);
          const gflops = (imgPerS * flops) / 1e9;
          const row: Row = {
            model: name, batch, side: label, imgPerS, bestImgPerS: batch / Math.min(...ts), gflops,
            shareOfPeak: gflops / (label === SIDES.int8 ? peak.int8 : peak.fp32), samples: ts.length,
            ratioToFastestFp32Peer: imgPerS / fastestPeer, machine, date,
          };
          rows.push(row);
          console.log(`${name} b${batch} ${label}: ${imgPerS.toFixed(2)} img/s (fastest call ${row.bestImgPerS.toFixed(2)}), ${gflops.toFixed(1)} GFLOP/s = ${(100 * row.shareOfPeak).toFixed(1)} % of peak, ${row.ratioToFastestFp32Peer.toFixed(2)}× fastest fp32 peer`);
        }
        x.dispose();
        xb.dispose();
        mkdirSync(path.dirname(out), { recursive: true });
        writeFileSync(out, JSON.stringify({ rows, notes, quick: values.quick === true }, null, 2) + '\n');
      }
      for (const s of Object.values(sessions)) await s.release();
      for (const m of [model, fast, bf16]) m.dispose();
    }
  } finally {
    peer.close();
    rmSync(work, { recursive: true, force: true });
  }
  const result = { rows, notes, quick: values.quick === true };
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(`\n${table(result)}`);
  // A run written elsewhere (--out) is a private one: the docs keep the stored run's table.
  if (values.quick !== true && path.resolve(out) === DEFAULT_OUT) writeDocSection('infer', table(result));
}

/** The docs table: per model and batch, every side's img/s, GFLOP/s, share of peak and ratio to the fastest fp32 peer. */
function table(result: { rows: readonly Row[]; notes: readonly string[]; quick?: boolean }): string {
  const lines = [
    '### Inference engines (`bench/infer.ts`, random seeded weights, 224 px, grey input)',
    '',
    '| model | batch | engine | img/s (median) | fastest call img/s | GFLOP/s | % of peak | × fastest fp32 peer |',
    '|---|---:|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of result.rows) {
    const ours = OURS_FP32.includes(r.side) || r.side === SIDES.int8 || r.side === SIDES.bf16;
    lines.push(`| ${r.model} | ${r.batch} | ${r.side} | ${r.imgPerS.toFixed(1)} | ${r.bestImgPerS.toFixed(1)} | ${r.gflops.toFixed(0)} | ${(100 * r.shareOfPeak).toFixed(1)} | ${ours ? `**${r.ratioToFastestFp32Peer.toFixed(2)}**` : r.ratioToFastestFp32Peer.toFixed(2)} |`);
  }
  if (result.quick === true) lines.push('', '**A --quick run (2 rounds, 1 timed call per side) on a shared, heavily loaded machine: the figures are noisy and far below this CPU\'s quiet speed; rerun without --quick on a quiet machine.**');
  lines.push('', ...result.notes.map((n) => `- ${n}`));
  return lines.join('\n');
}

await main();
