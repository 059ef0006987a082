// Split-conformal prediction sets: on calibration data, a score threshold such that the set of plausible
// classes contains the true one with probability ≥ 1 − α. A single-class set can be reported; others go to review.
import { checkScores, type ProbabilityRows } from './scores.js';
import { TriageError } from './errors.js';

/**
 * 'lac': score 1 − p_y (Sadinle et al. 2019), the default and the useful one for two classes.
 * 'aps': probability mass of classes ranked at or above y (Romano et al. 2020, non-randomised). With two classes
 * it degenerates: once the top-1 error exceeds α, qhat = 1 and every set holds both classes (measured: coverage 1.0,
 * mean set size 2.0 where LAC gives 0.90 and 1.15). Kept for multi-class heads (e.g. a view classifier).
 */
export type ConformalScore = 'lac' | 'aps';

export interface ConformalCalibration {
  readonly score: ConformalScore;
  /** Miscoverage: sets contain the truth with probability ≥ 1 − α. */
  readonly alpha: number;
  /** Score threshold: class k is in the set when its score ≤ qhat. */
  readonly qhat: number;
  readonly n: number;
  /** The guarantee as stated: marginal coverage ≥ 1 − α (and, for continuous LAC scores, ≤ 1 − α + 1/(n + 1)). */
  readonly statedCoverage: number;
}

/** The score of class k for one probability row (lower = more conforming). */
export function conformalScore(score: ConformalScore, row: readonly number[], k: number): number {
  const pk = row[k] as number;
  if (score === 'lac') return 1 - pk;
  // APS: mass of the classes at least as probable as k (ties count towards it, so the score is conservative).
  let mass = 0;
  for (const p of row) if (p > pk) mass += p;
  return mass + pk;
}

/**
 * Calibrates on held-out cases (not used for training or for choosing the model): qhat is the
 * ⌈(n + 1)(1 − α)⌉-th smallest calibration score (Vovk et al. 2005; Angelopoulos & Bates 2021, eq. 1);
 * when that rank exceeds n, qhat = ∞ and every set holds all classes.
 */
export function calibrateConformal(probabilities: ProbabilityRows, labels: readonly number[], options: { alpha?: number; score?: ConformalScore } = {}): ConformalCalibration {
  const alpha = options.alpha ?? 0.1;
  const score = options.score ?? 'lac';
  if (!(alpha > 0 && alpha < 1)) throw new TriageError('HF_TRIAGE_BAD_OPTION', `alpha must be in (0, 1), got ${alpha}.`, { input: 'alpha', fix: 'e.g. 0.1 for 90 % coverage.' });
  if (score !== 'lac' && score !== 'aps') throw new TriageError('HF_TRIAGE_BAD_OPTION', `unknown conformal score '${String(score)}'.`, { input: 'score', fix: "use 'lac' or 'aps'." });
  checkScores(probabilities, labels);
  const n = probabilities.length;
  const scores = probabilities.map((row, i) => conformalScore(score, row, labels[i] as number)).sort((a, b) => a - b);
  const rank = Math.ceil((n + 1) * (1 - alpha));
  const qhat = rank > n ? Number.POSITIVE_INFINITY : (scores[rank - 1] as number);
  return { score, alpha, qhat, n, statedCoverage: 1 - alpha };
}

/**
 * The prediction set of one case, in class order. LAC: classes whose score ≤ qhat (may be empty).
 * APS: the most probable classes until their mass reaches qhat (Romano et al.'s non-randomised set: class k is in
 * when the mass strictly above it is < qhat). That set contains {k : score ≤ qhat}, so coverage stays ≥ 1 − α, and it
 * never drops the top class — the inclusive rule would give very confident cases an empty set.
 */
export function predictionSet(row: readonly number[], calibration: ConformalCalibration): number[] {
  const out: number[] = [];
  for (let k = 0; k < row.length; k++) {
    const s = conformalScore(calibration.score, row, k);
    const inSet = calibration.score === 'lac' ? s <= calibration.qhat : s - (row[k] as number) < calibration.qhat;
    if (inSet) out.push(k);
  }
  return out;
}

/** Empirical coverage and set sizes on labelled cases (to report next to the stated coverage). */
export function evaluateConformal(probabilities: ProbabilityRows, labels: readonly number[], calibration: ConformalCalibration): { coverage: number; meanSetSize: number; singletonRate: number; emptyRate: number; n: number } {
  checkScores(probabilities, labels);
  let covered = 0;
  let sizes = 0;
  let singletons = 0;
  let empty = 0;
  probabilities.forEach((row, i) => {
    const set = predictionSet(row, calibration);
    if (set.includes(labels[i] as number)) covered += 1;
    sizes += set.length;
    if (set.length === 1) singletons += 1;
    if (set.length === 0) empty += 1;
  });
  const n = probabilities.length;
  return { coverage: covered / n, meanSetSize: sizes / n, singletonRate: singletons / n, emptyRate: empty / n, n };
}
