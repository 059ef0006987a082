// DistributedDataParallel for the Learner: parameters and buffers broadcast from rank 0 at start, gradients
// averaged by a bucketed reducer whose all-reduces overlap backward, validation gathered from every shard.
import { createHash } from 'node:crypto';
import { GradReducer, type ProcessGroup, type Tensor } from '../../torch/index.js';
import type { Module } from '../../nn/index.js';
import type { DataParallelHooks, ValidationResult } from '../learner.js';
import { gatherValidation } from './gatherValidation.js';

export interface DataParallelOptions {
  /** Gradient bucket size in bytes (DDP's default 25 MiB). */
  readonly bucketCapBytes?: number;
}

/** Per-step facts of the gradient all-reduce (for logs and the overlap benchmark). */
export interface ReduceStats {
  steps: number;
  buckets: number;
  /** Buckets whose all-reduce started while backward was still running. */
  startedDuringBackward: number;
}

/** A SHA-256 of a JSON value with sorted keys: equal on every rank iff the configurations are equal. */
export function configHash(value: unknown): string {
  const stable = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(stable);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, stable(x)]));
    return v;
  };
  return createHash('sha256').update(JSON.stringify(stable(value))).digest('hex').slice(0, 16);
}

/** Makes every rank's parameters and buffers equal to rank 0's (one broadcast per dtype). */
export async function broadcastModule(group: ProcessGroup, module: Module): Promise<void> {
  const byDtype = new Map<string, Tensor[]>();
  for (const t of [...module.parameters(), ...[...module.namedBuffers()].map(([, b]) => b)]) {
    const list = byDtype.get(t.dtype) ?? [];
    list.push(t);
    byDtype.set(t.dtype, list);
  }
  for (const list of byDtype.values()) await group.broadcast(list, 0);
}

/**
 * The Learner's data-parallel hooks over a process group. The reducer is rebuilt whenever the set of trainable
 * parameters changes (freeze/unfreeze), on every rank alike, since every rank runs the same schedule.
 * @example
 * const ddp = new DataParallel(group);
 * await broadcastModule(group, model);
 * const learner = new Learner({ model, train, valid, optimizer, dataParallel: ddp });
 */
export class DataParallel implements DataParallelHooks {
  private reducer: GradReducer | null = null;
  readonly stats: ReduceStats = { steps: 0, buckets: 0, startedDuringBackward: 0 };

  constructor(readonly group: ProcessGroup, readonly options: DataParallelOptions = {}) {}

  beforeBackward(params: readonly Tensor[]): void {
    const current = this.reducer;
    if (current === null || current.params.length !== params.length || current.params.some((p, i) => p !== params[i])) {
      current?.release();
      this.reducer = new GradReducer(this.group, params, this.options.bucketCapBytes);
    }
    (this.reducer as GradReducer).prepare();
  }

  async afterBackward(): Promise<void> {
    if (this.reducer === null) return;
    const done = await this.reducer.finish();
    this.stats.steps++;
    this.stats.buckets += done.buckets;
    this.stats.startedDuringBackward += done.startedDuringBackward;
  }

  gatherValidation(result: ValidationResult): Promise<ValidationResult> {
    return gatherValidation(this.group, result);
  }

  /** Removes the gradient hooks (the group stays open). */
  release(): void {
    this.reducer?.release();
    this.reducer = null;
  }
}
