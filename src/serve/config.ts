// The node's settings: defaults declared once (units in comments), a JSON config file, and command-line flags
// that win over it. Validation reports every problem at once, then the result is frozen.
import { readFileSync } from 'node:fs';
import { HipfracError } from '../util/index.js';
import { parseDestination } from './deliver/destination.js';

export interface ServeConfig {
  readonly modelDir: string;
  readonly dataDir: string;
  readonly aeTitle: string;
  readonly host: string;
  readonly dicomPort: number;
  readonly httpPort: number;
  /** `AE@HOST:PORT` each. */
  readonly destinations: readonly string[];
  /** Calling AE titles allowed to send; empty: any. */
  readonly allowedCallingAes: readonly string[];
  /** Peer IP addresses allowed to associate; empty: any. */
  readonly allowedHosts: readonly string[];
  readonly workers: number;
  readonly batchSize: number;
  /** CPU priority of the inference workers below the receiving process (nice increment, 0-19). */
  readonly workerNice: number;
  /**
   * V8's background threads (garbage-collection marking, compilation) off in the node and its inference workers:
   * 'auto' turns them off on a machine with 2 cores or fewer, where they compete with receiving and inference
   * (docs/serving.md, "Few cores"). The node then starts itself again as `node --single-threaded`, same process id.
   */
  readonly singleThreaded: 'auto' | boolean;
  /** Which engine predicts in the workers: 'auto' (ONNX Runtime when the checkpoint's ONNX graph has parity with LibTorch), 'onnx' or 'libtorch'. */
  readonly engine: 'auto' | 'onnx' | 'libtorch';
  readonly maxAssociations: number;
  readonly maxObjectBytes: number;
  readonly minFreeBytes: number;
  /** A study is decided once no image arrived for this long and all its images have results. */
  readonly studyQuietSeconds: number;
  /** Grad-CAM heatmaps (and Secondary Captures) for review cases only, or for all cases. */
  readonly heatmaps: 'review' | 'all';
  /** false: receive and store only (no workers, jobs stay queued until a node with inference runs on the data). */
  readonly inference: boolean;
  readonly deliveryInitialBackoffMs: number;
  readonly deliveryMaxBackoffMs: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug';
}

export const SERVE_DEFAULTS: Omit<ServeConfig, 'modelDir' | 'dataDir'> = {
  aeTitle: 'HIPFRAC',
  host: '127.0.0.1', // loopback unless asked: the node is opened to the network on purpose
  dicomPort: 11112,
  httpPort: 8080,
  destinations: [],
  allowedCallingAes: [],
  allowedHosts: [],
  workers: 2, // two inference processes: when receiving pauses, both cores infer (one alone leaves a core idle)
  batchSize: 8, // images per inference batch
  workerNice: 10, // inference yields the CPU to receiving: a sender waiting for its response is answered first
  singleThreaded: 'auto',
  engine: 'auto',
  maxAssociations: 8,
  maxObjectBytes: 256 * 1024 * 1024, // 256 MiB per instance
  minFreeBytes: 512 * 1024 * 1024, // 512 MiB kept free on the data volume
  studyQuietSeconds: 10,
  heatmaps: 'review',
  inference: true,
  deliveryInitialBackoffMs: 2000,
  deliveryMaxBackoffMs: 300_000,
  logLevel: 'info',
};

const KEYS = new Set<string>(['modelDir', 'dataDir', ...Object.keys(SERVE_DEFAULTS)]);

/** Merges defaults ← config file ← flags (undefined flags leave the value), validates, freezes. */
export function resolveServeConfig(file: string | undefined, flags: Partial<Record<keyof ServeConfig, unknown>>): ServeConfig {
  let fromFile: Record<string, unknown> = {};
  if (file !== undefined) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (cause) {
      throw new HipfracError('HF_SERVE_BAD_CONFIG', `cannot read the config file: ${(cause as Error).message}`, { input: file, fix: 'give a JSON object with the settings docs/serving.md lists.', cause });
    }
  }
  const problems: string[] = [];
  for (const key of Object.keys(fromFile)) if (!KEYS.has(key)) problems.push(`unknown setting '${key}'`);
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)));
  const c = { ...SERVE_DEFAULTS, ...fromFile, ...defined } as Record<string, unknown>;
  const str = (k: string): void => {
    if (typeof c[k] !== 'string' || c[k] === '') problems.push(`${k} must be a non-empty string`);
  };
  const int = (k: string, min: number, max: number): void => {
    if (!Number.isInteger(c[k]) || (c[k] as number) < min || (c[k] as number) > max) problems.push(`${k} must be an integer in [${min}, ${max}], got ${JSON.stringify(c[k])}`);
  };
  const list = (k: string): void => {
    if (!Array.isArray(c[k]) || !(c[k] as unknown[]).every((v) => typeof v === 'string')) problems.push(`${k} must be a list of strings`);
  };
  str('modelDir');
  str('dataDir');
  str('aeTitle');
  str('host');
  if (typeof c['aeTitle'] === 'string' && !/^[ -[\]-~]{1,16}$/.test(c['aeTitle'])) problems.push('aeTitle must be 1-16 printable characters without backslash');
  int('dicomPort', 0, 65535);
  int('httpPort', 0, 65535);
  int('workers', 1, 64);
  int('batchSize', 1, 256);
  int('workerNice', 0, 19);
  int('maxAssociations', 1, 1000);
  int('maxObjectBytes', 1024, 2 ** 40);
  int('minFreeBytes', 0, 2 ** 50);
  int('deliveryInitialBackoffMs', 1, 86_400_000);
  int('deliveryMaxBackoffMs', 1, 86_400_000);
  if (typeof c['studyQuietSeconds'] !== 'number' || !((c['studyQuietSeconds'] as number) >= 0)) problems.push('studyQuietSeconds must be a number ≥ 0');
  list('destinations');
  list('allowedCallingAes');
  list('allowedHosts');
  if (c['singleThreaded'] !== 'auto' && typeof c['singleThreaded'] !== 'boolean') problems.push(`singleThreaded must be 'auto', true or false`);
  if (typeof c['inference'] !== 'boolean') problems.push('inference must be true or false');
  if (!['auto', 'onnx', 'libtorch'].includes(c['engine'] as string)) problems.push(`engine must be 'auto', 'onnx' or 'libtorch'`);
  if (c['heatmaps'] !== 'review' && c['heatmaps'] !== 'all') problems.push(`heatmaps must be 'review' or 'all'`);
  if (!['fatal', 'error', 'warn', 'info', 'debug'].includes(c['logLevel'] as string)) problems.push('logLevel must be fatal, error, warn, info or debug');
  if (Array.isArray(c['destinations'])) {
    for (const d of c['destinations'] as string[]) {
      try {
        parseDestination(d);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
  }
  if (problems.length > 0) {
    throw new HipfracError('HF_SERVE_BAD_CONFIG', `the serve settings have ${problems.length} problem(s): ${problems.join('; ')}.`, { input: file ?? 'command line', fix: 'see `hipfrac serve --help` and docs/serving.md.' });
  }
  return Object.freeze({ ...c, destinations: Object.freeze([...(c['destinations'] as string[])]), allowedCallingAes: Object.freeze([...(c['allowedCallingAes'] as string[])]), allowedHosts: Object.freeze([...(c['allowedHosts'] as string[])]) }) as ServeConfig;
}
