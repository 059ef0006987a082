// Threshold-free metrics as scikit-learn computes them: ROC curve and ROC-AUC (trapezoids, so tied scores
// count half), precision-recall curve and average precision (PR-AUC as `average_precision_score`).
import { checkBinaryLabels, checkFinite, checkNotEmpty, checkSameLength, type LabelArray, type NumberArray } from './errors.js';

/** Scores sorted once, highest first, so that many weightings (bootstrap resamples) can reuse the order. */
export interface SortedScores {
  /** order[j] = the original index of the j-th highest score. */
  readonly order: Int32Array;
  readonly scores: Float64Array;
  readonly labels: Uint8Array;
  /** Sorted positions where a run of equal scores ends (inclusive), highest score first. */
  readonly groupEnds: Int32Array;
}

/** Cumulative counts at each distinct threshold, highest first (scikit-learn's `_binary_clf_curve`). */
export interface CurveCounts {
  readonly tps: Float64Array;
  readonly fps: Float64Array;
  readonly thresholds: Float64Array;
}

export interface RocCurve {
  readonly fpr: Float64Array;
  readonly tpr: Float64Array;
  /** Decreasing; the first is +Infinity (the point (0, 0)), as scikit-learn ≥ 1.3. */
  readonly thresholds: Float64Array;
}

export interface PrecisionRecallCurve {
  /** scikit-learn's order: recall decreasing, ending with the point (recall 0, precision 1). */
  readonly precision: Float64Array;
  readonly recall: Float64Array;
  /** Increasing; one fewer than the points. */
  readonly thresholds: Float64Array;
}

export function sortScores(scores: NumberArray, labels: LabelArray): SortedScores {
  checkSameLength('sortScores', scores, labels);
  checkNotEmpty('sortScores', scores.length);
  checkBinaryLabels('sortScores', labels);
  checkFinite('sortScores', scores, 'scores');
  const n = scores.length;
  const order = Int32Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => (scores[b] as number) - (scores[a] as number));
  const sorted = Float64Array.from(order, (i) => scores[i] as number);
  const sortedLabels = Uint8Array.from(order, (i) => labels[i] as number);
  const ends: number[] = [];
  for (let j = 0; j < n; j++) if (j === n - 1 || sorted[j] !== sorted[j + 1]) ends.push(j);
  return { order, scores: sorted, labels: sortedLabels, groupEnds: Int32Array.from(ends) };
}

/**
 * Counts true and false positives above each distinct score. `sortedWeights` (optional) weights each case in
 * sorted position; a bootstrap resample is a weighting by how often each case was drawn.
 */
export function curveCounts(s: SortedScores, sortedWeights?: Float64Array): CurveCounts {
  const m = s.groupEnds.length;
  const tps = new Float64Array(m);
  const fps = new Float64Array(m);
  const thresholds = new Float64Array(m);
  let tp = 0, fp = 0, j = 0;
  for (let g = 0; g < m; g++) {
    const end = s.groupEnds[g] as number;
    for (; j <= end; j++) {
      const w = sortedWeights === undefined ? 1 : (sortedWeights[j] as number);
      if (s.labels[j] === 1) tp += w;
      else fp += w;
    }
    tps[g] = tp;
    fps[g] = fp;
    thresholds[g] = s.scores[end] as number;
  }
  return { tps, fps, thresholds };
}

/** Area under the ROC curve by trapezoids; NaN when only one class is present (scikit-learn raises there). */
export function rocAucFromCounts(c: CurveCounts): number {
  const m = c.tps.length;
  const totalP = c.tps[m - 1] as number;
  const totalN = c.fps[m - 1] as number;
  if (!(totalP > 0) || !(totalN > 0)) return Number.NaN;
  let area = 0, prevX = 0, prevY = 0;
  for (let g = 0; g < m; g++) {
    const x = (c.fps[g] as number) / totalN;
    const y = (c.tps[g] as number) / totalP;
    area += (x - prevX) * (y + prevY) / 2;
    prevX = x;
    prevY = y;
  }
  return area;
}

/** Average precision Σ (Rₖ − Rₖ₋₁)·Pₖ over distinct thresholds (no interpolation); NaN without positives. */
export function averagePrecisionFromCounts(c: CurveCounts): number {
  const m = c.tps.length;
  const totalP = c.tps[m - 1] as number;
  if (!(totalP > 0)) return Number.NaN;
  let ap = 0, prevRecall = 0;
  for (let g = 0; g < m; g++) {
    const tp = c.tps[g] as number;
    const predictedPositive = tp + (c.fps[g] as number);
    const precision = predictedPositive > 0 ? tp / predictedPositive : 0;
    const recall = tp / totalP;
    ap += (recall - prevRecall) * precision;
    prevRecall = recall;
  }
  return ap;
}

export function rocAuc(scores: NumberArray, labels: LabelArray): number {
  return rocAucFromCounts(curveCounts(sortScores(scores, labels)));
}

export function averagePrecision(scores: NumberArray, labels: LabelArray): number {
  return averagePrecisionFromCounts(curveCounts(sortScores(scores, labels)));
}

/**
 * ROC curve points. With `dropIntermediate` (default, as scikit-learn) points collinear with their
 * neighbours are left out; the area is the same. Rates are NaN when a class is absent.
 */
export function rocCurve(scores: NumberArray, labels: LabelArray, options: { dropIntermediate?: boolean } = {}): RocCurve {
  const c = curveCounts(sortScores(scores, labels));
  let keep = Array.from(c.tps, (_, g) => g);
  if ((options.dropIntermediate ?? true) && keep.length > 2) {
    // Keep a point when the second difference of fps or tps there is non-zero (a corner).
    keep = keep.filter((g) => g === 0 || g === c.tps.length - 1 ||
      (c.fps[g + 1] as number) - 2 * (c.fps[g] as number) + (c.fps[g - 1] as number) !== 0 ||
      (c.tps[g + 1] as number) - 2 * (c.tps[g] as number) + (c.tps[g - 1] as number) !== 0);
  }
  const totalP = c.tps[c.tps.length - 1] as number;
  const totalN = c.fps[c.fps.length - 1] as number;
  const fpr = new Float64Array(keep.length + 1);
  const tpr = new Float64Array(keep.length + 1);
  const thresholds = new Float64Array(keep.length + 1);
  thresholds[0] = Number.POSITIVE_INFINITY;
  keep.forEach((g, k) => {
    fpr[k + 1] = totalN > 0 ? (c.fps[g] as number) / totalN : Number.NaN;
    tpr[k + 1] = totalP > 0 ? (c.tps[g] as number) / totalP : Number.NaN;
    thresholds[k + 1] = c.thresholds[g] as number;
  });
  if (!(totalN > 0)) fpr[0] = Number.NaN;
  if (!(totalP > 0)) tpr[0] = Number.NaN;
  return { fpr, tpr, thresholds };
}

/** Precision-recall curve in scikit-learn's layout; recall is 1 everywhere when there are no positives. */
export function precisionRecallCurve(scores: NumberArray, labels: LabelArray): PrecisionRecallCurve {
  const c = curveCounts(sortScores(scores, labels));
  const m = c.tps.length;
  const totalP = c.tps[m - 1] as number;
  const precision = new Float64Array(m + 1);
  const recall = new Float64Array(m + 1);
  const thresholds = new Float64Array(m);
  for (let g = 0; g < m; g++) {
    const k = m - 1 - g;
    const tp = c.tps[g] as number;
    const predictedPositive = tp + (c.fps[g] as number);
    precision[k] = predictedPositive > 0 ? tp / predictedPositive : 0;
    recall[k] = totalP > 0 ? tp / totalP : 1;
    thresholds[k] = c.thresholds[g] as number;
  }
  precision[m] = 1;
  recall[m] = 0;
  return { precision, recall, thresholds };
}
