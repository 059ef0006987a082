// Seeded percentile bootstrap: 95 % intervals for every metric of the set by resampling cases with
// replacement (1000 resamples by default), plus a generic form for any statistic of the cases.
import { Rng } from '../../util/index.js';
import { badOption, checkBinaryInputs, type LabelArray, type NumberArray } from './errors.js';
import { checkThreshold, DEFAULT_THRESHOLD } from './confusion.js';
import { METRIC_NAMES, metricsFromSorted, positivePrefix, type BinaryMetrics, type MetricName } from './binary.js';
import { sortScores } from './ranking.js';

export interface Interval {
  /** The metric on all cases (not the bootstrap mean). */
  readonly estimate: number;
  readonly lower: number;
  readonly upper: number;
}

export type MetricIntervals = { readonly [K in MetricName]: Interval };

export interface BootstrapOptions {
  /** Number of resamples (default 1000). */
  readonly resamples?: number;
  /** Seed of the resampling stream (default 0): the same seed gives the same intervals. */
  readonly seed?: number;
  /** Two-sided coverage (default 0.95). */
  readonly confidence?: number;
}

export interface BootstrapResult {
  readonly intervals: MetricIntervals;
  readonly resamples: number;
  readonly confidence: number;
  readonly seed: number;
  /** Per metric, how many resamples gave a defined value (AUC is undefined when a resample has one class). */
  readonly definedResamples: { readonly [K in MetricName]: number };
}

interface ResolvedOptions { resamples: number; seed: number; confidence: number }

function resolve(what: string, options: BootstrapOptions): ResolvedOptions {
  const resamples = options.resamples ?? 1000;
  const seed = options.seed ?? 0;
  const confidence = options.confidence ?? 0.95;
  if (!Number.isInteger(resamples) || resamples < 1) throw badOption(what, 'resamples', resamples, 'a positive integer');
  if (!Number.isInteger(seed)) throw badOption(what, 'seed', seed, 'an integer');
  if (!(confidence > 0 && confidence < 1)) throw badOption(what, 'confidence', confidence, 'a number in (0, 1)');
  return { resamples, seed, confidence };
}

/** Quantile with linear interpolation between order statistics (numpy's default). `sorted` ascending. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return (sorted[lo] as number) + (h - lo) * ((sorted[hi] as number) - (sorted[lo] as number));
}

/** Percentile interval of bootstrap replicates; NaN replicates are left out. */
export function percentileInterval(replicates: ArrayLike<number>, confidence = 0.95): { lower: number; upper: number } {
  const defined = Float64Array.from(Array.from(replicates).filter((v) => !Number.isNaN(v))).sort();
  const alpha = (1 - confidence) / 2;
  return { lower: quantileSorted(defined, alpha), upper: quantileSorted(defined, 1 - alpha) };
}

/** Draws how often each of n cases appears in one resample of size n. */
function drawCounts(rng: Rng, n: number, counts: Float64Array): void {
  counts.fill(0);
  for (let k = 0; k < n; k++) counts[rng.int(0, n)]! += 1;
}

/**
 * Percentile bootstrap intervals for the whole binary metric set. Each resample draws n cases with
 * replacement; the threshold stays fixed.
 */
export function bootstrapMetrics(probs: NumberArray, labels: LabelArray, options: BootstrapOptions & { threshold?: number } = {}): BootstrapResult {
  const { resamples, seed, confidence } = resolve('bootstrapMetrics', options);
  const threshold = options.threshold ?? DEFAULT_THRESHOLD;
  checkBinaryInputs('bootstrapMetrics', probs, labels);
  checkThreshold('bootstrapMetrics', threshold);
  const sorted = sortScores(probs, labels);
  const prefix = positivePrefix(sorted, threshold);
  const point = metricsFromSorted(sorted, prefix).metrics;
  const n = probs.length;
  const replicates = Object.fromEntries(METRIC_NAMES.map((m) => [m, new Float64Array(resamples)])) as Record<MetricName, Float64Array>;
  const rng = new Rng(seed);
  const counts = new Float64Array(n);
  const sortedWeights = new Float64Array(n);
  for (let r = 0; r < resamples; r++) {
    drawCounts(rng, n, counts);
    for (let j = 0; j < n; j++) sortedWeights[j] = counts[sorted.order[j] as number] as number;
    const m: BinaryMetrics = metricsFromSorted(sorted, prefix, sortedWeights).metrics;
    for (const name of METRIC_NAMES) replicates[name][r] = m[name];
  }
  const intervals = {} as Record<MetricName, Interval>;
  const definedResamples = {} as Record<MetricName, number>;
  for (const name of METRIC_NAMES) {
    intervals[name] = { estimate: point[name], ...percentileInterval(replicates[name], confidence) };
    definedResamples[name] = replicates[name].reduce((a, v) => a + (Number.isNaN(v) ? 0 : 1), 0);
  }
  return { intervals, resamples, confidence, seed, definedResamples };
}

/**
 * Percentile bootstrap of any statistic of n cases. `statistic(counts)` receives how often each case was
 * drawn (all ones for the estimate on the full set) and returns a number (NaN = undefined, left out).
 */
export function bootstrapStatistic(n: number, statistic: (counts: Float64Array) => number, options: BootstrapOptions = {}): Interval & { definedResamples: number } {
  const { resamples, seed, confidence } = resolve('bootstrapStatistic', options);
  if (!Number.isInteger(n) || n < 1) throw badOption('bootstrapStatistic', 'n', n, 'a positive integer');
  const estimate = statistic(new Float64Array(n).fill(1));
  const rng = new Rng(seed);
  const counts = new Float64Array(n);
  const replicates = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    drawCounts(rng, n, counts);
    replicates[r] = statistic(counts);
  }
  const definedResamples = replicates.reduce((a, v) => a + (Number.isNaN(v) ? 0 : 1), 0);
  return { estimate, ...percentileInterval(replicates, confidence), definedResamples };
}
