// GPU check and benchmark (run by scripts/gpu-check.sh on a CUDA machine; never in CI).
// 1. Agreement: densenet121 and resnet50 with the same random weights and batch, ours vs torchvision, both on
//    the GPU: eval logits, and one train-mode step's loss and every gradient.
// 2. Speed: inference and training img/s at batch 32, 224 px, ours vs torchvision eager on the same GPU,
//    interleaved round by round. Writes bench/results/gpu.json and the "GPU" section of docs/benchmarks.md.
// Run: node dist/bench/gpu.js [--models densenet169,resnet50] [--rounds 3] [--iters 5] [--batch 32]
import { parseArgs } from 'node:util';
import { buildInfo, crossEntropy, cuda, getNumThreads, inferenceMode, manualSeed, rand, randint, tidy, keep, type Tensor } from '../src/torch/index.js';
import { Adam, loadSafetensors, saveSafetensors } from '../src/nn/index.js';
import { buildImagenetModel } from '../src/models/index.js';
import { Peer, REPO_ROOT, machineDescription, markdownTable, median, today, writeDocSection, writeResults, type BenchEntry } from './lib/results.js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const PYTHON = process.env['HIPFRAC_PYTHON'] ?? 'python3';
const SIZE = 224;

/** Largest |a − b| and the relative L2 distance ‖a − b‖ / ‖b‖. */
function distance(a: Tensor, b: Tensor): { maxAbs: number; relL2: number } {
  const [x, y] = tidy(() => [a.to('cpu').dataSync(), b.to('cpu').dataSync()]);
  let maxAbs = 0;
  let diff2 = 0;
  let ref2 = 0;
  for (let i = 0; i < y.length; i++) {
    const d = Number(x[i]) - Number(y[i]);
    maxAbs = Math.max(maxAbs, Math.abs(d));
    diff2 += d * d;
    ref2 += Number(y[i]) ** 2;
  }
  return { maxAbs, relL2: ref2 > 0 ? Math.sqrt(diff2 / ref2) : Math.sqrt(diff2) };
}

/**
 * Our model on `device` against torchvision on the same device with the same weights and batch: eval
 * logits, then one train-mode step's loss and every parameter gradient (relative L2 per tensor and overall).
 */
async function agreement(peer: Peer, name: string, device: string, work: string): Promise<{ line: string; logitsMaxAbs: number; gradRelL2: number }> {
  manualSeed(0);
  const model = buildImagenetModel(name);
  const weights = path.join(work, `${name}.safetensors`);
  const batchFile = path.join(work, `${name}-batch.safetensors`);
  const refFile = path.join(work, `${name}-reference.safetensors`);
  const x = keep(rand([2, 3, SIZE, SIZE]));
  const y = keep(randint(0, 1000, [2]));
  saveSafetensors(weights, model.stateDict());
  saveSafetensors(batchFile, new Map([['x', x], ['y', y]]));
  await peer.request({ cmd: 'agree', model: name, weights, batch: batchFile, out: refFile, device });
  const ref = loadSafetensors(refFile);
  model.to(device);
  const logits = inferenceMode(() => tidy(() => distance(model.eval().call(x.to(device)), ref.get('logits') as Tensor)));
  const loss = tidy(() => {
    model.train();
    const l = crossEntropy(model.call(x.to(device)), y.to(device));
    l.backward();
    return l.item();
  });
  let worst = { key: '', relL2: 0 };
  let diff2 = 0;
  let ref2 = 0;
  for (const [key, p] of model.namedParameters()) {
    const g = ref.get(`grad.${key}`) as Tensor;
    const d = tidy(() => distance(p.grad as Tensor, g));
    const norm2 = tidy(() => g.mul(g).sum().item());
    diff2 += d.relL2 ** 2 * norm2;
    ref2 += norm2;
    if (d.relL2 > worst.relL2) worst = { key, relL2: d.relL2 };
  }
  const refLoss = (ref.get('loss') as Tensor).item();
  for (const t of ref.values()) t.dispose();
  x.dispose();
  y.dispose();
  model.dispose();
  const gradRelL2 = Math.sqrt(diff2 / ref2);
  return {
    line: `${name} on ${device} vs torchvision on ${device}, same weights and batch: eval logits max |Δ| ${logits.maxAbs.toExponential(2)} (relative L2 ${logits.relL2.toExponential(2)}); train-step loss ${loss.toFixed(6)} vs ${refLoss.toFixed(6)}; all gradients relative L2 ${gradRelL2.toExponential(2)}, worst tensor ${worst.key} ${worst.relL2.toExponential(2)}`,
    logitsMaxAbs: logits.maxAbs,
    gradRelL2,
  };
}

function timeGpu(fn: () => void, iters: number, warmup: number, sync: boolean): number[] {
  const times: number[] = [];
  for (let i = 0; i < warmup + iters; i++) {
    if (sync) cuda.synchronize();
    const t0 = performance.now();
    fn();
    if (sync) cuda.synchronize();
    if (i >= warmup) times.push((performance.now() - t0) / 1000);
  }
  return times;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: 'densenet169,resnet50' },
      rounds: { type: 'string', default: '3' },
      iters: { type: 'string', default: '5' },
      batch: { type: 'string', default: '32' },
      // 'cpu' only to smoke-test this script on a machine without a GPU.
      device: { type: 'string', default: 'cuda' },
    },
  });
  const device = values.device as string;
  const onGpu = device.startsWith('cuda');
  if (onGpu && !cuda.isAvailable()) throw new Error('bench/gpu: CUDA is not available to the addon (build it against a CUDA LibTorch: scripts/gpu-check.sh)');
  const names = (values.models as string).split(',');
  const rounds = Number(values.rounds);
  const iters = Number(values.iters);
  const batch = Number(values.batch);
  const peer = new Peer('torchvision', PYTHON, [path.join(REPO_ROOT, 'bench/peers/torchvision_models.py')]);
  const setup = await peer.request<{ torch: string; torchvision: string; cuda: string | null }>({ cmd: 'setup', threads: getNumThreads() });
  const machine = `${setup.cuda ?? 'no GPU'}; host ${machineDescription()}; hipfrac LibTorch ${buildInfo().torchVersion}, peer torch ${setup.torch} / torchvision ${setup.torchvision}`;
  console.log(`# GPU check — ${machine}`);

  const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-gpu-'));
  const agreements: { name: string; line: string; logitsMaxAbs: number; gradRelL2: number }[] = [];
  for (const name of ['densenet121', 'resnet50']) agreements.push({ name, ...(await agreement(peer, name, device, work)) });
  rmSync(work, { recursive: true, force: true });
  const checks = agreements.map((a) => a.line);
  for (const c of checks) console.log(c);

  // The agreement figures are stored with the timings, so the docs' agreement lines have a JSON behind them.
  const entries: BenchEntry[] = agreements.flatMap((a) => [
    { benchmark: `${a.name} eval logits vs torchvision, ${device}: max |Δ|`, ours: a.logitsMaxAbs, peer: null, ratio: null, unit: 'absolute', machine, date: today(), notes: a.line },
    { benchmark: `${a.name} train-step gradients vs torchvision, ${device}: relative L2`, ours: a.gradRelL2, peer: null, ratio: null, unit: 'relative', machine, date: today(), notes: a.line },
  ]);
  for (const name of names) {
    for (const mode of ['infer', 'train'] as const) {
      manualSeed(0);
      const model = buildImagenetModel(name).to(device);
      const x = keep(rand([batch, 3, SIZE, SIZE], { device }));
      const y = keep(randint(0, 1000, [batch]).to(device));
      let fn: () => void;
      if (mode === 'infer') {
        model.eval();
        fn = () => inferenceMode(() => tidy(() => void model.call(x)));
      } else {
        model.train();
        const opt = new Adam(model.parameters(), { lr: 1e-4 });
        fn = () =>
          tidy(() => {
            opt.zeroGrad();
            crossEntropy(model.call(x), y).backward();
            opt.step();
          });
      }
      const ours: number[] = [];
      const theirs: number[] = [];
      for (let r = 0; r < rounds; r++) {
        ours.push(...timeGpu(fn, iters, r === 0 ? 3 : 1, onGpu));
        const reply = await peer.request<{ times: number[] }>({ cmd: 'run', model: name, mode, batch, iters, warmup: r === 0 ? 3 : 1, size: SIZE, device });
        theirs.push(...reply.times);
      }
      const rate = batch / median(ours);
      const peerRate = batch / median(theirs);
      const benchmark = `${name} ${mode === 'infer' ? 'inference' : 'training step (Adam)'} batch ${batch}, ${device}`;
      entries.push({ benchmark, ours: rate, peer: peerRate, ratio: rate / peerRate, unit: 'img/s', machine, date: today(), notes: `median of ${rounds}×${iters} iterations, fp32, cuDNN defaults on both sides` });
      console.log(`${benchmark}: ${rate.toFixed(1)} img/s vs ${peerRate.toFixed(1)} → ${(rate / peerRate).toFixed(2)}×`);
      x.dispose();
      y.dispose();
      model.dispose();
    }
  }
  peer.close();
  if (!onGpu) return; // a smoke test writes no results
  writeResults('gpu', entries);
  const doc = [
    '## GPU (CUDA)',
    '',
    `Measured with \`scripts/gpu-check.sh\` on ${machine}, ${today()}. The addon was built there against that`,
    "PyTorch's own LibTorch; the operator parity tests ran with hipfrac's side on the GPU (see docs/gpu.md).",
    '',
    'Agreement with torchvision on the same GPU (same weights, same batch):',
    '',
    ...checks.map((c) => `- ${c}`),
    '',
    "The logits above are one run's figures, not a test's bound. Gradients differ more than logits: cuDNN's default",
    'backward algorithms accumulate in a nondeterministic order. Training uses Adam with the multi-tensor',
    '(`_foreach_`) update on CUDA, as PyTorch does by default.',
    '',
    markdownTable(entries.filter((e) => e.unit === 'img/s')),
  ].join('\n');
  writeDocSection('gpu', doc);
}

await main();
