// Temperature scaling (Guo et al. 2017): one scalar T fitted on validation logits by minimising the
// negative log-likelihood, then applied to test logits as softmax(z / T). T > 1 softens over-confidence.
// For a two-class model it can also fit a bias b on the fracture logit, p = σ((z₁ − z₀) / T + b): Platt scaling
// (Platt 1999) in temperature form. T alone cannot move the mean probability; a model trained on class-balanced
// batches predicts fractures at the balanced rate, not the data's, and only b takes that back.
import { badOption, checkFinite, checkNotEmpty, MetricsError, type LabelArray, type NumberArray } from './errors.js';

export interface TemperatureOptions {
  /**
   * Columns per case: 1 = one logit per case (the fracture margin z₁ − z₀, sigmoid), C ≥ 2 = rows of C
   * logits stored row-major (softmax). Default 2, the two-logit head.
   */
  readonly numClasses?: number;
  /** Search interval for T (default [0.05, 20]). */
  readonly bounds?: readonly [number, number];
  /** Fit a bias on the fracture logit as well (two classes only; default false: T alone). |b| stays within 20. */
  readonly bias?: boolean;
}

export interface TemperatureFit {
  readonly temperature: number;
  /** Added to the fracture logit after dividing by T; 0 when not fitted. */
  readonly bias: number;
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

/** The fracture margin z₁ − z₀ per case (the logit itself for one column); bias needs two classes. */
function margins(what: string, p: Problem): Float64Array {
  if (p.numClasses > 2) throw badOption(what, 'bias', true, `left off with ${p.numClasses} classes (a bias needs one fracture logit: one or two classes)`);
  if (p.numClasses === 1) return Float64Array.from(p.logits);
  return Float64Array.from({ length: p.n }, (_, i) => (p.logits[2 * i + 1] as number) - (p.logits[2 * i] as number));
}

/** Mean NLL of σ(β·m + b), its gradient in (β, b) and Hessian (NLL is jointly convex: a logistic regression on m). */
function marginNll(m: Float64Array, labels: LabelArray, beta: number, b: number): { nll: number; g: [number, number]; h: [number, number, number] } {
  let nll = 0, gb = 0, gc = 0, hbb = 0, hbc = 0, hcc = 0;
  for (let i = 0; i < m.length; i++) {
    const x = m[i] as number;
    const z = beta * x + b;
    const y = labels[i] as number;
    const s = sigmoid(z);
    const w = s * (1 - s);
    nll += softplus(z) - y * z;
    gb += (s - y) * x;
    gc += s - y;
    hbb += w * x * x;
    hbc += w * x;
    hcc += w;
  }
  const n = m.length;
  return { nll: nll / n, g: [gb / n, gc / n], h: [hbb / n, hbc / n, hcc / n] };
}

const BIAS_LIMIT = 20;

/**
 * Joint fit of β = 1/T in [lo, hi] and b in [−20, 20]: projected Newton with a backtracking line search, starting
 * from the temperature-only fit. Newton's step where the Hessian is positive definite, the gradient's otherwise.
 */
function fitWithBias(m: Float64Array, labels: LabelArray, lo: number, hi: number, beta0: number): { beta: number; b: number } {
  const clamp = (v: number, a: number, z: number): number => Math.min(z, Math.max(a, v));
  let beta = beta0, b = 0;
  let cur = marginNll(m, labels, beta, b);
  for (let iter = 0; iter < 200; iter++) {
    const [g0, g1] = cur.g;
    const [h00, h01, h11] = cur.h;
    const det = h00 * h11 - h01 * h01;
    let s0: number, s1: number;
    if (det > 1e-14 * Math.max(1, h00 * h11)) {
      s0 = (h11 * g0 - h01 * g1) / det;
      s1 = (h00 * g1 - h01 * g0) / det;
    } else {
      s0 = g0;
      s1 = g1;
    }
    let t = 1, moved = false;
    for (let k = 0; k < 60; k++, t /= 2) {
      const nb = clamp(beta - t * s0, lo, hi), nc = clamp(b - t * s1, -BIAS_LIMIT, BIAS_LIMIT);
      const next = marginNll(m, labels, nb, nc);
      if (next.nll <= cur.nll - 1e-4 * ((beta - nb) * g0 + (b - nc) * g1) + 1e-15) {
        moved = Math.abs(nb - beta) > 1e-13 * Math.max(1, beta) || Math.abs(nc - b) > 1e-13 * Math.max(1, Math.abs(b));
        beta = nb;
        b = nc;
        cur = next;
        break;
      }
    }
    if (!moved) break;
  }
  return { beta, b };
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
  const nllBefore = nllAt(p, 1).nll;
  if (options.bias !== true) return { temperature: 1 / beta, bias: 0, nllBefore, nllAfter: nllAt(p, beta).nll };
  const m = margins('fitTemperature', p);
  const joint = fitWithBias(m, p.labels, 1 / tMax, 1 / tMin, beta);
  return { temperature: 1 / joint.beta, bias: joint.b, nllBefore, nllAfter: marginNll(m, p.labels, joint.beta, joint.b).nll };
}

/** Mean negative log-likelihood of logits at temperature T (1 = as the model gives them) and fracture-logit bias b (default 0). */
export function negativeLogLikelihood(logits: NumberArray, labels: LabelArray, options: { numClasses?: number; temperature?: number; bias?: number } = {}): number {
  const p = checkProblem('negativeLogLikelihood', logits, labels, options.numClasses ?? 2);
  const bias = options.bias ?? 0;
  if (bias === 0) return nllAt(p, 1 / (options.temperature ?? 1)).nll;
  return marginNll(margins('negativeLogLikelihood', p), p.labels, 1 / (options.temperature ?? 1), bias).nll;
}

/**
 * Probabilities after dividing logits by T and adding `bias` to the fracture logit (class 1; two classes or one
 * margin column only): [N, C] softmax rows for C ≥ 2, or N sigmoid probabilities for margins (numClasses 1).
 */
export function applyTemperature(logits: NumberArray, temperature: number, numClasses = 2, bias = 0): Float64Array {
  if (!(temperature > 0 && Number.isFinite(temperature))) throw badOption('applyTemperature', 'temperature', temperature, 'a positive number');
  if (!Number.isInteger(numClasses) || numClasses < 1 || logits.length % numClasses !== 0) {
    throw badOption('applyTemperature', 'numClasses', numClasses, `a positive divisor of the ${logits.length} logits`);
  }
  if (!Number.isFinite(bias)) throw badOption('applyTemperature', 'bias', bias, 'a finite number');
  if (bias !== 0 && numClasses > 2) throw badOption('applyTemperature', 'bias', bias, `0 with ${numClasses} classes (a bias needs a fracture logit: one or two classes)`);
  checkFinite('applyTemperature', logits, 'logits');
  const out = new Float64Array(logits.length);
  if (numClasses === 1) {
    for (let i = 0; i < logits.length; i++) out[i] = sigmoid((logits[i] as number) / temperature + bias);
    return out;
  }
  const shift = (k: number): number => (k === 1 ? bias : 0);
  for (let r = 0; r < logits.length / numClasses; r++) {
    let max = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < numClasses; k++) max = Math.max(max, (logits[r * numClasses + k] as number) / temperature + shift(k));
    let sum = 0;
    for (let k = 0; k < numClasses; k++) {
      const e = Math.exp((logits[r * numClasses + k] as number) / temperature + shift(k) - max);
      out[r * numClasses + k] = e;
      sum += e;
    }
    for (let k = 0; k < numClasses; k++) out[r * numClasses + k]! /= sum;
  }
  return out;
}

/** Fracture probability per case (class 1) after temperature scaling (and bias): what the binary metrics take. */
export function positiveClassProbabilities(logits: NumberArray, temperature = 1, numClasses = 2, bias = 0): Float64Array {
  const probs = applyTemperature(logits, temperature, numClasses, bias);
  if (numClasses === 1) return probs;
  return Float64Array.from({ length: probs.length / numClasses }, (_, r) => probs[r * numClasses + 1] as number);
}
