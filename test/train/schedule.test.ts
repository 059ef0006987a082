// Schedules, LR suggestions and configuration validation: values at known points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  combineScheds,
  defaultOneCycle,
  discriminativeLrs,
  minimum,
  oneCycleLr,
  oneCycleMomentum,
  resolveConfig,
  schedCos,
  schedExp,
  schedLin,
  smoothLosses,
  steep,
  valley,
} from '../../src/train/index.js';
import { HipfracError } from '../../src/util/index.js';

const close = (a: number, b: number, rel = 1e-9): void => assert.ok(Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-300), `${a} ≉ ${b}`);

test('annealers hit their ends and cosine midpoint', () => {
  close(schedLin(1, 3)(0.5), 2);
  close(schedCos(1, 3)(0), 1);
  close(schedCos(1, 3)(0.5), 2);
  close(schedCos(1, 3)(1), 3);
  close(schedExp(1e-7, 10)(0.5), Math.sqrt(1e-7 * 10));
});

test('one-cycle LR follows fastai: lr/div → lr at pct_start → lr/div_final', () => {
  const lr = 1e-3;
  const s = oneCycleLr(lr);
  close(s(0), lr / 25);
  close(s(defaultOneCycle.pctStart), lr);
  close(s(1), lr / 1e5);
  // halfway through the warm-up: cosine mean of start and peak
  close(s(0.125), (lr / 25 + lr) / 2);
  // halfway through the annealing
  close(s(0.625), (lr + lr / 1e5) / 2);
  const m = oneCycleMomentum();
  close(m(0), 0.95);
  close(m(0.25), 0.85);
  close(m(1), 0.95);
});

test('combineScheds rejects percentages that do not sum to 1', () => {
  assert.throws(() => combineScheds([0.5, 0.4], [schedLin(0, 1), schedLin(1, 0)]), (e: unknown) => e instanceof HipfracError && e.code === 'HF_TRAIN_BAD_SCHEDULE');
});

test('discriminative LRs are geometric from lo to hi (fastai slice)', () => {
  const lrs = discriminativeLrs(1e-5, 1e-3, 3);
  close(lrs[0] as number, 1e-5);
  close(lrs[1] as number, 1e-4);
  close(lrs[2] as number, 1e-3);
  assert.deepEqual(discriminativeLrs(1e-5, 1e-3, 1), [1e-3]);
});

test('LR suggestions on a synthetic loss curve', () => {
  // Loss flat until 1e-5, falls steadily to a minimum at 1e-1, then explodes.
  const lrs = Array.from({ length: 100 }, (_, i) => 1e-7 * (1e8) ** (i / 99));
  const losses = lrs.map((lr) => {
    const x = Math.log10(lr);
    if (x < -5) return 1;
    if (x < -1) return 1 - 0.2 * (x + 5);
    return 0.2 + 3 * (x + 1) ** 2;
  });
  const v = valley(lrs, losses);
  assert.ok(v > 1e-5 && v < 1e-1, `valley ${v} inside the descent`);
  const st = steep(lrs, losses);
  assert.ok(st > 1e-5 && st < 1e-1, `steep ${st} inside the descent`);
  const mn = minimum(lrs, losses);
  close(Math.log10(mn), -2, 0.05);
  const smoothed = smoothLosses([1, 1, 1, 1], 0.98);
  smoothed.forEach((x) => close(x, 1));
});

test('config validation reports every problem at once and freezes the result', () => {
  try {
    resolveConfig({ batchSize: 0, pctStart: 1.5, optimizer: 'lion', colour: 'red' }, 'cfg.json');
    assert.fail('should throw');
  } catch (error) {
    assert.ok(error instanceof HipfracError);
    assert.equal(error.code, 'HF_TRAIN_BAD_CONFIG');
    for (const key of ['batchSize', 'pctStart', 'optimizer', 'colour', 'cfg.json']) assert.match(error.message, new RegExp(key));
  }
  const cfg = resolveConfig({ batchSize: 8 });
  assert.equal(cfg.batchSize, 8);
  assert.equal(cfg.frozenEpochs, 8);
  assert.equal(cfg.patience, 7);
  assert.ok(Object.isFrozen(cfg));
});
