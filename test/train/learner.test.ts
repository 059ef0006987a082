// The Learner on a toy task: it learns, the LR finder restores the model, callbacks fail loudly,
// early stopping stops, freezing keeps the body bit-identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed } from '../../src/torch/index.js';
import { AdamW } from '../../src/nn/index.js';
import { EarlyStopping, Learner, lrFind, type Callback, type OptimizerFactory } from '../../src/train/index.js';
import { HipfracError } from '../../src/util/index.js';
import { ToyNet, ToySource, toyData } from './toy.js';

const adamw: OptimizerFactory = (groups) => new AdamW(groups.map((params) => ({ params })), { lr: 1e-3, weightDecay: 0.01 });

function makeLearner(callbacks: Callback[] = []): Learner {
  manualSeed(1);
  return new Learner({
    model: new ToyNet(),
    train: new ToySource(toyData(96, 1), 16, true),
    valid: new ToySource(toyData(48, 2), 16, false),
    optimizer: adamw,
    seed: 3,
    callbacks,
  });
}

const snapshot = (l: Learner): Map<string, number[]> => new Map([...l.model.stateDict()].map(([k, v]) => [k, v.toArray()]));

test('fitOneCycle learns the toy task', async () => {
  const learner = makeLearner();
  await learner.fitOneCycle(6, 0.01);
  const v = await learner.validate();
  assert.ok(v.accuracy >= 0.9, `accuracy ${v.accuracy}`);
  assert.equal(learner.history.length, 6);
  assert.ok((learner.history[5]?.trainLoss ?? 1) < (learner.history[0]?.trainLoss ?? 0), 'loss fell');
  assert.equal(v.probs.length, 48 * 2);
});

test('the LR finder sweeps, suggests inside its range and restores weights and history', async () => {
  const learner = makeLearner();
  const before = snapshot(learner);
  const result = await lrFind(learner, { numIterations: 30 });
  assert.ok(result.lrs.length > 5);
  assert.ok(result.suggested >= 1e-7 && result.suggested <= 10);
  for (let i = 1; i < result.lrs.length; i++) assert.ok((result.lrs[i] as number) > (result.lrs[i - 1] as number));
  assert.deepEqual(snapshot(learner), before, 'weights and BN statistics restored');
  assert.equal(learner.history.length, 0);
});

test('a frozen body stays bit-identical while the head trains', async () => {
  const learner = makeLearner();
  learner.freeze();
  const model = learner.model as ToyNet;
  const convBefore = model.body.stateDict().get('0.weight')?.toArray();
  const headBefore = model.head.stateDict().get('2.weight')?.toArray();
  await learner.fit(1, 1e-2);
  assert.deepEqual(model.body.stateDict().get('0.weight')?.toArray(), convBefore);
  assert.notDeepEqual(model.head.stateDict().get('2.weight')?.toArray(), headBefore);
});

test('early stopping ends the fit after `patience` epochs without gain', async () => {
  const flat: Callback = { name: 'ConstantAccuracy', order: 15, afterValidate: (l) => { l.lastValidation = { ...(l.lastValidation as NonNullable<Learner['lastValidation']>), accuracy: 0.5 }; } };
  const learner = makeLearner([flat]);
  await learner.fit(10, 1e-4, [new EarlyStopping(2)]);
  assert.equal(learner.history.length, 3, 'best at epoch 1, then two without gain');
});

test('a failing callback is re-thrown naming the callback and the event', async () => {
  const learner = makeLearner([{ name: 'Broken', beforeBatch: () => { throw new Error('boom'); } }]);
  await assert.rejects(learner.fit(1, 1e-3), (e: unknown) => e instanceof HipfracError && e.code === 'HF_TRAIN_CALLBACK_FAILED' && /Broken/.test(e.message) && /beforeBatch/.test(e.message));
});
