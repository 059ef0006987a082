// Training-step precision: one step (forward, cross-entropy, backward, Adam) of a torchvision architecture at the
// FracAtlas recipe's size and batch, in float32 and under bfloat16 autocast (`train --precision bf16`), against
// PyTorch eager doing the same step the same two ways (torch.autocast, with the addon's malloc settings), interleaved
// round by round in one run; plus the recipe's own model (ResNet-18 with the fine box head), which has no peer.
// Writes bench/results/precision.json and its section of docs/benchmarks.md.
// Run: node dist/bench/precision.js [--archs resnet18] [--size 320] [--batch 32] [--rounds 3] [--iters 2]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildImagenetModel, createClassifier } from '../src/models/index.js';
import { Adam, type Module } from '../src/nn/index.js';
import { autocast, crossEntropy, getNumThreads, manualSeed, PRECISIONS, rand, randint, tidy, zeros, type Precision, type Tensor } from '../src/torch/index.js';
import { ADDON_MALLOC_ENV, interleave, loadNote, machineDescription, median, Peer, peerContender, ratioOf, REPO_ROOT, timeIt, today, writeDocSection, writeResults, type BenchEntry, type Contender } from './lib/results.js';

const { values } = parseArgs({
  options: {
    archs: { type: 'string', default: 'resnet18' },
    size: { type: 'string', default: '320' },
    batch: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    iters: { type: 'string', default: '2' },
  },
});
const SIZE = Number(values.size);
const BATCH = Number(values.batch);
const ROUNDS = Number(values.rounds);
const ITERS = Number(values.iters);
const python = process.env['HIPFRAC_PYTHON'] ?? '/usr/bin/python3';
const machine = machineDescription();
const date = today();
const threads = getNumThreads();
const entries: BenchEntry[] = [];
const load = loadNote();

/** A training step of `model` in `precision`: the forward pass under autocast, the loss and backward in float32. */
function stepper(model: Module & { call(x: Tensor): Tensor }, x: Tensor, y: Tensor): (precision: Precision) => void {
  const optimizer = new Adam(model.parameters(), { lr: 1e-4 });
  return (precision) =>
    tidy(() => {
      optimizer.zeroGrad();
      const logits = autocast('cpu', precision, () => model.call(x));
      crossEntropy(logits.to('float32'), y).backward();
      optimizer.step();
    });
}

for (const arch of (values.archs as string).split(',')) {
  const peer = new Peer('PyTorch + tunables', python, [path.join(REPO_ROOT, 'bench', 'peers', 'torch_train_step.py')], ADDON_MALLOC_ENV);
  try {
    const info = await peer.request<{ torch: string }>({ cmd: 'setup', arch, size: SIZE, batch: BATCH, threads });
    manualSeed(0);
    const model = buildImagenetModel(arch).train();
    const x = rand([BATCH, 3, SIZE, SIZE]);
    const y = randint(0, 1000, [BATCH]);
    const step = stepper(model, x, y);
    const ours: Contender = { label: 'hipfrac', run: async (bench, iters) => timeIt(() => step(bench as Precision), iters, 1) };
    const medians = await interleave(PRECISIONS.map((name) => ({ name, iters: ITERS })), [ours, peerContender(peer)], ROUNDS);
    for (const precision of PRECISIONS) {
      const o = medians.get(precision)?.get('hipfrac')?.wall ?? Number.NaN;
      const t = medians.get(precision)?.get(peer.label)?.wall ?? Number.NaN;
      entries.push({
        benchmark: `${arch} training step, ${precision}, batch ${BATCH} at ${SIZE} px (wall)`, ours: BATCH / o, peer: BATCH / t, ratio: ratioOf(o, t, true), unit: 'img/s', machine, date,
        notes: `peer: torchvision ${arch} in PyTorch ${info.torch} eager${precision === 'bf16' ? ' under torch.autocast(cpu, bfloat16)' : ''}, the addon's malloc settings; ${threads} thread(s); median of ${ROUNDS} interleaved rounds × ${ITERS} steps; ${load}`,
      });
    }
    model.dispose();
    x.dispose();
    y.dispose();
  } finally {
    peer.close();
  }
}

// The FracAtlas recipe's model: ResNet-18 with the fine box head on grey images, both losses; no peer has it.
{
  manualSeed(0);
  const model = createClassifier('resnet18', { weights: null, boxHead: 'fine' });
  model.train();
  const optimizer = new Adam(model.parameters(), { lr: 1e-4 });
  const x = rand([BATCH, 1, SIZE, SIZE]);
  const y = zeros([BATCH], { dtype: 'int64' });
  const step = (precision: Precision): void =>
    tidy(() => {
      optimizer.zeroGrad();
      const out = autocast('cpu', precision, () => model.forwardWithHeatmap(x));
      crossEntropy(out.logits.to('float32'), y).add(out.heatmap.to('float32').mean()).backward();
      optimizer.step();
    });
  const rates = new Map<Precision, number[]>(PRECISIONS.map((p) => [p, []]));
  for (let r = 0; r < ROUNDS; r++) for (const p of PRECISIONS) rates.get(p)?.push(timeIt(() => step(p), ITERS, 1).wall);
  const fp32 = median(rates.get('fp32') ?? []);
  const bf16 = median(rates.get('bf16') ?? []);
  for (const [precision, s] of [['fp32', fp32], ['bf16', bf16]] as const) {
    entries.push({
      benchmark: `resnet18 + fine box head (the FracAtlas recipe's model) training step, ${precision}, batch ${BATCH} at ${SIZE} px (wall)`, ours: BATCH / s, peer: null, ratio: precision === 'bf16' ? fp32 / bf16 : null, unit: 'img/s', machine, date,
      notes: `no peer (ratio: bf16 against fp32 of the same model); grey input, classification and box losses; ${threads} thread(s); median of ${ROUNDS} alternating rounds × ${ITERS} steps; ${load}`,
    });
  }
  model.dispose();
  x.dispose();
  y.dispose();
}

writeResults('precision', entries);
const fmt = (x: number | null): string => (x === null ? '—' : x.toFixed(2));
const table = ['| training step | hipfrac | PyTorch | ratio (≥ 1: hipfrac faster) |', '| --- | ---: | ---: | ---: |', ...entries.map((e) => `| ${e.benchmark} | ${fmt(e.ours)} img/s | ${e.peer === null ? '—' : `${fmt(e.peer)} img/s`} | ${e.ratio === null ? '—' : e.ratio.toFixed(2)} |`)];
writeDocSection('precision', [
  '## Training precision (bfloat16 autocast)',
  '',
  `\`node dist/bench/precision.js\` (\`bench/results/precision.json\`, ${machine}, ${date}): one training step in float32 and with \`--precision bf16\` (convolutions and linear layers in bfloat16 under autocast; float32 weights, gradients, loss and Adam), against PyTorch eager with \`torch.autocast\` and the addon's malloc settings, interleaved. The box-head rows have no peer; their ratio is bf16 against fp32 of the same model. Load: ${load}.`,
  '',
  ...table,
].join('\n'));
console.log(table.join('\n'));
