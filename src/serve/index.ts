// The DICOM node (`hipfrac serve`): receives radiographs from PACS (C-STORE, STOW-RS), keeps them in a durable
// queue, infers off the event loop, decides per image and per study, and returns SR + Secondary Capture to PACS.
export { startServeNode } from './node.js';
export type { RunningNode, StartOptions } from './node.js';
export { resolveServeConfig, SERVE_DEFAULTS } from './config.js';
export type { ServeConfig } from './config.js';
export { createServeLogger, REDACT_PATHS } from './log.js';
export { parseDestination, destinationText } from './deliver/destination.js';
export type { Destination } from './deliver/destination.js';
export { workerThreads } from './infer/pool.js';
export { applySingleThreaded, runsSingleThreaded, wantsSingleThreaded, FEW_CORES } from './v8Threads.js';
export { readServingModel } from './infer/servingModel.js';
export type { ServingModel } from './infer/servingModel.js';
export type { ImagePredictor } from './infer/predictor.js';
export { decideStudy } from './results/decideStudy.js';
export type { StudyOutcome, StudyDecisionKind } from './results/decideStudy.js';
export { buildHttpApp, requireScope, requestActor, requestToken } from './http/index.js';
export type { HealthReport, HttpContext, HttpDeps, HttpPlugin } from './http/index.js';
export { openStore, SqliteStore, BlobStore, CORE_MIGRATIONS, STORE_FILE } from './store/index.js';
export type { Migration, ServeStore, TokenScope } from './store/index.js';
export type { ServeErrorCode } from './errors.js';
