// Smith's LR range test (Smith 2017, fastai's lr_find): an exponential LR sweep over ~100 batches,
// smoothed loss, stop when it passes 4× its minimum; model and optimiser restored afterwards.
import { keep, noGrad, type Tensor } from '../torch/index.js';
import { HipfracError } from '../util/index.js';
import { CancelFit, CancelValidate, type Callback } from './events.js';
import type { Learner } from './learner.js';
import { TrainError } from './errors.js';

export interface LrFinderOptions {
  readonly startLr: number;
  readonly endLr: number;
  readonly numIterations: number;
  /** Stop when the smoothed loss exceeds this multiple of its minimum. */
  readonly stopDiv: number;
  /** Exponential smoothing factor of the loss (fastai: 0.98). */
  readonly beta: number;
}
export const defaultLrFinder: LrFinderOptions = Object.freeze({ startLr: 1e-7, endLr: 10, numIterations: 100, stopDiv: 4, beta: 0.98 });

export interface LrFinderResult {
  readonly lrs: number[];
  readonly losses: number[];
  readonly suggestions: Record<LrSuggestionName, number>;
  /** The suggestion the caller asked for (valley by default). */
  readonly suggested: number;
  readonly method: LrSuggestionName;
}

/** A suggestion function: all share one signature, choosing one means passing its name. */
export type LrSuggestion = (lrs: readonly number[], losses: readonly number[]) => number;
export type LrSuggestionName = 'valley' | 'steep' | 'minimum';

/** fastai's valley: the longest descending run of the loss curve, two thirds of the way down it (as fastai). */
export const valley: LrSuggestion = (lrs, losses) => {
  const n = losses.length;
  if (n < 2) return lrs[0] ?? Number.NaN;
  const lds = new Array<number>(n).fill(1);
  let maxStart = 0;
  let maxEnd = 0;
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if ((losses[i] as number) < (losses[j] as number) && (lds[i] as number) < (lds[j] as number) + 1) lds[i] = (lds[j] as number) + 1;
      if ((lds[maxEnd] as number) < (lds[i] as number)) {
        maxEnd = i;
        // fastai's approximation of where the run starts (a run of length L ending at i).
        maxStart = maxEnd - (lds[maxEnd] as number);
      }
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  const idx = Math.max(0, maxStart + Math.trunc(sections) + Math.trunc(sections / 2));
  return lrs[Math.min(idx, n - 1)] as number;
};

/** The LR where the loss falls fastest (steepest negative slope in log-LR). */
export const steep: LrSuggestion = (lrs, losses) => {
  let best = 1;
  let bestSlope = Number.POSITIVE_INFINITY;
  for (let i = 1; i < losses.length; i++) {
    const slope = ((losses[i] as number) - (losses[i - 1] as number)) / (Math.log(lrs[i] as number) - Math.log(lrs[i - 1] as number));
    if (slope < bestSlope) {
      bestSlope = slope;
      best = i;
    }
  }
  return lrs[best] as number;
};

/** One tenth of the LR at the minimum loss (the classic rule of thumb). */
export const minimum: LrSuggestion = (lrs, losses) => {
  let best = 0;
  for (let i = 1; i < losses.length; i++) if ((losses[i] as number) < (losses[best] as number)) best = i;
  return (lrs[best] as number) / 10;
};

export const lrSuggestions: Record<LrSuggestionName, LrSuggestion> = { valley, steep, minimum };

/** Smoothed, debiased losses as fastai records them. */
export function smoothLosses(raw: readonly number[], beta = 0.98): number[] {
  let avg = 0;
  return raw.map((loss, i) => {
    avg = beta * avg + (1 - beta) * loss;
    return avg / (1 - beta ** (i + 1));
  });
}

/** Runs the range test on `learner` and restores its weights and optimiser afterwards. */
export async function lrFind(learner: Learner, options: Partial<LrFinderOptions> & { suggestion?: LrSuggestionName } = {}): Promise<LrFinderResult> {
  const opts: LrFinderOptions = { ...defaultLrFinder, ...options };
  if (!(opts.startLr > 0 && opts.endLr > opts.startLr)) {
    throw new TrainError('HF_TRAIN_BAD_OPTION', `LR finder needs 0 < startLr < endLr, got ${opts.startLr} and ${opts.endLr}.`);
  }
  const saved = new Map<string, Tensor>();
  noGrad(() => {
    for (const [k, v] of learner.model.stateDict()) saved.set(k, keep(v.detach().clone()));
  });
  const lrs: number[] = [];
  const raw: number[] = [];
  let best = Number.POSITIVE_INFINITY;
  const perEpoch = Math.max(1, learner.train.batchesPerEpoch);
  const epochs = Math.ceil(opts.numIterations / perEpoch);
  const finder: Callback = {
    name: 'LRFinder',
    order: -20,
    beforeBatch(l: Learner): void {
      const step = lrs.length;
      if (step >= opts.numIterations) throw new CancelFit('LR sweep complete');
      const lr = opts.startLr * (opts.endLr / opts.startLr) ** (step / Math.max(1, opts.numIterations - 1));
      l.setLearningRates(lr);
      lrs.push(lr);
    },
    afterStep(l: Learner): void {
      raw.push(l.lastLoss);
      const smoothed = smoothLosses(raw, opts.beta);
      const current = smoothed[smoothed.length - 1] as number;
      if (current < best) best = current;
      if (!Number.isFinite(current) || current > opts.stopDiv * best) throw new CancelFit('loss diverged');
    },
    beforeValidate(): void {
      throw new CancelValidate();
    },
  };
  const stage = learner.stage;
  learner.stage = 'lr-find';
  try {
    await learner.fit(epochs, opts.startLr, [finder]);
  } catch (error) {
    if (error instanceof HipfracError && error.code === 'HF_TRAIN_DIVERGED') {
      // A NaN loss is the end of the sweep, not a failure of it.
    } else {
      throw error;
    }
  } finally {
    learner.stage = stage;
    // The sweep's pseudo-epochs are not training history.
    for (let i = learner.history.length - 1; i >= 0; i--) if (learner.history[i]?.stage === 'lr-find') learner.history.splice(i, 1);
    learner.model.loadStateDict(saved);
    for (const t of saved.values()) t.dispose();
    learner.resetOptimizer();
  }
  const n = Math.min(lrs.length, raw.length);
  const losses = smoothLosses(raw.slice(0, n), opts.beta);
  const keptLrs = lrs.slice(0, n);
  // As fastai: drop the first tenth of the sweep (the debiased average is still noisy there) and the last
  // five points (where the loss explodes) before suggesting.
  const from = n >= 20 ? Math.floor(opts.numIterations / 10) : 0;
  const to = Math.max(from + 2, n - 5);
  const [sLrs, sLosses] = [keptLrs.slice(from, to), losses.slice(from, to)];
  const suggestions = { valley: valley(sLrs, sLosses), steep: steep(sLrs, sLosses), minimum: minimum(sLrs, sLosses) };
  const method = options.suggestion ?? 'valley';
  return { lrs: keptLrs, losses, suggestions, suggested: suggestions[method], method };
}
