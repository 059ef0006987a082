// Attacks on a small CNN trained in the test (bright-lesion task): accuracy falls monotonically with ε,
// spatial attack, TTA, adversarial-training batches, robustness table, gallery data, modes and bad input.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { GradCam } from '../../src/explain/index.js';
import {
  adversarialBatch,
  adversarialGallery,
  epsilonSweep,
  Fgsm,
  Pgd,
  predictProbabilities,
  robustnessTable,
  RotationTranslationAttack,
  TestTimeAugmentation,
  writeGalleryPngs,
  type LabelledBatch,
} from '../../src/robust/index.js';
import { abs, crossEntropy, max, noGrad, rand, setNumThreads, sub, tensor, tidy } from '../../src/torch/index.js';
import { HipfracError } from '../../src/util/index.js';
import { accuracy, lesionBatch, TinyCnn, trainTinyCnn } from '../explain/fixtures.js';

// Tiny models run fastest on one thread; on a loaded 2-core machine OpenMP's second thread only costs.
setNumThreads(1);

let model: TinyCnn;
let batches: LabelledBatch[];
let labelsOf: number[][];
const EPS = [0, 1, 2, 4, 8, 16].map((v) => v / 255);

before(() => {
  model = trainTinyCnn(new TinyCnn(1), 150);
  const parts = [lesionBatch(64, 901), lesionBatch(64, 902)];
  batches = parts.map((p) => ({ images: p.images, labels: p.labels }));
  labelsOf = parts.map((p) => p.labelList);
});

function isNonIncreasing(values: readonly number[]): boolean {
  return values.every((v, i) => i === 0 || v <= (values[i - 1] as number) + 1e-12);
}

test('FGSM and PGD reduce accuracy monotonically with ε on a trained model', () => {
  const clean = batches.reduce((a, b, i) => a + accuracy(model, b.images, labelsOf[i] as number[]), 0) / batches.length;
  assert.ok(clean >= 0.9, `clean accuracy ${clean}`);
  const fgsm = epsilonSweep(model, batches, { eps: EPS });
  const pgd = epsilonSweep(model, batches, { eps: EPS, attack: (m, eps) => new Pgd(m, { eps, alpha: eps / 4, steps: 8, seed: 0 }) });
  for (const [name, rows] of [['FGSM', fgsm], ['PGD', pgd]] as const) {
    const acc = rows.map((r) => r.accuracy);
    assert.equal(rows[0]?.accuracy, clean, `${name} at ε = 0 must equal clean accuracy`);
    assert.equal(rows[0]?.attackSuccessRate, 0);
    assert.ok(isNonIncreasing(acc), `${name} accuracy per ε: ${acc.join(', ')}`);
    assert.ok(isNonIncreasing(rows.map((r) => -r.attackSuccessRate)), `${name} success rate must not fall with ε`);
    assert.ok((acc[acc.length - 1] as number) < clean - 0.2, `${name} at 16/255 should cost > 20 points: ${acc.join(', ')}`);
    assert.equal(rows[0]?.n, 128);
  }
});

test('the rotation-translation search never lowers the loss, keeps the identity on a one-point grid, and can fool the model', () => {
  tidy(() => {
    const { images, labels } = batches[0] as LabelledBatch;
    const identityOnly = new RotationTranslationAttack(model, { rotationSteps: 1, translationSteps: 1 });
    const same = identityOnly.run(images, labels);
    assert.equal(max(abs(sub(same, images))).item(), 0);
    // Large shifts push the lesion out of the frame (black padding): positives turn negative.
    const rt = new RotationTranslationAttack(model, { maxRotationDeg: 30, rotationSteps: 3, maxTranslationPx: 14, translationSteps: 3 });
    const moved = rt.run(images, labels);
    assert.equal(rt.lastTransforms.length, 64);
    for (const t of rt.lastTransforms) {
      assert.ok([-30, 0, 30].includes(t.angleDeg ?? NaN) && [-14, 0, 14].includes(t.txPx ?? NaN) && [-14, 0, 14].includes(t.tyPx ?? NaN), JSON.stringify(t));
    }
    const lossOf = (x: typeof images): number[] => noGrad(() => crossEntropy(model.call(x), labels, { reduction: 'none' }).toArray());
    const cleanLoss = lossOf(images);
    lossOf(moved).forEach((l, i) => assert.ok(l >= (cleanLoss[i] as number) - 1e-6, `image ${i}: loss ${cleanLoss[i]} → ${l}`));
    const before = accuracy(model, images, labelsOf[0] as number[]);
    const after = accuracy(model, moved, labelsOf[0] as number[]);
    assert.ok(after < before, `accuracy ${before} → ${after}`);
  });
});

test('TTA: one view equals the plain model; several views give probabilities; the robustness table is consistent with the sweep', () => {
  tidy(() => {
    const { images } = batches[0] as LabelledBatch;
    const plain = predictProbabilities(model, images);
    const single = new TestTimeAugmentation({ views: 1 }).predict(model, images);
    assert.ok(max(abs(sub(plain, single))).item() < 1e-6);
    const tta = new TestTimeAugmentation({ views: 6, seed: 3 });
    const probs = tta.predict(model, images);
    assert.deepEqual(probs.shape, [64, 2]);
    const sums = probs.sum(1).toArray();
    assert.ok(sums.every((s) => Math.abs(s - 1) < 1e-5));
    assert.ok(max(abs(sub(plain, probs))).item() > 1e-4, 'augmented views should change the probabilities');
    const table = robustnessTable(
      [{ name: 'none', model }, { name: 'TTA (6 views)', model, predictor: tta.predictor(model) }],
      batches,
      [{ name: 'FGSM 8/255', make: (m) => new Fgsm(m, { eps: 8 / 255 }) }],
    );
    assert.deepEqual(table.attacks, ['FGSM 8/255']);
    assert.equal(table.rows.length, 2);
    const sweep = epsilonSweep(model, batches, { eps: [0, 8 / 255] });
    assert.equal(table.rows[0]?.clean, sweep[0]?.accuracy);
    assert.equal(table.rows[0]?.attacked['FGSM 8/255'], sweep[1]?.accuracy);
    for (const row of table.rows) assert.ok(row.clean >= (row.attacked['FGSM 8/255'] as number), JSON.stringify(row));
  });
});

test('adversarialBatch (fgsm-rs, pgd) stays in the ε-ball and [0, 1] and leaves the training mode alone', () => {
  tidy(() => {
    const { images, labels } = batches[1] as LabelledBatch;
    model.train();
    let modeDuringAttack: boolean | undefined;
    const hook = model.features.registerForwardHook((m) => { modeDuringAttack = m.training; });
    for (const method of ['fgsm-rs', 'pgd'] as const) {
      const eps = 4 / 255;
      const adversarial = adversarialBatch(model, images, labels, { method, eps, seed: 5 });
      const delta = max(abs(sub(adversarial, images))).item();
      assert.ok(delta <= eps + 1e-6 && delta > eps / 2, `${method}: ‖δ‖∞ = ${delta}`);
      assert.ok(max(adversarial).item() <= 1 && adversarial.toArray().every((v) => v >= 0));
      assert.equal(modeDuringAttack, false, 'attacks run in eval mode');
      assert.equal(model.training, true, 'training mode restored');
    }
    hook.remove();
    model.eval();
  });
});

test('gallery data: flipped examples first, both predictions and heatmaps, PNG panels at image size', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-gallery-'));
  try {
    const { images, labels } = batches[0] as LabelledBatch;
    const examples = tidy(() => adversarialGallery(model, images, labels, new Fgsm(model, { eps: 16 / 255 }), { cam: new GradCam(model, 'features.relu2'), limit: 10 }));
    assert.equal(examples.length, 10);
    const flipped = examples.map((e) => e.clean.predicted !== e.adversarial.predicted);
    assert.ok(flipped[0], 'at 16/255 some prediction flips and comes first');
    assert.ok(flipped.every((f, i) => i === 0 || !f || (flipped[i - 1] as boolean)), 'flipped examples precede the others');
    const first = examples[0]!;
    assert.ok(first.linf <= 16 / 255 + 1e-6 && first.linf > 0);
    assert.ok(first.perturbationImage.data.every((v) => v >= 0 && v <= 1));
    assert.equal(first.cleanHeatmap?.width, 32);
    assert.equal(first.adversarialHeatmap?.height, 32);
    const files = await writeGalleryPngs(first, dir, 'case0');
    for (const file of Object.values(files)) {
      const meta = await sharp(file).metadata();
      assert.equal(meta.width, 32);
      assert.equal(meta.height, 32);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad input: ε out of range, normalised images, wrong labels or channels, bad steps', () => {
  const isCode = (code: string, pattern?: RegExp) => (e: unknown): boolean => e instanceof HipfracError && e.code === code && (pattern === undefined || pattern.test(e.message));
  assert.throws(() => new Fgsm(model, { eps: 8 }), isCode('HF_ROBUST_EPS_RANGE', /8\/255/));
  assert.throws(() => new Pgd(model, { eps: -0.1 }), isCode('HF_ROBUST_EPS_RANGE'));
  assert.throws(() => epsilonSweep(model, batches, { eps: [0, 2] }), isCode('HF_ROBUST_EPS_RANGE'));
  assert.throws(() => new Pgd(model, { steps: 0 }), isCode('HF_ROBUST_BAD_OPTION'));
  tidy(() => {
    const { images, labels } = batches[0] as LabelledBatch;
    const fgsm = new Fgsm(model, { eps: 2 / 255 });
    assert.throws(() => fgsm.run(images.sub(0.45).div(0.225), labels), isCode('HF_ROBUST_PIXEL_RANGE', /normalisation is the model's own first step/));
    assert.throws(() => fgsm.run(images, tensor(new Float32Array(64), [64])), isCode('HF_ROBUST_LABELS'));
    assert.throws(() => fgsm.run(rand([2, 1, 32, 32]), labels), isCode('HF_ROBUST_IMAGE_SHAPE', /1 channel/));
  });
});
