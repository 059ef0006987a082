// Schedules as pure functions of training progress in [0, 1] (fastai's shape): annealers between
// two values, joined by percentages; the one-cycle policy is one such combination.
import { TrainError } from './errors.js';

/** A value as a function of progress p ∈ [0, 1]. */
export type Schedule = (progress: number) => number;

export const schedLin = (start: number, end: number): Schedule => (p) => start + p * (end - start);
export const schedCos = (start: number, end: number): Schedule => (p) => start + ((1 + Math.cos(Math.PI * (1 - p))) * (end - start)) / 2;
export const schedExp = (start: number, end: number): Schedule => (p) => start * (end / start) ** p;
export const schedConst = (value: number): Schedule => () => value;

/** Joins schedules: `pcts` (summing to 1) says which share of training each one covers. */
export function combineScheds(pcts: readonly number[], scheds: readonly Schedule[]): Schedule {
  if (pcts.length !== scheds.length || pcts.length === 0) {
    throw new TrainError('HF_TRAIN_BAD_SCHEDULE', `combineScheds needs one percentage per schedule (got ${pcts.length} and ${scheds.length}).`);
  }
  const total = pcts.reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > 1e-6 || pcts.some((p) => p < 0)) {
    throw new TrainError('HF_TRAIN_BAD_SCHEDULE', `schedule percentages must be non-negative and sum to 1, got ${pcts.join(' + ')} = ${total}.`);
  }
  const bounds: number[] = [0];
  for (const p of pcts) bounds.push((bounds[bounds.length - 1] as number) + p);
  return (progress) => {
    const p = Math.min(Math.max(progress, 0), 1);
    let i = 0;
    while (i < pcts.length - 1 && p >= (bounds[i + 1] as number)) i++;
    const start = bounds[i] as number;
    const width = pcts[i] as number;
    const local = width > 0 ? (p - start) / width : 1;
    return (scheds[i] as Schedule)(Math.min(local, 1));
  };
}

/** fastai's combined_cos: cosine from a to b over pct, then cosine from b to c. */
export function combinedCos(pct: number, start: number, middle: number, end: number): Schedule {
  return combineScheds([pct, 1 - pct], [schedCos(start, middle), schedCos(middle, end)]);
}

export interface OneCycleOptions {
  /** Initial LR = lrMax / div (fastai default 25). */
  readonly div: number;
  /** Final LR = lrMax / divFinal (fastai default 1e5). */
  readonly divFinal: number;
  /** Share of the cycle spent warming up (fastai default 0.25). */
  readonly pctStart: number;
  /** Momentum (Adam β1) high → low → high (fastai default 0.95, 0.85, 0.95). */
  readonly moms: readonly [number, number, number];
}

export const defaultOneCycle: OneCycleOptions = Object.freeze({ div: 25, divFinal: 1e5, pctStart: 0.25, moms: [0.95, 0.85, 0.95] as const });

/** Smith's one-cycle policy for one learning rate (Smith & Topin 2018, as fastai's fit_one_cycle). */
export function oneCycleLr(lrMax: number, options: OneCycleOptions = defaultOneCycle): Schedule {
  return combinedCos(options.pctStart, lrMax / options.div, lrMax, lrMax / options.divFinal);
}
export function oneCycleMomentum(options: OneCycleOptions = defaultOneCycle): Schedule {
  const [a, b, c] = options.moms;
  return combinedCos(options.pctStart, a, b, c);
}
