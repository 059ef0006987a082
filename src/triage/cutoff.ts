// The confidence cut-off: below it a radiologist reviews the case. Either given (the study's 99.5 %) or
// chosen on validation data so the error rate among auto-reported cases stays under a target with 1 − δ confidence.
import { clopperPearsonUpper, regularizedBeta } from './binomial.js';
import { checkScores, confidenceOf, type ProbabilityRows } from './scores.js';
import { TriageError } from './errors.js';

/** A cut-off no probability reaches: every case goes to a radiologist (serialises as a plain number). */
export const NO_AUTO_REPORT = 1 + Number.EPSILON;

export interface RiskCoveragePoint {
  /** Cases with confidence ≥ threshold are auto-reported. */
  readonly threshold: number;
  /** Share auto-reported. */
  readonly coverage: number;
  /** Error rate among auto-reported cases. */
  readonly risk: number;
  readonly accepted: number;
  readonly errors: number;
}

export interface RiskCoverageCurve {
  readonly points: readonly RiskCoveragePoint[];
  /** Area under the risk–coverage curve (lower is better; Geifman & El-Yaniv 2017). */
  readonly aurc: number;
  readonly n: number;
}

interface Case {
  readonly confidence: number;
  readonly error: boolean;
}

function casesOf(probabilities: ProbabilityRows, labels: readonly number[]): Case[] {
  checkScores(probabilities, labels);
  return probabilities.map((row, i) => {
    const { predicted, confidence } = confidenceOf(row);
    return { confidence, error: predicted !== labels[i] };
  });
}

/** Cumulative counts at each distinct confidence, most confident first. */
function sweep(cases: readonly Case[]): RiskCoveragePoint[] {
  const sorted = [...cases].sort((a, b) => b.confidence - a.confidence);
  const points: RiskCoveragePoint[] = [];
  let errors = 0;
  sorted.forEach((c, i) => {
    if (c.error) errors += 1;
    const next = sorted[i + 1];
    if (next === undefined || next.confidence < c.confidence) {
      points.push({ threshold: c.confidence, coverage: (i + 1) / sorted.length, risk: errors / (i + 1), accepted: i + 1, errors });
    }
  });
  return points;
}

/** Risk (error among auto-reported) against coverage (share auto-reported) as the cut-off falls. */
export function riskCoverageCurve(probabilities: ProbabilityRows, labels: readonly number[]): RiskCoverageCurve {
  const cases = casesOf(probabilities, labels);
  const points = sweep(cases);
  // AURC as the mean of the per-case risk after each accepted case (ties share their group's risk).
  let area = 0;
  let previous = 0;
  for (const p of points) {
    area += p.risk * (p.accepted - previous);
    previous = p.accepted;
  }
  return { points, aurc: area / cases.length, n: cases.length };
}

export interface CutoffOptions {
  /** Largest acceptable error rate among auto-reported cases. Default 0.005. */
  readonly targetError?: number;
  /** The bound holds with probability 1 − δ. Default 0.05. */
  readonly delta?: number;
}

export interface CalibratedCutoff {
  /** Auto-report when confidence ≥ cutoff; above 1 when no cut-off meets the target (nothing auto-reported). */
  readonly cutoff: number;
  readonly targetError: number;
  readonly delta: number;
  /** Error rate among validation cases at or above the cut-off. */
  readonly measuredError: number;
  /** Clopper–Pearson upper (1 − δ) bound on that error rate. */
  readonly errorUpperBound: number;
  /** Share of validation cases auto-reported. */
  readonly coverage: number;
  readonly n: number;
  /** Validation cases needed for even an error-free set to meet the target: ⌈ln δ / ln(1 − target)⌉. */
  readonly minimumAccepted: number;
}

/**
 * Chooses the lowest cut-off whose auto-reported error rate has a Clopper–Pearson upper bound ≤ target.
 * Validity: Learn-then-Test (Angelopoulos et al. 2021) with fixed-sequence testing — thresholds are tested from
 * the most confident down, in an order fixed by the confidences alone (never the labels), skipping those with
 * too few cases to pass even without errors, and the search stops at the first failure. So with probability
 * ≥ 1 − δ over the validation draw, the chosen cut-off's true error rate is ≤ target.
 */
export function calibrateCutoff(probabilities: ProbabilityRows, labels: readonly number[], options: CutoffOptions = {}): CalibratedCutoff {
  const targetError = options.targetError ?? 0.005;
  const delta = options.delta ?? 0.05;
  if (!(targetError > 0 && targetError < 1)) throw new TriageError('HF_TRIAGE_BAD_OPTION', `targetError must be in (0, 1), got ${targetError}.`, { input: 'targetError', fix: 'e.g. 0.005 for 0.5 %.' });
  if (!(delta > 0 && delta < 1)) throw new TriageError('HF_TRIAGE_BAD_OPTION', `delta must be in (0, 1), got ${delta}.`, { input: 'delta' });
  const cases = casesOf(probabilities, labels);
  const minimumAccepted = Math.ceil(Math.log(delta) / Math.log(1 - targetError));
  let chosen: RiskCoveragePoint | undefined;
  let chosenBound = 1;
  for (const p of sweep(cases)) {
    if (p.accepted < minimumAccepted) continue;
    // upper bound ≤ target ⇔ P(Beta(k + 1, n − k) ≤ target) ≥ 1 − δ: one beta evaluation, no quantile search.
    const passes = p.errors < p.accepted && regularizedBeta(targetError, p.errors + 1, p.accepted - p.errors) >= 1 - delta;
    if (!passes) break;
    chosen = p;
  }
  if (chosen !== undefined) chosenBound = clopperPearsonUpper(chosen.errors, chosen.accepted, delta);
  if (chosen === undefined) {
    return { cutoff: NO_AUTO_REPORT, targetError, delta, measuredError: Number.NaN, errorUpperBound: 1, coverage: 0, n: cases.length, minimumAccepted };
  }
  return { cutoff: chosen.threshold, targetError, delta, measuredError: chosen.risk, errorUpperBound: chosenBound, coverage: chosen.coverage, n: cases.length, minimumAccepted };
}

/** Error rate, its upper bound and coverage of a given cut-off on labelled cases. */
export function evaluateCutoff(probabilities: ProbabilityRows, labels: readonly number[], cutoff: number, delta = 0.05): { measuredError: number; errorUpperBound: number; coverage: number; accepted: number; errors: number; n: number } {
  const cases = casesOf(probabilities, labels);
  const accepted = cases.filter((c) => c.confidence >= cutoff);
  const errors = accepted.filter((c) => c.error).length;
  return {
    measuredError: accepted.length === 0 ? Number.NaN : errors / accepted.length,
    errorUpperBound: clopperPearsonUpper(errors, accepted.length, delta),
    coverage: accepted.length / cases.length,
    accepted: accepted.length,
    errors,
    n: cases.length,
  };
}
