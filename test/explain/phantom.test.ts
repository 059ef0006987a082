// Grad-CAM and attacks on the phantom cohort, with a ResNet-18 trained here from scratch until it finds the
// fractures: twin hip crops (each fractured crop beside the same crop intact) split by patient. The pointing game
// on held-out fractures must be far above a random heatmap's, and FGSM/PGD must cost accuracy monotonically in ε.
// The training is the demo's localisation study's (trainTwinCropModel); about two minutes on two cores, one run
// serving every test in the file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClassifierOutputTarget, GradCam, GradCamPlusPlus, heatmapsFromTensor, localisationScores, type Box, type Heatmap } from '../../src/explain/index.js';
import { cropBatch, labelledCropBatches, trainTwinCropModel } from '../../src/cli/pipeline/index.js';
import type { Classifier } from '../../src/models/index.js';
import { renderHipCrops, type HipCropSet } from '../../src/phantom/index.js';
import { epsilonSweep, Pgd } from '../../src/robust/index.js';
import { defaultThreadCount, manualSeed, rand, setNumThreads, tidy } from '../../src/torch/index.js';
import { auc } from '../phantom/classifier.js';

setNumThreads(defaultThreadCount());

let crops: HipCropSet;
let model: Classifier;
let held: readonly number[];
let probabilities: Float32Array;

before(async () => {
  crops = renderHipCrops({ patients: 300, seed: 11, outputSize: 96 });
  ({ model, held, heldOutProbabilities: probabilities } = await trainTwinCropModel(crops));
});
after(() => model.dispose());

test('the model trained on twin hip crops separates fractured from intact held-out hips', () => {
  const labels = held.map((i) => crops.labels[i] as number);
  const { auc: area } = auc(Array.from(probabilities), labels);
  assert.ok(area >= 0.8, `held-out ROC AUC ${area.toFixed(3)} on ${held.length} crops`);
});

test('Grad-CAM points at the fracture far more often than a random heatmap', () => {
  const fractured = held.filter((i) => crops.labels[i] === 1);
  const boxes: Box[][] = fractured.map((i) => [crops.boxes[i] as Box]);
  // At 96 px ResNet-18's last map (layer4) is 3 × 3, too coarse for a box; layer3 (6 × 6) is the named layer.
  for (const Cam of [GradCam, GradCamPlusPlus]) {
    const maps: Heatmap[] = [];
    for (let s = 0; s < fractured.length; s += 32) {
      tidy(() => {
        maps.push(...heatmapsFromTensor(new Cam(model, 'body.layer3').compute(cropBatch(crops, fractured.slice(s, s + 32)), new ClassifierOutputTarget(1))));
      });
    }
    const scores = localisationScores(maps, boxes);
    assert.equal(scores.n, fractured.length);
    assert.ok(scores.randomBaseline > 0.1 && scores.randomBaseline < 0.35, `boxes cover ${scores.randomBaseline} of the crop`);
    assert.ok(scores.pointingGame >= 2 * scores.randomBaseline, `${Cam.name}: pointing game ${scores.pointingGame.toFixed(3)} vs random ${scores.randomBaseline.toFixed(3)}`);
    assert.ok(scores.energyInBoxes >= 1.3 * scores.randomBaseline, `${Cam.name}: heat in boxes ${scores.energyInBoxes.toFixed(3)} vs area ${scores.randomBaseline.toFixed(3)}`);
    // Random heatmaps scored the same way land near the area share, far below the model's maps.
    manualSeed(4);
    const random = tidy(() => heatmapsFromTensor(rand([fractured.length, crops.outputSize, crops.outputSize])));
    const chance = localisationScores(random, boxes);
    assert.ok(chance.pointingGame < scores.pointingGame - 0.2, `random heatmaps ${chance.pointingGame.toFixed(3)} vs ${Cam.name} ${scores.pointingGame.toFixed(3)}`);
  }
});

test('FGSM and PGD cost the phantom model accuracy monotonically in ε', () => {
  // Past the ε where accuracy reaches 0, one-step FGSM can overshoot and give an image back: the sweep stops there.
  const eps = [0, 0.25, 0.5, 1, 2, 4].map((v) => v / 255);
  const batches = labelledCropBatches(crops, held);
  try {
    const fgsm = epsilonSweep(model, batches, { eps });
    const pgd = epsilonSweep(model, batches, { eps, attack: (m, e) => new Pgd(m, { eps: e, alpha: e / 4, steps: 5, seed: 0 }) });
    for (const [name, rows] of [['FGSM', fgsm], ['PGD', pgd]] as const) {
      const accuracy = rows.map((r) => r.accuracy);
      accuracy.forEach((a, i) => assert.ok(i === 0 || a <= (accuracy[i - 1] as number) + 1e-12, `${name} accuracy per ε: ${accuracy.join(', ')}`));
      assert.ok((accuracy[0] as number) >= 0.75, `${name} clean accuracy ${accuracy[0]}`);
      assert.ok((accuracy[accuracy.length - 1] as number) < (accuracy[0] as number) - 0.3, `${name} at 4/255 should cost > 30 points: ${accuracy.join(', ')}`);
    }
  } finally {
    for (const b of batches) {
      b.images.dispose();
      b.labels.dispose();
    }
  }
});
