// Standard callbacks: early stopping, keeping the best weights, progress bars and the JSONL epoch log.
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { keep, noGrad, type Tensor } from '../torch/index.js';
import { ProgressBar } from '../util/index.js';
import { TrainError } from './errors.js';
import { CancelFit, type Callback } from './events.js';
import { validationRocAuc, type Learner, type ValidationResult } from './learner.js';

/**
 * What epoch choice follows on validation: `accuracy` at the argmax (the study's), or `roc-auc` of the fracture
 * probability, which no threshold and no class balance moves: with class-balanced batches and a validation set of
 * mostly normal images, an epoch that calls nearly everything normal can win on accuracy alone.
 */
export type Monitor = 'accuracy' | 'roc-auc';

/** The validation figure `monitor` follows (higher is better). */
export function monitoredScore(v: ValidationResult, monitor: Monitor): number {
  if (monitor === 'accuracy') return v.accuracy;
  if (v.numClasses !== 2) throw new TrainError('HF_TRAIN_BAD_CONFIG', `monitor roc-auc needs a two-class model, this one has ${v.numClasses} classes.`, { input: 'monitor', fix: 'use --monitor accuracy.' });
  const auc = validationRocAuc(v);
  if (Number.isNaN(auc)) throw new TrainError('HF_TRAIN_BAD_CONFIG', 'monitor roc-auc needs fractured and normal images in validation; it has one class only.', { input: 'monitor', fix: 'split again so validation holds both classes, or use --monitor accuracy.' });
  return auc;
}

/** Stops when the monitored validation figure has not improved for `patience` epochs (the study: 7, on accuracy). */
export class EarlyStopping implements Callback {
  readonly name = 'EarlyStopping';
  readonly order = 20;
  best = Number.NEGATIVE_INFINITY;
  wait = 0;
  constructor(readonly patience = 7, readonly minDelta = 0, readonly monitor: Monitor = 'accuracy') {}
  beforeFit(): void {
    // Resumed runs restore best/wait from the checkpoint; fresh runs start clean.
  }
  afterEpoch(learner: Learner): void {
    const v = learner.lastValidation;
    // An epoch whose validation was cancelled (a reduced-size epoch of progressive resizing) neither gains nor waits.
    if (v === null) return;
    const score = monitoredScore(v, this.monitor);
    if (score > this.best + this.minDelta) {
      this.best = score;
      this.wait = 0;
    } else if (++this.wait >= this.patience) {
      throw new CancelFit(`no validation ${this.monitor} gain for ${this.patience} epochs`);
    }
  }
}

/**
 * Keeps a copy of the weights with the best monitored validation figure (ties → lower loss) and loads
 * them back when the fit ends, so the model a stage returns is its best checkpoint.
 */
export class SaveBest implements Callback {
  readonly name = 'SaveBest';
  readonly order = 10;
  bestScore = Number.NEGATIVE_INFINITY;
  bestLoss = Number.POSITIVE_INFINITY;
  bestEpoch = -1;
  private snapshot: Map<string, Tensor> | null = null;
  constructor(readonly restoreAtEnd = true, readonly monitor: Monitor = 'accuracy') {}

  afterEpoch(learner: Learner): void {
    const v = learner.lastValidation;
    if (v === null) return;
    const score = monitoredScore(v, this.monitor);
    if (score > this.bestScore || (score === this.bestScore && v.loss < this.bestLoss)) {
      this.bestScore = score;
      this.bestLoss = v.loss;
      this.bestEpoch = learner.epoch;
      this.take(learner);
    }
  }
  afterFit(learner: Learner): void {
    if (this.restoreAtEnd && this.snapshot !== null) learner.model.loadStateDict(this.snapshot);
    this.release();
  }
  /** The best weights so far (null before the first epoch ends). */
  get best(): ReadonlyMap<string, Tensor> | null {
    return this.snapshot;
  }
  /** Takes ownership of previously saved best weights (resume). */
  adopt(weights: Map<string, Tensor>): void {
    this.release();
    for (const t of weights.values()) keep(t);
    this.snapshot = weights;
  }
  private take(learner: Learner): void {
    this.release();
    this.snapshot = new Map();
    noGrad(() => {
      for (const [k, v] of learner.model.stateDict()) this.snapshot?.set(k, keep(v.detach().clone()));
    });
  }
  release(): void {
    if (this.snapshot !== null) for (const t of this.snapshot.values()) t.dispose();
    this.snapshot = null;
  }
}

/** A progress bar per epoch with the running loss, and one line per finished epoch. */
export class ProgressCallback implements Callback {
  readonly name = 'Progress';
  readonly order = 30;
  private bar: ProgressBar | null = null;
  constructor(readonly label = 'train', readonly stream: NodeJS.WriteStream = process.stderr) {}
  beforeTrain(learner: Learner): void {
    // The LR finder's sweep is not an epoch of training: it reports its own result.
    if (learner.stage === 'lr-find') return;
    this.bar = new ProgressBar({ label: `${this.label} ${learner.stage} ${learner.epoch + 1}/${learner.nEpochs}`, total: learner.train.batchesPerEpoch, unit: 'batch', stream: this.stream });
  }
  afterBatch(learner: Learner): void {
    this.bar?.tick(1, `loss ${(learner.trainLossSum / Math.max(1, learner.trainBatches)).toFixed(4)}`);
  }
  afterTrain(): void {
    this.bar?.finish();
    this.bar = null;
  }
  afterEpoch(learner: Learner): void {
    const r = learner.history[learner.history.length - 1];
    if (r === undefined || learner.stage === 'lr-find') return;
    const validation = Number.isNaN(r.validLoss)
      ? 'not validated'
      : `valid loss ${r.validLoss.toFixed(4)}  valid acc ${(100 * r.validAccuracy).toFixed(1)}%${Number.isNaN(r.validRocAuc) ? '' : `  valid AUC ${r.validRocAuc.toFixed(3)}`}`;
    this.stream.write(`  ${r.stage} epoch ${r.epoch + 1}: train loss ${r.trainLoss.toFixed(4)}  ${validation}  (${r.seconds.toFixed(1)} s)\n`);
  }
}

/** Appends one JSON line per epoch to `file` (the run's machine-readable log). */
export class JsonlLogger implements Callback {
  readonly name = 'JsonlLogger';
  readonly order = 40;
  constructor(readonly file: string) {
    mkdirSync(path.dirname(file), { recursive: true });
  }
  afterEpoch(learner: Learner): void {
    const r = learner.history[learner.history.length - 1];
    if (r !== undefined && learner.stage !== 'lr-find') appendFileSync(this.file, `${JSON.stringify({ ...r, time: new Date().toISOString() })}\n`);
  }
}
