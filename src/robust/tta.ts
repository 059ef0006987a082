// Test-time augmentation as a defence: class probabilities averaged over a fixed set of flipped and slightly
// rotated / shifted / zoomed views (the study's proposed defence against FGSM).
import type { Module } from '../nn/index.js';
import { noGrad, softmax, stack, tidy, type Tensor } from '../torch/index.js';
import { Rng } from '../util/index.js';
import { withMode } from '../models/index.js';
import type { Predictor } from './predict.js';
import { affineTransform } from './transforms.js';
import { RobustError } from './errors.js';

export interface TtaOptions {
  /** Number of views including the original. Default 8. */
  readonly views?: number;
  /** Mirror every other view left ↔ right. Default true. */
  readonly flips?: boolean;
  /** Largest rotation, degrees. Default 5. */
  readonly maxRotationDeg?: number;
  /** Largest shift per axis as a share of the image side. Default 0.04. */
  readonly maxShift?: number;
  /** Largest zoom factor (≥ 1). Default 1.1 (fastai's default zoom). */
  readonly maxZoom?: number;
  /** Seed of the view parameters (the views are fixed at construction, so predictions are deterministic). */
  readonly seed?: number;
  /** Corner filling. Default 'border'. */
  readonly padding?: 'zeros' | 'border' | 'reflection';
}

interface View {
  readonly angleDeg: number;
  readonly shiftX: number;
  readonly shiftY: number;
  readonly scale: number;
  readonly flip: boolean;
}

/**
 * Mean softmax over n augmented views (view 0 is the image itself).
 * Measured as a defence against attacks crafted on the plain model (grey-box); an attacker who averages
 * gradients over the same views (EOT, Athalye et al. 2018) is not stopped by it.
 * @example const probs = new TestTimeAugmentation({ views: 8 }).predict(model, images);
 */
export class TestTimeAugmentation {
  readonly views: readonly View[];
  private readonly padding: 'zeros' | 'border' | 'reflection';

  constructor(options: TtaOptions = {}) {
    const n = options.views ?? 8;
    const maxRotation = options.maxRotationDeg ?? 5;
    const maxShift = options.maxShift ?? 0.04;
    const maxZoom = options.maxZoom ?? 1.1;
    if (!Number.isInteger(n) || n < 1) throw new RobustError('HF_ROBUST_BAD_OPTION', `TTA needs a positive integer number of views, got ${n}.`, { input: 'views' });
    if (!(maxZoom >= 1) || !(maxShift >= 0 && maxShift < 0.5) || !(maxRotation >= 0 && maxRotation <= 180)) {
      throw new RobustError('HF_ROBUST_BAD_OPTION', `TTA ranges out of bounds: maxZoom ${maxZoom} (≥ 1), maxShift ${maxShift} ([0, 0.5)), maxRotationDeg ${maxRotation} ([0, 180]).`);
    }
    const rng = new Rng(options.seed ?? 0);
    const flips = options.flips ?? true;
    this.views = Array.from({ length: n }, (_, i) =>
      i === 0
        ? { angleDeg: 0, shiftX: 0, shiftY: 0, scale: 1, flip: false }
        : {
            angleDeg: rng.uniform(-maxRotation, maxRotation),
            shiftX: rng.uniform(-maxShift, maxShift),
            shiftY: rng.uniform(-maxShift, maxShift),
            scale: rng.uniform(1, maxZoom),
            flip: flips && i % 2 === 1,
          },
    );
    this.padding = options.padding ?? 'border';
  }

  /** Images [N, C, H, W] in [0, 1] → probabilities [N, classes] averaged over the views. */
  predict(model: Module, images: Tensor): Tensor {
    const [, , height, width] = images.shape as [number, number, number, number];
    return withMode(model, 'eval', () =>
      tidy(() =>
        noGrad(() => {
          const perView = this.views.map((v, i) =>
            tidy(() => {
              const x = i === 0 ? images : affineTransform(images, { angleDeg: v.angleDeg, txPx: v.shiftX * width, tyPx: v.shiftY * height, scale: v.scale, flip: v.flip }, this.padding);
              return softmax(model.call(x), 1);
            }),
          );
          return stack(perView, 0).mean(0);
        }),
      ),
    );
  }

  /** This defence around `model`, as a Predictor. */
  predictor(model: Module): Predictor {
    return (images) => this.predict(model, images);
  }
}
