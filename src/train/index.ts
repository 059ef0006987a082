// Training: the Learner and its callbacks, one-cycle schedules, the LR range test, the study's
// protocol (fineTune) with resumable state, and the evaluation metrics.
export { Learner, paramScheduler, discriminativeLrs, hashSeed, boxLoss, boxPeakLoss } from './learner.js';
export type { Batch, BatchSource, TrainableModel, OptimizerLike, OptimizerFactory, ParamGroupLike, LearnerOptions, EpochRecord, ValidationResult } from './learner.js';
export { TRAIN_EVENTS, CancelBatch, CancelEpoch, CancelFit, CancelValidate, runEvent } from './events.js';
export type { Callback, TrainEvent } from './events.js';
export { EarlyStopping, SaveBest, ProgressCallback, JsonlLogger } from './callbacks.js';
export { schedLin, schedCos, schedExp, schedConst, combineScheds, combinedCos, oneCycleLr, oneCycleMomentum, defaultOneCycle } from './schedule.js';
export type { Schedule, OneCycleOptions } from './schedule.js';
export { lrFind, valley, steep, minimum, lrSuggestions, smoothLosses, defaultLrFinder } from './lrFinder.js';
export type { LrFinderOptions, LrFinderResult, LrSuggestion, LrSuggestionName } from './lrFinder.js';
export { paperProtocol, checkConfig, resolveConfig } from './config.js';
export type { TrainConfig, ConfigIssue } from './config.js';
export { fineTune } from './protocol.js';
export { ProgressiveSource, sizeAtEpoch, parseSizeSteps, describeSizeSteps } from './progressive.js';
export type { SizeStep, ClosableSource } from './progressive.js';
export type { ProtocolOptions, ProtocolResult } from './protocol.js';
export { writeTrainingState, readTrainingState } from './trainingState.js';
export type { TrainingState, StatefulOptimizer } from './trainingState.js';
export { TrainError } from './errors.js';
export type { TrainErrorCode } from './errors.js';
export type { DataParallelHooks } from './learner.js';
export { DataParallel, broadcastModule, configHash, gatherValidation, launchRanks, rankFromEnvironment } from './distributed/index.js';
export type { DataParallelOptions, ReduceStats, LaunchOptions, RankExit } from './distributed/index.js';
export { exportCheckpointOnnx, measureAccuracyChange, validationImages } from './exportOnnx.js';
export type { ExportRequest, QuantizeRequest, AccuracyChange } from './exportOnnx.js';
export { pretrainSimclr, saveSimclrBody, SIMCLR_VIEWS, ntXent } from './selfsupervised/index.js';
export type { SimclrOptions, SimclrResult } from './selfsupervised/index.js';
