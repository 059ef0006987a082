// When to trust the model: per-image routing (auto-report or radiologist review with heatmap) from a given or
// calibrated confidence cut-off with a Clopper–Pearson bound, conformal sets, risk–coverage and operating points.
export { TriageError } from './errors.js';
export type { TriageErrorCode } from './errors.js';
export { clopperPearsonUpper, clopperPearsonLower, regularizedBeta, betaQuantile } from './binomial.js';
export { binaryRows, checkScores, confidenceOf, softmaxRow } from './scores.js';
export type { ProbabilityRows } from './scores.js';
export { riskCoverageCurve, calibrateCutoff, evaluateCutoff, NO_AUTO_REPORT } from './cutoff.js';
export type { RiskCoveragePoint, RiskCoverageCurve, CutoffOptions, CalibratedCutoff } from './cutoff.js';
export { calibrateConformal, predictionSet, evaluateConformal, conformalScore } from './conformal.js';
export type { ConformalScore, ConformalCalibration } from './conformal.js';
export { chooseOperatingPoints, fractureLevel } from './operatingPoints.js';
export type { OperatingPoint, OperatingPoints, FractureLevel } from './operatingPoints.js';
export {
  DEFAULT_CUTOFF,
  givenCutoffPolicy,
  calibratedCutoffPolicy,
  conformalPolicy,
  decide,
  decideAll,
  gated,
  calibratedProbabilities,
  policyFromModelCard,
  policyToJson,
  uncalibratedPolicy,
  UNCALIBRATED_REASON,
} from './policy.js';
export type { TriagePolicy, TriageMethod, TriageDecision, TriageRoute, PolicyExtras, GateOutcome } from './policy.js';
