// The study's protocol (fineTune) without a head-only stage, as from-scratch runs use it: no frozen epochs
// and no range test for them; the unfrozen stage still runs its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Adam } from '../../src/nn/index.js';
import { manualSeed } from '../../src/torch/index.js';
import { fineTune, Learner, resolveConfig } from '../../src/train/index.js';
import { ToyNet, ToySource, toyData } from './toy.js';

test('frozenEpochs 0 skips the head-only stage and its LR range test', async () => {
  manualSeed(11);
  const data = toyData(64, 3);
  const learner = new Learner({ model: new ToyNet(), train: new ToySource(data, 16, true), valid: new ToySource(data, 16, false), optimizer: (groups) => new Adam(groups.map((params) => ({ params }))), seed: 11 });
  const config = resolveConfig({ arch: 'toy', frozenEpochs: 0, unfrozenEpochs: 2, lrMult: 1, patience: 5, lrFind: true });
  const lines: string[] = [];
  const result = await fineTune(learner, config, { stateDir: null, resume: false, log: (l) => lines.push(l) });
  assert.deepEqual(lines.filter((l) => l.startsWith('LR range test')), ['LR range test (all layers)…']);
  assert.equal(result.lrFinder.frozen, null);
  assert.ok(result.lrFinder.unfrozen !== null);
  assert.deepEqual(learner.history.map((h) => h.stage), ['unfrozen', 'unfrozen']);
});
