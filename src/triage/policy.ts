// The triage policy: how each image is routed (auto-report or radiologist review with its heatmap), built
// from a given or calibrated cut-off or from conformal sets; serialisable into the model card's `threshold` field.
import { calibrateConformal, predictionSet, type ConformalScore } from './conformal.js';
import { calibrateCutoff, evaluateCutoff, type CutoffOptions } from './cutoff.js';
import { fractureLevel, type FractureLevel, type OperatingPoints } from './operatingPoints.js';
import { checkScores, confidenceOf, softmaxRow, type ProbabilityRows } from './scores.js';
import { TriageError } from './errors.js';

/** 'uncalibrated': the checkpoint has no measured cut-off, so every case goes to review (never read from a card). */
export type TriageMethod = 'given-cutoff' | 'calibrated-cutoff' | 'conformal-lac' | 'conformal-aps' | 'uncalibrated';
/** The methods a model card may carry. */
const METHODS: readonly TriageMethod[] = ['given-cutoff', 'calibrated-cutoff', 'conformal-lac', 'conformal-aps'];

/** Why every case goes to review under the 'uncalibrated' policy, with the fix. */
export const UNCALIBRATED_REASON = 'no calibrated cut-off in the model card, so every case goes to radiologist review (measure one with `hipfrac triage-calibrate … --write`, or pass --cutoff knowingly)';

/** The study's example cut-off: 99.5 % confidence. */
export const DEFAULT_CUTOFF = 0.995;

/** What goes into the model card's `threshold` field (JSON: finite numbers or null). */
export interface TriagePolicy {
  readonly method: TriageMethod;
  /** Confidence cut-off (cut-off methods); null for conformal policies. */
  readonly cutoff: number | null;
  /** Target error among auto-reported cases (cut-off methods) or α (conformal); null when a cut-off was given. */
  readonly target: number | null;
  /** Error among auto-reported validation cases; null when not measured. */
  readonly measuredError: number | null;
  /** Clopper–Pearson upper bound on that error (1 − delta). */
  readonly errorUpperBound: number | null;
  /** Share of validation cases auto-reported. */
  readonly coverage: number | null;
  readonly delta: number | null;
  /** Validation cases behind the figures. */
  readonly n: number | null;
  /** Softmax temperature applied to logits before the policy (1 = none). */
  readonly temperature: number;
  /** Added to the fracture logit after the temperature (two-class models; absent = 0): calibration's bias. */
  readonly bias?: number;
  /** Conformal calibration; qhat null means "all classes" (∞). */
  readonly conformal?: { readonly score: ConformalScore; readonly alpha: number; readonly qhat: number | null; readonly n: number };
  readonly operatingPoints?: OperatingPoints;
}

export interface PolicyExtras {
  readonly temperature?: number;
  readonly bias?: number;
  readonly operatingPoints?: OperatingPoints;
}

function extras(e: PolicyExtras): { temperature: number; bias?: number; operatingPoints?: OperatingPoints } {
  return { temperature: e.temperature ?? 1, ...(e.bias === undefined || e.bias === 0 ? {} : { bias: e.bias }), ...(e.operatingPoints === undefined ? {} : { operatingPoints: e.operatingPoints }) };
}

/** A fixed cut-off (default 0.995); its error and coverage measured when validation data is given. */
export function givenCutoffPolicy(cutoff = DEFAULT_CUTOFF, validation?: { probabilities: ProbabilityRows; labels: readonly number[]; delta?: number }, more: PolicyExtras = {}): TriagePolicy {
  if (!(cutoff >= 0 && cutoff <= 1)) throw new TriageError('HF_TRIAGE_BAD_OPTION', `the cut-off must be a probability in [0, 1], got ${cutoff}.`, { input: 'cutoff', fix: 'e.g. 0.995 for 99.5 %.' });
  if (validation === undefined) {
    return { method: 'given-cutoff', cutoff, target: null, measuredError: null, errorUpperBound: null, coverage: null, delta: null, n: null, ...extras(more) };
  }
  const delta = validation.delta ?? 0.05;
  const m = evaluateCutoff(validation.probabilities, validation.labels, cutoff, delta);
  return {
    method: 'given-cutoff',
    cutoff,
    target: null,
    measuredError: Number.isNaN(m.measuredError) ? null : m.measuredError,
    errorUpperBound: m.errorUpperBound,
    coverage: m.coverage,
    delta,
    n: m.n,
    ...extras(more),
  };
}

/**
 * The policy for a checkpoint without a measured cut-off: the model's probabilities as they are (temperature 1) and
 * every case routed to radiologist review, since nothing shows that any confidence is safe to auto-report.
 */
export function uncalibratedPolicy(): TriagePolicy {
  return { method: 'uncalibrated', cutoff: null, target: null, measuredError: null, errorUpperBound: null, coverage: null, delta: null, n: null, temperature: 1 };
}

/** The lowest cut-off whose error among auto-reported validation cases is ≤ target with 1 − δ confidence. */
export function calibratedCutoffPolicy(probabilities: ProbabilityRows, labels: readonly number[], options: CutoffOptions = {}, more: PolicyExtras = {}): TriagePolicy {
  const c = calibrateCutoff(probabilities, labels, options);
  return {
    method: 'calibrated-cutoff',
    cutoff: c.cutoff,
    target: c.targetError,
    measuredError: Number.isNaN(c.measuredError) ? null : c.measuredError,
    errorUpperBound: c.errorUpperBound,
    coverage: c.coverage,
    delta: c.delta,
    n: c.n,
    ...extras(more),
  };
}

/** Conformal sets at level 1 − α; single-class sets are auto-reported, others reviewed. */
export function conformalPolicy(probabilities: ProbabilityRows, labels: readonly number[], options: { alpha?: number; score?: ConformalScore } = {}, more: PolicyExtras = {}): TriagePolicy {
  const cal = calibrateConformal(probabilities, labels, options);
  const singles = probabilities.map((row) => predictionSet(row, cal));
  const auto = singles.map((s, i) => ({ s, i })).filter(({ s }) => s.length === 1);
  const errors = auto.filter(({ s, i }) => s[0] !== labels[i]).length;
  return {
    method: cal.score === 'lac' ? 'conformal-lac' : 'conformal-aps',
    cutoff: null,
    target: cal.alpha,
    measuredError: auto.length === 0 ? null : errors / auto.length,
    errorUpperBound: null,
    coverage: auto.length / probabilities.length,
    delta: null,
    n: cal.n,
    conformal: { score: cal.score, alpha: cal.alpha, qhat: Number.isFinite(cal.qhat) ? cal.qhat : null, n: cal.n },
    ...extras(more),
  };
}

export type TriageRoute = 'auto-report' | 'radiologist-review';

export interface TriageDecision {
  readonly decision: TriageRoute;
  readonly predicted: number;
  /** Calibrated probability of the predicted class. */
  readonly confidence: number;
  /** P(class 1 = fracture) after calibration. */
  readonly fractureProbability: number;
  /** Conformal policies: the prediction set. */
  readonly predictionSet?: readonly number[];
  /** With operating points: definite / suspicious / negative. */
  readonly level?: FractureLevel;
  /** The heatmap the radiologist sees (only for reviewed cases). */
  readonly heatmapPath?: string;
  /** One line saying why. */
  readonly reason: string;
}

/** Routes one case from its calibrated class probabilities. */
export function decide(probabilities: readonly number[], policy: TriagePolicy, options: { heatmapPath?: string } = {}): TriageDecision {
  checkScores([probabilities]);
  const { predicted, confidence } = confidenceOf(probabilities);
  const fractureProbability = (probabilities[1] ?? probabilities[0]) as number;
  const level = policy.operatingPoints === undefined ? {} : { level: fractureLevel(fractureProbability, policy.operatingPoints) };
  let route: TriageRoute;
  let reason: string;
  let set: number[] | undefined;
  if (policy.method === 'uncalibrated' || (policy.conformal === undefined && policy.cutoff === null)) {
    route = 'radiologist-review';
    reason = UNCALIBRATED_REASON;
  } else if (policy.conformal !== undefined) {
    set = predictionSet(probabilities, { ...policy.conformal, qhat: policy.conformal.qhat ?? Number.POSITIVE_INFINITY, statedCoverage: 1 - policy.conformal.alpha });
    route = set.length === 1 && set[0] === predicted ? 'auto-report' : 'radiologist-review';
    reason = `conformal set {${set.join(', ')}} at ${(100 * (1 - policy.conformal.alpha)).toFixed(1)} % coverage`;
  } else {
    const cutoff = policy.cutoff as number;
    route = confidence >= cutoff ? 'auto-report' : 'radiologist-review';
    reason = `confidence ${(100 * confidence).toFixed(2)} % ${route === 'auto-report' ? '≥' : '<'} cut-off ${cutoff > 1 ? '(none: every case reviewed)' : `${(100 * cutoff).toFixed(2)} %`}`;
  }
  return {
    decision: route,
    predicted,
    confidence,
    fractureProbability,
    ...(set === undefined ? {} : { predictionSet: set }),
    ...level,
    ...(route === 'radiologist-review' && options.heatmapPath !== undefined ? { heatmapPath: options.heatmapPath } : {}),
    reason,
  };
}

/** Logits → calibrated probabilities with the policy's temperature and bias. */
export function calibratedProbabilities(logits: readonly number[], policy: TriagePolicy): number[] {
  return softmaxRow(logits, policy.temperature, policy.bias ?? 0);
}

/** The input gate's verdict as triage needs it (src/gate's GateVerdict has this shape). */
export interface GateOutcome {
  readonly pass: boolean;
  readonly reasons: readonly string[];
}

/**
 * The cascade's first stage over a triage decision: an image that fails the input gate is never auto-reported,
 * whatever its confidence; it goes to review with the gate's reasons. A passing image (or none checked) keeps `d`.
 */
export function gated(d: TriageDecision, verdict: GateOutcome | undefined): TriageDecision {
  if (verdict === undefined || verdict.pass) return d;
  return { ...d, decision: 'radiologist-review', reason: `input gate: ${verdict.reasons.join('; ')}` };
}

/** Routes many cases (rows of calibrated probabilities). */
export function decideAll(probabilities: ProbabilityRows, policy: TriagePolicy, heatmapPaths?: readonly (string | undefined)[]): TriageDecision[] {
  checkScores(probabilities);
  return probabilities.map((row, i) => {
    const heatmapPath = heatmapPaths?.[i];
    return decide(row, policy, heatmapPath === undefined ? {} : { heatmapPath });
  });
}

function isNumberOrNull(v: unknown): v is number | null {
  return v === null || (typeof v === 'number' && Number.isFinite(v));
}

/**
 * Reads a policy from a model card (its `threshold` field) or from the policy JSON itself, checking every field.
 * A card without one is an error: a model must not auto-report without a measured cut-off.
 */
export function policyFromModelCard(card: unknown, source = 'model card'): TriagePolicy {
  // A card carries the policy in `threshold`; a bare policy object (with `method`) is accepted as it is.
  const isObject = typeof card === 'object' && card !== null;
  const field = isObject && 'threshold' in card ? (card as { threshold: unknown }).threshold : isObject && 'method' in card ? card : undefined;
  if (field === undefined || field === null || (typeof field === 'object' && Object.keys(field).length === 0)) {
    throw new TriageError('HF_TRIAGE_NO_CUTOFF', 'the checkpoint has no triage cut-off (model card field `threshold` is missing).', {
      input: source,
      fix: 'run `hipfrac triage-calibrate VALIDATION_DIR --model CKPT --labels labels.csv --write` to measure one, or pass --cutoff 0.995 to use a given cut-off knowingly.',
    });
  }
  // The model card's minimal form ({ cutoff } with optional target/measuredError/coverage, no method) reads as a given cut-off.
  const raw = field as Record<string, unknown>;
  const p: Record<string, unknown> = raw['method'] === undefined && typeof raw['cutoff'] === 'number' ? { method: 'given-cutoff', ...raw } : raw;
  const problems: string[] = [];
  if (!METHODS.includes(p['method'] as TriageMethod)) problems.push(`method '${String(p['method'])}' is not one of ${METHODS.join(', ')}`);
  for (const key of ['cutoff', 'target', 'measuredError', 'errorUpperBound', 'coverage', 'delta', 'n']) {
    if (!isNumberOrNull(p[key] ?? null)) problems.push(`${key} must be a number or null (got ${JSON.stringify(p[key])})`);
  }
  const temperature = p['temperature'] ?? 1;
  if (typeof temperature !== 'number' || !(temperature > 0)) problems.push(`temperature must be a positive number (got ${JSON.stringify(temperature)})`);
  const bias = p['bias'] ?? 0;
  if (typeof bias !== 'number' || !Number.isFinite(bias)) problems.push(`bias must be a finite number (got ${JSON.stringify(bias)})`);
  const isConformal = String(p['method']).startsWith('conformal');
  if (!isConformal && typeof p['cutoff'] !== 'number') problems.push('a cut-off policy needs a numeric cutoff');
  if (isConformal) {
    const c = p['conformal'] as Record<string, unknown> | undefined;
    if (c === undefined || (c['score'] !== 'lac' && c['score'] !== 'aps') || typeof c['alpha'] !== 'number' || !isNumberOrNull(c['qhat'] ?? null) || typeof c['n'] !== 'number') {
      problems.push('a conformal policy needs conformal: {score, alpha, qhat, n}');
    }
  }
  if (problems.length > 0) {
    throw new TriageError('HF_TRIAGE_BAD_POLICY', `the triage policy is invalid: ${problems.join('; ')}.`, { input: source, fix: 'recalibrate with `hipfrac triage-calibrate`.' });
  }
  const numberOrNull = (key: string): number | null => (p[key] ?? null) as number | null;
  return {
    ...(p as unknown as TriagePolicy),
    cutoff: numberOrNull('cutoff'),
    target: numberOrNull('target'),
    measuredError: numberOrNull('measuredError'),
    errorUpperBound: numberOrNull('errorUpperBound'),
    coverage: numberOrNull('coverage'),
    delta: numberOrNull('delta'),
    n: numberOrNull('n'),
    temperature: temperature as number,
    ...(bias === 0 ? {} : { bias: bias as number }),
  };
}

/** The policy as the JSON value of the model card's `threshold` field. */
export function policyToJson(policy: TriagePolicy): Record<string, unknown> {
  return JSON.parse(JSON.stringify(policy)) as Record<string, unknown>;
}
