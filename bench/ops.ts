// Per-operator call overhead: tiny ops where the time is the binding, not the kernel, against Python
// PyTorch on the same machine and thread count, interleaved. Run: node dist/bench/ops.js [--threads N] [--rounds R]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { add, conv2d, float, getNumThreads, mul, ones, randn, relu, setNumThreads, defaultThreadCount } from '../src/torch/index.js';
import {
  ADDON_MALLOC_ENV, interleave, loadNote, machineDescription, markdownTable, Peer, peerContender, REPO_ROOT, timeEntries, timeIt, today,
  writeDocSection, writeResults, type Contender,
} from './lib/results.js';

const { values } = parseArgs({ options: { threads: { type: 'string' }, rounds: { type: 'string', default: '7' } } });
const threads = values.threads === undefined ? defaultThreadCount() : Number(values.threads);
const rounds = Number(values.rounds);
setNumThreads(threads);

const one = ones([1]);
const v64 = randn([64]);
const tinyX = randn([1, 3, 8, 8]);
const tinyW = randn([4, 3, 3, 3]);
// Each call's result is disposed explicitly, the engine's cheapest correct pattern (Python frees by refcount).
const OURS: Record<string, () => void> = {
  add_1: () => add(one, one).dispose(),
  relu_64: () => relu(v64).dispose(),
  mul_scalar_64: () => mul(v64, float(0.5)).dispose(),
  conv2d_tiny: () => conv2d(tinyX, tinyW, null, 1, 1).dispose(),
};
const T = `${threads} thread${threads === 1 ? '' : 's'}`;
const BENCHES = [
  { name: 'add_1', iters: 20000, label: `op call: add, 1-element tensors, ${T}` },
  { name: 'relu_64', iters: 20000, label: `op call: relu, 64 elements, ${T}` },
  { name: 'mul_scalar_64', iters: 20000, label: `op call: mul by a float scalar, 64 elements, ${T}` },
  { name: 'conv2d_tiny', iters: 5000, label: `op call: conv2d [1,3,8,8] * [4,3,3,3], ${T}` },
];

const python = process.env['HIPFRAC_PYTHON'] ?? '/usr/bin/python3';
const script = path.join(REPO_ROOT, 'bench', 'peers', 'torch_ops.py');
const plain = new Peer('PyTorch', python, [script]);
const tuned = new Peer('PyTorch + tunables', python, [script], ADDON_MALLOC_ENV);
const ours: Contender = { label: 'hipfrac', run: async (bench, iters) => timeIt(OURS[bench] as () => void, iters, 100) };
try {
  const info = await plain.request<{ torch: string }>({ cmd: 'setup', threads });
  await tuned.request({ cmd: 'setup', threads });
  const medians = await interleave(BENCHES, [ours, peerContender(plain), peerContender(tuned)], rounds);
  const machine = machineDescription();
  const date = today();
  const entries = timeEntries(medians, BENCHES, {
    ours: 'hipfrac',
    peers: ['PyTorch', 'PyTorch + tunables'],
    unit: 'µs/call',
    scale: 1e6,
    notes: (name) => `torch ${info.torch}, ${getNumThreads()} thread(s), median of ${rounds} interleaved rounds × ${BENCHES.find((b) => b.name === name)?.iters} calls`,
  });
  writeResults('engine', entries);
  const table = markdownTable(entries);
  console.log(table);
  const doc = writeDocSection(
    `engine-ops-${threads}t`,
    `### Per-operator call overhead, ${T}\n\n${machine}; ${date}; ${loadNote()}.\n` +
      'Tiny tensors, so the time is the call path (JS → N-API → boxed dispatcher → JS wrapper), not the kernel. ' +
      'Ours disposes each result explicitly; Python frees by reference count.\n\n' +
      table,
  );
  console.log(`wrote ${doc}`);
} finally {
  plain.close();
  tuned.close();
}
