// Engine-wide settings and facts: seeding, intra-op threads, CUDA queries, build and memory info.
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { native, type NativeBuildInfo, type NativeMemoryStats } from './native.js';
import { TorchError } from './errors.js';

/** Seeds LibTorch's CPU (and CUDA) generators, as torch.manual_seed. */
export function manualSeed(seed: number): void {
  native().manualSeed(seed);
}

/** Intra-op threads for this thread (OpenMP settings are per thread; workers set their own). */
export function setNumThreads(n: number): void {
  native().setNumThreads(n);
}
export function getNumThreads(): number {
  return native().getNumThreads();
}

/** LibTorch starts with one thread on some machines: default to every core (HIPFRAC_THREADS overrides). */
export function defaultThreadCount(): number {
  const fromEnv = Number(process.env['HIPFRAC_THREADS']);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return os.availableParallelism();
}

let initialised = false;
/** Applies the default thread count once per thread; called by src/torch/index.ts on import. */
export function initRuntime(): void {
  if (initialised) return;
  initialised = true;
  native().setNumThreads(defaultThreadCount());
}

export const cuda = {
  isAvailable: (): boolean => native().cudaAvailable(),
  deviceCount: (): number => native().cudaDeviceCount(),
  synchronize: (device?: number): void => native().cudaSynchronize(device),
};

/**
 * Checks a device name given by a user ('cpu', 'cuda', 'cuda:N') against this build and machine and
 * returns it in LibTorch's spelling ('cuda' → 'cuda:0'), so a coded error comes before any work starts.
 */
export function resolveDevice(name: string): string {
  const m = /^(cpu|cuda)(?::(\d+))?$/.exec(name.trim());
  if (m === null || (m[1] === 'cpu' && m[2] !== undefined)) {
    throw new TorchError('HF_TORCH_BAD_DEVICE', `unknown device '${name}'.`, { input: name, fix: "use 'cpu', 'cuda' or 'cuda:N'." });
  }
  if (m[1] === 'cpu') return 'cpu';
  if (!cuda.isAvailable()) {
    const why = buildInfo().cudaCompiled ? 'no CUDA device is visible to this process' : 'the addon was built against a CPU-only LibTorch';
    throw new TorchError('HF_TORCH_NO_CUDA', `device '${name}' was asked for, but ${why}.`, {
      input: name,
      fix: "rebuild the addon against a CUDA LibTorch (docs/gpu.md, GPU build; `hipfrac doctor` shows the build) or use --device cpu.",
    });
  }
  const index = Number(m[2] ?? 0);
  if (index >= cuda.deviceCount()) {
    throw new TorchError('HF_TORCH_NO_CUDA', `device '${name}' does not exist: this machine has ${cuda.deviceCount()} CUDA device(s).`, { input: name, fix: `use cuda:0 … cuda:${cuda.deviceCount() - 1}.` });
  }
  return `cuda:${index}`;
}

export function buildInfo(): NativeBuildInfo {
  return native().buildInfo();
}

/** Live native tensors, bytes reported to V8, malloc's in-use bytes and the CPU block cache. */
export function memoryStats(): NativeMemoryStats {
  return native().memoryStats();
}

/**
 * Returns the CPU block cache to the system (torch.cuda.empty_cache for host memory): CPU tensors of
 * 1 MiB and more keep their memory mapped after they are freed, for the next tensor of that size.
 */
export function emptyCpuCache(): void {
  native().emptyCpuCache();
}

/** The BLAS library actually mapped into this process (what decides Linear/sgemm speed). */
export function loadedBlas(): string {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const libs = new Set<string>();
    for (const line of maps.split('\n')) {
      const m = /\s(\/\S*(?:openblas|blas|mkl|blis)\S*\.so[^\s]*)/i.exec(line);
      if (m?.[1] !== undefined) libs.add(m[1]);
    }
    return libs.size === 0 ? 'none mapped yet' : [...libs].join(', ');
  } catch {
    return 'unknown (no /proc/self/maps)';
  }
}
