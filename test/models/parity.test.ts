// Proof that the zoo is torchvision-exact: with the same random weights (torch.save files written by
// torchvision at test time), every architecture's eval logits, and one training step of DenseNet-121
// and ResNet-50 (loss, gradients, running statistics), equal PyTorch's within float32 tolerance.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { crossEntropy, dispose, inferenceMode, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { loadPth, type Module } from '../../src/nn/index.js';
import { buildImagenetModel, createClassifier, listModels, optimizeForInference } from '../../src/models/index.js';
import { makeReferences, maxRelativeError, type References } from './reference.js';
import { needs } from '../helpers/references.js';

const EVAL_ARCHS = listModels().map((s) => s.name);
const TRAIN_ARCHS = ['densenet121', 'resnet50'];
// float32 through 50–150 layers with differently ordered kernels: errors relative to the largest logit.
const LOGIT_TOLERANCE = 1e-4;
const GRAD_TOLERANCE = 1e-3;


function loadInto(model: Module, file: string): void {
  const state = loadPth(file);
  try {
    model.loadStateDict(state);
  } finally {
    dispose(state);
  }
}

function loadPthKeys(file: string): string[] {
  const state = loadPth(file);
  const keys = [...state.keys()];
  dispose(state);
  return keys;
}

function evalLogits(model: Module, input: Tensor): Float32Array {
  return inferenceMode(() => tidy(() => model.call(input).toFloat32Array()));
}

describe('models: torchvision parity', needs('torch', 'torchvision'), () => {
  let refs: References;
  before(() => {
    refs = makeReferences(EVAL_ARCHS, TRAIN_ARCHS);
  });
  after(() => {
    dispose([refs.input, refs.trainInput]);
    refs.cleanup();
  });

  for (const name of EVAL_ARCHS) {
    test(`${name}: eval logits at 224 px, batch 2, equal torchvision's; folded BatchNorm copy too`, (t) => {
      const model = buildImagenetModel(name);
      loadInto(model, refs.file(`${name}.pth`));
      model.eval();
      const expected = refs.logits(name);
      const ours = evalLogits(model, refs.input);
      const error = maxRelativeError(ours, expected);
      const fused = optimizeForInference(model);
      const fusedError = maxRelativeError(evalLogits(fused, refs.input), expected);
      t.diagnostic(`max relative error ${error.toExponential(2)}, folded ${fusedError.toExponential(2)}`);
      model.dispose();
      fused.dispose();
      assert.equal(ours.length, 2 * 1000);
      assert.ok(error < LOGIT_TOLERANCE, `${name}: logits differ from torchvision's by ${error} (relative)`);
      assert.ok(fusedError < LOGIT_TOLERANCE, `${name}: folded logits differ by ${fusedError} (relative)`);
    });
  }

  for (const name of TRAIN_ARCHS) {
    test(`${name}: one training step matches (loss, every gradient, running statistics)`, (t) => {
      const model = buildImagenetModel(name);
      loadInto(model, refs.file(`${name}.train-before.pth`));
      model.train();
      const loss = tidy(() => {
        const l = crossEntropy(model.call(refs.trainInput), tensor(new BigInt64Array(refs.trainTarget.map(BigInt)), [2]));
        l.backward();
        return l.item();
      });
      const grads = loadPth(refs.file(`${name}.grads.pth`));
      const after = loadPth(refs.file(`${name}.train-after.pth`));
      let worstGrad = 0;
      let worstGradKey = '';
      for (const [key, p] of model.namedParameters()) {
        const ours = tidy(() => p.grad?.toFloat32Array());
        const theirs = grads.get(key);
        assert.ok(ours !== undefined && theirs !== undefined, `${name}: gradient of ${key} missing`);
        const e = maxRelativeError(ours, theirs.toFloat32Array());
        if (e > worstGrad) [worstGrad, worstGradKey] = [e, key];
      }
      let worstStat = 0;
      let buffers = 0;
      for (const [key, b] of model.namedBuffers()) {
        const theirs = after.get(key);
        assert.ok(theirs !== undefined, `${name}: buffer ${key} missing from torchvision's state`);
        if (key.endsWith('num_batches_tracked')) assert.equal(b.item(), theirs.item(), key);
        else worstStat = Math.max(worstStat, maxRelativeError(b.toFloat32Array(), theirs.toFloat32Array()));
        buffers++;
      }
      t.diagnostic(`loss ${loss} vs ${refs.loss(name)}; worst gradient error ${worstGrad.toExponential(2)} (${worstGradKey}); worst running-stat error ${worstStat.toExponential(2)} over ${buffers} buffers`);
      dispose([grads, after]);
      model.dispose();
      assert.ok(Math.abs(loss - refs.loss(name)) <= 1e-5 * Math.max(1, Math.abs(refs.loss(name))), `${name}: loss ${loss} vs torchvision ${refs.loss(name)}`);
      assert.ok(worstGrad < GRAD_TOLERANCE, `${name}: gradient of ${worstGradKey} differs by ${worstGrad} (relative)`);
      assert.ok(worstStat < LOGIT_TOLERANCE, `${name}: running statistics differ by ${worstStat} (relative)`);
    });
  }

  test('densenet121: a legacy-format torch.save file with old keys (norm.1, conv.2) loads into a classifier body', () => {
    const state = loadPth(refs.file('densenet121.pth'));
    const file = refs.file('densenet121-legacy.pth');
    const legacyKeys = [...loadPthKeys(file)];
    const model = createClassifier('densenet121', { weights: file });
    const body = model.body.stateDict();
    let differing = 0;
    for (const [key, t] of state) {
      if (key.startsWith('classifier.')) continue;
      const mine = body.get(key);
      assert.ok(mine !== undefined, `body lacks ${key}`);
      if (maxRelativeError(mine.toFloat32Array(), t.toFloat32Array()) !== 0) differing++;
    }
    dispose(state);
    model.dispose();
    assert.equal(legacyKeys.filter((k) => /denselayer\d+\.norm\.1\.weight$/.test(k)).length, 58, 'the legacy file should carry 58 dense layers with norm.1 keys');
    assert.equal(legacyKeys.filter((k) => k.endsWith('num_batches_tracked')).length, 0);
    assert.equal(differing, 0);
  });
});

