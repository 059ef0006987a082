// Per-operator call overhead: tiny ops where the time is the binding, not the kernel, against Python
// PyTorch on the same machine and thread count, interleaved. Run: node dist/bench/ops.js [--threads N] [--rounds R]
import { parseArgs } from 'node:util';
import { add, conv2d, float, mul, ones, randn, relu, setNumThreads, defaultThreadCount } from '../src/torch/index.js';
import { benchAgainstTorch, timeIt } from './lib/results.js';

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

await benchAgainstTorch({
  benches: BENCHES,
  ours: (bench, iters) => timeIt(OURS[bench] as () => void, iters, 100),
  setup: {},
  rounds,
  threads,
  unit: 'µs/call',
  scale: 1e6,
  per: 'calls',
  section: `engine-ops-${threads}t`,
  intro: (machine, date, load) =>
    `### Per-operator call overhead, ${T}\n\n${machine}; ${date}; ${load}.\n` +
    'Tiny tensors, so the time is the call path (JS → N-API → boxed dispatcher → JS wrapper), not the kernel. ' +
    'hipfrac disposes each result explicitly; Python frees by reference count.',
});
