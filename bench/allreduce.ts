// Communication cost of data-parallel training on this machine (issue 17): the all-reduce of one resnet50 /
// densenet169 gradient set in DDP's 25 MiB buckets through hipfrac's c10d path against torch.distributed's Gloo,
// each a world of 2 ranks on loopback, interleaved round by round; and how much of it backward hides (step time
// with no communication, with all-reduce after backward, and with the bucketed hooks overlapping backward).
// Usage: node dist/bench/allreduce.js [--rounds 3] [--iters 3] [--batch 2] [--size 112] | --doc-only
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { freePort } from '../test/helpers/ports.js';
import path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { crossEntropy, manualSeed, ProcessGroup, randn, randint, setNumThreads, tidy, type Tensor } from '../src/torch/index.js';
import { buildImagenetModel } from '../src/models/index.js';
import { DataParallel } from '../src/train/index.js';
import { ADDON_MALLOC_ENV, loadNote, machineDescription, median, readResults, REPO_ROOT, today, writeDocSection, writeResults, type BenchEntry } from './lib/results.js';

const ARCHS = ['resnet50', 'densenet169'] as const;
const BUCKET_CAP = 25 * 2 ** 20;

interface Request {
  cmd: 'comm' | 'step' | 'quit';
  arch?: string;
  iters?: number;
  mode?: 'none' | 'after' | 'overlap';
  batch?: number;
  size?: number;
}

/** The reducer's buckets: reverse registration order, filled up to the cap. */
function bucketsOf(grads: readonly Tensor[]): Tensor[][] {
  const groups: Tensor[][] = [];
  let size = 0;
  for (const g of [...grads].reverse()) {
    const bytes = g.numel * 4;
    if (groups.length === 0 || (size + bytes > BUCKET_CAP && (groups[groups.length - 1] as Tensor[]).length > 0)) {
      groups.push([]);
      size = 0;
    }
    (groups[groups.length - 1] as Tensor[]).push(g);
    size += bytes;
  }
  return groups;
}

// ------------------------------------------------------------------------------------------------
// A rank of our world (this file run with --worker and torchrun's environment variables).

async function worker(): Promise<void> {
  setNumThreads(1);
  const rank = Number(process.env['RANK']);
  const worldSize = Number(process.env['WORLD_SIZE']);
  const group = await ProcessGroup.create({ masterAddr: '127.0.0.1', masterPort: Number(process.env['MASTER_PORT']), worldSize, rank, timeoutMs: 300_000 });
  const models = new Map<string, ReturnType<typeof buildImagenetModel>>();
  const modelOf = (arch: string): ReturnType<typeof buildImagenetModel> => {
    let m = models.get(arch);
    if (m === undefined) {
      manualSeed(rank);
      m = buildImagenetModel(arch);
      models.set(arch, m);
    }
    return m;
  };
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const req = JSON.parse(line) as Request;
    if (req.cmd === 'quit') break;
    const model = modelOf(req.arch as string);
    const params = model.parameters();
    const seconds: number[] = [];
    let overlapped = 0;
    let buckets = 0;
    if (req.cmd === 'comm') {
      const grads = params.map((p) => randn(p.shape));
      const groups = bucketsOf(grads);
      for (let i = 0; i < (req.iters as number) + 1; i++) {
        await group.barrier();
        const t0 = performance.now();
        await Promise.all(groups.map((b) => group.allreduce(b, { average: true })));
        if (i > 0) seconds.push((performance.now() - t0) / 1000); // the first one warms up (buffers, connections)
      }
      grads.forEach((g) => g.dispose());
    } else {
      const ddp = req.mode === 'overlap' ? new DataParallel(group) : null;
      const batch = req.batch as number;
      const size = req.size as number;
      for (let i = 0; i < (req.iters as number) + 1; i++) {
        await group.barrier();
        const t0 = performance.now();
        tidy(() => {
          const x = randn([batch, 3, size, size]);
          const y = randint(0, 1000, [batch]);
          const loss = crossEntropy(model.call(x), y);
          for (const p of params) p.grad = null;
          ddp?.beforeBackward(params.filter((p) => p.requiresGrad));
          loss.backward();
        });
        if (ddp !== null) await ddp.afterBackward();
        if (req.mode === 'after') {
          // The same buckets, all started once backward has finished.
          const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
          await Promise.all(bucketsOf(grads).map((b) => group.allreduce(b, { average: true })));
          grads.forEach((g) => g.dispose());
        }
        if (i > 0) seconds.push((performance.now() - t0) / 1000); // the first step warms up
      }
      if (ddp !== null) {
        buckets = ddp.stats.buckets;
        overlapped = ddp.stats.startedDuringBackward;
      }
      ddp?.release();
    }
    process.stdout.write(`${JSON.stringify({ seconds, buckets, overlapped })}\n`);
  }
  group.close();
  process.exit(0);
}

// ------------------------------------------------------------------------------------------------
// The coordinator: two worlds of two ranks, asked in turn.

interface Reply {
  seconds: number[];
  buckets?: number;
  overlapped?: number;
}

class World {
  private readonly procs: ChildProcessWithoutNullStreams[] = [];
  private readonly readers: Interface[] = [];
  constructor(readonly label: string, command: string, args: readonly string[], port: number, env: Record<string, string> = {}) {
    for (let rank = 0; rank < 2; rank++) {
      const p = spawn(command, args, { env: { ...process.env, RANK: String(rank), WORLD_SIZE: '2', LOCAL_RANK: String(rank), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), OMP_NUM_THREADS: '1', ...env } });
      p.stderr.on('data', (d: Buffer) => process.stderr.write(`[${label} ${rank}] ${d.toString()}`));
      this.procs.push(p);
      this.readers.push(createInterface({ input: p.stdout }));
    }
  }
  /** Sends `req` to both ranks; per iteration, the slower rank's time. */
  async ask(req: Request): Promise<Reply> {
    const replies = await Promise.all(
      this.procs.map((p, i) => {
        const reader = this.readers[i] as Interface;
        return new Promise<Reply>((resolve, reject) => {
          const onExit = (code: number | null): void => reject(new Error(`${this.label} rank ${i} exited with ${code}`));
          p.once('exit', onExit);
          reader.once('line', (line) => {
            p.off('exit', onExit);
            resolve(JSON.parse(line) as Reply);
          });
          p.stdin.write(`${JSON.stringify(req)}\n`);
        });
      }),
    );
    const first = replies[0] as Reply;
    return { ...first, seconds: first.seconds.map((_, k) => Math.max(...replies.map((r) => r.seconds[k] as number))) };
  }
  quit(): void {
    for (const p of this.procs) p.stdin.write(`${JSON.stringify({ cmd: 'quit' })}\n`);
  }
}


async function coordinator(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, iters: { type: 'string', default: '3' }, batch: { type: 'string', default: '2' }, size: { type: 'string', default: '112' } } });
  const rounds = Number(values.rounds);
  const iters = Number(values.iters);
  const batch = Number(values.batch);
  const size = Number(values.size);
  const python = process.env['HIPFRAC_PYTHON'] ?? '/usr/bin/python3';
  const self = fileURLToPath(import.meta.url);
  const ours = new World('hipfrac', process.execPath, [self, '--worker'], await freePort());
  // Both worlds on loopback: torch's default Gloo device binds the host name's address, ours 127.0.0.1 for a
  // loopback master; GLOO_SOCKET_IFNAME=lo puts torch's on the same interface.
  const peerScript = [path.join(REPO_ROOT, 'bench', 'peers', 'torch_allreduce.py')];
  const torch = new World('torch', python, peerScript, await freePort(), { GLOO_SOCKET_IFNAME: 'lo' });
  // The addon sets these glibc tunables at load (this VM's page faults cost ~10 µs); the peer is also run with them.
  const tuned = new World('torch+tunables', python, peerScript, await freePort(), { GLOO_SOCKET_IFNAME: 'lo', ...ADDON_MALLOC_ENV });
  const worlds = { ours, torch, tuned } as const;
  const comm = new Map<string, { ours: number[]; torch: number[]; tuned: number[] }>();
  const steps = new Map<string, { none: number[]; after: number[]; overlap: number[]; buckets: number; overlapped: number }>();
  const paramBytes = new Map<string, number>();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const arch of ARCHS) {
        const c = comm.get(arch) ?? { ours: [], torch: [], tuned: [] };
        // Rotate which contender goes first, so none always follows another's cache or scheduler state.
        const all = ['ours', 'tuned', 'torch'] as const;
        const order = [0, 1, 2].map((k) => all[(k + round) % 3] as (typeof all)[number]);
        for (const who of order) c[who].push(...(await worlds[who].ask({ cmd: 'comm', arch, iters })).seconds);
        comm.set(arch, c);
        process.stderr.write(`round ${round + 1}/${rounds} ${arch}: all-reduce ours ${median(c.ours).toFixed(3)} s, torch ${median(c.torch).toFixed(3)} s, torch+tunables ${median(c.tuned).toFixed(3)} s\n`);
      }
    }
    for (const arch of ARCHS) {
      const s = { none: [] as number[], after: [] as number[], overlap: [] as number[], buckets: 0, overlapped: 0 };
      for (let round = 0; round < rounds; round++) {
        for (const mode of ['none', 'after', 'overlap'] as const) {
          const r = await ours.ask({ cmd: 'step', arch, iters: 1, mode, batch, size });
          s[mode].push(...r.seconds);
          if (mode === 'overlap') {
            s.buckets += r.buckets ?? 0;
            s.overlapped += r.overlapped ?? 0;
          }
        }
        process.stderr.write(`round ${round + 1}/${rounds} ${arch} step: none ${median(s.none).toFixed(2)} s, after ${median(s.after).toFixed(2)} s, overlap ${median(s.overlap).toFixed(2)} s\n`);
      }
      steps.set(arch, s);
      paramBytes.set(arch, buildImagenetModel(arch).parameters().reduce((n, p) => n + p.numel * 4, 0));
    }
  } finally {
    ours.quit();
    torch.quit();
    tuned.quit();
  }

  const machine = machineDescription();
  const date = today();
  const entries: BenchEntry[] = [];
  const load = loadNote();
  for (const arch of ARCHS) {
    const c = comm.get(arch) as { ours: number[]; torch: number[]; tuned: number[] };
    const o = median(c.ours);
    const mb = (paramBytes.get(arch) as number) / 2 ** 20;
    for (const [who, label] of [['torch', 'torch.distributed'], ['tuned', 'torch.distributed + tunables']] as const) {
      const t = median(c[who]);
      entries.push({
        benchmark: `all-reduce of one ${arch} gradient set (${mb.toFixed(0)} MiB fp32, 25 MiB buckets), 2 ranks, Gloo on loopback — vs ${label}`,
        ours: o * 1000,
        peer: t * 1000,
        ratio: t / o,
        unit: 'ms',
        machine,
        date,
        notes: `Debian torch 1.13 Gloo, 1 thread per rank; median of ${rounds} interleaved rounds × ${iters}; slower rank per iteration; ${load}; bandwidth hipfrac ${(mb / o).toFixed(0)} MiB/s, peer ${(mb / t).toFixed(0)} MiB/s`,
      });
    }
    const s = steps.get(arch) as { none: number[]; after: number[]; overlap: number[]; buckets: number; overlapped: number };
    const none = median(s.none);
    const after = median(s.after);
    const overlap = median(s.overlap);
    entries.push({
      benchmark: `${arch} training step (batch ${batch}/rank, ${size} px, 2 ranks): step with bucketed all-reduce overlapping backward / step without communication`,
      ours: overlap / none,
      peer: null,
      ratio: null,
      unit: 'ratio',
      machine,
      date,
      notes: `step ${none.toFixed(2)} s without communication, ${after.toFixed(2)} s with all-reduce after backward, ${overlap.toFixed(2)} s overlapped; ${s.overlapped}/${s.buckets} buckets started during backward; hidden share of communication ${(((after - overlap) / Math.max(after - none, 1e-9)) * 100).toFixed(0)} %; median of ${rounds}`,
    });
  }
  writeResults('allreduce', entries);
  writeDoc(entries);
  process.stderr.write(`wrote bench/results/allreduce.json and docs/benchmarks.md\n`);
}

/** Ring all-reduce: every rank's link carries 2 (N − 1) / N × S bytes, so t_N = 2 (N − 1) / N × S / B. */
function ringSeconds(bytes: number, ranks: number, bytesPerSecond: number): number {
  return ((2 * (ranks - 1)) / ranks) * (bytes / bytesPerSecond);
}

/** docs/benchmarks.md's section, with the 4 × 8 projection at the measured bandwidth (docs/distributed.md). */
function writeDoc(entries: readonly BenchEntry[]): void {
  const rows = ['| measurement | hipfrac | torch.distributed | ratio (≥ 1: hipfrac faster) | notes |', '| --- | ---: | ---: | ---: | --- |'];
  for (const e of entries) {
    rows.push(e.peer === null ? `| ${e.benchmark} | ${e.ours.toFixed(2)} | — | — | ${e.notes ?? ''} |` : `| ${e.benchmark} | ${e.ours.toFixed(0)} ms | ${e.peer.toFixed(0)} ms | ${(e.ratio as number).toFixed(2)} | ${e.notes ?? ''} |`);
  }
  const projection = ['| model | gradient set | measured 2-rank all-reduce | bandwidth B = S / t₂ | flat ring, 32 ranks: 2·31/32 · S / B |', '| --- | ---: | ---: | ---: | ---: |'];
  for (const arch of ARCHS) {
    const e = entries.find((x) => x.benchmark.includes(`one ${arch} gradient set`) && x.benchmark.endsWith('vs torch.distributed'));
    if (e === undefined) continue;
    const bytes = buildImagenetModel(arch).parameters().reduce((n, p) => n + p.numel * 4, 0);
    const seconds = e.ours / 1000;
    const bandwidth = bytes / seconds; // N = 2: the ring factor 2 (N − 1) / N is 1
    projection.push(`| ${arch} | ${(bytes / 2 ** 20).toFixed(1)} MiB | ${e.ours.toFixed(0)} ms | ${(bandwidth / 2 ** 20).toFixed(0)} MiB/s | ${(ringSeconds(bytes, 32, bandwidth) * 1000).toFixed(0)} ms per step |`);
  }
  const date = entries[0]?.date ?? today();
  const machine = entries[0]?.machine ?? machineDescription();
  writeDocSection(
    'allreduce',
    `## Data-parallel communication\n\n${machine}, ${date}. \`node dist/bench/allreduce.js\` (random gradients of torchvision's parameter shapes; synthetic inputs for the step); \`--doc-only\` rewrites this section from \`bench/results/allreduce.json\`. Each row's notes give the load average it was measured at.\n\n${rows.join('\n')}\n\nA 4-node × 8-GPU run at the bandwidth measured here (a flat ring over 32 ranks, no overlap; the assumptions and a NCCL-over-network estimate are in docs/distributed.md):\n\n${projection.join('\n')}`,
  );
}

if (process.argv.includes('--worker')) await worker();
else if (process.argv.includes('--doc-only')) writeDoc(readResults('allreduce'));
else await coordinator();
