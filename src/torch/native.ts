// Loads the LibTorch addon (native/build/Release/hipfrac_torch.node) and types its functions.
// Everything else in src/torch goes through this one binding.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { builtAddonCandidates } from '../util/index.js';
import { TorchError } from './errors.js';

/** An opaque native tensor handle (a N-API External). */
export type NativeHandle = { readonly __nativeTensor: unique symbol };
/** An opaque resolved operator (a N-API External). */
export type NativeOp = { readonly __nativeOp: unique symbol };
export type NativeGuard = { readonly __nativeGuard: unique symbol };
/** An opaque c10d process group (a N-API External; native/distributed.cc). */
export type NativeGroup = { readonly __nativeGroup: unique symbol };
/** An opaque gradient reducer (hooks + buckets) over a process group. */
export type NativeReducer = { readonly __nativeReducer: unique symbol };

export interface NativeGroupOptions {
  masterAddr: string;
  masterPort: number;
  worldSize: number;
  rank: number;
  timeoutMs: number;
  backend: 'gloo' | 'nccl';
  /** The address Gloo binds on this host ('' = resolve the host name, as torch's default). */
  hostname?: string;
  /** A network interface for Gloo (GLOO_SOCKET_IFNAME), instead of hostname. */
  interface?: string;
  /** Compared across ranks at rendezvous; a difference is refused (HF_DIST_CONFIG_MISMATCH). */
  configHash: string;
  threads?: number;
}

export interface NativeBuildInfo {
  torchVersion: string;
  config: string;
  parallel: string;
  cudaCompiled: boolean;
}

export interface NativeMemoryStats {
  liveTensors: number;
  reportedBytes: number;
  mallocInUseBytes: number;
  /** The caching allocator that serves CPU tensors of 1 MiB and more (native/cpu_allocator.cc). */
  cpuCache: { allocatedBytes: number; cachedBytes: number; limitBytes: number; hits: number; misses: number };
}

export interface NativeBinding {
  op(name: string, overload: string): NativeOp;
  opSchema(op: NativeOp): string;
  call(op: NativeOp, args: readonly unknown[], kwargs?: Readonly<Record<string, unknown>> | null): unknown;
  fromBuffer(data: ArrayBufferView, shape: readonly number[], dtype: string): NativeHandle;
  toBuffer(handle: NativeHandle): ArrayBuffer;
  shape(handle: NativeHandle): number[];
  dtype(handle: NativeHandle): string;
  device(handle: NativeHandle): string;
  item(handle: NativeHandle): number;
  dispose(handle: NativeHandle): void;
  isDisposed(handle: NativeHandle): boolean;
  setDeferReport(defer: boolean): void;
  reportExternal(handle: NativeHandle): void;
  sameTensor(a: NativeHandle, b: NativeHandle): boolean;
  requiresGrad(handle: NativeHandle): boolean;
  setRequiresGrad(handle: NativeHandle, value: boolean): void;
  isLeaf(handle: NativeHandle): boolean;
  gradFn(handle: NativeHandle): string | null;
  grad(handle: NativeHandle): NativeHandle | null;
  setGrad(handle: NativeHandle, grad: NativeHandle | null): void;
  backward(outputs: readonly NativeHandle[], grads: readonly (NativeHandle | null)[] | null, retainGraph: boolean, createGraph: boolean): void;
  autogradGrad(
    outputs: readonly NativeHandle[],
    inputs: readonly NativeHandle[],
    gradOutputs: readonly (NativeHandle | null)[] | null,
    retainGraph: boolean,
    createGraph: boolean,
    allowUnused: boolean,
  ): (NativeHandle | null)[];
  setGradEnabled(enabled: boolean): boolean;
  isGradEnabled(): boolean;
  enterInferenceMode(): NativeGuard;
  exitInferenceMode(guard: NativeGuard): void;
  isInferenceMode(): boolean;
  enterAutocast(deviceType: 'cpu' | 'cuda'): NativeGuard;
  exitAutocast(guard: NativeGuard): void;
  isAutocast(deviceType: 'cpu' | 'cuda'): boolean;
  manualSeed(seed: number): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaAvailable(): boolean;
  cudaDeviceCount(): number;
  cudaSynchronize(device?: number): void;
  buildInfo(): NativeBuildInfo;
  memoryStats(): NativeMemoryStats;
  emptyCpuCache(): void;
  distAvailable(): { gloo: boolean; nccl: boolean };
  distCreateGroup(options: NativeGroupOptions): Promise<NativeGroup>;
  distCloseGroup(group: NativeGroup): void;
  distGroupInfo(group: NativeGroup): { rank: number; worldSize: number; backend: string };
  distAllreduce(group: NativeGroup, tensors: readonly NativeHandle[], average: boolean): Promise<void>;
  distBroadcast(group: NativeGroup, tensors: readonly NativeHandle[], root: number): Promise<void>;
  distAllgather(group: NativeGroup, tensor: NativeHandle): Promise<NativeHandle[]>;
  distBarrier(group: NativeGroup): Promise<void>;
  distReducerCreate(group: NativeGroup, params: readonly NativeHandle[], bucketCapBytes: number): { handle: NativeReducer; bucketNumels: number[] };
  distReducerPrepare(reducer: NativeReducer): void;
  distReducerFinish(reducer: NativeReducer): Promise<{ buckets: number; startedDuringBackward: number }>;
  distReducerRelease(reducer: NativeReducer): void;
  distSyncBatchNorm(
    group: NativeGroup,
    input: NativeHandle,
    weight: NativeHandle | null,
    bias: NativeHandle | null,
    runningMean: NativeHandle | null,
    runningVar: NativeHandle | null,
    momentum: number,
    eps: number,
  ): NativeHandle;
}

function addonPath(): string {
  const candidates = [process.env['HIPFRAC_ADDON'], ...builtAddonCandidates('hipfrac_torch.node')].filter((p): p is string => p !== undefined);
  for (const candidate of candidates) if (existsSync(candidate)) return candidate;
  throw new TorchError('HF_TORCH_ADDON_MISSING', 'The LibTorch addon is not built.', {
    input: candidates.join(', '),
    fix: 'run `bash scripts/setup.sh` (or `npx node-gyp rebuild -C native`) to build it.',
  });
}

let binding: NativeBinding | undefined;

/** The loaded addon (loaded once per thread; the addon is context-aware, so workers load it too). */
export function native(): NativeBinding {
  if (binding === undefined) {
    const require = createRequire(import.meta.url);
    const file = addonPath();
    // LibTorch parallelises its own loops (OpenMP), and OpenBLAS threads inside them oversubscribe the cores and spin:
    // OpenBLAS runs single-threaded (read when the library loads; a value in the environment wins).
    process.env['OPENBLAS_NUM_THREADS'] ??= '1';
    try {
      binding = require(file) as NativeBinding;
    } catch (error) {
      throw new TorchError('HF_TORCH_ADDON_LOAD', `The LibTorch addon failed to load: ${(error as Error).message}`, {
        input: file,
        fix: 'install Debian libtorch-dev (or set LD_LIBRARY_PATH to your LibTorch lib/) and rebuild with `bash scripts/setup.sh`.',
        cause: error,
      });
    }
  }
  return binding;
}
