// The singleThreaded setting: 'auto' turns V8's background threads off with 2 cores or fewer, true and false say so
// whatever the cores; a process already running as asked is left alone (no start again); a wrong value is a config
// error. Starting again in place is exercised by test/cli/serve.test.ts (the spawned node's own pid and options).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execvSource } from '../../src/util/index.js';
import { applySingleThreaded, FEW_CORES, resolveServeConfig, runsSingleThreaded, SERVE_DEFAULTS, wantsSingleThreaded } from '../../src/serve/index.js';

test('singleThreaded: auto follows the cores, true and false do not', () => {
  assert.equal(SERVE_DEFAULTS.singleThreaded, 'auto');
  assert.deepEqual([1, 2, 3, 16].map((cores) => wantsSingleThreaded('auto', cores)), [true, true, false, false]);
  assert.equal(FEW_CORES, 2);
  assert.deepEqual([1, 16].map((cores) => wantsSingleThreaded(true, cores)), [true, true]);
  assert.deepEqual([1, 16].map((cores) => wantsSingleThreaded(false, cores)), [false, false]);
});

test('the node can start again in place here: Node\'s process.execve, or on Node 20 the built hipfrac_process addon', () => {
  const hasExecve = typeof (process as { execve?: unknown }).execve === 'function';
  assert.equal(execvSource(), hasExecve ? 'process.execve' : 'hipfrac_process addon');
});

test('a process that runs as the setting asks is left as it is', () => {
  // The test runner runs with V8's background threads: singleThreaded false asks for nothing more.
  assert.equal(runsSingleThreaded(), false);
  assert.equal(applySingleThreaded(false), undefined);
});

test('a wrong singleThreaded value is a config error naming the setting', () => {
  assert.throws(() => resolveServeConfig(undefined, { modelDir: 'm', dataDir: 'd', singleThreaded: 'sometimes' }), (e: Error & { code?: string }) => e.code === 'HF_SERVE_BAD_CONFIG' && /singleThreaded must be 'auto', true or false/.test(e.message));
  assert.equal(resolveServeConfig(undefined, { modelDir: 'm', dataDir: 'd', singleThreaded: false }).singleThreaded, false);
});
