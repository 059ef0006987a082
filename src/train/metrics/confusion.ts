// Confusion matrices and the threshold metrics the study reports (accuracy, precision, recall, F1) plus
// sensitivity and specificity, with scikit-learn's conventions for empty denominators (the value is 0).
import { badOption, checkBinaryInputs, checkNotEmpty, checkSameLength, MetricsError, type LabelArray, type NumberArray } from './errors.js';

/** Binary confusion counts; the positive class is fracture. */
export interface BinaryConfusion {
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
}

/** The metrics that depend on a decision threshold. */
export interface ThresholdMetrics {
  readonly accuracy: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** Equal to recall; named as clinicians read it. */
  readonly sensitivity: number;
  readonly specificity: number;
}

export const DEFAULT_THRESHOLD = 0.5;

export function checkThreshold(what: string, threshold: number): void {
  if (!(threshold >= 0 && threshold <= 1)) throw badOption(what, 'threshold', threshold, 'a number in [0, 1]');
}

/** A case is called positive when its probability is at or above the threshold (as `p >= 0.5`). */
export function binaryConfusion(probs: NumberArray, labels: LabelArray, threshold = DEFAULT_THRESHOLD): BinaryConfusion {
  checkBinaryInputs('binaryConfusion', probs, labels);
  checkThreshold('binaryConfusion', threshold);
  let tp = 0, fp = 0, tn = 0, fn = 0;
  for (let i = 0; i < probs.length; i++) {
    const predicted = (probs[i] as number) >= threshold;
    if (labels[i] === 1) {
      if (predicted) tp++;
      else fn++;
    } else if (predicted) fp++;
    else tn++;
  }
  return { tp, fp, tn, fn };
}

function ratio(num: number, den: number): number {
  // scikit-learn's zero_division default: an undefined ratio counts as 0.
  return den === 0 ? 0 : num / den;
}

export function thresholdMetricsFromConfusion(c: BinaryConfusion): ThresholdMetrics {
  const n = c.tp + c.fp + c.tn + c.fn;
  const precision = ratio(c.tp, c.tp + c.fp);
  const recall = ratio(c.tp, c.tp + c.fn);
  return {
    accuracy: ratio(c.tp + c.tn, n),
    precision,
    recall,
    // 2TP / (2TP + FP + FN) equals the harmonic mean and is 0, not NaN, when there is nothing to find.
    f1: ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
    sensitivity: recall,
    specificity: ratio(c.tn, c.tn + c.fp),
  };
}

/**
 * Multi-class confusion matrix, rows = actual class, columns = predicted class (scikit-learn's layout).
 * `numClasses` defaults to one more than the largest class seen.
 */
export function confusionMatrix(actual: LabelArray, predicted: LabelArray, numClasses?: number): number[][] {
  checkSameLength('confusionMatrix', predicted, actual);
  checkNotEmpty('confusionMatrix', actual.length);
  let c = numClasses ?? 0;
  if (numClasses === undefined) for (let i = 0; i < actual.length; i++) c = Math.max(c, (actual[i] as number) + 1, (predicted[i] as number) + 1);
  const matrix = Array.from({ length: c }, () => new Array<number>(c).fill(0));
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const p = predicted[i] as number;
    for (const [name, v] of [['actual', a], ['predicted', p]] as const) {
      if (!Number.isInteger(v) || v < 0 || v >= c) {
        throw new MetricsError('HF_METRICS_BAD_LABEL', `confusionMatrix: ${name}[${i}] = ${v} is not a class in 0..${c - 1}.`,
          `${name}[${i}]`, 'pass class indices in 0..numClasses-1');
      }
    }
    (matrix[a] as number[])[p]! += 1;
  }
  return matrix;
}

/** Fraction of cases whose predicted class equals the actual class (any number of classes). */
export function accuracyScore(actual: LabelArray, predicted: LabelArray): number {
  checkSameLength('accuracyScore', predicted, actual);
  checkNotEmpty('accuracyScore', actual.length);
  let correct = 0;
  for (let i = 0; i < actual.length; i++) if (actual[i] === predicted[i]) correct++;
  return correct / actual.length;
}

/** Row-wise argmax of an [N, C] probability or logit matrix stored row-major; ties go to the lower class, as numpy. */
export function argmaxRows(values: NumberArray, numClasses: number): number[] {
  if (!Number.isInteger(numClasses) || numClasses < 1 || values.length % numClasses !== 0) {
    throw badOption('argmaxRows', 'numClasses', numClasses, `a positive divisor of the ${values.length} values`);
  }
  const out: number[] = [];
  for (let r = 0; r < values.length / numClasses; r++) {
    let best = 0;
    for (let k = 1; k < numClasses; k++) if ((values[r * numClasses + k] as number) > (values[r * numClasses + best] as number)) best = k;
    out.push(best);
  }
  return out;
}
