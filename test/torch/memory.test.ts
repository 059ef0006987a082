// A 10,000-iteration training loop (forward, backward, in-place SGD under noGrad) of a small CNN must run
// at flat native memory: no tensor leaks (exact count) and malloc / RSS growth bounded after warm-up.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, AdaptiveAvgPool2d } from '../../src/nn/index.js';
import { crossEntropy, dispose, float, getNumThreads, keep, manualSeed, memoryStats, noGrad, randint, randn, setNumThreads, tidy, zeros } from '../../src/torch/index.js';

const ITERATIONS = 10_000;
const WARMUP = 500;
const MiB = 1 << 20;
// After warm-up every iteration allocates and frees the same sizes, so glibc reuses the same chunks and
// in-use bytes return to the same level (measured: ~60 KiB drift over 10,000 iterations). 1 MiB leaves room
// for allocator bookkeeping that settles late (OpenMP and autograd thread-local caches) while still
// catching any per-iteration leak: one leaked tensor, even of 4 floats, costs ≥ ~300 B (TensorImpl,
// storage, wrapper), i.e. ≥ 3 MiB over the loop. The live-tensor count catches such a leak exactly anyway;
// this bound catches leaks that are not tensors (autograd graphs kept alive, N-API references).
const MALLOC_GROWTH_BOUND = 1 * MiB;
// RSS also holds V8's heap, which the GC sizes as it likes (every iteration makes JS wrapper garbage), so
// its bound is looser: 32 MiB still catches what malloc in-use cannot see, e.g. a leaked mmap-ed block
// or a native heap that keeps growing through fragmentation (measured growth: under 1 MiB).
const RSS_GROWTH_BOUND = 32 * MiB;

describe('memory', () => {
  it(`${ITERATIONS.toLocaleString('en')} training iterations run at flat native memory`, (t) => {
    // Tensors this small gain nothing from intra-op threads, and OpenMP's spin-waits make a loaded CI
    // machine crawl: one thread keeps the test well under a minute.
    const threads = getNumThreads();
    setNumThreads(1);
    t.after(() => setNumThreads(threads));
    manualSeed(0);
    const model = new Sequential(
      new Conv2d(1, 4, 3, { padding: 1 }),
      new BatchNorm2d(4),
      new ReLU(),
      new MaxPool2d(2),
      new Conv2d(4, 8, 3, { padding: 1 }),
      new ReLU(),
      new AdaptiveAvgPool2d(1),
      new Flatten(),
      new Linear(8, 3),
    );
    const params = model.parameters();
    const lr = 0.01;
    const x = randn([4, 1, 8, 8]);
    const y = randint(0, 3, [4]);

    const step = (): number =>
      tidy(() => {
        model.zeroGrad();
        const loss = crossEntropy(model.call(x), y);
        loss.backward();
        noGrad(() => {
          for (const p of params) {
            const g = p.grad;
            if (g !== null) p.add_(g, float(-lr));
          }
        });
        return loss.item();
      });

    const first = step();
    for (let i = 1; i < WARMUP; i++) step();
    model.zeroGrad();
    const base = memoryStats();
    const baseRss = process.memoryUsage.rss();
    let maxLive = base.liveTensors;
    let last = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      last = step();
      if (i % 500 === 0) maxLive = Math.max(maxLive, memoryStats().liveTensors);
    }
    model.zeroGrad();
    const end = memoryStats();
    const endRss = process.memoryUsage.rss();

    // Tensors alive between iterations: parameters, buffers, x and y. Nothing else may survive a step.
    assert.equal(end.liveTensors, base.liveTensors, 'live native tensors before vs after the loop');
    assert.equal(maxLive, base.liveTensors, 'live native tensors sampled between iterations');
    const mallocGrowth = end.mallocInUseBytes - base.mallocInUseBytes;
    assert.ok(mallocGrowth < MALLOC_GROWTH_BOUND, `malloc in-use grew by ${(mallocGrowth / MiB).toFixed(2)} MiB over ${ITERATIONS} iterations`);
    const rssGrowth = endRss - baseRss;
    t.diagnostic(`live tensors ${base.liveTensors} → ${end.liveTensors}; malloc in-use ${(mallocGrowth / 1024).toFixed(0)} KiB growth; RSS ${(rssGrowth / MiB).toFixed(1)} MiB growth`);
    assert.ok(rssGrowth < RSS_GROWTH_BOUND, `RSS grew by ${(rssGrowth / MiB).toFixed(1)} MiB over ${ITERATIONS} iterations`);
    // The loop really trained (so it really ran backward and updated parameters).
    assert.ok(last < first, `loss went from ${first} to ${last}`);
    x.dispose();
    y.dispose();
  });

  // V8 runs a full mark-compact for every ~64 MB of external memory reported since the last one. Reporting
  // every activation of a resnet50 step made 13 of them per step, their marking threads competing with
  // LibTorch's; a scope frees its temporaries itself, so only what outlives the scopes is reported.
  it('reports to V8 only the tensors that outlive every tidy scope', () => {
    const base = memoryStats().reportedBytes;
    const FLOATS = 256 * 1024; // 1 MiB of float32
    let inside = -1;
    const survivors = tidy(() => {
      zeros([FLOATS]); // a temporary, freed by the scope
      const fromInner = tidy(() => zeros([FLOATS])); // moves to the outer scope: still scoped
      const kept = keep(zeros([FLOATS / 4])); // leaves every scope at once
      inside = memoryStats().reportedBytes - base;
      return { fromInner, kept };
    });
    assert.equal(inside, MiB / 4, 'reported inside the scope: only the kept 256 KiB tensor');
    assert.equal(memoryStats().reportedBytes - base, MiB + MiB / 4, 'reported after the scope: the returned 1 MiB and the kept 256 KiB');
    dispose(survivors);
    assert.equal(memoryStats().reportedBytes - base, 0, 'disposing un-reports them');
    const unscoped = zeros([FLOATS]);
    assert.equal(memoryStats().reportedBytes - base, MiB, 'a tensor made outside any scope is reported at once');
    unscoped.dispose();
  });
});
