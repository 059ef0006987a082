// A spatial attack: the worst rotation + translation from a small grid, no pixel noise at all.
// Engstrom et al., "Exploring the Landscape of Spatial Robustness" ("A rotation and a translation suffice"), ICML 2019.
import type { Module } from '../nn/index.js';
import { crossEntropy, full, gt, noGrad, tidy, where, type Tensor } from '../torch/index.js';
import { Attack, type AttackOptions } from './attack.js';
import { affineTransform, type AffineParams } from './transforms.js';
import { RobustError } from './errors.js';

export interface RotationTranslationOptions extends Omit<AttackOptions, 'loss'> {
  /** Largest rotation, degrees (grid is symmetric). Default 30 (Engstrom et al.). */
  readonly maxRotationDeg?: number;
  /** Rotations tried, including 0 when odd. Default 7 (every 10°). */
  readonly rotationSteps?: number;
  /** Largest shift per axis, pixels. Default 3. */
  readonly maxTranslationPx?: number;
  /** Shifts tried per axis. Default 3 (−t, 0, t). */
  readonly translationSteps?: number;
  /** What fills the corners: 'zeros' (black, as the paper) or 'border'/'reflection'. */
  readonly padding?: 'zeros' | 'border' | 'reflection';
}

function gridValues(max: number, steps: number, name: string): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new RobustError('HF_ROBUST_BAD_OPTION', `${name} steps must be a positive integer, got ${steps}.`, { input: name });
  if (steps === 1) return [0];
  return Array.from({ length: steps }, (_, i) => -max + (2 * max * i) / (steps - 1));
}

/**
 * Grid search over rotations in [−θ, θ] and translations in [−t, t]² (Engstrom et al. 2019, §3: exhaustive
 * grid, the transform with the highest per-image cross-entropy wins; the identity is tried first so ties keep
 * the image). Cost: rotationSteps × translationSteps² forward passes. `lastTransforms` holds each image's choice.
 * @example const rt = new RotationTranslationAttack(model, { maxRotationDeg: 10, maxTranslationPx: 8 });
 */
export class RotationTranslationAttack extends Attack {
  readonly name = 'rotation+translation';
  readonly transforms: readonly AffineParams[];
  private readonly padding: 'zeros' | 'border' | 'reflection';
  /** The transform chosen for each image in the last run. */
  lastTransforms: AffineParams[] = [];

  constructor(model: Module, options: RotationTranslationOptions = {}) {
    super(model, options);
    const maxRotation = options.maxRotationDeg ?? 30;
    const maxShift = options.maxTranslationPx ?? 3;
    if (!(maxRotation >= 0 && maxRotation <= 180)) throw new RobustError('HF_ROBUST_EPS_RANGE', `maxRotationDeg must be in [0, 180], got ${maxRotation}.`, { input: 'maxRotationDeg' });
    if (!(maxShift >= 0)) throw new RobustError('HF_ROBUST_EPS_RANGE', `maxTranslationPx must be ≥ 0, got ${maxShift}.`, { input: 'maxTranslationPx' });
    const angles = gridValues(maxRotation, options.rotationSteps ?? 7, 'rotation');
    const shifts = gridValues(maxShift, options.translationSteps ?? 3, 'translation');
    const all: AffineParams[] = [{ angleDeg: 0, txPx: 0, tyPx: 0 }];
    for (const angleDeg of angles) for (const txPx of shifts) for (const tyPx of shifts) {
      if (angleDeg !== 0 || txPx !== 0 || tyPx !== 0) all.push({ angleDeg, txPx, tyPx });
    }
    this.transforms = all;
    this.padding = options.padding ?? 'zeros';
  }

  protected override perturb(images: Tensor, labels: Tensor): Tensor {
    const n = images.shape[0] as number;
    return noGrad(() => {
      let best = images;
      let bestLoss = full([n], -Infinity, { device: images.device });
      const chosen = new Array<number>(n).fill(0);
      this.transforms.forEach((t, k) => {
        // One scope per transform keeps memory at two batches, not one per grid point.
        const [nextBest, nextLoss] = tidy(() => {
          const candidate = k === 0 ? images : affineTransform(images, t, this.padding);
          const loss = crossEntropy(this.model.call(candidate), labels, { reduction: 'none' });
          const better = gt(loss, bestLoss);
          better.toArray().forEach((b, i) => { if (b === 1) chosen[i] = k; });
          return [where(better.reshape([n, 1, 1, 1]), candidate, best), where(better, loss, bestLoss)];
        });
        if (best !== images) best.dispose();
        bestLoss.dispose();
        best = nextBest;
        bestLoss = nextLoss;
      });
      this.lastTransforms = chosen.map((k) => this.transforms[k] as AffineParams);
      return best;
    });
  }
}
