// The Learner on a toy task: it learns, the LR finder restores the model, callbacks fail loudly,
// early stopping stops, the monitored figure chooses the epoch kept, freezing keeps the body bit-identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { autocast, inferenceMode, isAutocast, manualSeed, tensor, tidy } from '../../src/torch/index.js';
import { AdamW } from '../../src/nn/index.js';
import { EarlyStopping, Learner, lrFind, resolveConfig, SaveBest, type Callback, type OptimizerFactory } from '../../src/train/index.js';
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

test('the epoch kept follows the monitor: accuracy keeps an epoch that calls everything normal, ROC-AUC the one that ranks fractures first', async () => {
  // Two scripted validation passes on 8 normal and 2 fractured images (fracture probabilities).
  const labels = Int32Array.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
  const passes = [
    [0.1, 0.12, 0.15, 0.18, 0.22, 0.25, 0.3, 0.35, 0.2, 0.05], // nothing called a fracture: accuracy 0.8, ROC-AUC 0.25
    [0.3, 0.4, 0.52, 0.55, 0.6, 0.2, 0.1, 0.35, 0.9, 0.7], // three false alarms: accuracy 0.7, ROC-AUC 1
  ];
  const scripted: Callback = {
    name: 'ScriptedValidation',
    order: 5,
    afterValidate: (l) => {
      const p = passes[l.epoch] as number[];
      const correct = p.filter((q, i) => (q >= 0.5 ? 1 : 0) === labels[i]).length;
      l.lastValidation = { ...(l.lastValidation as NonNullable<Learner['lastValidation']>), numClasses: 2, labels, probs: Float32Array.from(p.flatMap((q) => [1 - q, q])), accuracy: correct / p.length };
    },
  };
  const byAccuracy = new SaveBest(false);
  const byAuc = new SaveBest(false, 'roc-auc');
  const learner = makeLearner([scripted]);
  await learner.fit(2, 1e-4, [byAccuracy, byAuc]);
  assert.equal(byAccuracy.bestEpoch, 0);
  assert.equal(byAuc.bestEpoch, 1);
  assert.ok(Math.abs(byAuc.bestScore - 1) < 1e-12 && Math.abs(byAccuracy.bestScore - 0.8) < 1e-6);
  assert.deepEqual(learner.history.map((h) => h.validRocAuc), [0.25, 1], 'the history records the validation ROC-AUC of each epoch');
  byAccuracy.release();
  byAuc.release();
  // One class in validation: ROC-AUC is undefined, and the monitor says so instead of keeping no epoch.
  const oneClass: Callback = { name: 'OneClass', order: 5, afterValidate: (l) => { l.lastValidation = { ...(l.lastValidation as NonNullable<Learner['lastValidation']>), numClasses: 2, labels: new Int32Array(10), probs: new Float32Array(20).fill(0.5) }; } };
  await assert.rejects(makeLearner([oneClass]).fit(1, 1e-4, [new EarlyStopping(2, 0, 'roc-auc')]), (e: unknown) => e instanceof HipfracError && /one class only/.test(e.message) && /--monitor accuracy/.test(e.message));
});

test('a failing callback is re-thrown naming the callback and the event', async () => {
  const learner = makeLearner([{ name: 'Broken', beforeBatch: () => { throw new Error('boom'); } }]);
  await assert.rejects(learner.fit(1, 1e-3), (e: unknown) => e instanceof HipfracError && e.code === 'HF_TRAIN_CALLBACK_FAILED' && /Broken/.test(e.message) && /beforeBatch/.test(e.message));
});

test("precision 'bf16' trains the toy task under autocast with float32 weights, and validates in float32", async () => {
  manualSeed(1);
  const learner = new Learner({ model: new ToyNet(), train: new ToySource(toyData(96, 1), 16, true), valid: new ToySource(toyData(48, 2), 16, false), optimizer: adamw, seed: 3, precision: 'bf16' });
  await learner.fitOneCycle(6, 0.01);
  const v = await learner.validate();
  assert.ok(v.accuracy >= 0.9, `accuracy ${v.accuracy}`);
  assert.ok((learner.history[5]?.trainLoss ?? 1) < (learner.history[0]?.trainLoss ?? 0), 'loss fell');
  assert.deepEqual(new Set(learner.model.parameters().map((p) => p.dtype)), new Set(['float32']), 'weights stay float32');
  assert.equal(isAutocast(), false, 'autocast is off again after the fit');
  // Validation is the float32 forward pass: its logits are the model's own outside any scope (same batches of 16),
  // and far from the bfloat16 forward pass's.
  const data = toyData(48, 2);
  const forward = (precision: 'fp32' | 'bf16'): number[] =>
    tidy(() => {
      learner.model.eval();
      const out: number[] = [];
      for (let i = 0; i < 48; i += 16) {
        const x = tensor(data.images.subarray(i * 256, (i + 16) * 256), [16, 1, 16, 16]);
        out.push(...inferenceMode(() => autocast('cpu', precision, () => learner.model.call(x)).to('float32').toArray()));
      }
      return out;
    });
  const byIndex = new Array<number>(96);
  v.indices.forEach((index, row) => { byIndex[2 * index] = v.logits[2 * row] as number; byIndex[2 * index + 1] = v.logits[2 * row + 1] as number; });
  const maxDiff = (a: number[], b: number[]): number => Math.max(...a.map((x, i) => Math.abs(x - (b[i] as number))));
  assert.ok(maxDiff(byIndex, forward('fp32')) < 1e-6, `validation logits are float32 (max difference ${maxDiff(byIndex, forward('fp32'))})`);
  assert.ok(maxDiff(byIndex, forward('bf16')) > 1e-4, 'the bfloat16 forward pass gives visibly other logits');
});

test('an unknown precision is refused by the learner and by the training config', () => {
  assert.throws(() => new Learner({ model: new ToyNet(), train: new ToySource(toyData(16, 1), 16, true), valid: new ToySource(toyData(16, 2), 16, false), optimizer: adamw, precision: 'fp16' as never }), (e: unknown) => e instanceof HipfracError && e.code === 'HF_TRAIN_BAD_OPTION');
  assert.throws(() => resolveConfig({ precision: 'fp16' }), /precision.*must be one of fp32, bf16/s);
  assert.equal(resolveConfig({ precision: 'bf16' }).precision, 'bf16');
  assert.equal(resolveConfig({}).precision, 'fp32', "the study's protocol trains in float32");
});
