// The fine box head: the last-map head upsampled to the map at one cell per 16 px (a ResNet's layer3, a DenseNet's
// dense block 3, an EfficientNet's features.5) plus a 1×1 convolution on that map. Its heatmap has twice the rows and
// columns, starts equal to the last-map head upsampled (the finer term is zero), takes gradients into both maps,
// survives a checkpoint round trip (the card names the layer), and is refused for an architecture without a finer
// map, and for a card whose layer does not match the architecture.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClassifier, getModelSpec, loadCheckpoint, saveCheckpoint } from '../../src/models/index.js';
import { interpolate, manualSeed, noGrad, rand, tidy } from '../../src/torch/index.js';

describe('fine box head', () => {
  it('doubles the heatmap resolution and starts as the last-map head upsampled', () => {
    manualSeed(3);
    const model = createClassifier('resnet18', { weights: null, boxHead: 'fine' });
    model.eval();
    tidy(() => {
      const x = rand([2, 1, 128, 128]);
      const { logits, heatmap } = noGrad(() => model.forwardWithHeatmap(x));
      assert.deepEqual(heatmap.shape, [2, 1, 8, 8]);
      assert.deepEqual(logits.shape, [2, 2]);
      // The same logits as a plain forward: the hook on layer3 changes nothing else.
      const plain = noGrad(() => model.forward(x)).toFloat32Array();
      logits.toFloat32Array().forEach((v, i) => assert.ok(Math.abs(v - (plain[i] as number)) < 1e-5));
      const coarse = noGrad(() => interpolate((model.boxHead as NonNullable<typeof model.boxHead>).call(model.body.call(x.sub(model.buffer('mean') as never).div(model.buffer('std') as never))), [8, 8], 'bilinear'));
      const got = heatmap.toFloat32Array();
      coarse.toFloat32Array().forEach((v, i) => assert.ok(Math.abs(v - (got[i] as number)) < 1e-4, `cell ${i}: ${got[i]} vs ${v}`));
    });
    model.dispose();
  });

  it('trains both 1×1 convolutions and round-trips through a checkpoint', () => {
    manualSeed(4);
    const model = createClassifier('resnet18', { weights: null, boxHead: 'fine' });
    const fine = model.boxHeadFine as NonNullable<typeof model.boxHeadFine>;
    tidy(() => {
      model.forwardWithHeatmap(rand([2, 1, 64, 64])).heatmap.sum().backward();
      assert.ok(Array.from(fine.param('weight').grad?.toFloat32Array() ?? []).some((g) => g !== 0), 'the layer3 term gets a gradient');
      assert.ok(Array.from((model.boxHead as NonNullable<typeof model.boxHead>).param('weight').grad?.toFloat32Array() ?? []).some((g) => g !== 0), 'the last-map term gets a gradient');
      noGrad(() => fine.param('weight').fill_(0.01));
    });
    model.eval();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-finehead-'));
    try {
      saveCheckpoint(dir, model, { classes: ['intact', 'fracture'], inputSize: 64 });
      const card = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as { boxHead: { threshold: number; fineLayer?: string } };
      assert.equal(card.boxHead.fineLayer, 'body.layer3');
      const { model: loaded } = loadCheckpoint(dir);
      tidy(() => {
        const x = rand([1, 1, 64, 64]);
        const a = noGrad(() => model.forwardWithHeatmap(x).heatmap).toFloat32Array();
        const b = noGrad(() => loaded.forwardWithHeatmap(x).heatmap).toFloat32Array();
        assert.equal(b.length, 16);
        a.forEach((v, i) => assert.ok(Math.abs(v - (b[i] as number)) < 1e-5));
      });
      loaded.dispose();
      // A card naming another layer than the architecture's is refused, naming the field.
      writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ ...JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')), boxHead: { threshold: 0.5, fineLayer: 'body.layer2' } }));
      assert.throws(() => loadCheckpoint(dir), /boxHead\.fineLayer.*body\.layer2.*body\.layer3/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      model.dispose();
    }
  });

  // The finer map's channels as the spec states them match the module's output (a wrong count fails the 1×1 conv),
  // and the map sits at one cell per 16 px: 8 × 8 at 128 px, with the last map at 4 × 4.
  for (const [arch, layer, channels] of [['densenet121', 'body.features.denseblock3', 1024], ['densenet169', 'body.features.denseblock3', 1280], ['efficientnet_b0', 'body.features.5', 112], ['efficientnet_b2', 'body.features.5', 120]] as const) {
    it(`reads ${layer} in ${arch} (${channels} channels)`, () => {
      assert.deepEqual(getModelSpec(arch).fineLayer, { path: layer, channels });
      manualSeed(5);
      const model = createClassifier(arch, { weights: null, boxHead: 'fine' });
      model.eval();
      tidy(() => {
        const x = rand([1, 1, 128, 128]);
        const { logits, heatmap } = noGrad(() => model.forwardWithHeatmap(x));
        assert.deepEqual(heatmap.shape, [1, 1, 8, 8]);
        const plain = noGrad(() => model.forward(x)).toFloat32Array();
        logits.toFloat32Array().forEach((v, i) => assert.ok(Math.abs(v - (plain[i] as number)) < 1e-5));
      });
      // In training mode the finer map's 1×1 convolution gets a gradient through the hooked output.
      model.train();
      tidy(() => {
        model.forwardWithHeatmap(rand([2, 1, 64, 64])).heatmap.sum().backward();
        assert.ok(Array.from((model.boxHeadFine as NonNullable<typeof model.boxHeadFine>).param('weight').grad?.toFloat32Array() ?? []).some((g) => g !== 0), `${arch}: the finer term gets a gradient`);
      });
      model.dispose();
    });
  }

  it('is refused for an architecture without a finer map', () => {
    assert.throws(() => createClassifier('squeezenet1_1', { weights: null, boxHead: 'fine' }), /squeezenet1_1 has no fine box head/);
    assert.throws(() => createClassifier('vgg19_bn', { weights: null, boxHead: 'fine' }), /vgg19_bn has no fine box head/);
  });
});
