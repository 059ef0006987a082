// The full binary metric set for one evaluation (threshold metrics, ROC-AUC, PR-AUC, counts), computed from
// cases pre-sorted by score so that the bootstrap can recompute it cheaply under resampling weights.
import { checkBinaryInputs, type LabelArray, type NumberArray } from './errors.js';
import { checkThreshold, DEFAULT_THRESHOLD, thresholdMetricsFromConfusion, type BinaryConfusion, type ThresholdMetrics } from './confusion.js';
import { averagePrecisionFromCounts, curveCounts, rocAucFromCounts, sortScores, type SortedScores } from './ranking.js';

export interface BinaryMetrics extends ThresholdMetrics {
  /** Area under the ROC curve; NaN when only one class is present. */
  readonly rocAuc: number;
  /** Average precision (PR-AUC as scikit-learn's `average_precision_score`); NaN without positives. */
  readonly prAuc: number;
}

export type MetricName = keyof BinaryMetrics;

/** Every metric of the set, in the order reports list them. */
export const METRIC_NAMES: readonly MetricName[] = Object.freeze([
  'accuracy', 'precision', 'recall', 'f1', 'sensitivity', 'specificity', 'rocAuc', 'prAuc',
] as const);

export interface BinaryEvaluation {
  readonly n: number;
  readonly positives: number;
  readonly negatives: number;
  readonly threshold: number;
  readonly confusion: BinaryConfusion;
  readonly metrics: BinaryMetrics;
}

export interface ThresholdOption {
  /** Probability at or above which a case is called a fracture (default 0.5). */
  readonly threshold?: number;
}

/** Number of leading sorted cases called positive at `threshold` (scores are sorted highest first). */
export function positivePrefix(s: SortedScores, threshold: number): number {
  let lo = 0, hi = s.scores.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((s.scores[mid] as number) >= threshold) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The metric set under case weights in sorted order (all ones when absent). */
export function metricsFromSorted(s: SortedScores, prefix: number, sortedWeights?: Float64Array): { confusion: BinaryConfusion; metrics: BinaryMetrics } {
  let tp = 0, fp = 0, tn = 0, fn = 0;
  for (let j = 0; j < s.labels.length; j++) {
    const w = sortedWeights === undefined ? 1 : (sortedWeights[j] as number);
    if (w === 0) continue;
    if (j < prefix) {
      if (s.labels[j] === 1) tp += w;
      else fp += w;
    } else if (s.labels[j] === 1) fn += w;
    else tn += w;
  }
  const confusion = { tp, fp, tn, fn };
  const counts = curveCounts(s, sortedWeights);
  return {
    confusion,
    metrics: {
      ...thresholdMetricsFromConfusion(confusion),
      rocAuc: rocAucFromCounts(counts),
      prAuc: averagePrecisionFromCounts(counts),
    },
  };
}

/**
 * Evaluates binary predictions: `probs[i]` is the probability of fracture for case i, `labels[i]` 1 for a
 * fracture. Precision, recall and F1 are for the fracture class, as the study reports them.
 * @example binaryMetrics([0.9, 0.2, 0.6], [1, 0, 0]).metrics.accuracy // 2/3
 */
export function binaryMetrics(probs: NumberArray, labels: LabelArray, options: ThresholdOption = {}): BinaryEvaluation {
  const threshold = options.threshold ?? DEFAULT_THRESHOLD;
  checkBinaryInputs('binaryMetrics', probs, labels);
  checkThreshold('binaryMetrics', threshold);
  const sorted = sortScores(probs, labels);
  const { confusion, metrics } = metricsFromSorted(sorted, positivePrefix(sorted, threshold));
  const positives = confusion.tp + confusion.fn;
  return { n: probs.length, positives, negatives: probs.length - positives, threshold, confusion, metrics };
}
