// Inference off the event loop: N worker processes, each with the model loaded once (processes, not threads:
// LibTorch in a worker thread stalled the node's main thread at times on this machine). The pool claims queued jobs
// from the store in batches (as many as are queued, up to the batch size) and keeps up to two batches in hand at each
// worker: the worker starts the next one as soon as it has sent a result, without waiting for this process (busy
// receiving) to record it and send more. Each image's result is recorded; a worker that dies has its jobs put back
// in the queue and is replaced.
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { HipfracError } from '../../util/index.js';
import type { Metrics } from '../metrics.js';
import type { JobRecord, SqliteStore } from '../store/index.js';
import type { BatchItem, BatchRequest, ItemResult, WorkerInit, WorkerMessage } from './protocol.js';
import type { ServingModel } from './servingModel.js';
import type { ServeEngine } from './predictor.js';

export interface InferencePoolOptions {
  readonly workers: number;
  /** Most images per batch (default 8). */
  readonly batchSize: number;
  /**
   * Nice increment of the worker processes (0: the node's own priority). Receiving is latency-bound (a sender waits
   * for each response) and inference has a queue: with the workers below the main process, the kernel runs the
   * main process first whenever both want a core, and inference takes the rest.
   */
  readonly nice?: number;
  readonly dataDir: string;
  readonly heatmaps: 'review' | 'all';
  /** Threads per worker (default: workerThreads(workers)). */
  readonly threadsPerWorker?: number;
  /** Which engine predicts (default 'auto': ONNX Runtime when the checkpoint's ONNX graph has parity). */
  readonly engine?: ServeEngine;
}

/**
 * Thread settings of the worker processes, unless the environment sets them: the worker shares the cores with the
 * node, so LibTorch's OpenMP threads sleep when idle instead of spinning (GNU OpenMP's default), which otherwise
 * takes the CPU the node needs. (OpenBLAS runs single-threaded in every process that loads LibTorch: src/torch.)
 */
const WORKER_THREAD_ENV = { OMP_WAIT_POLICY: 'PASSIVE' } as const;

/**
 * Intra-op threads of each inference worker: HIPFRAC_THREADS shared among the workers when it is set, else the cores
 * but one shared among them (at least one each). The core left over is the node's: it receives, stores, writes the
 * SRs and delivers while the workers infer. Measured on 2 cores (resnet18 at 96 px, 1 worker, 1,000 images, 3 runs
 * each): one ONNX Runtime thread used 15-17 ms of CPU per image end to end against 17-19 ms with two, at 93-108
 * against 86-95 images/s: a second intra-op thread, woken for every operator, competed with the node for the same
 * two cores.
 */
export function workerThreads(workers: number, cores: number = os.availableParallelism(), fromEnv: string | undefined = process.env['HIPFRAC_THREADS']): number {
  const set = Number(fromEnv);
  const budget = fromEnv !== undefined && Number.isInteger(set) && set > 0 ? set : cores - 1;
  return Math.max(1, Math.floor(budget / Math.max(1, workers)));
}

/** Batches a worker holds at once: the one it runs and the next. */
const BATCHES_IN_HAND = 2;

interface Batch {
  readonly id: number;
  readonly jobs: JobRecord[];
}

interface Slot {
  worker: ChildProcess;
  ready: boolean;
  /** Sent and not yet answered, oldest first (the worker runs them in order). */
  inHand: Batch[];
  /** When the oldest batch in hand began to run: its dispatch, or the previous batch's answer. */
  headStarted: number;
}

export class InferencePool {
  readonly #slots: Slot[] = [];
  #nextBatch = 1;
  #closing = false;
  #scheduled = false;
  #listeners: (() => void)[] = [];

  constructor(
    private readonly store: SqliteStore,
    private readonly model: ServingModel,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    readonly options: InferencePoolOptions,
  ) {}

  /** Called after results were recorded (the study decider listens). */
  onResults(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Starts the workers; resolves once every one has loaded the model, rejects with the first load failure. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.options.workers }, () => this.#spawn()));
    this.wake();
  }

  get readyWorkers(): number {
    return this.#slots.filter((s) => s.ready).length;
  }

  get busyWorkers(): number {
    return this.#slots.filter((s) => s.inHand.length > 0).length;
  }

  #spawn(): Promise<void> {
    const threads = this.options.threadsPerWorker ?? workerThreads(this.options.workers);
    const init: WorkerInit = { modelDir: this.model.dir, policy: this.model.policy, threads, engine: this.options.engine ?? 'auto', dataDir: this.options.dataDir, heatmaps: this.options.heatmaps };
    const worker = fork(fileURLToPath(new URL('./worker.js', import.meta.url)), [], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...WORKER_THREAD_ENV, ...process.env, HIPFRAC_WORKER_INIT: JSON.stringify(init) },
    });
    const slot: Slot = { worker, ready: false, inHand: [], headStarted: 0 };
    if ((this.options.nice ?? 0) > 0 && worker.pid !== undefined) {
      try {
        os.setPriority(worker.pid, Math.min(19, os.getPriority() + (this.options.nice ?? 0)));
      } catch (error) {
        this.logger.warn({ message: (error as Error).message }, 'could not lower the inference worker\'s CPU priority');
      }
    }
    this.#slots.push(slot);
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') {
          this.logger.info({ engine: m.engine, threads }, 'inference worker ready');
          slot.ready = true;
          resolve();
          this.wake();
        } else if (m.type === 'fatal') {
          this.logger.error({ message: m.message }, 'inference worker failed');
          if (!slot.ready) reject(new HipfracError('HF_SERVE_WORKER', `the inference worker could not start: ${m.message}`, { input: this.model.dir }));
        } else if (m.type === 'results') {
          this.#record(slot, m.batchId, m.results);
        }
      });
      worker.on('error', (error) => {
        this.logger.error({ message: error.message }, 'inference worker error');
        if (!slot.ready) reject(new HipfracError('HF_SERVE_WORKER', `the inference worker could not start: ${error.message}`, { input: this.model.dir }));
      });
      worker.on('exit', (code) => {
        if (!slot.ready) reject(new HipfracError('HF_SERVE_WORKER', `the inference worker exited while loading the model (${code})`, { input: this.model.dir }));
        const index = this.#slots.indexOf(slot);
        if (index >= 0) this.#slots.splice(index, 1);
        const held = slot.inHand.flatMap((b) => b.jobs);
        slot.inHand = [];
        if (held.length > 0) this.#requeue(held, `inference worker exited (${code})`);
        if (!this.#closing && slot.ready) {
          this.logger.warn({ code }, 'inference worker exited; starting a new one');
          this.#spawn().catch((error: unknown) => this.logger.error({ message: (error as Error).message }, 'could not replace the inference worker'));
        }
      });
    });
  }

  /** Puts a dead worker's jobs back in the queue (failed once they used up their attempts). */
  #requeue(jobs: readonly JobRecord[], why: string): void {
    for (const job of jobs) {
      try {
        this.store.transitionJob(job.id, job.attempts >= 3 ? 'failed' : 'queued', job.attempts >= 3 ? why : '');
      } catch (error) {
        this.logger.error({ code: (error as { code?: string }).code, jobId: job.id }, 'could not requeue a job');
      }
    }
    this.wake();
  }

  /** Dispatches queued jobs to idle workers on the next turn of the event loop. */
  wake(): void {
    if (this.#scheduled || this.#closing) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#dispatch();
    });
  }

  /** Fills every ready worker's hand, the emptiest first, so that two workers share a short queue. */
  #dispatch(): void {
    for (let depth = 0; depth < BATCHES_IN_HAND; depth++) {
      for (const slot of this.#slots) {
        if (!slot.ready || slot.inHand.length > depth) continue;
        const jobs = this.store.claimJobs(this.options.batchSize);
        if (jobs.length === 0) return;
        const items: BatchItem[] = [];
        for (const job of jobs) {
          const instance = this.store.getInstance(job.sopInstanceUid);
          if (instance === undefined) continue;
          items.push({ jobId: job.id, sopInstanceUid: job.sopInstanceUid, file: instance.file });
        }
        const batch: Batch = { id: this.#nextBatch++, jobs };
        if (slot.inHand.length === 0) slot.headStarted = performance.now();
        slot.inHand.push(batch);
        const request: BatchRequest = { type: 'batch', batchId: batch.id, items };
        slot.worker.send(request);
      }
    }
  }

  #record(slot: Slot, batchId: number, results: readonly ItemResult[]): void {
    // An answer for a batch no longer in hand (its jobs were put back when the worker was given up) is not recorded.
    if (!slot.inHand.some((b) => b.id === batchId)) {
      this.logger.warn({ batchId }, 'results of a batch no longer held by this worker: not recorded');
      return;
    }
    const now = performance.now();
    this.metrics.observe('hipfrac_inference_batch_seconds', 'Time to infer one batch in a worker', (now - slot.headStarted) / 1000);
    slot.inHand = slot.inHand.filter((b) => b.id !== batchId);
    slot.headStarted = now;
    // One commit for the batch; a result that cannot be recorded rolls back alone (its savepoint).
    this.store.relaxedTransaction(() => this.#recordEach(results));
    for (const l of this.#listeners) l();
    this.wake();
  }

  #recordEach(results: readonly ItemResult[]): void {
    for (const r of results) {
      try {
        if (r.ok) {
          this.store.recordResult(r.jobId, {
            sopInstanceUid: r.sopInstanceUid,
            decision: r.decision,
            fractureProbability: r.fractureProbability,
            predicted: r.predicted,
            confidence: r.confidence,
            level: r.level,
            reason: r.reason,
            heatmap: r.heatmap,
            ...(r.boxes === undefined ? {} : { boxes: r.boxes }),
            regionOrigin: r.regionOrigin,
          });
          this.metrics.inc('hipfrac_images_decided_total', 'Images with a result', { decision: r.decision });
        } else {
          this.store.relaxedTransaction(() => {
            this.store.quarantineInstance(r.sopInstanceUid, r.reason);
            this.store.recordResult(r.jobId, { sopInstanceUid: r.sopInstanceUid, decision: 'not-processed', fractureProbability: null, predicted: '', confidence: null, level: '', reason: r.reason, heatmap: '' });
          });
          this.metrics.inc('hipfrac_images_failed_total', 'Images quarantined: pixel data not decodable');
          this.logger.warn({ jobId: r.jobId }, 'image quarantined: pixel data not decodable');
        }
      } catch (error) {
        this.logger.error({ code: (error as { code?: string }).code, jobId: r.jobId }, 'could not record a result');
      }
    }
  }

  /** Asks each worker to finish its batch and stop; kills one that does not stop within `graceMs`. */
  async close(graceMs = 30_000): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#slots.map((s) => new Promise<void>((resolve) => {
      if (s.worker.exitCode !== null || !s.worker.connected) {
        resolve();
        return;
      }
      const timer = setTimeout(() => s.worker.kill('SIGKILL'), graceMs);
      s.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      s.worker.send({ type: 'stop' });
    })));
  }
}
