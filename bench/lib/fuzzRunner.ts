// Runs fuzz cases in worker threads (or child processes, for code that loads a native addon), each decided within a time limit: a case that has not answered when its time
// is up counts as a hang and its worker is replaced; a worker that dies (out of memory, a native abort) counts as a
// crash. Shared by the DICOM and weight-file fuzzers (bench/fuzz-*.ts) and their in-suite runs.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** What a worker reports for one case. */
export interface CaseReport {
  /** 'accepted': read without error; 'rejected': refused with a coded error; 'crash': anything else. */
  readonly outcome: 'accepted' | 'rejected' | 'crash';
  readonly code?: string;
  readonly message?: string;
}

export interface FuzzCase {
  readonly index: number;
  readonly label: string;
  readonly mutation: string;
  readonly bytes: Uint8Array;
}

export interface CaseResult {
  readonly index: number;
  readonly label: string;
  readonly mutation: string;
  readonly outcome: 'accepted' | 'rejected' | 'crash' | 'hang';
  readonly code?: string;
  readonly message?: string;
  readonly ms: number;
}

export interface RunOptions {
  readonly workerUrl: URL;
  readonly workers: number;
  readonly timeLimitMs: number;
  /** Heap cap per worker (MiB): a case that allocates without bound dies here instead of taking the machine. */
  readonly heapMb: number;
  /** 'process' forks a child per lane instead of a worker thread (native addons, e.g. the torch binding). */
  readonly isolation?: 'thread' | 'process';
  /** Bytes every new worker decodes before timed cases (warms codecs so start-up does not count as a hang). */
  readonly warmUp?: readonly Uint8Array[];
  readonly onResult?: (result: CaseResult) => void;
  /** How many cases timed out once and were run again in a fresh worker. */
  readonly onRetries?: (count: number) => void;
}

/** One worker thread or child process, behind the same small interface. */
interface Runner {
  post(message: unknown): void;
  on(event: 'message' | 'error' | 'exit', listener: (...args: never[]) => void): void;
  off(event: 'message' | 'error' | 'exit', listener: (...args: never[]) => void): void;
  once(event: 'message' | 'error', listener: (...args: never[]) => void): void;
  terminate(): Promise<unknown>;
}

interface Slot {
  worker: Runner;
  ready: Promise<void>;
}

function spawnRunner(options: RunOptions): Runner {
  if (options.isolation === 'process') {
    const child = fork(fileURLToPath(options.workerUrl), [], { serialization: 'advanced', execArgv: [`--max-old-space-size=${options.heapMb}`], stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    return {
      post: (m) => child.send(m as never),
      on: (e, l) => void child.on(e, l as never),
      off: (e, l) => void child.off(e, l as never),
      once: (e, l) => void child.once(e, l as never),
      terminate: () =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve(undefined);
          child.once('exit', resolve);
          child.kill('SIGKILL');
        }),
    };
  }
  const worker = new Worker(options.workerUrl, { resourceLimits: { maxOldGenerationSizeMb: options.heapMb }, stdout: true, stderr: true });
  return {
    post: (m) => worker.postMessage(m),
    on: (e, l) => void worker.on(e, l as never),
    off: (e, l) => void worker.off(e, l as never),
    once: (e, l) => void worker.once(e, l as never),
    terminate: () => worker.terminate(),
  };
}

function startWorker(options: RunOptions): Slot {
  const worker = spawnRunner(options);
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('message', (m: { ready?: boolean }) => (m.ready === true ? resolve() : reject(new Error('worker did not start'))));
    worker.once('error', reject);
  });
  for (const bytes of options.warmUp ?? []) worker.post({ warm: true, bytes });
  worker.post({ start: true });
  return { worker, ready };
}

function runOne(slot: Slot, c: FuzzCase, limitMs: number): Promise<{ report: CaseReport | 'hang' | 'died'; detail?: string; ms: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const finish = (report: CaseReport | 'hang' | 'died', detail?: string): void => {
      clearTimeout(timer);
      slot.worker.off('message', onMessage);
      slot.worker.off('error', onError);
      slot.worker.off('exit', onExit);
      resolve({ report, ...(detail === undefined ? {} : { detail }), ms: performance.now() - started });
    };
    const onMessage = (m: CaseReport & { index?: number }): void => {
      if (m.index === c.index) finish(m);
    };
    const onError = (error: Error): void => finish('died', `${error.name}: ${error.message}`);
    const onExit = (code: number): void => finish('died', `worker exited with ${code}`);
    const timer = setTimeout(() => finish('hang'), limitMs);
    slot.worker.on('message', onMessage);
    slot.worker.on('error', onError);
    slot.worker.on('exit', onExit);
    slot.worker.post({ index: c.index, label: c.label, bytes: c.bytes });
  });
}

/** Runs every case; returns one result per case, in case order. */
export async function runCases(cases: Iterable<FuzzCase>, options: RunOptions): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  let retried = 0;
  const iterator = cases[Symbol.iterator]();
  const lane = async (): Promise<void> => {
    let slot = startWorker(options);
    await slot.ready;
    try {
      for (let next = iterator.next(); next.done !== true; next = iterator.next()) {
        const c = next.value;
        let { report, detail, ms } = await runOne(slot, c, options.timeLimitMs);
        if (report === 'hang') {
          // A shared machine can stall a worker: a hang counts only if the case also times out in a fresh worker.
          await slot.worker.terminate();
          slot = startWorker(options);
          await slot.ready;
          retried++;
          ({ report, detail, ms } = await runOne(slot, c, options.timeLimitMs));
        }
        let result: CaseResult;
        if (report === 'hang' || report === 'died') {
          result = { index: c.index, label: c.label, mutation: c.mutation, outcome: report === 'hang' ? 'hang' : 'crash', message: detail ?? `no answer within ${options.timeLimitMs} ms`, ms };
          await slot.worker.terminate();
          slot = startWorker(options);
          await slot.ready;
        } else {
          result = { index: c.index, label: c.label, mutation: c.mutation, outcome: report.outcome, ...(report.code === undefined ? {} : { code: report.code }), ...(report.message === undefined ? {} : { message: report.message }), ms };
        }
        results.push(result);
        options.onResult?.(result);
      }
    } finally {
      await slot.worker.terminate();
    }
  };
  await Promise.all(Array.from({ length: options.workers }, lane));
  options.onRetries?.(retried);
  return results.sort((a, b) => a.index - b.index);
}

export interface FuzzSummary {
  readonly cases: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly crashes: number;
  readonly hangs: number;
  readonly maxMs: number;
  readonly codes: Record<string, number>;
  readonly byMutation: Record<string, { cases: number; accepted: number; rejected: number; crashes: number; hangs: number }>;
  /** Up to 20 crashes and hangs, enough to replay each (the case index and the mutation). */
  readonly failures: readonly CaseResult[];
}

export function summarise(results: readonly CaseResult[]): FuzzSummary {
  const codes: Record<string, number> = {};
  const byMutation: FuzzSummary['byMutation'] = {};
  let maxMs = 0;
  for (const r of results) {
    maxMs = Math.max(maxMs, r.ms);
    if (r.code !== undefined) codes[r.code] = (codes[r.code] ?? 0) + 1;
    const m = (byMutation[r.mutation] ??= { cases: 0, accepted: 0, rejected: 0, crashes: 0, hangs: 0 });
    m.cases++;
    if (r.outcome === 'accepted') m.accepted++;
    else if (r.outcome === 'rejected') m.rejected++;
    else if (r.outcome === 'crash') m.crashes++;
    else m.hangs++;
  }
  const count = (o: CaseResult['outcome']): number => results.filter((r) => r.outcome === o).length;
  return {
    cases: results.length,
    accepted: count('accepted'),
    rejected: count('rejected'),
    crashes: count('crash'),
    hangs: count('hang'),
    maxMs: Math.round(maxMs),
    codes,
    byMutation,
    failures: results.filter((r) => r.outcome === 'crash' || r.outcome === 'hang').slice(0, 20),
  };
}

/** A small seeded generator (mulberry32): the same seed gives the same cases on every machine. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
