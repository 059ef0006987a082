// Model–radiologist agreement on the reviewed cases: the radiologists' consensus is the reference; sensitivity,
// specificity and ROC AUC with 95 % percentile-bootstrap intervals come from src/train/metrics; the auto-report
// error rate is measured on the blinded audit sample with a Clopper–Pearson interval from src/triage.
import { binaryMetrics, bootstrapMetrics, type Interval } from '../../train/metrics/index.js';
import { clopperPearsonLower, clopperPearsonUpper } from '../../triage/index.js';
import type { ResultRecord } from '../store/index.js';
import type { ReviewCase, Verdict, VerdictRecord } from './types.js';

/** The readers' reference label for a case: 1 fracture, 0 no fracture, null when not assessable or readers disagree. */
export function consensusLabel(verdicts: readonly VerdictRecord[]): { readonly label: 0 | 1 | null; readonly why: 'agreed' | 'not-assessable' | 'readers-disagree' | 'unread' } {
  const calls = verdicts.map((v) => v.verdict).filter((v): v is Exclude<Verdict, 'not-assessable'> => v !== 'not-assessable');
  if (verdicts.length === 0) return { label: null, why: 'unread' };
  if (calls.length === 0) return { label: null, why: 'not-assessable' };
  const positives = calls.filter((v) => v === 'fracture').length;
  if (positives === calls.length) return { label: 1, why: 'agreed' };
  if (positives === 0) return { label: 0, why: 'agreed' };
  return { label: null, why: 'readers-disagree' };
}

/** The model's call on a study: fracture when any image's predicted class is fracture, else when P(fracture) ≥ threshold. */
export function modelCall(c: Pick<ReviewCase, 'probability'>, results: readonly ResultRecord[], threshold: number): 0 | 1 | null {
  const named = results.filter((r) => r.decision !== 'not-processed' && r.predicted !== '');
  if (named.length > 0) return named.some((r) => r.predicted === 'fracture' || r.predicted === '1') ? 1 : 0;
  if (c.probability === null) return null;
  return c.probability >= threshold ? 1 : 0;
}

export interface Disagreement {
  readonly studyKey: string;
  readonly probability: number | null;
  readonly decision: string | null;
  readonly model: 'fracture' | 'no-fracture';
  readonly readers: readonly { readonly name: string; readonly verdict: Verdict }[];
  readonly auditSample: boolean;
}

export interface AgreementReport {
  readonly reviewed: number;
  /** Cases with a reference label and a model probability (the metrics' n). */
  readonly compared: number;
  readonly positives: number;
  readonly threshold: number;
  readonly sensitivity: Interval | null;
  readonly specificity: Interval | null;
  readonly auc: Interval | null;
  readonly agreement: number | null;
  readonly excluded: { readonly notAssessable: number; readonly readersDisagree: number; readonly noModelResult: number };
  readonly disagreements: readonly Disagreement[];
  readonly audit: {
    readonly percent: number;
    readonly sampled: number;
    readonly read: number;
    readonly errors: number;
    readonly errorRate: number | null;
    readonly lower: number | null;
    readonly upper: number | null;
  };
}

const finiteOrNull = (i: Interval): Interval | null => (Number.isNaN(i.estimate) ? null : i);

export interface AgreementInput {
  readonly case: ReviewCase;
  readonly verdicts: readonly VerdictRecord[];
  readonly results: readonly ResultRecord[];
}

export function agreementReport(cases: readonly AgreementInput[], options: { readonly threshold?: number; readonly auditPercent: number; readonly auditSampled: number; readonly resamples?: number }): AgreementReport {
  const threshold = options.threshold ?? 0.5;
  const probs: number[] = [];
  const labels: number[] = [];
  const disagreements: Disagreement[] = [];
  let notAssessable = 0;
  let readersDisagree = 0;
  let noModelResult = 0;
  let same = 0;
  let auditRead = 0;
  let auditErrors = 0;
  for (const item of cases) {
    const reference = consensusLabel(item.verdicts);
    if (reference.why === 'not-assessable') notAssessable++;
    if (reference.why === 'readers-disagree') readersDisagree++;
    const call = modelCall(item.case, item.results, threshold);
    if (call === null || item.case.probability === null) noModelResult++;
    const readers = item.verdicts.map((v) => ({ name: v.userName, verdict: v.verdict }));
    if (reference.label === null || call === null) continue;
    if (item.case.auditSample) {
      auditRead++;
      if (call !== reference.label) auditErrors++;
    }
    if (call === reference.label) same++;
    else disagreements.push({ studyKey: item.case.studyKey, probability: item.case.probability, decision: item.case.decision, model: call === 1 ? 'fracture' : 'no-fracture', readers, auditSample: item.case.auditSample });
    if (item.case.probability !== null) {
      probs.push(item.case.probability);
      labels.push(reference.label);
    }
  }
  const positives = labels.filter((l) => l === 1).length;
  let sensitivity: Interval | null = null;
  let specificity: Interval | null = null;
  let auc: Interval | null = null;
  if (labels.length > 0) {
    const point = binaryMetrics(probs, labels, { threshold });
    const boot = bootstrapMetrics(probs, labels, { threshold, resamples: options.resamples ?? 1000, seed: 0 });
    if (positives > 0) sensitivity = finiteOrNull({ ...boot.intervals.sensitivity, estimate: point.metrics.sensitivity });
    if (positives < labels.length) specificity = finiteOrNull({ ...boot.intervals.specificity, estimate: point.metrics.specificity });
    if (positives > 0 && positives < labels.length) auc = finiteOrNull(boot.intervals.rocAuc);
  }
  const compared = same + disagreements.length;
  return {
    reviewed: cases.length,
    compared: labels.length,
    positives,
    threshold,
    sensitivity,
    specificity,
    auc,
    agreement: compared === 0 ? null : same / compared,
    excluded: { notAssessable, readersDisagree, noModelResult },
    disagreements,
    audit: {
      percent: options.auditPercent,
      sampled: options.auditSampled,
      read: auditRead,
      errors: auditErrors,
      errorRate: auditRead === 0 ? null : auditErrors / auditRead,
      lower: auditRead === 0 ? null : clopperPearsonLower(auditErrors, auditRead, 0.025),
      upper: auditRead === 0 ? null : clopperPearsonUpper(auditErrors, auditRead, 0.025),
    },
  };
}
