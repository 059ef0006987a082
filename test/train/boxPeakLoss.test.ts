// The box-peak loss against values worked out by hand: the box mask becomes a distribution over the heatmap's cells,
// the heatmap a softmax over the same cells, and the loss their cross-entropy, averaged over the weighted images that
// have a box. Its gradient raises the logit of the boxed cell and lowers the others; a config with the peak loss but
// no box supervision is refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy } from '../../src/torch/index.js';
import { boxPeakLoss, checkConfig } from '../../src/train/index.js';

const close = (a: number, b: number, tol = 1e-6): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

describe('boxPeakLoss', () => {
  it('is the cross-entropy of the heatmap softmax against the box mask, over images with a box', () => {
    tidy(() => {
      // Image 0: 2×2 logits (0, 0, 0, ln 3), its box fills the bottom-right cell: softmax there 3/6, loss ln 2.
      // Image 1: uniform logits, box over the two top cells (each half the mass): loss −ln(1/4) = ln 4.
      // Image 2: no box (an intact image): not counted. Image 3: box unknown (weight 0): not counted.
      const heatmap = tensor(Float32Array.from([0, 0, 0, Math.log(3), 0, 0, 0, 0, 5, -5, 1, 2, 0, 9, 0, 0]), [4, 1, 2, 2]);
      const masks = new Float32Array(4 * 4 * 4);
      for (let y = 2; y < 4; y++) for (let x = 2; x < 4; x++) masks[y * 4 + x] = 1;
      for (let y = 0; y < 2; y++) for (let x = 0; x < 4; x++) masks[16 + y * 4 + x] = 1;
      masks[48] = 1;
      const loss = boxPeakLoss(heatmap, tensor(masks, [4, 1, 4, 4]), tensor(Float32Array.from([1, 1, 1, 0]), [4])).item();
      close(loss, (Math.log(2) + Math.log(4)) / 2, 1e-5);
    });
  });

  it('weighs a partly covered cell by its share of the box mass', () => {
    tidy(() => {
      // One 1×2 heatmap over a 2×4 mask: the box covers 2 pixels of the left cell and 1 of the right one.
      const masks = tensor(Float32Array.from([1, 1, 1, 0, 0, 0, 0, 0]), [1, 1, 2, 4]);
      const heatmap = tensor(Float32Array.from([1, 0]), [1, 1, 1, 2]);
      const logP = [1 - Math.log(Math.E + 1), -Math.log(Math.E + 1)];
      close(boxPeakLoss(heatmap, masks, tensor(Float32Array.from([1]), [1])).item(), -((2 / 3) * (logP[0] as number) + (1 / 3) * (logP[1] as number)), 1e-5);
    });
  });

  it('is 0 with no box in the batch, and its gradient pulls the peak into the box', () => {
    tidy(() => {
      const empty = boxPeakLoss(tensor(new Float32Array(4), [1, 1, 2, 2]), tensor(new Float32Array(4), [1, 1, 2, 2]), tensor(Float32Array.from([1]), [1]));
      assert.equal(empty.item(), 0);
      const heatmap = tensor(new Float32Array(4), [1, 1, 2, 2]).requiresGrad_(true);
      boxPeakLoss(heatmap, tensor(Float32Array.from([0, 1, 0, 0]), [1, 1, 2, 2]), tensor(Float32Array.from([1]), [1])).backward();
      const grad = Array.from(heatmap.grad?.toFloat32Array() ?? []);
      // d/dz of −log softmax(z)_1 at z = 0: softmax − one-hot = (1/4, −3/4, 1/4, 1/4).
      [0.25, -0.75, 0.25, 0.25].forEach((g, i) => close(grad[i] as number, g, 1e-6));
    });
  });

  it('needs box supervision in the config', () => {
    assert.deepEqual(checkConfig({ boxLossWeight: 1, boxPeakWeight: 0.5 }), []);
    assert.match(JSON.stringify(checkConfig({ boxPeakWeight: 0.5 })), /boxPeakWeight.*needs boxLossWeight > 0/);
    assert.match(JSON.stringify(checkConfig({ boxLossWeight: 1, boxPeakWeight: -1 })), /boxPeakWeight.*must be a number ≥ 0/);
  });
});
