// The metrics room's catalog of coded errors, and the checks every metric runs on its inputs, so that a
// wrong call names the argument, the offending index and value, and what to pass instead.
import { HipfracError } from '../../util/index.js';

export type MetricsErrorCode =
  | 'HF_METRICS_LENGTH_MISMATCH'
  | 'HF_METRICS_EMPTY'
  | 'HF_METRICS_BAD_LABEL'
  | 'HF_METRICS_BAD_PROBABILITY'
  | 'HF_METRICS_BAD_SCORE'
  | 'HF_METRICS_BAD_OPTION';

export class MetricsError extends HipfracError {
  override readonly code: MetricsErrorCode;

  constructor(code: MetricsErrorCode, message: string, input: string, fix: string) {
    super(code, message, { input, fix });
    this.name = 'MetricsError';
    this.code = code;
  }
}

/** Probabilities or scores as the callers hold them: a typed array from a tensor or a plain list. */
export type NumberArray = Float64Array | Float32Array | readonly number[];
/** Binary labels: 1 = positive class (fracture), 0 = negative. */
export type LabelArray = readonly number[] | Uint8Array | Int32Array;

export function checkSameLength(what: string, a: { length: number }, b: { length: number }): void {
  if (a.length !== b.length) {
    throw new MetricsError('HF_METRICS_LENGTH_MISMATCH', `${what}: ${a.length} predictions but ${b.length} labels.`,
      'probs/labels', 'pass one probability and one label per case, in the same order');
  }
}

export function checkNotEmpty(what: string, n: number): void {
  if (n === 0) {
    throw new MetricsError('HF_METRICS_EMPTY', `${what}: no cases.`, 'probs/labels', 'evaluate on at least one case');
  }
}

export function checkBinaryLabels(what: string, labels: LabelArray): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) {
      throw new MetricsError('HF_METRICS_BAD_LABEL', `${what}: label ${String(y)} at index ${i} is not 0 or 1.`,
        `labels[${i}]`, 'use 1 for fracture (positive) and 0 for no fracture');
    }
  }
}

export function checkProbabilities(what: string, probs: NumberArray): void {
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    if (!(p >= 0 && p <= 1)) {
      throw new MetricsError('HF_METRICS_BAD_PROBABILITY', `${what}: probability ${String(p)} at index ${i} is not in [0, 1].`,
        `probs[${i}]`, 'pass the softmax probability of the positive class, not a logit');
    }
  }
}

export function checkFinite(what: string, values: NumberArray, name: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new MetricsError('HF_METRICS_BAD_SCORE', `${what}: ${name}[${i}] is ${String(values[i])}.`,
        `${name}[${i}]`, 'remove or fix non-finite model outputs before evaluating');
    }
  }
}

/** Checks a binary evaluation's inputs in one go: same length, not empty, labels 0/1, probabilities in [0, 1]. */
export function checkBinaryInputs(what: string, probs: NumberArray, labels: LabelArray): void {
  checkSameLength(what, probs, labels);
  checkNotEmpty(what, probs.length);
  checkBinaryLabels(what, labels);
  checkProbabilities(what, probs);
}

export function badOption(what: string, option: string, value: unknown, expected: string): MetricsError {
  return new MetricsError('HF_METRICS_BAD_OPTION', `${what}: option ${option} = ${String(value)} is not ${expected}.`,
    option, `pass ${expected}`);
}
