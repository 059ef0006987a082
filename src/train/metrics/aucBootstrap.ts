// ROC-AUC with a percentile bootstrap interval, alone or as the paired difference of two scorers on the same cases
// (the same resamples for both), resampling cases or whole clusters of them (a patient's images go together).
import { badOption, type LabelArray, type NumberArray } from './errors.js';
import { bootstrapStatistic, type BootstrapOptions, type Interval } from './bootstrap.js';
import { curveCounts, rocAucFromCounts, sortScores, type SortedScores } from './ranking.js';

export interface AucBootstrapOptions extends BootstrapOptions {
  /**
   * The cluster of each case (e.g. its patient): a resample draws clusters with replacement and takes all their
   * cases, so correlated cases of one cluster are not counted as independent. Absent: each case is its own.
   */
  readonly clusters?: readonly (string | number)[];
}

export type AucInterval = Interval & { readonly definedResamples: number };

/** Runs `statistic(caseWeights)` under bootstrap resamples of cases or of clusters. */
function resampled(what: string, n: number, statistic: (caseWeights: Float64Array) => number, options: AucBootstrapOptions): AucInterval {
  const { clusters } = options;
  if (clusters === undefined) return bootstrapStatistic(n, statistic, options);
  if (clusters.length !== n) throw badOption(what, 'clusters', clusters.length, `one cluster per case (${n})`);
  const ids = new Map<string | number, number>();
  const clusterOf = Int32Array.from(clusters, (c) => {
    if (!ids.has(c)) ids.set(c, ids.size);
    return ids.get(c) as number;
  });
  const weights = new Float64Array(n);
  return bootstrapStatistic(ids.size, (counts) => {
    for (let i = 0; i < n; i++) weights[i] = counts[clusterOf[i] as number] as number;
    return statistic(weights);
  }, options);
}

/** AUC of pre-sorted scores with each case weighted (weights in the cases' original order). */
function weightedAuc(sorted: SortedScores, caseWeights: Float64Array, scratch: Float64Array): number {
  for (let j = 0; j < scratch.length; j++) scratch[j] = caseWeights[sorted.order[j] as number] as number;
  return rocAucFromCounts(curveCounts(sorted, scratch));
}

/** ROC-AUC with its percentile bootstrap interval (1000 resamples, seed 0, 95 % by default). */
export function bootstrapAuc(scores: NumberArray, labels: LabelArray, options: AucBootstrapOptions = {}): AucInterval {
  // sortScores checks lengths, labels and finite scores (any score, not only probabilities).
  const sorted = sortScores(scores, labels);
  const scratch = new Float64Array(scores.length);
  return resampled('bootstrapAuc', scores.length, (w) => weightedAuc(sorted, w, scratch), options);
}

/**
 * AUC(a) − AUC(b) for two scorers of the same cases, with a paired percentile bootstrap interval: each resample
 * draws the cases (or clusters) once and scores both on them. With the same options, `bootstrapAuc` of a and of b
 * use the very same resamples.
 */
export function pairedAucDifference(scoresA: NumberArray, scoresB: NumberArray, labels: LabelArray, options: AucBootstrapOptions = {}): AucInterval {
  const sortedA = sortScores(scoresA, labels);
  const sortedB = sortScores(scoresB, labels);
  const scratch = new Float64Array(labels.length);
  return resampled('pairedAucDifference', labels.length, (w) => weightedAuc(sortedA, w, scratch) - weightedAuc(sortedB, w, scratch), options);
}
