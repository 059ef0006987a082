// Temperature scaling (Guo et al. 2017): one scalar T fitted on validation logits by minimising the
// negative log-likelihood, then applied to test logits as softmax(z / T). T > 1 softens over-confidence.
import { badOption, checkFinite, checkNotEmpty, MetricsError, type LabelArray, type NumberArray } from './errors.js';

export interface TemperatureOptions {
  /**
   * Columns per case: 1 = one logit per case (the fracture margin z₁ − z₀, sigmoid), C ≥ 2 = rows of C
   * logits stored row-major (softmax). Default 2, the two-logit head.
   */
  readonly numClasses?: number;
  /** Search interval for T (default [0.05, 20]). */
  readonly bounds?: readonly [number, number];
}

export interface TemperatureFit {
  readonly temperature: number;
  /** Mean NLL on the fitting set at T = 1 and at the fitted T. */
  readonly nllBefore: number;
  readonly nllAfter: number;
}

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

interface Problem { logits: NumberArray; labels: LabelArray; numClasses: number; n: number }

function checkProblem(what: string, logits: NumberArray, labels: LabelArray, numClasses: number): Problem {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw badOption(what, 'numClasses', numClasses, 'a positive integer');
  if (logits.length !== labels.length * numClasses) {
    throw new MetricsError('HF_METRICS_LENGTH_MISMATCH',
      `${what}: ${logits.length} logits do not make ${labels.length} rows of ${numClasses}.`, 'logits/labels',
      'pass [N, C] logits row-major with numClasses = C, or N margins with numClasses = 1');
  }
  checkNotEmpty(what, labels.length);
  checkFinite(what, logits, 'logits');
  const classes = Math.max(2, numClasses);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i] as number;
    if (!Number.isInteger(y) || y < 0 || y >= classes) {
      throw new MetricsError('HF_METRICS_BAD_LABEL', `${what}: label ${y} at index ${i} is not a class in 0..${classes - 1}.`,
        `labels[${i}]`, 'pass class indices (1 = fracture)');
    }
  }
  return { logits, labels, numClasses, n: labels.length };
}

/** Mean NLL at inverse temperature β, with its first and second derivatives in β (NLL is convex in β). */
function nllAt(p: Problem, beta: number): { nll: number; d1: number; d2: number } {
  let nll = 0, d1 = 0, d2 = 0;
  const C = p.numClasses;
  for (let i = 0; i < p.n; i++) {
    const y = p.labels[i] as number;
    if (C === 1) {
      const m = p.logits[i] as number;
      const s = sigmoid(beta * m);
      nll += softplus(beta * m) - y * beta * m;
      d1 += (s - y) * m;
      d2 += s * (1 - s) * m * m;
    } else {
      let max = Number.NEGATIVE_INFINITY;
      for (let k = 0; k < C; k++) max = Math.max(max, beta * (p.logits[i * C + k] as number));
      let sum = 0, mean = 0, second = 0;
      for (let k = 0; k < C; k++) {
        const z = p.logits[i * C + k] as number;
        const e = Math.exp(beta * z - max);
        sum += e;
        mean += e * z;
        second += e * z * z;
      }
      mean /= sum;
      second /= sum;
      const zy = p.logits[i * C + y] as number;
      nll += max + Math.log(sum) - beta * zy;
      d1 += mean - zy;
      d2 += second - mean * mean;
    }
  }
  return { nll: nll / p.n, d1: d1 / p.n, d2: d2 / p.n };
}

/**
 * Fits T by minimising the validation NLL over T in `bounds`. NLL is convex in β = 1/T, so a safeguarded
 * Newton search on the derivative (bisection when Newton leaves the bracket) finds the global minimum.
 */
export function fitTemperature(logits: NumberArray, labels: LabelArray, options: TemperatureOptions = {}): TemperatureFit {
  const [tMin, tMax] = options.bounds ?? [0.05, 20];
  if (!(tMin > 0 && tMax > tMin && Number.isFinite(tMax))) throw badOption('fitTemperature', 'bounds', `[${tMin}, ${tMax}]`, 'an interval 0 < low < high');
  const p = checkProblem('fitTemperature', logits, labels, options.numClasses ?? 2);
  let lo = 1 / tMax, hi = 1 / tMin;
  let beta: number;
  if (nllAt(p, lo).d1 >= 0) beta = lo;
  else if (nllAt(p, hi).d1 <= 0) beta = hi;
  else {
    beta = Math.min(hi, Math.max(lo, 1));
    for (let iter = 0; iter < 200; iter++) {
      const { d1, d2 } = nllAt(p, beta);
      if (d1 > 0) hi = beta;
      else lo = beta;
      let next = d2 > 0 ? beta - d1 / d2 : Number.NaN;
      if (!(next > lo && next < hi)) next = (lo + hi) / 2;
      if (Math.abs(next - beta) <= 1e-13 * Math.max(1, beta) || hi - lo <= 1e-14 * hi) {
        beta = next;
        break;
      }
      beta = next;
    }
  }
  return { temperature: 1 / beta, nllBefore: nllAt(p, 1).nll, nllAfter: nllAt(p, beta).nll };
}

/** Mean negative log-likelihood of logits at temperature T (1 = as the model gives them). */
export function negativeLogLikelihood(logits: NumberArray, labels: LabelArray, options: { numClasses?: number; temperature?: number } = {}): number {
  const p = checkProblem('negativeLogLikelihood', logits, labels, options.numClasses ?? 2);
  return nllAt(p, 1 / (options.temperature ?? 1)).nll;
}

/**
 * Probabilities after dividing logits by T: [N, C] softmax rows for C ≥ 2, or N sigmoid probabilities for
 * margins (numClasses 1).
 */
export function applyTemperature(logits: NumberArray, temperature: number, numClasses = 2): Float64Array {
  if (!(temperature > 0 && Number.isFinite(temperature))) throw badOption('applyTemperature', 'temperature', temperature, 'a positive number');
  if (!Number.isInteger(numClasses) || numClasses < 1 || logits.length % numClasses !== 0) {
    throw badOption('applyTemperature', 'numClasses', numClasses, `a positive divisor of the ${logits.length} logits`);
  }
  checkFinite('applyTemperature', logits, 'logits');
  const out = new Float64Array(logits.length);
  if (numClasses === 1) {
    for (let i = 0; i < logits.length; i++) out[i] = sigmoid((logits[i] as number) / temperature);
    return out;
  }
  for (let r = 0; r < logits.length / numClasses; r++) {
    let max = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < numClasses; k++) max = Math.max(max, (logits[r * numClasses + k] as number) / temperature);
    let sum = 0;
    for (let k = 0; k < numClasses; k++) {
      const e = Math.exp((logits[r * numClasses + k] as number) / temperature - max);
      out[r * numClasses + k] = e;
      sum += e;
    }
    for (let k = 0; k < numClasses; k++) out[r * numClasses + k]! /= sum;
  }
  return out;
}

/** Fracture probability per case (class 1) after temperature scaling: what the binary metrics take. */
export function positiveClassProbabilities(logits: NumberArray, temperature = 1, numClasses = 2): Float64Array {
  const probs = applyTemperature(logits, temperature, numClasses);
  if (numClasses === 1) return probs;
  return Float64Array.from({ length: probs.length / numClasses }, (_, r) => probs[r * numClasses + 1] as number);
}
