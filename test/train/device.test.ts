// Devices: names are checked before any work starts; on a CUDA machine (scripts/gpu-check.sh) the learner
// trains there (in float32 and in bfloat16 autocast) and a classifier on the GPU takes and returns CPU tensors,
// gradients included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Adam } from '../../src/nn/index.js';
import { createClassifier, loadCheckpoint, saveCheckpoint } from '../../src/models/index.js';
import { crossEntropy, cuda, inferenceMode, isAutocast, manualSeed, rand, resolveDevice, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { Learner } from '../../src/train/index.js';
import { HipfracError } from '../../src/util/index.js';
import { ToyNet, ToySource, toyData } from './toy.js';

const HAS_CUDA = cuda.isAvailable();

/**
 * ‖a − b‖ / ‖b‖. CUDA convolutions run in TF32 by default (PyTorch's and LibTorch's setting: ~1e-3 relative per
 * layer), so GPU and CPU logits agree to about 1e-2 relative, not to float32 precision.
 */
function relativeL2(a: Tensor, b: Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  let d2 = 0;
  let r2 = 0;
  for (let i = 0; i < y.length; i++) {
    d2 += (Number(x[i]) - Number(y[i])) ** 2;
    r2 += Number(y[i]) ** 2;
  }
  return Math.sqrt(d2 / r2);
}

test('device names are checked: cpu passes, nonsense gets HF_TORCH_BAD_DEVICE naming the input', () => {
  assert.equal(resolveDevice('cpu'), 'cpu');
  for (const bad of ['gpu', 'cuda:', 'cpu:0', 'CUDA', '']) {
    assert.throws(() => resolveDevice(bad), (e: unknown) => e instanceof HipfracError && e.code === 'HF_TORCH_BAD_DEVICE' && e.message.includes(`'${bad}'`));
  }
});

test('cuda on a build or machine without CUDA is refused with the fix, before training starts', { skip: HAS_CUDA && 'this machine has CUDA' }, () => {
  assert.throws(
    () => resolveDevice('cuda'),
    (e: unknown) => e instanceof HipfracError && e.code === 'HF_TORCH_NO_CUDA' && /GPU build|--device cpu/.test(e.message + String((e as HipfracError).fix)),
  );
  const data = toyData(8, 1);
  assert.throws(
    () => new Learner({ model: new ToyNet(), train: new ToySource(data, 4, true), valid: new ToySource(data, 4, false), optimizer: (g) => new Adam(g.flat()), device: 'cuda' }),
    (e: unknown) => e instanceof HipfracError && e.code === 'HF_TORCH_NO_CUDA',
  );
});

test('CUDA: a classifier on the GPU takes CPU images, returns CPU logits equal to the CPU model, and passes input gradients back', { skip: !HAS_CUDA && 'no CUDA device' }, () => {
  manualSeed(3);
  const cpuModel = createClassifier('resnet18', { weights: null }).eval();
  const gpuModel = createClassifier('resnet18', { weights: null });
  gpuModel.loadStateDict(cpuModel.stateDict());
  gpuModel.to('cuda').eval();
  assert.equal(gpuModel.device, 'cuda:0');
  const x = rand([2, 1, 64, 64]);
  inferenceMode(() =>
    tidy(() => {
      const onGpu = gpuModel.call(x);
      assert.equal(onGpu.device, 'cpu');
      const diff = relativeL2(onGpu, cpuModel.call(x));
      assert.ok(diff < 2e-2, `GPU vs CPU logits differ by ${diff} (relative L2)`);
    }),
  );
  const leaf = x.clone().requiresGrad_(true);
  tidy(() => crossEntropy(gpuModel.call(leaf), tensor(BigInt64Array.from([0n, 1n]), [2])).backward());
  assert.equal(leaf.grad?.device, 'cpu');
  assert.ok((leaf.grad as Tensor).toArray().some((v) => v !== 0));
});

test('CUDA: the learner trains on the GPU, and its checkpoint loads on the CPU with the same logits', { skip: !HAS_CUDA && 'no CUDA device' }, async () => {
  const data = toyData(64, 2);
  manualSeed(4);
  const model = createClassifier('resnet18', { weights: null, numClasses: 2 });
  const learner = new Learner({ model, train: new ToySource(data, 16, true), valid: new ToySource(data, 16, false), optimizer: (g) => new Adam(g.flat(), { lr: 1e-3 }), seed: 4, device: 'cuda' });
  assert.equal(model.device, 'cuda:0');
  await learner.fitOneCycle(3, 3e-3);
  const result = await learner.validate();
  assert.ok(result.accuracy > 0.9, `accuracy on the toy task after 3 epochs on the GPU: ${result.accuracy}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-cuda-'));
  try {
    saveCheckpoint(dir, model);
    const restored = loadCheckpoint(dir).model.eval();
    model.eval();
    const x = rand([4, 1, 16, 16]);
    inferenceMode(() =>
      tidy(() => {
        const diff = relativeL2(model.call(x), restored.call(x));
        assert.ok(diff < 2e-2, `GPU model vs its checkpoint on the CPU: logits differ by ${diff} (relative L2)`);
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("CUDA: precision 'bf16' trains on the GPU under CUDA autocast, with float32 weights", { skip: !HAS_CUDA && 'no CUDA device' }, async () => {
  const data = toyData(64, 2);
  manualSeed(5);
  const model = createClassifier('resnet18', { weights: null, numClasses: 2 });
  const learner = new Learner({ model, train: new ToySource(data, 16, true), valid: new ToySource(data, 16, false), optimizer: (g) => new Adam(g.flat(), { lr: 1e-3 }), seed: 5, device: 'cuda', precision: 'bf16' });
  await learner.fitOneCycle(3, 3e-3);
  const result = await learner.validate();
  assert.ok(result.accuracy > 0.9, `accuracy on the toy task after 3 bf16 epochs on the GPU: ${result.accuracy}`);
  assert.deepEqual(new Set(model.parameters().map((p) => p.dtype)), new Set(['float32']));
  assert.equal(isAutocast('cuda'), false);
});
