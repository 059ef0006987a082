// The metrics room's door: binary evaluation of fracture probabilities (study metrics, AUCs, curves,
// bootstrap intervals, calibration, temperature scaling, McNemar, subgroups, top losses). Plain arrays, no tensors.
export { MetricsError } from './errors.js';
export type { MetricsErrorCode, NumberArray, LabelArray } from './errors.js';
export {
  DEFAULT_THRESHOLD, binaryConfusion, thresholdMetricsFromConfusion, confusionMatrix, accuracyScore, argmaxRows,
} from './confusion.js';
export type { BinaryConfusion, ThresholdMetrics } from './confusion.js';
export { rocAuc, averagePrecision, rocCurve, precisionRecallCurve, sortScores, curveCounts } from './ranking.js';
export type { RocCurve, PrecisionRecallCurve, SortedScores, CurveCounts } from './ranking.js';
export { binaryMetrics, METRIC_NAMES } from './binary.js';
export type { BinaryMetrics, BinaryEvaluation, MetricName, ThresholdOption } from './binary.js';
export { bootstrapMetrics, bootstrapStatistic, percentileInterval, quantileSorted } from './bootstrap.js';
export type { Interval, MetricIntervals, BootstrapOptions, BootstrapResult } from './bootstrap.js';
export { expectedCalibrationError, brierScore, calibrationNoiseFloor } from './calibration.js';
export type { CalibrationMode, CalibrationOptions, CalibrationReport, ReliabilityBin } from './calibration.js';
export { fitTemperature, applyTemperature, positiveClassProbabilities, negativeLogLikelihood } from './temperature.js';
export type { TemperatureOptions, TemperatureFit } from './temperature.js';
export { mcnemarTest, mcnemarFromCounts, chiSquareSf } from './mcnemar.js';
export type { McNemarResult, McNemarOptions } from './mcnemar.js';
export { holmAdjust } from './multiplicity.js';
export { metricsByGroup } from './breakdown.js';
export type { GroupValue, GroupEvaluation, BreakdownOptions } from './breakdown.js';
export { topLosses, mostConfidentCorrect } from './topLosses.js';
export { compareModels } from './comparison.js';
export type { ModelComparison, CompareOptions } from './comparison.js';
export type { CaptionedCase, TopLossOptions } from './topLosses.js';
export { bootstrapAuc, pairedAucDifference } from './aucBootstrap.js';
export type { AucBootstrapOptions, AucInterval } from './aucBootstrap.js';
