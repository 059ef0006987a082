// The study's schedule as one call (fastai's fine_tune shape): LR finder → head-only one-cycle →
// unfreeze → LR finder → discriminative one-cycle with early stopping, best weights kept, and a
// training-state checkpoint after every epoch so `resume` continues exactly where a crash stopped.
import { EarlyStopping, SaveBest } from './callbacks.js';
import type { TrainConfig } from './config.js';
import type { Callback } from './events.js';
import { discriminativeLrs, type Learner } from './learner.js';
import { lrFind, type LrFinderResult } from './lrFinder.js';
import { readTrainingState, writeTrainingState, type TrainingState } from './trainingState.js';
import { TrainError } from './errors.js';

export interface ProtocolOptions {
  /** Folder for the resumable training state (written atomically each epoch); null = no checkpoints. */
  readonly stateDir: string | null;
  readonly resume: boolean;
  /**
   * Read the state in stateDir (for resume) but never write it: the ranks other than 0 of a data-parallel run,
   * which resume from rank 0's state on a shared folder. Default false.
   */
  readonly readOnlyState?: boolean;
  /** Extra callbacks for both stages (progress, logging). */
  readonly callbacks?: readonly Callback[];
  readonly log?: (line: string) => void;
}

export interface ProtocolResult {
  readonly lrFinder: { frozen: LrFinderResult | null; unfrozen: LrFinderResult | null };
  readonly lrs: { frozen: number; unfrozen: number[] };
  /** The best epoch's monitored validation figure (config.monitor: accuracy unless roc-auc). */
  readonly bestScore: number;
  readonly bestEpoch: number;
  readonly stoppedEarly: boolean;
  readonly epochsRun: number;
}

type Stage = 'frozen' | 'unfrozen' | 'done';

/**
 * Trains `learner.model` with the study's protocol (`config`): head only for `frozenEpochs`
 * (one-cycle at the LR finder's valley), then all layers with LRs slice(lr/lrMult, lr) under
 * one-cycle until the monitored validation figure (accuracy, the study's, or ROC-AUC) stops improving for `patience` epochs.
 */
export async function fineTune(learner: Learner, config: TrainConfig, options: ProtocolOptions): Promise<ProtocolResult> {
  const log = options.log ?? ((): void => undefined);
  const oneCycle = { div: config.div, divFinal: config.divFinal, pctStart: config.pctStart, moms: config.moms };
  let state: TrainingState = {
    // No head-only epochs (from scratch): no frozen stage, and no range test for it.
    stage: config.frozenEpochs > 0 ? 'frozen' : 'unfrozen',
    nextEpoch: 0,
    // Without the range test: the given LRs, else 1e-3 for the head and half of it after unfreezing (fastai's fine_tune halves base_lr).
    frozenLr: config.lr ?? (config.lrFind ? null : 1e-3),
    unfrozenLr: config.unfrozenLr ?? (config.lrFind ? null : (config.lr ?? 1e-3) / 2),
    lrFinder: { frozen: null, unfrozen: null },
    earlyStopping: { best: Number.NEGATIVE_INFINITY, wait: 0 },
    saveBest: { score: Number.NEGATIVE_INFINITY, loss: Number.POSITIVE_INFINITY, epoch: -1 },
    history: [],
    stoppedEarly: false,
  };
  let resumedBest: Map<string, import('../torch/index.js').Tensor> | null = null;
  if (options.resume) {
    if (options.stateDir === null) throw new TrainError('HF_TRAIN_NO_STATE', 'resume needs a training-state folder.', { fix: 'pass the run folder of the interrupted run.' });
    const restored = readTrainingState(options.stateDir, learner);
    if (restored !== null) {
      state = restored.state;
      resumedBest = restored.best;
      learner.history.push(...state.history);
      log(`resuming at stage '${state.stage}', epoch ${state.nextEpoch + 1}`);
    } else {
      log('no training state found: starting from the beginning');
    }
  }

  const checkpoint = (stage: Stage, saveBest: SaveBest | null, early: EarlyStopping | null): Callback => ({
    name: 'TrainingCheckpoint',
    order: 50,
    afterEpoch(l: Learner): void {
      if (options.stateDir === null) return;
      state = {
        ...state,
        stage,
        nextEpoch: l.epoch + 1,
        history: [...l.history],
        earlyStopping: early === null ? state.earlyStopping : { best: early.best, wait: early.wait },
        saveBest: saveBest === null ? state.saveBest : { score: saveBest.bestScore, loss: saveBest.bestLoss, epoch: saveBest.bestEpoch },
      };
      if (options.readOnlyState !== true) writeTrainingState(options.stateDir, l, state, saveBest?.best ?? null);
    },
  });

  // --- stage 1: head only ---
  if (state.stage === 'frozen') {
    learner.stage = 'frozen';
    learner.freeze();
    const resumingHere = state.nextEpoch > 0;
    if (!resumingHere) learner.resetOptimizer();
    if (state.frozenLr === null) {
      log('LR range test (body frozen)…');
      const found = await lrFind(learner);
      state = { ...state, frozenLr: found.suggested, lrFinder: { ...state.lrFinder, frozen: found } };
      log(`  suggested LR (valley): ${found.suggested.toExponential(2)}`);
    }
    const saveBest = new SaveBest(true, config.monitor);
    restoreSaveBest(saveBest, state, resumedBest);
    learner.startEpoch = state.nextEpoch;
    await learner.fitOneCycle(config.frozenEpochs, state.frozenLr as number, oneCycle, [saveBest, checkpoint('frozen', saveBest, null), ...(options.callbacks ?? [])]);
    state = {
      ...state,
      stage: 'unfrozen',
      nextEpoch: 0,
      saveBest: { score: Number.NEGATIVE_INFINITY, loss: Number.POSITIVE_INFINITY, epoch: -1 },
      history: [...learner.history],
    };
    resumedBest = null;
    if (options.stateDir !== null && options.readOnlyState !== true) writeTrainingState(options.stateDir, learner, state, null);
  }

  // --- stage 2: all layers, discriminative LRs, early stopping ---
  if (state.stage === 'unfrozen') {
    learner.stage = 'unfrozen';
    learner.unfreeze();
    const resumingHere = state.nextEpoch > 0;
    if (!resumingHere) learner.resetOptimizer();
    if (state.unfrozenLr === null) {
      log('LR range test (all layers)…');
      const found = await lrFind(learner);
      state = { ...state, unfrozenLr: found.suggested, lrFinder: { ...state.lrFinder, unfrozen: found } };
      log(`  suggested LR (valley): ${found.suggested.toExponential(2)}`);
    }
    const groups = learner.optimizer.paramGroups.length;
    const top = state.unfrozenLr as number;
    const lrs = discriminativeLrs(top / config.lrMult, top, groups);
    const saveBest = new SaveBest(true, config.monitor);
    restoreSaveBest(saveBest, state, resumedBest);
    const early = new EarlyStopping(config.patience, 0, config.monitor);
    early.best = state.earlyStopping.best;
    early.wait = state.earlyStopping.wait;
    learner.startEpoch = state.nextEpoch;
    const before = learner.history.length;
    await learner.fitOneCycle(config.unfrozenEpochs, lrs, oneCycle, [saveBest, early, checkpoint('unfrozen', saveBest, early), ...(options.callbacks ?? [])]);
    const ran = state.nextEpoch + (learner.history.length - before);
    state = {
      ...state,
      stage: 'done',
      nextEpoch: 0,
      stoppedEarly: ran < config.unfrozenEpochs,
      saveBest: { score: saveBest.bestScore, loss: saveBest.bestLoss, epoch: saveBest.bestEpoch },
      history: [...learner.history],
    };
    if (options.stateDir !== null && options.readOnlyState !== true) writeTrainingState(options.stateDir, learner, state, null);
  }

  const frozenLr = state.frozenLr ?? Number.NaN;
  const top = state.unfrozenLr ?? Number.NaN;
  return {
    lrFinder: state.lrFinder,
    lrs: { frozen: frozenLr, unfrozen: discriminativeLrs(top / config.lrMult, top, learner.optimizer.paramGroups.length) },
    bestScore: savedScore(state),
    bestEpoch: state.saveBest.epoch,
    stoppedEarly: state.stoppedEarly,
    epochsRun: learner.history.length,
  };
}

/** The best monitored figure of a state; states written before --monitor existed name it `accuracy` (which it was). */
function savedScore(state: TrainingState): number {
  return state.saveBest.score ?? (state.saveBest as { accuracy?: number }).accuracy ?? Number.NEGATIVE_INFINITY;
}

function restoreSaveBest(saveBest: SaveBest, state: TrainingState, best: Map<string, import('../torch/index.js').Tensor> | null): void {
  saveBest.bestScore = savedScore(state);
  saveBest.bestLoss = state.saveBest.loss;
  saveBest.bestEpoch = state.saveBest.epoch;
  if (best !== null) saveBest.adopt(best);
}
