// The caching CPU allocator (native/cpu_allocator.cc): tensors of 1 MiB and more reuse freed blocks by
// size class instead of asking glibc (whose heap fragmented and faulted in fresh pages every training step).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { emptyCpuCache, full, memoryStats, ones, tidy, zeros } from '../../src/torch/index.js';

const MiB = 1 << 20;
const FOUR_MIB_FLOATS = MiB; // float32

describe('CPU caching allocator', () => {
  it('serves a freed block again for the next tensor of that size, with the new tensor\'s values', () => {
    emptyCpuCache();
    full([FOUR_MIB_FLOATS], 7).dispose();
    const before = memoryStats().cpuCache;
    assert.ok(before.cachedBytes >= 4 * MiB, `the freed 4 MiB block is cached (${before.cachedBytes} bytes)`);
    const sum = tidy(() => ones([FOUR_MIB_FLOATS]).sum().item());
    const after = memoryStats().cpuCache;
    assert.equal(after.hits - before.hits, 1, 'one allocation served from the cache');
    assert.equal(after.misses, before.misses, 'no new mapping');
    assert.equal(sum, FOUR_MIB_FLOATS, 'the reused block holds the new tensor, not the old 7s');
  });

  it('rounds sizes to classes, so a slightly smaller tensor reuses the block', () => {
    emptyCpuCache();
    zeros([FOUR_MIB_FLOATS]).dispose();
    const before = memoryStats().cpuCache;
    zeros([FOUR_MIB_FLOATS - 1000]).dispose();
    assert.equal(memoryStats().cpuCache.hits - before.hits, 1);
  });

  it('counts blocks in use, leaves small tensors to the default allocator, and empties on request', () => {
    emptyCpuCache();
    const base = memoryStats().cpuCache.allocatedBytes;
    const big = zeros([FOUR_MIB_FLOATS]);
    assert.equal(memoryStats().cpuCache.allocatedBytes - base, 4 * MiB);
    const small = zeros([1000]);
    assert.equal(memoryStats().cpuCache.allocatedBytes - base, 4 * MiB, 'a 4 KB tensor does not go through the cache');
    big.dispose();
    small.dispose();
    assert.equal(memoryStats().cpuCache.allocatedBytes, base);
    emptyCpuCache();
    assert.equal(memoryStats().cpuCache.cachedBytes, 0);
  });

  const torchIndex = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../src/torch/index.js');
  /** Runs `body` (with zeros and memoryStats in scope) in a fresh process and returns its cache statistics. */
  const cacheStatsAfter = (body: string, env: Record<string, string>): { cachedBytes: number; limitBytes: number; hits: number; misses: number } => {
    const probe = `import('${torchIndex}').then(({ zeros, memoryStats }) => { ${body}; console.log(JSON.stringify(memoryStats().cpuCache)); });`;
    return JSON.parse(execFileSync(process.execPath, ['-e', probe], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim().split('\n').pop() as string);
  };

  it('evicts the least recently freed block when the cache is full', () => {
    // 4 + 3 MiB cached, then a 2 MiB block arrives under an 8 MiB limit: the 4 MiB one, freed first, goes.
    const sizes = { four: MiB, three: (3 * MiB) / 4, two: MiB / 2 }; // float32 elements
    const stats = cacheStatsAfter(
      `for (const n of [${sizes.four}, ${sizes.three}, ${sizes.two}]) zeros([n]).dispose(); zeros([${sizes.three}]).dispose(); zeros([${sizes.four}]).dispose()`,
      { HIPFRAC_CPU_CACHE_MB: '8' },
    );
    assert.equal(stats.hits, 1, 'the 3 MiB block stayed cached');
    assert.equal(stats.misses, 4, 'the 4 MiB block had been evicted, so it was mapped again');
  });

  it('is configured by HIPFRAC_CPU_CACHE_MB and switched off by HIPFRAC_CPU_CACHE=0', () => {
    const run = (env: Record<string, string>): { cachedBytes: number; limitBytes: number; misses: number } => cacheStatsAfter(`zeros([${FOUR_MIB_FLOATS}]).dispose()`, env);
    const small = run({ HIPFRAC_CPU_CACHE_MB: '2' });
    assert.equal(small.limitBytes, 2 * MiB);
    assert.equal(small.cachedBytes, 0, 'a block larger than the limit is unmapped, not cached');
    const off = run({ HIPFRAC_CPU_CACHE: '0' });
    assert.deepEqual([off.limitBytes, off.misses], [0, 0], 'LibTorch\'s own allocator served the tensor');
  });
});
