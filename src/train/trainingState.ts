// The resumable training state: model weights, optimiser state, best weights so far and the loop's
// counters, written atomically (temp folder + rename) after every epoch; a kill -9 loses at most one epoch.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadSafetensors, saveSafetensors } from '../nn/index.js';
import type { Tensor } from '../torch/index.js';
import type { EpochRecord, Learner } from './learner.js';
import type { LrFinderResult } from './lrFinder.js';
import { TrainError } from './errors.js';

export interface TrainingState {
  readonly stage: 'frozen' | 'unfrozen' | 'done';
  /** The first epoch of `stage` still to run. */
  readonly nextEpoch: number;
  readonly frozenLr: number | null;
  readonly unfrozenLr: number | null;
  readonly lrFinder: { frozen: LrFinderResult | null; unfrozen: LrFinderResult | null };
  readonly earlyStopping: { best: number; wait: number };
  /** The best monitored validation figure so far (`accuracy` in states written before --monitor existed). */
  readonly saveBest: { score: number; loss: number; epoch: number };
  readonly history: EpochRecord[];
  readonly stoppedEarly: boolean;
}

/** Optimisers that can save and restore their state (src/nn/optim's do). */
export interface StatefulOptimizer {
  stateDict(): { tensors: Map<string, Tensor>; meta: unknown };
  loadStateDict(state: { tensors: ReadonlyMap<string, Tensor>; meta: unknown }): void;
}

function isStateful(o: unknown): o is StatefulOptimizer {
  return typeof (o as StatefulOptimizer).stateDict === 'function' && typeof (o as StatefulOptimizer).loadStateDict === 'function';
}

// JSON cannot hold ±Infinity: encode them as strings.
function encode(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `__num:${String(v)}` : v), 1);
}
function decode<T>(text: string): T {
  return JSON.parse(text, (_k, v: unknown) => (typeof v === 'string' && v.startsWith('__num:') ? Number(v.slice(6)) : v)) as T;
}

export function writeTrainingState(dir: string, learner: Learner, state: TrainingState, best: ReadonlyMap<string, Tensor> | null): void {
  const finalDir = path.join(dir, 'train-state');
  const tmpDir = path.join(dir, `train-state.tmp-${process.pid}`);
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir, { recursive: true });
  saveSafetensors(path.join(tmpDir, 'model.safetensors'), learner.model.stateDict());
  let optimizerMeta: unknown = null;
  if (isStateful(learner.optimizer)) {
    const opt = learner.optimizer.stateDict();
    saveSafetensors(path.join(tmpDir, 'optimizer.safetensors'), opt.tensors);
    optimizerMeta = opt.meta;
    for (const t of opt.tensors.values()) if (!t.isDisposed) t.dispose();
  }
  if (best !== null) saveSafetensors(path.join(tmpDir, 'best.safetensors'), best);
  writeFileSync(path.join(tmpDir, 'state.json'), encode({ version: 1, state, optimizerMeta, savedAt: new Date().toISOString() }));
  // Swap in: the old folder is moved aside first, so one complete state always exists on disk.
  const oldDir = path.join(dir, `train-state.old-${process.pid}`);
  if (existsSync(finalDir)) renameSync(finalDir, oldDir);
  renameSync(tmpDir, finalDir);
  rmSync(oldDir, { recursive: true, force: true });
}

/** Loads model and optimiser state into `learner`; returns the loop state, or null if none was saved. */
export function readTrainingState(dir: string, learner: Learner): { state: TrainingState; best: Map<string, Tensor> | null } | null {
  let stateDir = path.join(dir, 'train-state');
  if (!existsSync(path.join(stateDir, 'state.json'))) {
    // A crash between the two renames leaves only the .old folder: it is complete.
    const old = existsSync(dir) ? (readdirSafe(dir).find((n) => n.startsWith('train-state.old-')) ?? null) : null;
    if (old === null) return null;
    stateDir = path.join(dir, old);
  }
  let parsed: { version: number; state: TrainingState; optimizerMeta: unknown };
  try {
    parsed = decode(readFileSync(path.join(stateDir, 'state.json'), 'utf8'));
  } catch (error) {
    throw new TrainError('HF_TRAIN_BAD_STATE', `the training state cannot be read: ${(error as Error).message}`, {
      input: path.join(stateDir, 'state.json'),
      fix: 'delete the train-state folder to start the run again.',
    });
  }
  const weights = loadSafetensors(path.join(stateDir, 'model.safetensors'));
  learner.model.loadStateDict(weights, { source: path.join(stateDir, 'model.safetensors') });
  for (const t of weights.values()) t.dispose();
  const optFile = path.join(stateDir, 'optimizer.safetensors');
  if (isStateful(learner.optimizer) && existsSync(optFile) && parsed.state.nextEpoch > 0) {
    const tensors = loadSafetensors(optFile);
    learner.optimizer.loadStateDict({ tensors, meta: parsed.optimizerMeta });
  }
  const bestFile = path.join(stateDir, 'best.safetensors');
  const best = existsSync(bestFile) ? loadSafetensors(bestFile) : null;
  return { state: parsed.state, best };
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
