// The addon is context-aware: a worker_thread loads it and runs ops with its own (thread-local) grad mode
// and intra-op thread count, and gets the same numbers as the main thread.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { conv2d, getNumThreads, isGradEnabled, manualSeed, noGrad, randn, relu, tidy } from '../../src/torch/index.js';
import { native } from '../../src/torch/native.js';

interface WorkerReport {
  gradEnabledAtStart: boolean;
  gradFnDefault: string | null;
  gradFnInNoGrad: string | null;
  gradEnabledInNoGrad: boolean;
  threadsAtStart: number;
  threadsAfterSet: number;
  convGradSum: number;
}

// Plain JS (eval: true is CommonJS), importing the compiled engine by URL. The worker leaves its thread
// count at 1 when it reports, to prove it does not leak into the main thread.
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.torchUrl).then((torch) => {
  const report = {};
  report.gradEnabledAtStart = torch.isGradEnabled();
  const a = torch.randn([4], { requiresGrad: true });
  report.gradFnDefault = torch.relu(a).gradFn;
  report.gradFnInNoGrad = torch.noGrad(() => torch.relu(a).gradFn);
  report.threadsAtStart = torch.getNumThreads();
  torch.setNumThreads(1);
  report.threadsAfterSet = torch.getNumThreads();
  torch.manualSeed(5);
  const x = torch.randn([2, 3, 9, 9], { requiresGrad: true });
  const w = torch.randn([4, 3, 3, 3]);
  torch.relu(torch.conv2d(x, w, null, 1, 1)).sum().backward();
  report.convGradSum = x.grad.sum().item();
  report.gradEnabledInNoGrad = torch.noGrad(() => torch.isGradEnabled());
  parentPort.postMessage(report);
}).catch((error) => { parentPort.postMessage({ error: String(error && error.stack || error) }); });
`;

function runWorker(): Promise<WorkerReport> {
  const torchUrl = new URL('../../src/torch/index.js', import.meta.url).href;
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { torchUrl }, env: { ...process.env, HIPFRAC_THREADS: '2' } });
    worker.once('message', (message: WorkerReport | { error: string }) => {
      void worker.terminate();
      if ('error' in message) reject(new Error(`worker failed: ${message.error}`));
      else resolve(message);
    });
    worker.once('error', reject);
  });
}

describe('worker threads', () => {
  it('a worker loads the addon and its ops respect its own grad mode and thread count', async () => {
    const mainThreads = getNumThreads();
    const report = await runWorker();
    assert.equal(report.gradEnabledAtStart, true, 'grad mode starts enabled in a worker');
    assert.equal(report.gradFnDefault, 'ReluBackward0', 'an op in the worker records autograd by default');
    assert.equal(report.gradFnInNoGrad, null, 'noGrad in the worker switches recording off');
    assert.equal(report.gradEnabledInNoGrad, false);
    assert.equal(report.threadsAtStart, 2, 'the worker applies the default thread count (HIPFRAC_THREADS=2) on import');
    assert.equal(report.threadsAfterSet, 1, 'setNumThreads in the worker is reflected by getNumThreads there');
    // Settings are per thread: the main thread keeps its own.
    assert.equal(getNumThreads(), mainThreads);
    assert.equal(isGradEnabled(), true);

    // Same seed, same op, same gradient as on the main thread (1 vs main's thread count does not change it).
    const mainSum = tidy(() => {
      manualSeed(5);
      const x = randn([2, 3, 9, 9], { requiresGrad: true });
      const w = randn([4, 3, 3, 3]);
      relu(conv2d(x, w, null, 1, 1)).sum().backward();
      return (x.grad as NonNullable<typeof x.grad>).sum().item();
    });
    assert.ok(Math.abs(report.convGradSum - mainSum) <= 1e-4 * Math.max(1, Math.abs(mainSum)), `worker ${report.convGradSum} vs main ${mainSum}`);
  });

  it('the main thread grad mode does not leak into a worker', async () => {
    // noGrad() is synchronous; hold grad mode off across the whole await with the raw switch instead.
    const previous = native().setGradEnabled(false);
    try {
      const report = await runWorker();
      assert.equal(isGradEnabled(), false, 'still off on the main thread');
      assert.equal(report.gradEnabledAtStart, true);
      assert.equal(report.gradFnDefault, 'ReluBackward0');
    } finally {
      native().setGradEnabled(previous);
    }
    assert.equal(noGrad(() => isGradEnabled()), false);
  });
});
