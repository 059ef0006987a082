// Turns a validation or test pass into the study's figures and ours: metrics with bootstrap intervals,
// calibration before/after temperature scaling, per-view / implant / QC breakdowns, top losses.
import type { ManifestRow } from '../../data/index.js';
import type { ValidationResult } from '../../train/index.js';
import {
  binaryMetrics,
  bootstrapMetrics,
  calibrationNoiseFloor,
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

/** Which images a figure was measured on. */
export type EvaluationSet = 'validation' | 'test';

export interface Evaluation {
  /** The images these figures come from. */
  readonly set: EvaluationSet;
  /** Where the temperature was fitted: on validation always; on these same images only when set is 'validation'. */
  readonly temperatureFrom: 'validation';
  readonly n: number;
  readonly threshold: number;
  /** Probability of "fracture" per image (calibrated: temperature and bias), in `rowIds` order. */
  readonly probs: Float64Array;
  readonly labels: Int32Array;
  readonly rowIds: string[];
  readonly metrics: BinaryEvaluation;
  readonly intervals: BootstrapResult;
  readonly roc: RocCurve;
  readonly pr: PrecisionRecallCurve;
  readonly calibrationBefore: CalibrationReport;
  readonly calibrationAfter: CalibrationReport;
  /**
   * The calibrated ECE a perfectly calibrated model with these probabilities would show on this many images (median
   * and 95th percentile): an ECE above the 95th percentile is miscalibration, not chance.
   */
  readonly eceFloor: { readonly median: number; readonly upper: number };
  /** ECE of the fracture probability itself (scikit-learn's calibration curve, 15 bins), before and after. */
  readonly fractureEce: { readonly before: number; readonly after: number };
  readonly temperature: TemperatureFit;
  readonly byGroup: GroupEvaluation[];
  readonly topLosses: CaptionedCase[];
  readonly confidentCorrect: CaptionedCase[];
}

export interface EvaluateOptions {
  readonly threshold?: number;
  readonly seed?: number;
  readonly classNames?: readonly [string, string];
}

/**
 * Evaluates a binary fracture model's validation pass. The temperature and the fracture-logit bias are fitted on
 * these same validation logits (the bias takes back the balanced sampler's shift of the mean probability, which a
 * temperature cannot); when a test set exists its figures come from `evaluateTest` with this fit instead.
 */
export function evaluateValidation(result: ValidationResult, rows: readonly ManifestRow[], options: EvaluateOptions = {}): Evaluation {
  const temperature = fitTemperature(result.logits, result.labels, { numClasses: result.numClasses, bias: true });
  return evaluatePass(result, rows, 'validation', temperature, options);
}

/** Evaluates a test pass with the temperature fitted on validation: nothing here is chosen on the test images. */
export function evaluateTest(result: ValidationResult, rows: readonly ManifestRow[], temperature: TemperatureFit, options: EvaluateOptions = {}): Evaluation {
  return evaluatePass(result, rows, 'test', temperature, options);
}

function evaluatePass(result: ValidationResult, rows: readonly ManifestRow[], set: EvaluationSet, temperature: TemperatureFit, options: EvaluateOptions): Evaluation {
  const threshold = options.threshold ?? 0.5;
  const labels = result.labels;
  const rawProbs = positiveClassProbabilities(result.logits, 1, result.numClasses);
  const probs = positiveClassProbabilities(result.logits, temperature.temperature, result.numClasses, temperature.bias);
  const rowIds = Array.from(result.indices, (i) => rows[i]?.id ?? String(i));
  const pick = <T>(f: (r: ManifestRow) => T): T[] => Array.from(result.indices, (i) => f(rows[i] as ManifestRow));
  const factors = {
    view: pick((r) => r.view),
    qc: pick((r) => (r.qc.length > 0 ? r.qc.join('+') : 'clean')),
  };
  const classNames = options.classNames ?? (['no fracture', 'fracture'] as const);
  return {
    set,
    temperatureFrom: 'validation',
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
    eceFloor: calibrationNoiseFloor(probs, { threshold, seed: options.seed ?? 0 }),
    fractureEce: {
      before: expectedCalibrationError(rawProbs, labels, { mode: 'positive-class' }).ece,
      after: expectedCalibrationError(probs, labels, { mode: 'positive-class' }).ece,
    },
    temperature,
    byGroup: metricsByGroup(probs, labels, factors, { threshold }),
    topLosses: topLosses(probs, labels, 8, { threshold, classNames }),
    confidentCorrect: mostConfidentCorrect(probs, labels, 8, { threshold, classNames }),
  };
}
