// ε sweeps: accuracy and attack success rate of one attack over a list of budgets, on labelled batches.
import type { Module } from '../nn/index.js';
import { tidy, type Tensor } from '../torch/index.js';
import type { Attack } from './attack.js';
import { checkEpsilon } from './attack.js';
import { Fgsm } from './fgsm.js';
import { modelPredictor, predictedClasses, type Predictor } from './predict.js';

/** The study-style budgets 0, 0.5, 1, 2, 4, 8 (/255). */
export const DEFAULT_EPSILONS: readonly number[] = [0, 0.5, 1, 2, 4, 8].map((v) => v / 255);

export interface LabelledBatch {
  /** [N, C, H, W] in [0, 1]. */
  readonly images: Tensor;
  /** [N] int64. */
  readonly labels: Tensor;
}

/** Builds the attack for one budget. */
export type AttackFactory = (model: Module, eps: number) => Attack;
export const fgsmAttack: AttackFactory = (model, eps) => new Fgsm(model, { eps });

export interface SweepRow {
  readonly eps: number;
  /** Images evaluated. */
  readonly n: number;
  /** Accuracy on the attacked images. */
  readonly accuracy: number;
  /** Among images classified correctly when clean, the share the attack flips. */
  readonly attackSuccessRate: number;
  readonly cleanCorrect: number;
  readonly flipped: number;
}

export interface SweepOptions {
  /** Budgets on the [0, 1] scale. Default DEFAULT_EPSILONS. */
  readonly eps?: readonly number[];
  /** Default FGSM. */
  readonly attack?: AttackFactory;
  /** Who classifies the attacked images (e.g. a TTA defence); default the model itself. */
  readonly predictor?: Predictor;
}

/**
 * Runs the attack at every ε on every batch (batches are read once, so a generator works) and reports
 * accuracy and attack success rate per ε.
 * @example epsilonSweep(model, [{ images, labels }], { attack: (m, eps) => new Pgd(m, { eps, alpha: eps / 4 }) })
 */
export function epsilonSweep(model: Module, batches: Iterable<LabelledBatch>, options: SweepOptions = {}): SweepRow[] {
  const epsilons = options.eps ?? DEFAULT_EPSILONS;
  for (const eps of epsilons) checkEpsilon(eps);
  const makeAttack = options.attack ?? fgsmAttack;
  const predictor = options.predictor ?? modelPredictor(model);
  const attacks = epsilons.map((eps) => makeAttack(model, eps));
  const totals = epsilons.map(() => ({ n: 0, correct: 0, cleanCorrect: 0, flipped: 0 }));
  for (const batch of batches) {
    const labels = batch.labels.toArray();
    const clean = predictedClasses(predictor, batch.images);
    attacks.forEach((attack, e) => {
      const predicted = tidy(() => predictedClasses(predictor, attack.run(batch.images, batch.labels)));
      const t = totals[e] as (typeof totals)[number];
      labels.forEach((y, i) => {
        t.n += 1;
        if (predicted[i] === y) t.correct += 1;
        if (clean[i] === y) {
          t.cleanCorrect += 1;
          if (predicted[i] !== y) t.flipped += 1;
        }
      });
    });
  }
  return epsilons.map((eps, e) => {
    const t = totals[e] as (typeof totals)[number];
    return {
      eps,
      n: t.n,
      accuracy: t.n === 0 ? Number.NaN : t.correct / t.n,
      attackSuccessRate: t.cleanCorrect === 0 ? Number.NaN : t.flipped / t.cleanCorrect,
      cleanCorrect: t.cleanCorrect,
      flipped: t.flipped,
    };
  });
}
