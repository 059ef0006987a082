// Calibration study (bench/calibration-bias.ts): a run's stored probabilities turned back into the fracture margins the
// model gave (its results.json holds p = σ(m / T + b)), and the two calibrations the product could fit on the
// validation margins, scored on the test margins; the ECE a perfectly calibrated model shows under this protocol, and
// the protocol's ECE over other partitions of the same held-out cases.
import {
  brierScore,
  calibrationNoiseFloor,
  expectedCalibrationError,
  fitTemperature,
  negativeLogLikelihood,
  positiveClassProbabilities,
  quantileSorted,
} from '../../src/train/metrics/index.js';
import { Rng } from '../../src/util/index.js';

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

/** ECEs over repeated draws: median, 95th percentile and the share at or below `goal`. */
export interface EceDraws {
  readonly median: number;
  readonly upper: number;
  /** Share of the draws whose ECE is at or below `goal`. */
  readonly shareAtGoal: number;
  readonly goal: number;
  readonly draws: number;
}

function summariseDraws(eces: Float64Array, goal: number): EceDraws {
  eces.sort();
  return { median: quantileSorted(eces, 0.5), upper: quantileSorted(eces, 0.95), shareAtGoal: eces.filter((e) => e <= goal).length / eces.length, goal, draws: eces.length };
}

/**
 * The top-label test ECE that the whole protocol leaves a perfectly calibratable model: validation and test labels
 * drawn from the calibrated probabilities σ(m / T + b) themselves, T and b fitted again on the drawn validation
 * labels (as `hipfrac train` fits them), the test ECE scored with that refit. Beside `eceFloor` (the test draw
 * alone) it adds the calibrator's own estimation error on as many validation images. Median, 95th percentile and
 * the share of draws at or below `goal`.
 */
export function protocolEceFloor(val: Float64Array, test: Float64Array, fitted: { temperature: number; bias: number }, options: { goal?: number; draws?: number; seed?: number } = {}): EceDraws {
  const draws = options.draws ?? 200;
  const goal = options.goal ?? 0.03;
  const rng = new Rng(options.seed ?? 0);
  const truth = (m: Float64Array): Float64Array => positiveClassProbabilities(m, fitted.temperature, 1, fitted.bias);
  const pv = truth(val);
  const pt = truth(test);
  const yv = new Int32Array(pv.length);
  const yt = new Int32Array(pt.length);
  const eces = new Float64Array(draws);
  for (let r = 0; r < draws; r++) {
    for (let i = 0; i < pv.length; i++) yv[i] = rng.next() < (pv[i] as number) ? 1 : 0;
    for (let i = 0; i < pt.length; i++) yt[i] = rng.next() < (pt[i] as number) ? 1 : 0;
    const refit = fitTemperature(val, yv, { numClasses: 1, bias: true });
    eces[r] = expectedCalibrationError(positiveClassProbabilities(test, refit.temperature, 1, refit.bias), yt).ece;
  }
  return summariseDraws(eces, goal);
}

/**
 * The protocol's test ECE without the luck of one split: the validation and test cases pooled, drawn again into a
 * calibration part of the validation set's size and a scored part of the test set's size (the fractures of each part
 * as many as in the validation and test sets), T and b fitted on the first part, the top-label ECE scored on the
 * second. Every case is held out from training; the stored split is one of these partitions. Median, 95th percentile
 * and the share of partitions at or below `goal`, comparable with `protocolEceFloor` (the same sizes and fit) for a
 * perfectly calibrated model.
 */
export function repartitionedEce(val: Labelled, test: Labelled, options: { goal?: number; draws?: number; seed?: number } = {}): EceDraws {
  const draws = options.draws ?? 200;
  const goal = options.goal ?? 0.03;
  const rng = new Rng(options.seed ?? 0);
  const margins = Float64Array.from([...val.margins, ...test.margins]);
  const labels = [...val.labels, ...test.labels];
  const byLabel = [0, 1].map((y) => labels.flatMap((l, i) => (l === y ? [i] : [])));
  const valCount = [0, 1].map((y) => val.labels.filter((l) => l === y).length);
  if (byLabel.some((ids, y) => valCount[y] === 0 || valCount[y] === ids.length)) throw new Error('repartitionedEce: the pooled cases need both labels in both parts.');
  const part = (ids: number[]): Labelled => ({ margins: Float64Array.from(ids, (i) => margins[i] as number), labels: ids.map((i) => labels[i] as number) });
  const eces = new Float64Array(draws);
  for (let r = 0; r < draws; r++) {
    const fit: number[] = [];
    const score: number[] = [];
    byLabel.forEach((ids, y) => {
      const order = rng.shuffle(ids);
      fit.push(...order.slice(0, valCount[y]));
      score.push(...order.slice(valCount[y]));
    });
    eces[r] = scoreCalibration(part(fit), part(score), true).ece;
  }
  return summariseDraws(eces, goal);
}

/**
 * The protocol's ECE on the validation cases alone, for choices that must not look at test: the validation cases
 * partitioned again and again into halves with as many fractures each (`repartitionedEce` on two halves), T and b
 * fitted on one half, the top-label ECE scored on the other.
 */
export function validationOnlyEce(val: Labelled, options: { goal?: number; draws?: number; seed?: number } = {}): EceDraws {
  const byLabel = [0, 1].map((y) => val.labels.flatMap((l, i) => (l === y ? [i] : [])));
  const half = (keep: number): Labelled => {
    const ids = byLabel.flatMap((list) => list.filter((_, k) => k % 2 === keep));
    return { margins: Float64Array.from(ids, (i) => val.margins[i] as number), labels: ids.map((i) => val.labels[i] as number) };
  };
  return repartitionedEce(half(0), half(1), options);
}
