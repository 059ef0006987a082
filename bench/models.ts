// Model-zoo benchmark: hipfrac vs torchvision (PyTorch eager) on the same machine and thread count,
// interleaved round by round. Inference img/s at batch 1/8/32, training img/s at batch 8/32.
// Run: node dist/bench/models.js [--models densenet169,resnet50] [--rounds 2] [--quick] [--only infer|train]
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { buildInfo, crossEntropy, getNumThreads, inferenceMode, loadedBlas, manualSeed, mm, rand, randint, tidy } from '../src/torch/index.js';
import { Adam, Conv2d, Linear, type Module } from '../src/nn/index.js';
import { buildImagenetModel, optimizeForInference } from '../src/models/index.js';

const PYTHON = process.env['HIPFRAC_PYTHON'] ?? '/usr/bin/python3';
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const PEER_SCRIPT = path.join(ROOT, 'bench/peers/torchvision_models.py');
// glibc settings the addon applies at load (see native/addon.cc tuneMalloc), given to the second peer.
const GLIBC_TUNABLES = { MALLOC_MMAP_THRESHOLD_: String(1 << 30), MALLOC_TRIM_THRESHOLD_: String(1 << 30), MALLOC_TOP_PAD_: String(256 << 20) };

interface Config {
  readonly mode: 'infer' | 'train';
  readonly batch: number;
  readonly iters: number;
}
const CONFIGS: readonly Config[] = [
  { mode: 'infer', batch: 1, iters: 6 },
  { mode: 'infer', batch: 8, iters: 2 },
  { mode: 'infer', batch: 32, iters: 1 },
  { mode: 'train', batch: 8, iters: 2 },
  { mode: 'train', batch: 32, iters: 1 },
];
const SIZE = 224;

class Peer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  constructor(readonly label: string, env: Record<string, string>) {
    this.child = spawn(PYTHON, [PEER_SCRIPT], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => process.stderr.write(`[${label}] ${d.toString()}`));
    this.lines = readline.createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  async request<T>(body: Record<string, unknown>): Promise<T> {
    this.child.stdin.write(JSON.stringify(body) + '\n');
    const next = await this.lines.next();
    if (next.done === true) throw new Error(`${this.label}: the peer exited`);
    const reply = JSON.parse(next.value) as T & { error?: string };
    if (reply.error !== undefined) throw new Error(`${this.label}: ${reply.error}`);
    return reply;
  }
  close(): void {
    this.child.stdin.end();
  }
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function timeIt(iterations: number, warmup: number, fn: () => void): number[] {
  const times: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const start = performance.now();
    fn();
    const elapsed = (performance.now() - start) / 1000;
    if (i >= warmup) times.push(elapsed);
  }
  return times;
}

/** Inference variants of ours: plain eval under inferenceMode, BatchNorm folded, folded + channels-last. */
function inferenceVariants(name: string): { label: string; model: Module }[] {
  manualSeed(0);
  const plain = buildImagenetModel(name).eval();
  return [
    { label: 'inferenceMode', model: plain },
    { label: 'folded BN', model: optimizeForInference(plain) },
    { label: 'folded BN + channels-last', model: optimizeForInference(plain, { channelsLast: true }) },
  ];
}

/** Best measured sgemm GFLOP/s (2·n³ per n×n product) through LibTorch's mm. */
function sgemmPeak(): number {
  const n = 2048;
  const a = rand([n, n]);
  const b = rand([n, n]);
  const times = timeIt(5, 1, () => tidy(() => void mm(a, b)));
  a.dispose();
  b.dispose();
  return (2 * n ** 3) / Math.min(...times) / 1e9;
}

/** FLOPs of one forward image, counted from the convolution and linear layers actually run. */
function forwardFlops(model: Module, size: number): number {
  let flops = 0;
  const handles = [...model.namedModules()].flatMap(([, m]) => {
    if (m instanceof Conv2d) return [m.registerForwardHook((_m, _in, out) => (flops += 2 * out.numel * (m.inChannels / m.groups) * m.kernelSize[0] * m.kernelSize[1]))];
    if (m instanceof Linear) return [m.registerForwardHook((_m, _in, out) => (flops += 2 * out.numel * m.inFeatures))];
    return [];
  });
  inferenceMode(() => tidy(() => void model.call(rand([1, 3, size, size]))));
  for (const h of handles) h.remove();
  return flops;
}

interface Row {
  benchmark: string;
  ours: number;
  peer: number;
  ratio: number;
  unit: string;
  machine: string;
  date: string;
  peerGlibcTuned: number;
  ratioVsTuned: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: 'densenet169,resnet50,squeezenet1_1,efficientnet_b0' },
      rounds: { type: 'string', default: '2' },
      quick: { type: 'boolean', default: false },
      // Only inference or only training configurations.
      only: { type: 'string' },
      // Only the sgemm peak and DenseNet-169's share of it, against densenet169 rows already in --out.
      'peak-only': { type: 'boolean', default: false },
      // Timed iterations per round for infer b1, b8, b32, train b8, b32 (after one warm-up each).
      iters: { type: 'string', default: CONFIGS.map((c) => c.iters).join(',') },
      out: { type: 'string', default: path.join(ROOT, 'bench/results/models.json') },
    },
  });
  const names = (values.models as string).split(',');
  const iterations = (values.iters as string).split(',').map(Number);
  const configs = CONFIGS.map((c, i) => ({ ...c, iters: iterations[i] ?? c.iters }));
  const rounds = Number(values.rounds);
  const threads = getNumThreads();
  const load = os.loadavg().map((l) => l.toFixed(1)).join('/');
  const machine = `${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} cores, ${threads} threads both sides, LibTorch ${buildInfo().torchVersion}, load avg ${load} at start`;
  const date = new Date().toISOString();
  const peers = [new Peer('torchvision', {}), new Peer('torchvision+glibc tunables', GLIBC_TUNABLES)];
  const setup = await Promise.all(peers.map((p) => p.request<{ torch: string; torchvision: string; threads: number }>({ cmd: 'setup', threads })));
  console.log(`# models benchmark — ${machine}; peer torch ${setup[0]?.torch}, torchvision ${setup[0]?.torchvision}, ${setup[0]?.threads} threads`);
  const rows: Row[] = [];
  const notes: string[] = [];

  // Written after every configuration, so a run cut short (memory, time) keeps what it measured.
  const save = (): void => {
    mkdirSync(path.dirname(values.out as string), { recursive: true });
    let previous: Row[] = [];
    try {
      previous = (JSON.parse(readFileSync(values.out as string, 'utf8')) as Row[]).filter((r) => !rows.some((n) => n.benchmark === r.benchmark));
    } catch {
      previous = [];
    }
    writeFileSync(values.out as string, JSON.stringify([...previous, ...rows], (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  };

  for (const name of values['peak-only'] === true ? [] : names) {
    for (const config of configs) {
      if (values.quick === true && config.batch === 32) continue;
      if (values.only !== undefined && config.mode !== values.only) continue;
      const x = rand([config.batch, 3, SIZE, SIZE]);
      const y = randint(0, 1000, [config.batch]);
      const ours = new Map<string, number[]>();
      const theirs = new Map<string, number[]>();
      let variants: { label: string; model: Module }[];
      let trainStep: (() => void) | null = null;
      if (config.mode === 'infer') variants = inferenceVariants(name);
      else {
        manualSeed(0);
        const model = buildImagenetModel(name).train();
        const opt = new Adam(model.parameters(), { lr: 1e-4 });
        trainStep = () =>
          tidy(() => {
            opt.zeroGrad();
            crossEntropy(model.call(x), y).backward();
            opt.step();
          });
        variants = [{ label: 'train step (Adam)', model }];
      }
      // A training step's first iterations fault in its activation memory (seconds on this VM) and, on both
      // sides, the allocators settle over the first 2-3 steps (measured page faults per step): warm up 3 times.
      const warmup = config.mode === 'train' ? 3 : 1;
      for (let r = 0; r < rounds; r++) {
        for (const v of variants) {
          const fn = trainStep ?? ((): void => inferenceMode(() => tidy(() => void v.model.call(x))));
          ours.set(v.label, [...(ours.get(v.label) ?? []), ...timeIt(config.iters, warmup, fn)]);
        }
        for (const peer of peers) {
          const reply = await peer.request<{ times: number[] }>({ cmd: 'run', model: name, mode: config.mode, batch: config.batch, iters: config.iters, warmup, size: SIZE });
          theirs.set(peer.label, [...(theirs.get(peer.label) ?? []), ...reply.times]);
        }
      }
      const peerRate = config.batch / median(theirs.get('torchvision') as number[]);
      const tunedRate = config.batch / median(theirs.get('torchvision+glibc tunables') as number[]);
      for (const v of variants) {
        const rate = config.batch / median(ours.get(v.label) as number[]);
        const benchmark = `${name} ${config.mode === 'infer' ? 'inference' : 'training'} batch ${config.batch} — ${v.label}`;
        rows.push({ benchmark, ours: rate, peer: peerRate, ratio: rate / peerRate, unit: 'img/s', machine, date, peerGlibcTuned: tunedRate, ratioVsTuned: rate / tunedRate });
        console.log(`${benchmark}: ${rate.toFixed(2)} img/s vs ${peerRate.toFixed(2)} (tuned ${tunedRate.toFixed(2)}) → ${(rate / peerRate).toFixed(2)}× (${(rate / tunedRate).toFixed(2)}× vs tuned)`);
      }
      for (const model of new Set(variants.map((v) => v.model))) model.dispose();
      x.dispose();
      y.dispose();
      save();
    }
  }

  // Share of the measured sgemm peak that DenseNet-169 inference reaches (best variant, largest batch run).
  if (names.includes('densenet169') && values.only !== 'train') {
    const peak = sgemmPeak();
    const probe = buildImagenetModel('densenet169').eval();
    const flops = forwardFlops(probe, SIZE);
    probe.dispose();
    let measured = rows.filter((r) => r.benchmark.startsWith('densenet169 inference'));
    if (measured.length === 0) {
      try {
        measured = (JSON.parse(readFileSync(values.out as string, 'utf8')) as Row[]).filter((r) => r.benchmark.startsWith('densenet169 inference'));
      } catch {
        measured = [];
      }
    }
    if (measured.length === 0) throw new Error('no densenet169 inference measurement to compare with the sgemm peak; run without --peak-only first');
    const best = measured.reduce((a, b) => (b.ours > a.ours ? b : a));
    const achieved = (best.ours * flops) / 1e9;
    notes.push(`sgemm peak (LibTorch mm, 2048², BLAS: ${loadedBlas()}): ${peak.toFixed(1)} GFLOP/s; densenet169 forward = ${(flops / 1e9).toFixed(2)} GFLOP/image; best inference (${best.benchmark}) = ${achieved.toFixed(1)} GFLOP/s = ${((100 * achieved) / peak).toFixed(0)} % of sgemm peak.`);
    rows.push({ benchmark: 'sgemm peak 2048² (LibTorch mm)', ours: peak, peer: Number.NaN, ratio: Number.NaN, unit: 'GFLOP/s', machine, date, peerGlibcTuned: Number.NaN, ratioVsTuned: Number.NaN });
    rows.push({ benchmark: `densenet169 inference share of sgemm peak (${best.benchmark})`, ours: achieved / peak, peer: Number.NaN, ratio: Number.NaN, unit: 'fraction', machine, date, peerGlibcTuned: Number.NaN, ratioVsTuned: Number.NaN });
  }
  for (const p of peers) p.close();

  save();

  const fmt = (v: number): string => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(2)) : '—');
  console.log('\n| benchmark | hipfrac | torchvision | ratio | torchvision + glibc tunables | ratio |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.benchmark} | ${fmt(r.ours)} ${r.unit} | ${fmt(r.peer)} | ${fmt(r.ratio)}× | ${fmt(r.peerGlibcTuned)} | ${fmt(r.ratioVsTuned)}× |`);
  for (const n of notes) console.log(`\n${n}`);
  console.log(`\nmachine: ${machine}`);
}

await main();
