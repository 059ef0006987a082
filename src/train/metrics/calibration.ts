// Calibration: expected calibration error over equal-width confidence bins (15 by default, as Guo et al.
// 2017) and the bins a reliability diagram plots.
import { badOption, checkBinaryInputs, type LabelArray, type NumberArray } from './errors.js';
import { DEFAULT_THRESHOLD } from './confusion.js';
import { quantileSorted } from './bootstrap.js';
import { Rng } from '../../util/index.js';

/**
 * What is binned. `top-label` (Guo et al.): the confidence of the predicted class against whether the
 * prediction was right. `positive-class`: the fracture probability against the observed fracture rate
 * (scikit-learn's `calibration_curve`).
 */
export type CalibrationMode = 'top-label' | 'positive-class';

export interface ReliabilityBin {
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
  /** Mean confidence (or fracture probability) of the bin's cases; NaN when empty. */
  readonly meanPredicted: number;
  /** Accuracy (or fraction of fractures) of the bin's cases; NaN when empty. */
  readonly observed: number;
}

export interface CalibrationReport {
  readonly mode: CalibrationMode;
  /** Σ_b (n_b / N) · |observed_b − meanPredicted_b|. */
  readonly ece: number;
  /** Largest gap over non-empty bins. */
  readonly mce: number;
  readonly bins: readonly ReliabilityBin[];
}

export interface CalibrationOptions {
  /** Number of equal-width bins on [0, 1] (default 15). */
  readonly bins?: number;
  /** Default `top-label`. */
  readonly mode?: CalibrationMode;
  /** Decision threshold that defines the predicted class in `top-label` mode (default 0.5). */
  readonly threshold?: number;
}

/** Edges k·(1/bins) as numpy's linspace makes them, so values on an edge land in the same bin as scikit-learn. */
function binEdges(bins: number): Float64Array {
  const step = 1 / bins;
  const edges = Float64Array.from({ length: bins + 1 }, (_, k) => k * step);
  edges[bins] = 1;
  return edges;
}

/** Bin b holds (edge_b, edge_{b+1}]; the first bin also holds 0. */
function binOf(value: number, edges: Float64Array): number {
  let lo = 0, hi = edges.length - 2;
  // Count inner edges strictly below the value (numpy searchsorted, side='left').
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((edges[mid + 1] as number) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Expected calibration error and reliability-diagram bins for binary predictions.
 * @example expectedCalibrationError(probs, labels, { bins: 10, mode: 'positive-class' }).ece
 */
export function expectedCalibrationError(probs: NumberArray, labels: LabelArray, options: CalibrationOptions = {}): CalibrationReport {
  const nBins = options.bins ?? 15;
  const mode = options.mode ?? 'top-label';
  const threshold = options.threshold ?? DEFAULT_THRESHOLD;
  if (!Number.isInteger(nBins) || nBins < 1) throw badOption('expectedCalibrationError', 'bins', nBins, 'a positive integer');
  if (mode !== 'top-label' && mode !== 'positive-class') throw badOption('expectedCalibrationError', 'mode', mode, "'top-label' or 'positive-class'");
  checkBinaryInputs('expectedCalibrationError', probs, labels);
  const edges = binEdges(nBins);
  const count = new Float64Array(nBins);
  const sumPredicted = new Float64Array(nBins);
  const sumObserved = new Float64Array(nBins);
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    let predicted: number, observed: number;
    if (mode === 'positive-class') {
      predicted = p;
      observed = labels[i] as number;
    } else {
      const callsFracture = p >= threshold;
      predicted = callsFracture ? p : 1 - p;
      observed = (callsFracture ? 1 : 0) === labels[i] ? 1 : 0;
    }
    const b = binOf(predicted, edges);
    count[b]! += 1;
    sumPredicted[b]! += predicted;
    sumObserved[b]! += observed;
  }
  const bins: ReliabilityBin[] = [];
  let ece = 0, mce = 0;
  for (let b = 0; b < nBins; b++) {
    const c = count[b] as number;
    const meanPredicted = c > 0 ? (sumPredicted[b] as number) / c : Number.NaN;
    const observed = c > 0 ? (sumObserved[b] as number) / c : Number.NaN;
    if (c > 0) {
      const gap = Math.abs(observed - meanPredicted);
      ece += (c / probs.length) * gap;
      mce = Math.max(mce, gap);
    }
    bins.push({ lower: edges[b] as number, upper: edges[b + 1] as number, count: c, meanPredicted, observed });
  }
  return { mode, ece, mce, bins };
}

/**
 * The ECE a perfectly calibrated model would show on these cases: labels drawn from the probabilities themselves
 * (`draws` times, seeded), scored like the real ones. ECE over few cases is biased upwards (Kumar et al. 2019); a
 * measured ECE near this floor is as good as this many cases can show; one above its 95th percentile is
 * miscalibration rather than chance. Returns the median and the 95th percentile.
 */
export function calibrationNoiseFloor(probs: NumberArray, options: CalibrationOptions & { draws?: number; seed?: number } = {}): { median: number; upper: number } {
  const draws = options.draws ?? 200;
  if (!Number.isInteger(draws) || draws < 1) throw badOption('calibrationNoiseFloor', 'draws', draws, 'a positive integer');
  const rng = new Rng(options.seed ?? 0);
  const labels = new Int32Array(probs.length);
  const scores = new Float64Array(draws);
  const binning: CalibrationOptions = { bins: options.bins, mode: options.mode, threshold: options.threshold };
  for (let r = 0; r < draws; r++) {
    for (let i = 0; i < probs.length; i++) labels[i] = rng.next() < (probs[i] as number) ? 1 : 0;
    scores[r] = expectedCalibrationError(probs, labels, binning).ece;
  }
  scores.sort();
  return { median: quantileSorted(scores, 0.5), upper: quantileSorted(scores, 0.95) };
}

/** Brier score: mean squared difference between the fracture probability and the label (lower is better). */
export function brierScore(probs: NumberArray, labels: LabelArray): number {
  checkBinaryInputs('brierScore', probs, labels);
  let sum = 0;
  for (let i = 0; i < probs.length; i++) sum += ((probs[i] as number) - (labels[i] as number)) ** 2;
  return sum / probs.length;
}
