// Scores as plain data for triage: class-probability rows with labels, checked once; confidence and
// correctness per case; softmax and temperature scaling (Guo et al. 2017) to calibrate confidence.
import { applyTemperature } from '../train/metrics/index.js';
import { TriageError } from './errors.js';

/** Class probabilities per case (rows sum to 1). */
export type ProbabilityRows = readonly (readonly number[])[];

/** Two-class rows [1 − p, p] from fracture probabilities p. */
export function binaryRows(positiveProbabilities: readonly number[]): number[][] {
  return positiveProbabilities.map((p) => [1 - p, p]);
}

/** Checks rows (finite, in [0, 1], summing to ~1, same width) and labels (integers in range, same count). */
export function checkScores(probabilities: ProbabilityRows, labels?: readonly number[]): void {
  if (probabilities.length === 0) throw new TriageError('HF_TRIAGE_BAD_SCORES', 'no cases given.', { fix: 'pass the validation set\'s probabilities.' });
  const classes = (probabilities[0] as readonly number[]).length;
  probabilities.forEach((row, i) => {
    const sum = row.reduce((a, b) => a + b, 0);
    if (row.length !== classes || row.some((v) => !Number.isFinite(v) || v < 0 || v > 1) || Math.abs(sum - 1) > 1e-3) {
      throw new TriageError('HF_TRIAGE_BAD_SCORES', `case ${i}: probabilities [${row.join(', ')}] are not a distribution over ${classes} classes.`, {
        input: `case ${i}`,
        fix: 'pass softmax probabilities (not logits), one row per case.',
      });
    }
  });
  if (labels !== undefined) {
    if (labels.length !== probabilities.length) {
      throw new TriageError('HF_TRIAGE_BAD_SCORES', `${probabilities.length} probability rows but ${labels.length} labels.`);
    }
    labels.forEach((y, i) => {
      if (!Number.isInteger(y) || y < 0 || y >= classes) throw new TriageError('HF_TRIAGE_BAD_SCORES', `case ${i}: label ${y} is not a class index below ${classes}.`, { input: `case ${i}` });
    });
  }
}

/** The predicted class (argmax) and its probability, the confidence triage acts on. */
export function confidenceOf(row: readonly number[]): { predicted: number; confidence: number } {
  let predicted = 0;
  for (let k = 1; k < row.length; k++) if ((row[k] as number) > (row[predicted] as number)) predicted = k;
  return { predicted, confidence: row[predicted] as number };
}

/**
 * Softmax of logits / T, with `bias` added to the fracture logit (class 1) of a two-class row (calibration's bias):
 * one row through `applyTemperature`, the softmax every calibration figure is computed with.
 */
export function softmaxRow(logits: readonly number[], temperature = 1, bias = 0): number[] {
  if (logits.length < 2) {
    throw new TriageError('HF_TRIAGE_BAD_SCORES', `a row of ${logits.length} logit(s): triage needs one logit per class, at least two.`, { input: 'logits', fix: 'pass the classifier\'s logits for every class.' });
  }
  if (bias !== 0 && logits.length !== 2) {
    throw new TriageError('HF_TRIAGE_BAD_OPTION', `a calibration bias needs two-class logits, got ${logits.length}.`, { input: 'bias', fix: 'recalibrate with `hipfrac triage-calibrate` (it fits a bias for two-class models only).' });
  }
  return Array.from(applyTemperature(logits, temperature, logits.length, bias));
}

