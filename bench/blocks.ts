// A DenseNet dense layer and a ResNet bottleneck built from src/nn, forward (eval, no grad) and forward +
// backward (train), against the same blocks in Python PyTorch, interleaved round by round in one run.
// Run: node dist/bench/blocks.js [--threads N] [--rounds R]
import { parseArgs } from 'node:util';
import { BatchNorm2d, Conv2d, Module, ReLU, Sequential } from '../src/nn/index.js';
import { add, defaultThreadCount, manualSeed, noGrad, randn, relu, setNumThreads, tidy, type Tensor } from '../src/torch/index.js';
import { benchAgainstTorch, timeIt } from './lib/results.js';

const { values } = parseArgs({ options: { threads: { type: 'string' }, rounds: { type: 'string', default: '5' } } });
const threads = values.threads === undefined ? defaultThreadCount() : Number(values.threads);
const rounds = Number(values.rounds);
setNumThreads(threads);

// DenseNet121's first block after a few layers (256 input channels, growth 32, bn_size 4) at 28×28, and
// ResNet50's layer1 bottleneck (256 → 64 → 256) at 56×56: the blocks the paper's best models are made of.
const SHAPES = { dense: [16, 256, 28, 28], bottleneck: [8, 256, 56, 56] };

/** torchvision's _DenseLayer: BN-ReLU-Conv1x1(→128)-BN-ReLU-Conv3x3(→32). */
function denseLayer(cIn = 256, growth = 32, bnSize = 4): Module {
  return new Sequential(
    new BatchNorm2d(cIn), new ReLU(), new Conv2d(cIn, bnSize * growth, 1, { bias: false }),
    new BatchNorm2d(bnSize * growth), new ReLU(), new Conv2d(bnSize * growth, growth, 3, { padding: 1, bias: false }),
  );
}

/** Disposes `previous` and returns `next` (next is computed from previous before this call). */
function replace(previous: Tensor, next: Tensor): Tensor {
  previous.dispose();
  return next;
}

/** torchvision's ResNet Bottleneck with an identity shortcut. */
class Bottleneck extends Module {
  private readonly c1: Conv2d;
  private readonly b1: BatchNorm2d;
  private readonly c2: Conv2d;
  private readonly b2: BatchNorm2d;
  private readonly c3: Conv2d;
  private readonly b3: BatchNorm2d;
  constructor(inplanes = 256, planes = 64) {
    super();
    this.c1 = this.registerModule('conv1', new Conv2d(inplanes, planes, 1, { bias: false }));
    this.b1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.c2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { padding: 1, bias: false }));
    this.b2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.c3 = this.registerModule('conv3', new Conv2d(planes, planes * 4, 1, { bias: false }));
    this.b3 = this.registerModule('bn3', new BatchNorm2d(planes * 4));
  }
  // Each intermediate wrapper is released as soon as the next op has consumed it, as Python's reference
  // counting does (autograd keeps its own references to what backward needs). Holding them all to the
  // end of a tidy() scope measured ~40 % more CPU here: more fresh memory touched per iteration.
  forward(x: Tensor): Tensor {
    let out = this.c1.call(x);
    out = replace(out, this.b1.call(out));
    out = replace(out, relu(out));
    out = replace(out, this.c2.call(out));
    out = replace(out, this.b2.call(out));
    out = replace(out, relu(out));
    out = replace(out, this.c3.call(out));
    out = replace(out, this.b3.call(out));
    out = replace(out, add(out, x));
    return replace(out, relu(out));
  }
}

manualSeed(0);
const blocks: Record<string, { module: Module; x: Tensor }> = {
  dense: { module: denseLayer(), x: randn(SHAPES.dense) },
  bottleneck: { module: new Bottleneck(), x: randn(SHAPES.bottleneck) },
};
function forward(name: string): void {
  const { module, x } = blocks[name] as { module: Module; x: Tensor };
  module.eval();
  // The output is dropped inside the scope (a tidy() that returns a tensor keeps it, leaving it to the GC),
  // as Python frees it when the reference count drops.
  tidy(() => void noGrad(() => module.call(x)));
}
function forwardBackward(name: string): void {
  const { module, x } = blocks[name] as { module: Module; x: Tensor };
  module.train();
  module.zeroGrad();
  tidy(() => module.call(x).sum().backward());
}
const OURS: Record<string, () => void> = {
  dense_fwd: () => forward('dense'),
  dense_fwd_bwd: () => forwardBackward('dense'),
  bottleneck_fwd: () => forward('bottleneck'),
  bottleneck_fwd_bwd: () => forwardBackward('bottleneck'),
};
const T = `${threads} thread${threads === 1 ? '' : 's'}`;
const BENCHES = [
  { name: 'dense_fwd', iters: 5, label: `dense layer [${SHAPES.dense.join(', ')}] forward (eval, no grad), ${T}` },
  { name: 'dense_fwd_bwd', iters: 3, label: `dense layer [${SHAPES.dense.join(', ')}] forward + backward (train), ${T}` },
  { name: 'bottleneck_fwd', iters: 5, label: `bottleneck [${SHAPES.bottleneck.join(', ')}] forward (eval, no grad), ${T}` },
  { name: 'bottleneck_fwd_bwd', iters: 3, label: `bottleneck [${SHAPES.bottleneck.join(', ')}] forward + backward (train), ${T}` },
];

await benchAgainstTorch({
  benches: BENCHES,
  ours: (bench, iters) => timeIt(OURS[bench] as () => void, iters, 1),
  setup: { shapes: SHAPES },
  rounds,
  threads,
  unit: 'ms/iteration',
  scale: 1e3,
  per: 'iterations',
  section: `engine-blocks-${threads}t`,
  intro: (machine, date, load) =>
    `### DenseNet dense layer and ResNet bottleneck, ${T}\n\n${machine}; ${date}; ${load} at start.\n` +
    'Ratio = PyTorch time / hipfrac time (the floor is 0.95). "PyTorch + tunables", the stronger peer and listed first, runs the peer with the glibc malloc ' +
    'settings the addon applies at load (`MALLOC_MMAP_THRESHOLD_=1GiB MALLOC_TRIM_THRESHOLD_=1GiB MALLOC_TOP_PAD_=256MiB`). ' +
    'Wall time is what a user waits; CPU time (user + system over all threads of the process) is the work done, and ' +
    'the fairer figure when the machine is shared.',
});
