// Process groups over LibTorch's c10d (native/distributed.cc): TCPStore rendezvous, Gloo on CPU, NCCL on CUDA
// builds. Collectives work on lists of tensors as one flattened bucket and settle off the JS thread.
import { HipfracError } from '../util/index.js';
import { native, type NativeGroup, type NativeReducer } from './native.js';
import { Tensor } from './tensor.js';

/** Stable codes of distributed failures (HF_DIST_*). */
export type DistErrorCode =
  | 'HF_DIST_UNAVAILABLE'
  | 'HF_DIST_BAD_RANK'
  | 'HF_DIST_BAD_ARGUMENT'
  | 'HF_DIST_PORT_IN_USE'
  | 'HF_DIST_JOIN_TIMEOUT'
  | 'HF_DIST_WORLD_MISMATCH'
  | 'HF_DIST_CONFIG_MISMATCH'
  | 'HF_DIST_PEER_LOST'
  | 'HF_DIST_TIMEOUT'
  | 'HF_DIST_INIT'
  | 'HF_DIST_COLLECTIVE'
  | 'HF_DIST_CLOSED'
  | 'HF_DIST_REDUCER_STATE';

const FIXES: Partial<Record<DistErrorCode, string>> = {
  HF_DIST_UNAVAILABLE: 'build the addon against a LibTorch with c10d and Gloo headers (Debian: libgloo-dev, then `bash scripts/setup.sh`).',
  HF_DIST_PORT_IN_USE: 'choose a free --master-port (or stop the process holding it).',
  HF_DIST_JOIN_TIMEOUT: 'start every rank (same --nproc-per-node and --nnodes on every node) or raise the time-out.',
  HF_DIST_WORLD_MISMATCH: 'start every node with the same --nproc-per-node and --nnodes.',
  HF_DIST_CONFIG_MISMATCH: 'run every node with the same options, dataset and code version.',
  HF_DIST_PEER_LOST: 'see the failing rank\'s own log; restart the job (with --resume to continue from the last checkpoint).',
  HF_DIST_TIMEOUT: 'a rank stalled or died; check every rank\'s log, or raise the time-out.',
};

/** Turns a native c10d failure into a coded HipfracError (the code read from the native error or its text). */
export function distError(error: unknown, what: string): HipfracError {
  if (error instanceof HipfracError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const nativeCode = (error as { code?: unknown }).code;
  let code: DistErrorCode = typeof nativeCode === 'string' && nativeCode.startsWith('HF_DIST_') ? (nativeCode as DistErrorCode) : 'HF_DIST_COLLECTIVE';
  const prefixed = /^(HF_DIST_[A-Z_]+): /.exec(message);
  if (prefixed !== null) code = prefixed[1] as DistErrorCode;
  else if (/address already in use/i.test(message)) code = 'HF_DIST_PORT_IN_USE';
  else if (/closed by peer|broken pipe|connection reset|connection refused|EOF|socket closed/i.test(message)) code = 'HF_DIST_PEER_LOST';
  else if (/timed? ?out/i.test(message)) code = 'HF_DIST_TIMEOUT';
  const text = prefixed === null ? message : message.slice(prefixed[0].length);
  const fix = FIXES[code];
  return new HipfracError(code, `${what}: ${text}`, { ...(fix === undefined ? {} : { fix }), cause: error });
}

export interface ProcessGroupOptions {
  readonly masterAddr: string;
  readonly masterPort: number;
  readonly worldSize: number;
  readonly rank: number;
  /** Rendezvous and collective time-out in ms (a dead or stalled peer fails a collective within it). */
  readonly timeoutMs: number;
  /** 'gloo' (CPU tensors) or 'nccl' (CUDA tensors, CUDA builds with NCCL only). */
  readonly backend?: 'gloo' | 'nccl';
  /** The address Gloo binds on this host; default 127.0.0.1 when the master is on loopback, else the host name's. */
  readonly hostname?: string;
  /** Hash of the training configuration; ranks that differ are refused at rendezvous. */
  readonly configHash?: string;
  /** Gloo's worker threads (default 2). */
  readonly threads?: number;
}

/** What this build can do: Gloo needs c10d + gloo headers at build time, NCCL a CUDA LibTorch with nccl.h. */
export function distributedAvailable(): { gloo: boolean; nccl: boolean } {
  return native().distAvailable();
}

const LOOPBACK = /^(127\.|localhost$|::1$)/;

/**
 * A c10d process group. Rank 0 hosts the rendezvous store on masterAddr:masterPort.
 * @example
 * const pg = await ProcessGroup.create({ masterAddr: '127.0.0.1', masterPort: 29500, worldSize: 2, rank, timeoutMs: 60_000 });
 * await pg.allreduce([grad], { average: true });
 */
export class ProcessGroup {
  private handle: NativeGroup | null;
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: 'gloo' | 'nccl';

  private constructor(handle: NativeGroup, options: ProcessGroupOptions) {
    this.handle = handle;
    this.rank = options.rank;
    this.worldSize = options.worldSize;
    this.backend = options.backend ?? 'gloo';
  }

  static async create(options: ProcessGroupOptions): Promise<ProcessGroup> {
    const { worldSize, rank } = options;
    if (!Number.isInteger(worldSize) || worldSize < 1 || !Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
      throw new HipfracError('HF_DIST_BAD_RANK', `rank ${rank} is not in a world of size ${worldSize}.`, { fix: 'give 0 ≤ rank < world size.' });
    }
    const available = distributedAvailable();
    const backend = options.backend ?? 'gloo';
    if (!available[backend]) {
      throw new HipfracError('HF_DIST_UNAVAILABLE', `distributed unavailable in this build: no ${backend} process group.`, { fix: FIXES.HF_DIST_UNAVAILABLE as string });
    }
    const iface = process.env['GLOO_SOCKET_IFNAME'];
    const hostname = options.hostname ?? (LOOPBACK.test(options.masterAddr) ? '127.0.0.1' : '');
    try {
      const handle = await native().distCreateGroup({
        masterAddr: options.masterAddr,
        masterPort: options.masterPort,
        worldSize,
        rank,
        timeoutMs: options.timeoutMs,
        backend,
        hostname,
        ...(iface === undefined ? {} : { interface: iface }),
        configHash: options.configHash ?? '',
        threads: options.threads ?? 2,
      });
      return new ProcessGroup(handle, options);
    } catch (error) {
      throw distError(error, `rank ${rank} could not join ${options.masterAddr}:${options.masterPort}`);
    }
  }

  /** The native handle (for the gradient reducer); throws after close(). */
  get nativeHandle(): NativeGroup {
    if (this.handle === null) throw new HipfracError('HF_DIST_CLOSED', 'process group used after close().');
    return this.handle;
  }

  /** Sums (or averages) the tensors across ranks in place, as one bucket. Leave them untouched until it settles. */
  async allreduce(tensors: readonly Tensor[], options: { average?: boolean } = {}): Promise<void> {
    await this.run('allreduce', () => native().distAllreduce(this.nativeHandle, tensors.map((t) => t._h), options.average ?? false));
  }

  /** Every rank's tensors take the values of rank `root`'s. */
  async broadcast(tensors: readonly Tensor[], root = 0): Promise<void> {
    await this.run('broadcast', () => native().distBroadcast(this.nativeHandle, tensors.map((t) => t._h), root));
  }

  /** Every rank's `tensor` (one shape on all ranks), in rank order. The caller owns (disposes) the results. */
  async allgather(tensor: Tensor): Promise<Tensor[]> {
    const handles = await this.run('allgather', () => native().distAllgather(this.nativeHandle, tensor._h));
    return handles.map((h) => Tensor.fromHandle(h));
  }

  async barrier(): Promise<void> {
    await this.run('barrier', () => native().distBarrier(this.nativeHandle));
  }

  /** Releases this handle; pending collectives and reducers keep the group alive until they finish. */
  close(): void {
    if (this.handle !== null) native().distCloseGroup(this.handle);
    this.handle = null;
  }

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw distError(error, `${what} on rank ${this.rank} of ${this.worldSize}`);
    }
  }
}

/**
 * Training-mode batch normalisation of `input` [N, C, …] with the mean and variance of the global batch over
 * every rank of `group` (PyTorch's SyncBatchNorm): one all-gather of per-channel statistics here, one all-reduce
 * of two per-channel gradient sums in backward, so gradients equal those of one process on the whole batch.
 * Updates the running buffers in place with the global mean and unbiased variance (`momentum` as PyTorch's).
 * Blocks the calling thread until every rank has run the same layer (bounded by the group's time-out).
 */
export function syncBatchNorm(
  group: ProcessGroup,
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  momentum: number,
  eps: number,
): Tensor {
  let handle;
  try {
    handle = native().distSyncBatchNorm(group.nativeHandle, input._h, weight?._h ?? null, bias?._h ?? null, runningMean?._h ?? null, runningVar?._h ?? null, momentum, eps);
  } catch (error) {
    throw distError(error, `sync batch norm on rank ${group.rank} of ${group.worldSize}`);
  }
  return Tensor.fromHandle(handle);
}

/**
 * DDP-style gradient all-reduce: autograd hooks copy each parameter's gradient into a bucket as backward
 * produces it, and a full bucket's all-reduce starts at once (in bucket order), overlapping the rest of
 * backward. `finish()` waits for every bucket and leaves the rank-averaged gradients in `param.grad`.
 * Gradients must be cleared (zeroGrad) before each backward: `param.grad` is overwritten, not accumulated.
 */
export class GradReducer {
  private handle: NativeReducer | null;
  /** Elements per bucket, in launch order. */
  readonly bucketNumels: readonly number[];

  /**
   * @param params trainable parameters in registration order; buckets are filled from the last one,
   *   whose gradients backward produces first.
   * @param bucketCapBytes bucket size (DDP's default 25 MiB).
   */
  constructor(readonly group: ProcessGroup, readonly params: readonly Tensor[], bucketCapBytes = 25 * 2 ** 20) {
    const reversed = [...params].reverse();
    try {
      const created = native().distReducerCreate(group.nativeHandle, reversed.map((p) => p._h), bucketCapBytes);
      this.handle = created.handle;
      this.bucketNumels = created.bucketNumels;
    } catch (error) {
      throw distError(error, 'gradient reducer');
    }
  }

  /** Arms the hooks; call before backward. */
  prepare(): void {
    native().distReducerPrepare(this.live());
  }

  /** Starts the buckets still waiting, waits for all; returns how many had started during backward. */
  async finish(): Promise<{ buckets: number; startedDuringBackward: number }> {
    try {
      return await native().distReducerFinish(this.live());
    } catch (error) {
      throw distError(error, `gradient all-reduce on rank ${this.group.rank} of ${this.group.worldSize}`);
    }
  }

  /** Removes the hooks. */
  release(): void {
    if (this.handle !== null) native().distReducerRelease(this.handle);
    this.handle = null;
  }

  private live(): NativeReducer {
    if (this.handle === null) throw new HipfracError('HF_DIST_CLOSED', 'gradient reducer used after release().');
    return this.handle;
  }
}
