// V8's background threads on a machine with few cores (docs/serving.md, "Few cores"): whether the node wants them
// off, and starting it again in place as `node --single-threaded` when it runs with them. Its inference workers
// inherit the node's Node options.
import os from 'node:os';
import { describeError, rerunWithNodeOptions } from '../util/index.js';
import type { ServeConfig } from './config.js';

const SINGLE_THREADED = '--single-threaded';
/** Cores at or below which singleThreaded 'auto' turns V8's background threads off. */
export const FEW_CORES = 2;
/** In the environment of a node that started itself again: it never does so a second time. */
const STARTED_AGAIN = 'HIPFRAC_SERVE_STARTED_AGAIN';

export function wantsSingleThreaded(setting: ServeConfig['singleThreaded'], cores: number = os.availableParallelism()): boolean {
  return setting === 'auto' ? cores <= FEW_CORES : setting;
}

/** Whether this process runs with V8's background work done in line. */
export function runsSingleThreaded(): boolean {
  return process.execArgv.includes(SINGLE_THREADED);
}

/**
 * Brings the process in line with the setting: wanted off and running with them, it starts again in place with
 * --single-threaded (this call then does not return). Returns a note for the operator when the process keeps running
 * otherwise than asked ('auto' where it cannot start again, or a process started with the option that asks for
 * the threads); with singleThreaded: true, failing to start again throws.
 */
export function applySingleThreaded(setting: ServeConfig['singleThreaded']): string | undefined {
  const wanted = wantsSingleThreaded(setting);
  if (wanted === runsSingleThreaded()) return undefined;
  if (!wanted) return `started with ${SINGLE_THREADED}: V8's background threads stay off (singleThreaded: false takes effect without that option)`;
  if (process.env[STARTED_AGAIN] === '1') return `started again with ${SINGLE_THREADED}, but the option is not in effect: V8's background threads stay on`;
  try {
    rerunWithNodeOptions([SINGLE_THREADED], { [STARTED_AGAIN]: '1' });
  } catch (error) {
    if (setting === true) throw error;
    return `could not start again with ${SINGLE_THREADED} (${describeError(error)}): V8's background threads stay on`;
  }
}
