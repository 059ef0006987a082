// The pipeline room's door: the whole-run workflows the train, compare and demo commands share (train and evaluate
// one architecture, the run report, the sections after training, the twin-crop localisation study). Commands and
// tests import them through here only.
export { trainRun, checkDistributedConfig, datasetSplit, dataFingerprint, optimizerFactory, summarise, sampleRegion } from './trainRun.js';
export type { TrainRunOptions, TrainRunResult } from './trainRun.js';
export { evaluateValidation } from './evaluate.js';
export type { Evaluation } from './evaluate.js';
export { runSections, writeRunReport } from './runReport.js';
export type { RunReportInput } from './runReport.js';
export { afterTrainingSections } from './afterTraining.js';
export type { AfterTrainingInput } from './afterTraining.js';
export { localisationStudy, cropBatch, labelledCropBatches, trainTwinCropModel } from './localisationStudy.js';
export type { LocalisationStudyOptions, LocalisationStudyResult, TwinCropModel } from './localisationStudy.js';
