// The fracture classifier around the zoo: registry, heads, grey input, freezing with an optimiser
// step, layer groups, Grad-CAM layers, weight-file errors, checkpoints, BatchNorm folding.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crossEntropy, dispose, expand, inferenceMode, manualSeed, noGrad, rand, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { Adam, BatchNorm2d, Conv2d, Linear, Sequential, saveSafetensors, type Module } from '../../src/nn/index.js';
import {
  buildImagenetModel,
  createClassifier,
  getModelSpec,
  listModels,
  loadCheckpoint,
  optimizeForInference,
  registerModel,
  saveCheckpoint,
  type Classifier,
} from '../../src/models/index.js';
import { HipfracError } from '../../src/util/index.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-classifier-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function expectError(fn: () => unknown, code: string, ...mentions: string[]): HipfracError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof HipfracError, `expected a HipfracError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const m of mentions) assert.ok(error.message.includes(m), `message should mention '${m}': ${error.message}`);
    return error;
  }
  assert.fail(`expected ${code}`);
}

/** Non-trivial BatchNorm statistics so eval-mode BatchNorm (and folding) really transform. */
function randomiseBatchNorm(model: Module): void {
  noGrad(() => {
    for (const [, m] of model.namedModules()) {
      if (!(m instanceof BatchNorm2d)) continue;
      const n = m.numFeatures;
      tidy(() => {
        (m.buffer('running_mean') as Tensor).copy_(rand([n]).sub(0.5).mul(0.2));
        (m.buffer('running_var') as Tensor).copy_(rand([n]).mul(0.5).add(0.75));
        m.param('weight').copy_(rand([n]).mul(0.5).add(0.75));
        m.param('bias').copy_(rand([n]).sub(0.5).mul(0.2));
      });
    }
  });
}

function logits(model: Module, x: Tensor): Float32Array {
  return inferenceMode(() => tidy(() => model.call(x).toFloat32Array()));
}

function same(a: Tensor, b: Tensor): boolean {
  const x = a.toFloat32Array();
  const y = b.toFloat32Array();
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
}

describe('models: registry', () => {
  test('lists the study’s seven CNNs and EfficientNet-B0 with their facts', () => {
    const names = listModels().map((s) => s.name);
    for (const n of ['alexnet', 'vgg19', 'resnet50', 'resnet152', 'squeezenet1_1', 'densenet121', 'densenet169', 'efficientnet_b0']) assert.ok(names.includes(n), n);
    const d = getModelSpec('densenet169');
    assert.equal(d.weightFile, 'densenet169-b2777c0a.pth');
    assert.equal(d.weightUrl, 'https://download.pytorch.org/models/densenet169-b2777c0a.pth');
    assert.equal(d.gradCamLayer, 'body.features.norm5');
    assert.equal(getModelSpec('efficientnet_b3').inputSize, 300);
  });

  test('unknown names list the known ones; duplicates are refused', () => {
    expectError(() => getModelSpec('densenet999'), 'HF_MODELS_UNKNOWN_ARCH', 'densenet999', 'densenet169', 'resnet50');
    expectError(() => registerModel(getModelSpec('resnet18'), { imagenet: () => new Sequential(), body: () => { throw new Error('unused'); }, classifierPrefixes: [] }), 'HF_MODELS_DUPLICATE_ARCH', 'resnet18');
  });

  test('parameter counts equal torchvision’s published num_params', () => {
    // From torchvision's weight metadata (num_params).
    const published: Record<string, number> = { resnet18: 11689512, densenet121: 7978856, squeezenet1_1: 1235496, efficientnet_b0: 5288548, alexnet: 61100840 };
    for (const [name, count] of Object.entries(published)) {
      const model = buildImagenetModel(name);
      assert.equal(model.numParameters(), count, name);
      model.dispose();
    }
  });
});

describe('models: classifier', () => {
  test('every architecture: the Grad-CAM layer yields the body’s last feature map and logits are [N, classes]', () => {
    const x = rand([1, 1, 64, 64]);
    for (const spec of listModels()) {
      const model = createClassifier(spec.name, { numClasses: 3 }).eval();
      let seen: number[] = [];
      const handle = model.gradCamTarget().registerForwardHook((_m, _in, out) => (seen = out.shape));
      const out = tidy(() => inferenceMode(() => model.call(x).shape));
      handle.remove();
      assert.deepEqual(out, [1, 3], spec.name);
      assert.equal(seen.length, 4, `${spec.name}: ${spec.gradCamLayer} output should be a feature map`);
      assert.equal(seen[1], model.body.outChannels, `${spec.name}: ${spec.gradCamLayer} has ${seen[1]} channels, body ends with ${model.body.outChannels}`);
      model.dispose();
    }
    x.dispose();
  });

  test('fastai head: concat pool → BN(2·nf) → Dropout(ps/2) → Linear(512) → ReLU → BN → Dropout(ps) → Linear; linear head', () => {
    const fastai = createClassifier('resnet18');
    const keys = new Map([...fastai.stateDict()].filter(([k]) => k.startsWith('head.')).map(([k, t]) => [k, t.shape]));
    assert.deepEqual(keys.get('head.2.weight'), [1024]);
    assert.deepEqual(keys.get('head.4.weight'), [512, 1024]);
    assert.deepEqual(keys.get('head.6.running_var'), [512]);
    assert.deepEqual(keys.get('head.8.weight'), [2, 512]);
    const drops = [fastai.head.at(3), fastai.head.at(7)].map((m) => (m as unknown as { p: number }).p);
    assert.deepEqual(drops, [0.25, 0.5]);
    fastai.dispose();
    const linear = createClassifier('densenet121', { head: 'linear', numClasses: 5, ps: 0.2 });
    const lin = linear.head.at(3) as Linear;
    assert.deepEqual([lin.inFeatures, lin.outFeatures], [1024, 5]);
    linear.dispose();
    expectError(() => createClassifier('resnet18', { ps: 1.5 }), 'HF_MODELS_BAD_OPTION', 'ps');
  });

  test('a grey image gives the same logits as the image replicated to RGB; other shapes are refused', () => {
    const model = createClassifier('resnet18').eval();
    const grey = rand([2, 1, 64, 64]);
    const rgb = tidy(() => expand(grey, [2, 3, 64, 64]).contiguous());
    const a = logits(model, grey);
    const b = logits(model, rgb);
    assert.deepEqual(a, b);
    expectError(() => tidy(() => model.call(rand([2, 2, 64, 64]))), 'HF_MODELS_INPUT_SHAPE', '[2, 2, 64, 64]');
    dispose([grey, rgb]);
    model.dispose();
  });

  test('freeze: an Adam step leaves frozen body weights bit-identical, moves BatchNorm and head; unfreeze trains the body', () => {
    manualSeed(7);
    const model = createClassifier('resnet18');
    const x = rand([4, 3, 64, 64]);
    const y = tensor(new BigInt64Array([0n, 1n, 1n, 0n]), [4]);
    const conv = (model.getSubmodule('body.layer1.0.conv1') as Conv2d).param('weight');
    const bn = (model.getSubmodule('body.layer1.0.bn1') as BatchNorm2d).param('weight');
    const head = (model.getSubmodule('head.8') as Linear).param('weight');
    const snapshot = (): Tensor[] => noGrad(() => [conv.clone(), bn.clone(), head.clone()]);
    const step = (opt: Adam): void => {
      tidy(() => {
        opt.zeroGrad();
        crossEntropy(model.call(x), y).backward();
        opt.step();
      });
    };

    model.freeze();
    assert.equal(conv.requiresGrad, false);
    assert.equal(bn.requiresGrad, true);
    const opt = new Adam(model.layerGroups().map((params) => ({ params })), { lr: 1e-2 });
    const before = snapshot();
    step(opt);
    assert.ok(same(conv, before[0] as Tensor), 'frozen conv weight changed');
    assert.ok(!same(bn, before[1] as Tensor), 'BatchNorm weight should train while frozen (fastai train_bn)');
    assert.ok(!same(head, before[2] as Tensor), 'head should train');
    dispose(before);

    model.unfreeze();
    const unfrozen = snapshot();
    step(opt);
    assert.ok(!same(conv, unfrozen[0] as Tensor), 'unfrozen conv weight should change');
    dispose([unfrozen, x, y]);
    model.dispose();
  });

  test('layer groups follow fastai’s splits and hold every parameter exactly once', () => {
    const expected: Record<string, [number, string]> = { resnet18: [3, 'body.layer3.0.conv1.weight'], densenet121: [3, 'body.features.transition2.norm.weight'], squeezenet1_1: [4, 'body.features.6.squeeze.weight'] };
    for (const [name, [count, firstOfSecond]] of Object.entries(expected)) {
      const model = createClassifier(name);
      const groups = model.layerGroups();
      assert.equal(groups.length, count, name);
      const all = model.parameters();
      const grouped = groups.flat();
      assert.equal(grouped.length, all.length, name);
      assert.equal(new Set(grouped).size, all.length, name);
      const named = new Map([...model.namedParameters()].map(([k, p]) => [p, k]));
      assert.equal(named.get((groups[1] as Tensor[])[0] as Tensor), firstOfSecond, name);
      assert.deepEqual(groups[groups.length - 1], model.head.parameters(), name);
      model.dispose();
    }
  });
});

describe('models: weights and checkpoints', () => {
  const resnet18File = path.join(tmp, 'resnet18-f37072fd.pth');
  // An ImageNet state (torchvision keys) written as safetensors under torchvision's .pth name:
  // the reader goes by content, not by extension.
  const imagenet = buildImagenetModel('resnet18');
  saveSafetensors(resnet18File, imagenet.stateDict());
  after(() => imagenet.dispose());

  test('pretrained: the torchvision file is found by name in the weights dir and loaded into the body', () => {
    const model = createClassifier('resnet18', { pretrained: true, weightsDir: tmp });
    assert.equal(model.weightsSource, resnet18File);
    const body = model.body.stateDict();
    for (const [key, t] of imagenet.stateDict()) {
      if (key.startsWith('fc.')) continue;
      assert.ok(same(body.get(key) as Tensor, t), key);
    }
    model.dispose();
  });

  test('missing weights name the file, the architecture, the URL and training from scratch', () => {
    const e = expectError(() => createClassifier('densenet169', { pretrained: true, weightsDir: tmp }), 'HF_MODELS_WEIGHTS_NOT_FOUND', 'densenet169-b2777c0a.pth', 'densenet169', 'https://download.pytorch.org/models/densenet169-b2777c0a.pth');
    assert.ok(e.message.includes('from scratch'));
  });

  test('a file for another architecture is refused naming file, architecture and offending keys', () => {
    expectError(() => createClassifier('resnet34', { weights: resnet18File }), 'HF_MODELS_WEIGHTS_MISMATCH', 'resnet18-f37072fd.pth', 'resnet34', 'layer1.2.conv1.weight');
    expectError(() => createClassifier('resnet50', { weights: resnet18File }), 'HF_MODELS_WEIGHTS_MISMATCH', 'mis-shaped', 'layer1.0.conv1.weight');
    const junk = path.join(tmp, 'junk.pth');
    writeFileSync(junk, 'not a weight file');
    expectError(() => createClassifier('resnet18', { weights: junk }), 'HF_MODELS_WEIGHTS_UNREADABLE', 'junk.pth');
  });

  test('checkpoint round trip: save → load gives identical logits and the card', () => {
    manualSeed(3);
    const model = createClassifier('squeezenet1_1', { numClasses: 2, ps: 0.3 }).eval();
    randomiseBatchNorm(model);
    const dir = path.join(tmp, 'ckpt');
    saveCheckpoint(dir, model, { classes: ['intact', 'fracture'], metrics: { accuracy: 0.9 }, threshold: { cutoff: 0.995, method: 'test' }, dataFingerprint: 'abc' });
    const { model: loaded, card } = loadCheckpoint(dir);
    const x = rand([2, 1, 96, 96]);
    assert.deepEqual(logits(loaded, x), logits(model, x));
    assert.equal(card.architecture, 'squeezenet1_1');
    assert.equal(card.ps, 0.3);
    assert.deepEqual(card.classes, ['intact', 'fracture']);
    assert.equal(card.channels, 'grey-replicated');
    assert.equal(card.threshold?.cutoff, 0.995);
    assert.match(card.hipfracVersion, /^\d+\.\d+\.\d+/);
    expectError(() => saveCheckpoint(path.join(tmp, 'bad'), model, { classes: ['a', 'b', 'c'] }), 'HF_MODELS_CHECKPOINT_INVALID', '3 classes');
    dispose(x);
    model.dispose();
    loaded.dispose();
  });

  test('broken checkpoints name the file and the fix', () => {
    expectError(() => loadCheckpoint(path.join(tmp, 'nowhere')), 'HF_MODELS_CHECKPOINT_MISSING', 'model.json');
    const dir = path.join(tmp, 'broken');
    const model = createClassifier('resnet18');
    saveCheckpoint(dir, model, { classes: ['intact', 'fracture'] });
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ architecture: 'resnet18', head: 'linear', ps: 0.5, classes: ['intact', 'fracture'] }));
    expectError(() => loadCheckpoint(dir), 'HF_MODELS_CHECKPOINT_INVALID', 'resnet18/linear');
    writeFileSync(path.join(dir, 'model.json'), '{ not json');
    expectError(() => loadCheckpoint(dir), 'HF_MODELS_CHECKPOINT_INVALID', 'model.json');
    model.dispose();
  });
});

describe('models: optimizeForInference', () => {
  test('folded copies (NCHW and channels-last, batch 1 and 2) give the same logits; the original is untouched', () => {
    for (const name of ['resnet18', 'efficientnet_b0', 'densenet121', 'vgg19_bn']) {
      manualSeed(11);
      const model: Classifier = createClassifier(name).eval();
      randomiseBatchNorm(model);
      for (const channelsLast of [false, true]) {
        const fused = optimizeForInference(model, { channelsLast });
        const folded = [...fused.namedModules()].filter(([, m]) => m.constructor.name === 'FoldedNorm').length;
        assert.ok(folded > 0, `${name}: nothing was folded`);
        // Batch 1 takes DenseNet's preallocated-buffer path, batch 2 the concatenating one.
        for (const batch of [1, 2]) {
          const x = rand([batch, 1, 64, 64]);
          const before = logits(model, x);
          const ours = logits(fused, x);
          const scale = Math.max(1, ...before.map(Math.abs));
          const error = Math.max(...before.map((v, i) => Math.abs(v - (ours[i] as number)))) / scale;
          assert.ok(error < 1e-5, `${name} (channelsLast ${channelsLast}, batch ${batch}): folded logits differ by ${error}`);
          assert.deepEqual(logits(model, x), before, `${name}: the original changed`);
          dispose(x);
        }
        fused.dispose();
      }
      model.dispose();
    }
    expectError(() => optimizeForInference(new Sequential(new Conv2d(3, 3, 1))), 'HF_MODELS_NOT_FOLDABLE', 'Sequential');
  });
});
