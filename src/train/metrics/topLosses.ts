// Picks the cases for the interpretation galleries: the k highest cross-entropy losses and the k most
// confident correct calls, captioned "prediction/actual/loss/probability" as the study's Figures 4–5.
import { badOption, checkBinaryInputs, checkFinite, checkSameLength, type LabelArray, type NumberArray } from './errors.js';
import { checkThreshold, DEFAULT_THRESHOLD } from './confusion.js';

export interface CaptionedCase {
  /** Index of the case in the evaluated arrays. */
  readonly index: number;
  readonly predicted: number;
  readonly actual: number;
  /** Cross-entropy of the case. */
  readonly loss: number;
  /** Probability the model gave the actual class (as fastai v1's `plot_top_losses`, which the study used). */
  readonly probability: number;
  /** "prediction/actual/loss/probability", e.g. "fracture/no fracture/2.41/0.09". */
  readonly caption: string;
}

export interface TopLossOptions {
  /** Names of class 0 and class 1 (default `no fracture`, `fracture`). */
  readonly classNames?: readonly [string, string];
  readonly threshold?: number;
  /** Per-case losses computed from logits by the learner; by default −ln p(actual), p clipped at 1e-12. */
  readonly losses?: NumberArray;
}

const DEFAULT_CLASSES: readonly [string, string] = ['no fracture', 'fracture'];

function captionAll(what: string, probs: NumberArray, labels: LabelArray, options: TopLossOptions): CaptionedCase[] {
  checkBinaryInputs(what, probs, labels);
  const threshold = options.threshold ?? DEFAULT_THRESHOLD;
  checkThreshold(what, threshold);
  if (options.losses !== undefined) {
    checkSameLength(what, options.losses, labels);
    checkFinite(what, options.losses, 'losses');
  }
  const names = options.classNames ?? DEFAULT_CLASSES;
  const out: CaptionedCase[] = [];
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    const actual = labels[i] as number;
    const predicted = p >= threshold ? 1 : 0;
    const probability = actual === 1 ? p : 1 - p;
    const loss = options.losses === undefined ? -Math.log(Math.max(probability, 1e-12)) : (options.losses[i] as number);
    const caption = `${names[predicted]}/${names[actual]}/${loss.toFixed(2)}/${probability.toFixed(2)}`;
    out.push({ index: i, predicted, actual, loss, probability, caption });
  }
  return out;
}

function checkK(what: string, k: number): void {
  if (!Number.isInteger(k) || k < 0) throw badOption(what, 'k', k, 'a non-negative integer');
}

/** The k cases with the highest loss, highest first (ties: lower index first). */
export function topLosses(probs: NumberArray, labels: LabelArray, k: number, options: TopLossOptions = {}): CaptionedCase[] {
  checkK('topLosses', k);
  return captionAll('topLosses', probs, labels, options)
    .sort((a, b) => b.loss - a.loss || a.index - b.index)
    .slice(0, k);
}

/** The k correctly classified cases with the lowest loss (the model's surest right calls). */
export function mostConfidentCorrect(probs: NumberArray, labels: LabelArray, k: number, options: TopLossOptions = {}): CaptionedCase[] {
  checkK('mostConfidentCorrect', k);
  return captionAll('mostConfidentCorrect', probs, labels, options)
    .filter((c) => c.predicted === c.actual)
    .sort((a, b) => a.loss - b.loss || a.index - b.index)
    .slice(0, k);
}
