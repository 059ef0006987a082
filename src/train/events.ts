// The closed set of training events and the Callback shape: handlers are optional, run by `order`,
// and a failing handler is re-thrown naming the callback and the event. Cancel errors say what they skip.
import type { Learner } from './learner.js';
import { TrainError } from './errors.js';

export const TRAIN_EVENTS = [
  'beforeFit',
  'beforeEpoch',
  'beforeTrain',
  'beforeBatch',
  'afterLoss',
  'afterStep',
  'afterBatch',
  'afterTrain',
  'beforeValidate',
  'afterValidate',
  'afterEpoch',
  'afterFit',
] as const;
export type TrainEvent = (typeof TRAIN_EVENTS)[number];

export type Callback = {
  readonly name: string;
  /** Lower runs first (fastai's convention); default 0. */
  readonly order?: number;
} & { readonly [E in TrainEvent]?: (learner: Learner) => void | Promise<void> };

/** Skips the rest of the current batch (no optimiser step). */
export class CancelBatch extends Error {}
/** Skips validation of this epoch. */
export class CancelValidate extends Error {}
/** Ends the current epoch early (afterEpoch still runs). */
export class CancelEpoch extends Error {}
/** Ends training (afterFit still runs): early stopping, LR finder divergence. */
export class CancelFit extends Error {}

export function isCancel(error: unknown): boolean {
  return error instanceof CancelBatch || error instanceof CancelValidate || error instanceof CancelEpoch || error instanceof CancelFit;
}

export async function runEvent(callbacks: readonly Callback[], event: TrainEvent, learner: Learner): Promise<void> {
  for (const cb of callbacks) {
    const handler = cb[event];
    if (handler === undefined) continue;
    try {
      await handler.call(cb, learner);
    } catch (error) {
      if (isCancel(error)) throw error;
      throw new TrainError('HF_TRAIN_CALLBACK_FAILED', `callback '${cb.name}' failed in '${event}': ${(error as Error).message}`, { cause: error });
    }
  }
}

export function sortCallbacks(callbacks: readonly Callback[]): Callback[] {
  return [...callbacks].sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
}
