// An optimiser's state in one safetensors file: its tensors, with the JSON meta (kind, groups,
// hyperparameters) in the file's metadata, so a training run can resume after a crash.
import { readSafetensors, saveSafetensors } from '../io/index.js';
import { HipfracError } from '../../util/index.js';
import type { Optimizer, ParamGroup } from './optimizer.js';
import { NnError } from '../errors.js';

const META_KEY = 'hipfrac.optimizer';

/** Writes `optimizer.stateDict()` to `file` atomically. */
export function saveOptimizerState(file: string, optimizer: Optimizer<ParamGroup>): void {
  const state = optimizer.stateDict();
  try {
    saveSafetensors(file, state.tensors, { [META_KEY]: JSON.stringify(state.meta) });
  } finally {
    for (const t of state.tensors.values()) t.dispose();
  }
}

/** Restores a state written by saveOptimizerState into `optimizer` (same kind, same groups). */
export function loadOptimizerState(file: string, optimizer: Optimizer<ParamGroup>): void {
  const { tensors, metadata } = readSafetensors(file);
  const text = metadata[META_KEY];
  let meta: unknown;
  try {
    if (text === undefined) throw new Error(`no '${META_KEY}' metadata`);
    meta = JSON.parse(text);
  } catch (error) {
    for (const t of tensors.values()) t.dispose();
    throw new NnError('HF_OPTIM_BAD_STATE', `the file holds no optimizer state (${(error as Error).message}).`, {
      input: file,
      fix: 'pass a file written by saveOptimizerState.',
    });
  }
  try {
    optimizer.loadStateDict({ tensors, meta });
  } catch (error) {
    for (const t of tensors.values()) t.dispose();
    if (error instanceof HipfracError) throw new HipfracError(error.code, error.message, { input: file, fix: error.fix, cause: error });
    throw error;
  }
}
