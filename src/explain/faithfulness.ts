// Faithfulness without boxes: delete (or insert) pixels in the heatmap's order of relevance and follow the
// model's confidence (Petsiuk et al., "RISE", BMVC 2018). Imputers choose what removed pixels become.
import type { Module } from '../nn/index.js';
import {
  arange,
  argmax,
  avgPool2d,
  expand,
  callTensor,
  fullLike,
  lerp,
  lt,
  noGrad,
  select,
  sort,
  stack,
  tidy,
  zerosLike,
  type Tensor,
} from '../torch/index.js';
import { withMode } from '../models/index.js';
import { SoftmaxOutputTarget, type OutputTarget } from './targets.js';
import { ExplainError } from './errors.js';

/** What removed pixels become: images [N, C, H, W] → baseline images of the same shape. */
export type Imputer = (images: Tensor) => Tensor;

/** Removed pixels take a constant value (RISE's deletion uses black, 0). */
export function constantImputer(value = 0): Imputer {
  return (images) => fullLike(images, value);
}

/** Removed pixels take a local mean (a box blur of `kernel` px, RISE's insertion baseline). */
export function blurImputer(kernel = 11): Imputer {
  if (!Number.isInteger(kernel) || kernel < 1 || kernel % 2 === 0) {
    throw new ExplainError('HF_EXPLAIN_BAD_OPTION', `blur kernel must be an odd positive integer, got ${kernel}.`, { input: 'kernel' });
  }
  return (images) => avgPool2d(images, kernel, 1, Math.floor(kernel / 2), false, false);
}

export interface PerturbationOptions {
  /** 'deletion' (most relevant pixels removed first; lower AUC = more faithful) or 'insertion' (higher = better). */
  readonly mode?: 'deletion' | 'insertion';
  /** Number of steps between 0 % and 100 % of the pixels. Default 16. */
  readonly steps?: number;
  /** Default: blur for insertion, constant 0 for deletion (as RISE). */
  readonly imputer?: Imputer;
  /** Whose confidence to follow; default the softmax probability of each image's predicted class. */
  readonly targets?: OutputTarget | readonly OutputTarget[];
}

export interface PerturbationCurve {
  readonly mode: 'deletion' | 'insertion';
  /** Fractions of pixels changed, 0 … 1. */
  readonly fractions: readonly number[];
  /** Per image: the target score at each fraction. */
  readonly curves: readonly (readonly number[])[];
  /** Per image: area under its curve (trapezoid over fractions). */
  readonly auc: readonly number[];
  readonly meanAuc: number;
}

/**
 * Deletion / insertion curves for heatmaps [N, H, W] over images [N, C, H, W] in [0, 1].
 * Compare with random heatmaps of the same shape: a faithful map gives a lower deletion AUC and a higher insertion AUC.
 * @example const del = perturbationCurve(model, images, cam.compute(images), { mode: 'deletion' });
 */
export function perturbationCurve(model: Module, images: Tensor, heatmaps: Tensor, options: PerturbationOptions = {}): PerturbationCurve {
  const mode = options.mode ?? 'deletion';
  const steps = options.steps ?? 16;
  if (!Number.isInteger(steps) || steps < 1) throw new ExplainError('HF_EXPLAIN_BAD_OPTION', `steps must be a positive integer, got ${steps}.`, { input: 'steps' });
  const [n, , height, width] = images.shape as [number, number, number, number];
  const hs = heatmaps.shape;
  if (hs.length !== 3 || hs[0] !== n || hs[1] !== height || hs[2] !== width) {
    throw new ExplainError('HF_EXPLAIN_HEATMAP_SHAPE', `heatmaps must be [${n}, ${height}, ${width}] to match the images; got [${hs.join(', ')}].`);
  }
  const imputer = options.imputer ?? (mode === 'insertion' ? blurImputer() : constantImputer(0));
  const pixels = height * width;
  const fractions = Array.from({ length: steps + 1 }, (_, s) => s / steps);
  const scores: number[][] = withMode(model, 'eval', () =>
    tidy(() =>
      noGrad(() => {
        const baseline = imputer(images);
        const [, order] = sort(heatmaps.reshape([n, pixels]), -1, true);
        const positions = expand(arange(0, pixels, 1, { dtype: 'int64' }).unsqueeze(0), [n, pixels]);
        // rank[i, p] = position of pixel p in image i's relevance order.
        const ranks = callTensor('aten::scatter', 'src', [zerosLike(order), 1, order, callTensor('aten::contiguous', '', [positions])]);
        let targets = options.targets;
        if (targets === undefined) {
          const predicted = argmax(model.call(images), 1).toArray();
          targets = predicted.map((k) => new SoftmaxOutputTarget(k));
        }
        const list = Array.isArray(targets) ? (targets as readonly OutputTarget[]) : Array.from({ length: n }, () => targets as OutputTarget);
        if (list.length !== n) throw new ExplainError('HF_EXPLAIN_TARGETS', `got ${list.length} targets for ${n} images.`);
        const perStep = fractions.map((f) =>
          tidy(() => {
            const k = Math.round(f * pixels);
            const mask = lt(ranks, k).to('float32').reshape([n, 1, height, width]);
            const x = mode === 'deletion' ? lerp(images, baseline, mask) : lerp(baseline, images, mask);
            const logits = model.call(x);
            return stack(list.map((t, i) => t.score(select(logits, 0, i))), 0).toArray();
          }),
        );
        return Array.from({ length: n }, (_, i) => perStep.map((row) => row[i] as number));
      }),
    ),
  );
  const auc = scores.map((curve) => {
    let area = 0;
    for (let s = 1; s < curve.length; s++) area += ((curve[s - 1] as number) + (curve[s] as number)) / 2 / steps;
    return area;
  });
  return { mode, fractions, curves: scores, auc, meanAuc: auc.reduce((a, b) => a + b, 0) / Math.max(1, auc.length) };
}
