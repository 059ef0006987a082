// sgemm throughput through the engine (mm of 1024² float32) with the BLAS the project installs (OpenBLAS,
// pthread build) and with Debian's reference BLAS switched in for one process, each against Python PyTorch
// under the same library. Run: node dist/bench/blas.js [--rounds R]   (needs libblas3 for the reference run)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getNumThreads, loadedBlas, mm, randn } from '../src/torch/index.js';
import {
  interleave, loadNote, machineDescription, markdownTable, Peer, peerContender, ratioOf, REPO_ROOT, timeIt, today, writeDocSection,
  writeResults, type BenchEntry, type Contender,
} from './lib/results.js';

const N = 1024;
const FLOP = 2 * N ** 3;
// Debian's libblas3 puts the reference library here; putting the folder first on the search path makes
// libtorch_cpu's libblas.so.3 resolve to it for one process, without touching the system alternative.
const REFERENCE_DIR = '/usr/lib/x86_64-linux-gnu/blas';

interface ChildReport {
  oursWall: number;
  oursCpu: number;
  peerWall: number;
  peerCpu: number;
  blas: string;
  peerBlas: string[];
  threads: number;
}

const { values } = parseArgs({ options: { child: { type: 'boolean', default: false }, rounds: { type: 'string', default: '5' } } });
const rounds = Number(values.rounds);

async function child(): Promise<void> {
  const a = randn([N, N]);
  const b = randn([N, N]);
  const ours: Contender = { label: 'hipfrac', run: async (_bench, iters) => timeIt(() => mm(a, b).dispose(), iters, 1) };
  const python = process.env['HIPFRAC_PYTHON'] ?? '/usr/bin/python3';
  const peer = new Peer('PyTorch', python, [path.join(REPO_ROOT, 'bench', 'peers', 'torch_ops.py')]);
  try {
    await peer.request({ cmd: 'setup', threads: getNumThreads(), shapes: { mm: N } });
    const medians = await interleave([{ name: 'mm', iters: 3 }], [ours, peerContender(peer)], rounds);
    const info = await peer.request<{ blas: string[] }>({ cmd: 'info' });
    const m = medians.get('mm') as Map<string, { wall: number; cpu: number }>;
    const o = m.get('hipfrac') as { wall: number; cpu: number };
    const p = m.get('PyTorch') as { wall: number; cpu: number };
    const report: ChildReport = { oursWall: o.wall, oursCpu: o.cpu, peerWall: p.wall, peerCpu: p.cpu, blas: loadedBlas(), peerBlas: info.blas, threads: getNumThreads() };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    peer.close();
  }
}

function runVariant(env: Readonly<Record<string, string>>): ChildReport {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [self, '--child', '--rounds', String(rounds)], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 1_200_000 });
  if (r.status !== 0) throw new Error(`blas child failed (${JSON.stringify(env)}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as ChildReport;
}

async function main(): Promise<void> {
  const machine = machineDescription();
  const date = today();
  const load = loadNote();
  const gflops = (seconds: number): number => FLOP / seconds / 1e9;
  const entries: BenchEntry[] = [];
  const describe = (label: string, r: ChildReport): void => {
    entries.push({
      benchmark: `sgemm ${N}² (mm), ${label}: hipfrac vs PyTorch on the same BLAS — wall`,
      ours: gflops(r.oursWall),
      peer: gflops(r.peerWall),
      ratio: ratioOf(gflops(r.oursWall), gflops(r.peerWall), false),
      unit: 'GFLOP/s',
      machine,
      date,
      notes: `hipfrac mapped ${r.blas}; PyTorch mapped ${r.peerBlas.join(', ')}; ${r.threads} LibTorch thread(s); median of ${rounds} rounds`,
    });
    // Per CPU-second: the work rate, less sensitive to neighbours on a shared machine than wall time.
    entries.push({
      benchmark: `sgemm ${N}² (mm), ${label}: hipfrac vs PyTorch on the same BLAS — CPU`,
      ours: gflops(r.oursCpu),
      peer: gflops(r.peerCpu),
      ratio: ratioOf(gflops(r.oursCpu), gflops(r.peerCpu), false),
      unit: 'GFLOP per CPU-second',
      machine,
      date,
      notes: `${r.threads} LibTorch thread(s); median of ${rounds} rounds`,
    });
  };
  const openblas = runVariant({});
  describe('OpenBLAS (pthread), the installed default', openblas);
  let reference: ChildReport | null = null;
  if (existsSync(path.join(REFERENCE_DIR, 'libblas.so.3'))) {
    reference = runVariant({ LD_LIBRARY_PATH: [REFERENCE_DIR, process.env['LD_LIBRARY_PATH']].filter(Boolean).join(':') });
    describe('Debian reference BLAS (LD_LIBRARY_PATH)', reference);
    entries.push({
      benchmark: `sgemm ${N}² (mm) through hipfrac: OpenBLAS (hipfrac column) vs reference BLAS (peer column) — wall`,
      ours: gflops(openblas.oursWall),
      peer: gflops(reference.oursWall),
      ratio: ratioOf(gflops(openblas.oursWall), gflops(reference.oursWall), false),
      unit: 'GFLOP/s',
      machine,
      date,
      notes: `OpenBLAS: ${openblas.blas}; reference: ${reference.blas}; CPU-time rates ${gflops(openblas.oursCpu).toFixed(1)} vs ${gflops(reference.oursCpu).toFixed(1)} GFLOP per CPU-second`,
    });
  } else {
    console.warn(`no reference BLAS at ${REFERENCE_DIR} (apt-get install libblas3): measuring OpenBLAS only`);
  }
  writeResults('engine', entries);
  const table = markdownTable(entries);
  console.log(table);
  const doc = writeDocSection(
    'engine-blas',
    `### BLAS (sgemm)\n\n${machine}; ${date}; ${load} at start.\n` +
      "LibTorch's CPU matrix multiply (Linear layers, mm) calls the system `libblas.so.3`. Debian's default for it is the " +
      'reference BLAS (plain Fortran loops); the project installs `libopenblas0-pthread`, whose alternative then wins. ' +
      'The reference run switches the library for one process with `LD_LIBRARY_PATH=' + REFERENCE_DIR + '`.\n\n' +
      table,
  );
  console.log(`wrote ${doc}`);
}

await (values.child === true ? child() : main());
