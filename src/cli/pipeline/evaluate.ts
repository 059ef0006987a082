// Turns a validation pass into the study's figures and ours: metrics with bootstrap intervals,
// calibration before/after temperature scaling, per-view / implant / QC breakdowns, top losses.
import type { ManifestRow } from '../../data/index.js';
import type { ValidationResult } from '../../train/index.js';
import {
  binaryMetrics,
  bootstrapMetrics,
  expectedCalibrationError,
  fitTemperature,
  metricsByGroup,
  mostConfidentCorrect,
  positiveClassProbabilities,
  rocCurve,
  precisionRecallCurve,
  topLosses,
  type BinaryEvaluation,
  type BootstrapResult,
  type CalibrationReport,
  type CaptionedCase,
  type GroupEvaluation,
  type RocCurve,
  type PrecisionRecallCurve,
  type TemperatureFit,
} from '../../train/metrics/index.js';

export interface Evaluation {
  readonly n: number;
  readonly threshold: number;
  /** Probability of "fracture" per validation image (temperature-scaled), in `rowIds` order. */
  readonly probs: Float64Array;
  readonly labels: Int32Array;
  readonly rowIds: string[];
  readonly metrics: BinaryEvaluation;
  readonly intervals: BootstrapResult;
  readonly roc: RocCurve;
  readonly pr: PrecisionRecallCurve;
  readonly calibrationBefore: CalibrationReport;
  readonly calibrationAfter: CalibrationReport;
  readonly temperature: TemperatureFit;
  readonly byGroup: GroupEvaluation[];
  readonly topLosses: CaptionedCase[];
  readonly confidentCorrect: CaptionedCase[];
}

/**
 * Evaluates a binary fracture model's validation pass. The temperature is fitted on these same
 * validation logits (the study had no third split); the report says so.
 */
export function evaluateValidation(result: ValidationResult, rows: readonly ManifestRow[], options: { threshold?: number; seed?: number; classNames?: readonly [string, string] } = {}): Evaluation {
  const threshold = options.threshold ?? 0.5;
  const labels = result.labels;
  const rawProbs = positiveClassProbabilities(result.logits, 1, result.numClasses);
  const temperature = fitTemperature(result.logits, labels, { numClasses: result.numClasses });
  const probs = positiveClassProbabilities(result.logits, temperature.temperature, result.numClasses);
  const rowIds = Array.from(result.indices, (i) => rows[i]?.id ?? String(i));
  const pick = <T>(f: (r: ManifestRow) => T): T[] => Array.from(result.indices, (i) => f(rows[i] as ManifestRow));
  const factors = {
    view: pick((r) => r.view),
    qc: pick((r) => (r.qc.length > 0 ? r.qc.join('+') : 'clean')),
  };
  const classNames = options.classNames ?? (['no fracture', 'fracture'] as const);
  return {
    n: labels.length,
    threshold,
    probs,
    labels,
    rowIds,
    metrics: binaryMetrics(probs, labels, { threshold }),
    intervals: bootstrapMetrics(probs, labels, { threshold, seed: options.seed ?? 0 }),
    roc: rocCurve(probs, labels),
    pr: precisionRecallCurve(probs, labels),
    calibrationBefore: expectedCalibrationError(rawProbs, labels, { threshold }),
    calibrationAfter: expectedCalibrationError(probs, labels, { threshold }),
    temperature,
    byGroup: metricsByGroup(probs, labels, factors, { threshold }),
    topLosses: topLosses(probs, labels, 8, { threshold, classNames }),
    confidentCorrect: mostConfidentCorrect(probs, labels, 8, { threshold, classNames }),
  };
}
