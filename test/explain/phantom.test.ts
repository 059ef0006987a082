// Grad-CAM and attacks on the phantom cohort, with a ResNet-18 trained here from scratch until it finds the
// fractures: twin hip crops (each fractured crop beside the same crop intact) split by patient. The pointing game
// on held-out fractures must be far above a random heatmap's, and FGSM/PGD must cost accuracy monotonically in ε.
// About two minutes on two cores: one training run serves every test in the file.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBatches } from '../../src/data/index.js';
import { ClassifierOutputTarget, GradCam, GradCamPlusPlus, heatmapsFromTensor, localisationScores, type Box, type Heatmap } from '../../src/explain/index.js';
import { createClassifier, type Classifier } from '../../src/models/index.js';
import { Adam } from '../../src/nn/index.js';
import { renderHipCrops, type HipCropSet } from '../../src/phantom/index.js';
import { epsilonSweep, Pgd, type LabelledBatch } from '../../src/robust/index.js';
import { Learner } from '../../src/train/index.js';
import { defaultThreadCount, manualSeed, rand, setNumThreads, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { auc } from '../phantom/classifier.js';

setNumThreads(defaultThreadCount());

let crops: HipCropSet;
let model: Classifier;
let held: number[];
let probabilities: Float32Array;

/** Crops `indices` as one [N, 1, S, S] tensor. */
function batchOf(indices: readonly number[]): Tensor {
  const s = crops.outputSize;
  const plane = s * s;
  const data = new Float32Array(indices.length * plane);
  indices.forEach((i, k) => data.set(crops.images.subarray(i * plane, (i + 1) * plane), k * plane));
  return tensor(data, [indices.length, 1, s, s]);
}

before(async () => {
  crops = renderHipCrops({ patients: 300, seed: 11, outputSize: 96 });
  const all = Array.from({ length: crops.count }, (_, i) => i);
  // Every fifth patient is held out; twins stay together on one side of the split.
  const train = all.filter((i) => (crops.patients[i] as number) % 5 !== 0);
  held = all.filter((i) => (crops.patients[i] as number) % 5 === 0);
  const size = [crops.outputSize, crops.outputSize] as const;
  manualSeed(1);
  model = createClassifier('resnet18', { head: 'linear', ps: 0.25 });
  const learner = new Learner({
    model,
    // Twins share a batch: the step sees the fracture as the only difference. Flips only; warps move the box.
    train: new MemoryBatches(crops.images, crops.labels, size, train, { batchSize: 32, groupSize: 2, seed: 3, augment: { flipP: 0.5, pAffine: 0, pLighting: 0 } }),
    valid: new MemoryBatches(crops.images, crops.labels, size, held, { batchSize: 64, shuffle: false }),
    optimizer: (groups) => new Adam(groups.filter((g) => g.length > 0).map((g) => ({ params: g })), { lr: 1e-3 }),
    seed: 5,
  });
  await learner.fitOneCycle(14, 1e-3);
  const result = await learner.validate();
  probabilities = Float32Array.from({ length: held.length }, (_, k) => result.probs[2 * k + 1] as number);
  model.eval();
});

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
        maps.push(...heatmapsFromTensor(new Cam(model, 'body.layer3').compute(batchOf(fractured.slice(s, s + 32)), new ClassifierOutputTarget(1))));
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
  const batches: LabelledBatch[] = [];
  for (let s = 0; s < held.length; s += 64) {
    const part = held.slice(s, s + 64);
    batches.push({ images: batchOf(part), labels: tensor(BigInt64Array.from(part, (i) => BigInt(crops.labels[i] as number)), [part.length]) });
  }
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
