// Calibration study (bench/calibration-bias.ts): a run's stored probabilities turned back into the fracture margins the
// model gave (its results.json holds p = σ(m / T + b)), and the two calibrations the product could fit on the
// validation margins, scored on the test margins.
import {
  brierScore,
  calibrationNoiseFloor,
  expectedCalibrationError,
  fitTemperature,
  negativeLogLikelihood,
  positiveClassProbabilities,
} from '../../src/train/metrics/index.js';

/** Probabilities this close to 0 or 1 are clamped before the logit (JSON keeps ~17 digits; 1 − 1e-15 is the last distinct step). */
const EDGE = 1e-15;

/** The margins m with σ(m / T + b) = p; a probability of exactly 0 or 1 gives ±34.5·T (counted in `clamped`). */
export function marginsFromProbabilities(probs: readonly number[], temperature: number, bias: number): { margins: Float64Array; clamped: number } {
  let clamped = 0;
  const margins = Float64Array.from(probs, (p) => {
    if (!(p >= 0 && p <= 1)) throw new Error(`a stored probability ${p} is not in [0, 1].`);
    const q = Math.min(1 - EDGE, Math.max(EDGE, p));
    if (q !== p) clamped++;
    return (Math.log(q / (1 - q)) - bias) * temperature;
  });
  return { margins, clamped };
}

export interface CalibrationScore {
  readonly temperature: number;
  readonly bias: number;
  readonly nll: number;
  readonly brier: number;
  /** Top-label ECE (Guo et al., 15 bins). */
  readonly ece: number;
  /** The fracture probability's own ECE (15 bins). */
  readonly fractureEce: number;
  readonly meanProbability: number;
}

export interface Labelled { readonly margins: Float64Array; readonly labels: readonly number[] }

/** Fits T (and b with `bias`) on `fitOn`, scores `scoreOn` with it. */
export function scoreCalibration(fitOn: Labelled, scoreOn: Labelled, bias: boolean): CalibrationScore {
  const fit = fitTemperature(fitOn.margins, fitOn.labels, { numClasses: 1, bias });
  const probs = positiveClassProbabilities(scoreOn.margins, fit.temperature, 1, fit.bias);
  const labels = scoreOn.labels;
  return {
    temperature: fit.temperature,
    bias: fit.bias,
    nll: negativeLogLikelihood(scoreOn.margins, labels, { numClasses: 1, temperature: fit.temperature, bias: fit.bias }),
    brier: brierScore(probs, labels),
    ece: expectedCalibrationError(probs, labels).ece,
    fractureEce: expectedCalibrationError(probs, labels, { mode: 'positive-class' }).ece,
    meanProbability: probs.reduce((a, v) => a + v, 0) / probs.length,
  };
}

/** The top-label ECE a perfectly calibrated model with `scored`'s probabilities would show on as many images. */
export function eceFloor(scoreOn: Labelled, fitted: CalibrationScore): { median: number; upper: number } {
  return calibrationNoiseFloor(positiveClassProbabilities(scoreOn.margins, fitted.temperature, 1, fitted.bias), { seed: 0 });
}
