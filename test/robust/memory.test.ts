// No tensor outlives a CAM, attack, TTA or faithfulness call beyond what it returns: live native tensors stay
// flat over repeated calls (native memory is invisible to the GC, so a leak would grow without bound).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GradCamPlusPlus, perturbationCurve } from '../../src/explain/index.js';
import { FgsmRandomStart, Pgd, RotationTranslationAttack, TestTimeAugmentation, epsilonSweep } from '../../src/robust/index.js';
import { manualSeed, memoryStats, rand, randint, setNumThreads } from '../../src/torch/index.js';
import { TinyCnn } from '../explain/fixtures.js';

setNumThreads(1);

test('repeated CAM, attacks, TTA, sweeps and deletion curves leave no live tensors behind', () => {
  const model = new TinyCnn(2);
  manualSeed(1);
  const images = rand([4, 3, 16, 16]);
  const labels = randint(0, 2, [4], { dtype: 'int64' });
  const cam = new GradCamPlusPlus(model, ['features.relu1', 'features.relu2']);
  const pgd = new Pgd(model, { eps: 4 / 255, steps: 3, seed: 0 });
  const fgsmRs = new FgsmRandomStart(model, { eps: 4 / 255 });
  const rt = new RotationTranslationAttack(model, { rotationSteps: 3, translationSteps: 3 });
  const tta = new TestTimeAugmentation({ views: 3 });
  const round = (): void => {
    const outputs = [cam.compute(images), pgd.run(images, labels), fgsmRs.run(images, labels), rt.run(images, labels), tta.predict(model, images)];
    epsilonSweep(model, [{ images, labels }], { eps: [0, 2 / 255] });
    const heat = rand([4, 16, 16]);
    perturbationCurve(model, images, heat, { steps: 4 });
    heat.dispose();
    for (const t of outputs) t.dispose();
  };
  round(); // warm-up: caches (e.g. operator handles) may allocate once
  const before = memoryStats().liveTensors;
  for (let i = 0; i < 5; i++) round();
  const after = memoryStats().liveTensors;
  // ≤: the GC finaliser may free tensors some earlier code dropped; growth is what a leak looks like.
  assert.ok(after <= before, `live tensors ${before} → ${after}`);
  images.dispose();
  labels.dispose();
  model.dispose();
});
