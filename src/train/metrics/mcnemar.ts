// McNemar's paired test of two classifiers on the same cases: exact two-sided binomial test when there
// are few discordant pairs (< 25 by default), else χ² with Edwards' continuity correction (1 degree of freedom).
import { badOption, checkBinaryLabels, checkNotEmpty, checkSameLength, MetricsError, type LabelArray } from './errors.js';
import { logGamma } from '../../util/index.js';

export interface McNemarResult {
  /** Cases model A got right and model B wrong. */
  readonly b: number;
  /** Cases model A got wrong and model B right. */
  readonly c: number;
  /** `exact`: statistic = min(b, c) (statsmodels' convention); `chi2`: (|b − c| − 1)² / (b + c). */
  readonly method: 'exact' | 'chi2';
  readonly statistic: number;
  readonly pValue: number;
}

export interface McNemarOptions {
  /** Use the exact test when b + c is below this (default 25). */
  readonly exactBelow?: number;
}

/** Regularised upper incomplete gamma Q(a, x): series below a + 1, Lentz continued fraction above. */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lnPrefix = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    let term = 1 / a, sum = term;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return Math.max(0, 1 - sum * Math.exp(lnPrefix));
  }
  const tiny = 1e-300;
  let b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(lnPrefix) * h;
}

/** Survival function of χ² with k degrees of freedom. */
export function chiSquareSf(x: number, degreesOfFreedom = 1): number {
  return gammaQ(degreesOfFreedom / 2, x / 2);
}

/** P(X ≤ k) for X ~ Binomial(n, 1/2), summed in log space so large n does not underflow. */
function binomialHalfCdf(k: number, n: number): number {
  let logPmf = n * Math.log(0.5);
  let sum = 0;
  for (let i = 0; i <= k; i++) {
    sum += Math.exp(logPmf);
    logPmf += Math.log((n - i) / (i + 1));
  }
  return sum;
}

/** McNemar's test from the two discordant counts. */
export function mcnemarFromCounts(b: number, c: number, options: McNemarOptions = {}): McNemarResult {
  const exactBelow = options.exactBelow ?? 25;
  for (const [name, v] of [['b', b], ['c', c]] as const) {
    if (!Number.isInteger(v) || v < 0) throw badOption('mcnemarFromCounts', name, v, 'a non-negative integer count');
  }
  if (!(exactBelow >= 0)) throw badOption('mcnemarFromCounts', 'exactBelow', exactBelow, 'a non-negative number');
  const n = b + c;
  if (n < exactBelow) {
    const k = Math.min(b, c);
    return { b, c, method: 'exact', statistic: k, pValue: n === 0 ? 1 : Math.min(1, 2 * binomialHalfCdf(k, n)) };
  }
  const statistic = Math.max(0, Math.abs(b - c) - 1) ** 2 / n;
  return { b, c, method: 'chi2', statistic, pValue: chiSquareSf(statistic, 1) };
}

/**
 * McNemar's test of models A and B from their predicted classes on the same cases, in the same order.
 * @example mcnemarTest(labels, predictedByBest, predictedByOther).pValue
 */
export function mcnemarTest(labels: LabelArray, predictedA: LabelArray, predictedB: LabelArray, options: McNemarOptions = {}): McNemarResult {
  checkSameLength('mcnemarTest (model A)', predictedA, labels);
  checkSameLength('mcnemarTest (model B)', predictedB, labels);
  checkNotEmpty('mcnemarTest', labels.length);
  checkBinaryLabels('mcnemarTest', labels);
  let b = 0, c = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    for (const [name, v] of [['predictedA', predictedA[i]], ['predictedB', predictedB[i]]] as const) {
      if (v !== 0 && v !== 1) {
        throw new MetricsError('HF_METRICS_BAD_LABEL', `mcnemarTest: ${name}[${i}] = ${String(v)} is not 0 or 1.`,
          `${name}[${i}]`, 'pass predicted classes (threshold the probabilities first)');
      }
    }
    const rightA = predictedA[i] === y;
    const rightB = predictedB[i] === y;
    if (rightA && !rightB) b++;
    else if (!rightA && rightB) c++;
  }
  return mcnemarFromCounts(b, c, options);
}
