// One running node: store and files, inference workers, the DICOM SCP, the HTTP server (API, STOW-RS, metrics),
// the study decider (results/studyDecider.ts) and the result sender. `startServeNode` brings them up in that order
// and recovers what a crash left (claimed jobs back to the queue, undecided studies, pending deliveries); `close()`
// stops them in reverse.
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ServeConfig } from './config.js';
import { Sender } from './deliver/sender.js';
import { apiPlugin } from './http/api.js';
import { buildHttpApp, type HttpPlugin } from './http/app.js';
import { stowPlugin } from './http/stow.js';
import { InferencePool } from './infer/pool.js';
import { readServingModel, type ServingModel } from './infer/servingModel.js';
import { createServeLogger } from './log.js';
import { Metrics } from './metrics.js';
import { DicomNode } from './receive/dimse.js';
import { Ingest } from './receive/ingest.js';
import { StudyDecider } from './results/studyDecider.js';
import { StudyResults } from './results/studyResults.js';
import { REVIEW_MIGRATIONS, reviewPlugin } from './review/index.js';
import { runsSingleThreaded } from './v8Threads.js';
import { openStore, type BlobStore, type SqliteStore } from './store/index.js';

export interface RunningNode {
  readonly config: ServeConfig;
  readonly store: SqliteStore;
  readonly blobs: BlobStore;
  readonly model: ServingModel;
  readonly dicomPort: number;
  readonly httpPort: number;
  readonly http: FastifyInstance;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
  /** More HTTP plugins, registered after the node's own and the review UI (/review/). */
  readonly plugins?: readonly HttpPlugin[];
}

export async function startServeNode(config: ServeConfig, options: StartOptions = {}): Promise<RunningNode> {
  const logger = options.logger ?? createServeLogger({ level: config.logLevel });
  const model = readServingModel(config.modelDir);
  const dataDir = path.resolve(config.dataDir);
  const { store, blobs } = openStore(dataDir, { minFreeBytes: config.minFreeBytes, migrations: REVIEW_MIGRATIONS, checkpointIntervalMs: 250 });
  const ingest = new Ingest(store, blobs, logger, { maxObjectBytes: config.maxObjectBytes });
  const unconfirmed = await ingest.recoverUnconfirmed();
  if (unconfirmed.confirmed + unconfirmed.forgotten > 0) logger.info(unconfirmed, 'checked instances the last run was still flushing');
  const recovered = store.recoverJobs();
  if (recovered > 0) logger.info({ jobs: recovered }, 'recovered jobs left by the last run');
  const started = Date.now();
  const metrics = new Metrics();
  metrics.gauge('hipfrac_queue_depth', 'Images waiting for inference', () => store.queueDepth());
  metrics.gauge('hipfrac_jobs', 'Jobs by state', () => store.counts().jobs);
  metrics.gauge('hipfrac_deliveries', 'Result deliveries by state', () => store.counts().deliveries);
  metrics.gauge('hipfrac_instances', 'Instances received by status', () => {
    const c = store.counts();
    return { received: c.instancesReceived, skipped: c.instancesSkipped, quarantined: c.instancesQuarantined };
  }, 'status');

  const pool = new InferencePool(store, model, logger, metrics, { workers: config.workers, batchSize: config.batchSize, nice: config.workerNice, dataDir, heatmaps: config.heatmaps, engine: config.engine });
  ingest.onIngest((outcome) => {
    metrics.inc('hipfrac_instances_received_total', 'Objects received, by outcome', { outcome: outcome.kind === 'refused' ? `refused-${outcome.code}` : outcome.kind });
  });
  if (config.inference) ingest.onQueued(() => pool.wake());

  const results = new StudyResults(store, blobs, model, config.destinations, logger, metrics);
  const sender = new Sender(store, blobs, logger, metrics, { callingAeTitle: config.aeTitle, initialBackoffMs: config.deliveryInitialBackoffMs, maxBackoffMs: config.deliveryMaxBackoffMs });
  const decider = new StudyDecider(store, (study) => results.produce(study), () => void sender.tick(), logger, metrics, { quietSeconds: config.studyQuietSeconds });
  ingest.onIngest(() => decider.received());
  pool.onResults(() => decider.request());

  // Without inference (a receive-only node, or measuring ingest alone) no worker starts and jobs stay queued.
  if (config.inference) await pool.start();
  const dicom = new DicomNode({
    aeTitle: config.aeTitle,
    host: config.host,
    port: config.dicomPort,
    allowedCallingAes: config.allowedCallingAes,
    allowedHosts: config.allowedHosts,
    maxAssociations: config.maxAssociations,
    maxObjectBytes: config.maxObjectBytes,
  }, ingest, logger);
  const http = await buildHttpApp({
    store,
    logger,
    bodyLimit: config.maxObjectBytes * 4,
    health: () => ({
      status: pool.readyWorkers > 0 || !config.inference ? 'ok' : 'degraded',
      version: model.version,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      checks: { store: 'ok', workers: config.inference ? `${pool.readyWorkers} ready` : 'inference off', dicom: `${dicom.activeAssociations} associations`, v8: runsSingleThreaded() ? 'single-threaded' : 'background threads' },
    }),
  }, [stowPlugin(ingest), apiPlugin(store, blobs, metrics), reviewPlugin({ store, blobs }), ...(options.plugins ?? [])]);
  await http.listen({ port: config.httpPort, host: config.host });
  const address = http.server.address();
  const httpPort = typeof address === 'object' && address !== null ? address.port : config.httpPort;
  const dicomPort = await dicom.listen();
  // Quiet periods count from the moment senders can reach the node again, not from before the model loaded.
  const waiting = store.restartQuietPeriods();
  if (waiting > 0) logger.info({ studies: waiting }, 'undecided studies wait one more quiet period for re-sent images');
  decider.start();
  sender.start();
  store.audit('system', 'start', '', `model ${model.name} ${model.version}`);
  logger.info({ aeTitle: config.aeTitle, dicomPort, httpPort, workers: config.workers, destinations: config.destinations.length }, 'hipfrac serve started');

  let closed = false;
  return {
    config,
    store,
    blobs,
    model,
    dicomPort,
    httpPort,
    http,
    async close() {
      if (closed) return;
      closed = true;
      decider.stop();
      sender.stop();
      await dicom.close();
      await http.close();
      ingest.confirmPending();
      await pool.close();
      await results.close();
      store.close();
    },
  };
}
