// One training run end to end: dataset (manifest + patient split) → loaders → classifier → the
// study's protocol → evaluation → checkpoint with model card → results.json. Resumable.
// With a test set in split.json, epochs and temperature are chosen on validation and every reported figure is
// measured on test; the test images reach no loader until training and every choice are done.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  cachedPngPath,
  defaultAugmentConfig,
  ImageLoader,
  loadManifest,
  loadSplit,
  requireDataset,
  splitByPatient,
  splitPath,
  writeJsonAtomic,
  type ManifestRow,
  type RegionJitter,
  type RegionOfInterest,
  type Sample,
} from '../../data/index.js';
import { Classifier, createClassifier, saveCheckpoint } from '../../models/index.js';
import { Adam, AdamW, convertSyncBatchNorm, SGD } from '../../nn/index.js';
import { manualSeed, ProcessGroup, resolveDevice, type Tensor } from '../../torch/index.js';
import { broadcastModule, configHash, DataParallel, describeSizeSteps, fineTune, JsonlLogger, Learner, paperProtocol, ProgressCallback, ProgressiveSource, TrainError, type Callback, type ClosableSource, type OptimizerFactory, type ProtocolResult, type TrainConfig, type ValidationResult } from '../../train/index.js';
import { HipfracError } from '../../util/index.js';
import type { GateCard } from '../../gate/index.js';
import { iou, LOCALISER_DEFAULTS, localiseFiles, saveLocaliser, trainLocaliser, type LocaliserCard } from '../../localise/index.js';
import { evaluateTest, evaluateValidation, type Evaluation } from './evaluate.js';
import { fitRunGate } from './gateRun.js';

export interface TrainRunOptions {
  readonly datasetDir: string;
  readonly outDir: string;
  readonly config: TrainConfig;
  readonly resume: boolean;
  /** Explicit weight file (torchvision .pth or safetensors); overrides `config.pretrained`'s lookup. */
  readonly weights?: string;
  readonly weightsDir?: string;
  readonly log?: (line: string) => void;
  /** Image-loading threads (default 2). */
  readonly workers?: number;
  /** 'cpu' (default), 'cuda' or 'cuda:N'. */
  readonly device?: string;
  /** Epochs of the hip localiser trained with a crop 'roi' model (default LOCALISER_DEFAULTS.epochs; 0: none, --rois stays needed). */
  readonly localiserEpochs?: number;
  /** This process's rank in a data-parallel run (from the launcher's environment); absent = one process. */
  readonly distributed?: DistributedRank;
}

/** Where a rank of a data-parallel run finds its peers. */
export interface DistributedRank {
  readonly rank: number;
  readonly worldSize: number;
  readonly masterAddr: string;
  readonly masterPort: number;
  /** Rendezvous and collective time-out (ms): a dead or stalled rank fails the others within it. */
  readonly timeoutMs: number;
  /** BatchNorm with the global batch's statistics over every rank (SyncBatchNorm); default false. */
  readonly syncBn?: boolean;
}

/** How a run was spread over processes (null in results.json for one process). */
export interface DistributedSummary {
  readonly worldSize: number;
  readonly backend: string;
  /** BatchNorm layers that used the global batch's statistics (0 without --sync-bn). */
  readonly syncBatchNorm: boolean;
  readonly syncBatchNormLayers: number;
}

export interface TrainRunResult {
  readonly model: Classifier;
  /** The reported figures: on the test images when the split has a test set, else on validation. */
  readonly evaluation: Evaluation;
  /** The pass `evaluation` was computed from and its rows (`evaluated.indices` index `evaluatedRows`). */
  readonly evaluated: ValidationResult;
  readonly evaluatedRows: ManifestRow[];
  /** On validation: what the temperature and the triage cut-off were chosen on. */
  readonly validEvaluation: Evaluation;
  readonly validation: ValidationResult;
  readonly protocol: ProtocolResult;
  readonly trainRows: ManifestRow[];
  readonly validRows: ManifestRow[];
  /** Held-out test rows (empty when split.json has no test set). */
  readonly testRows: ManifestRow[];
  readonly history: Learner['history'];
  readonly seconds: number;
  readonly imagesPerSecond: { train: number; inference: number };
  readonly checkpointDir: string;
  readonly dataFingerprint: string;
  /** What the split keeps apart: patients (the dataset has patient keys) or only images. */
  readonly splitUnit: 'patient' | 'image';
  readonly fromScratch: boolean;
  /** The input gate stored with the checkpoint (thresholds set on validation, pass rate measured on test); null when
   * the validation set is too small to set its thresholds (the checkpoint then has no gate, and training still counts). */
  readonly gate: GateCard | null;
  /** Why the run has no gate, when it has none. */
  readonly gateMissing?: string;
  /** The hip localiser stored with a crop 'roi' checkpoint; null otherwise. */
  readonly localiser: LocaliserCard | null;
  /** Ranks, backend and SyncBatchNorm of a data-parallel run; null for one process. */
  readonly distributed: DistributedSummary | null;
}

/**
 * Labelled rows of a dataset split by patient; a train/validation split is made (and saved) when the dataset has
 * none (`hipfrac split --test` makes one with a test set).
 */
export async function datasetSplit(datasetDir: string, seed: number, validFraction: number, log: (l: string) => void): Promise<{ train: ManifestRow[]; valid: ManifestRow[]; test: ManifestRow[]; all: ManifestRow[]; unit: 'patient' | 'image' }> {
  let rows = await loadManifest(datasetDir);
  let unit: 'patient' | 'image';
  if (!rows.some((r) => r.split !== undefined)) {
    const split = splitByPatient(rows.filter((r) => r.label !== null), { valFraction: validFraction, seed });
    await writeJsonAtomic(splitPath(datasetDir), split);
    unit = split.unit ?? 'patient';
    log(`no split.json in ${datasetDir}: made a ${unit}-level ${Math.round((1 - validFraction) * 100)}/${Math.round(validFraction * 100)} split (seed ${seed})`);
    rows = await loadManifest(datasetDir);
  } else {
    const stored = await loadSplit(datasetDir);
    if (stored === undefined) throw new TrainError('HF_TRAIN_NO_SPLIT', 'the dataset has split columns but no split.json.', { input: datasetDir, fix: 'run `hipfrac split` again.' });
    unit = stored.unit ?? 'patient';
  }
  const labelled = rows.filter((r) => r.label !== null);
  if (labelled.length === 0) {
    throw new TrainError('HF_TRAIN_NO_LABELS', 'the dataset has no labelled images.', { input: datasetDir, fix: 'import it with --labels labels.csv (or a folder-per-class layout).' });
  }
  const train = labelled.filter((r) => r.split === 'train');
  const valid = labelled.filter((r) => r.split === 'val');
  const test = labelled.filter((r) => r.split === 'test');
  if (train.length === 0 || valid.length === 0) {
    throw new TrainError('HF_TRAIN_EMPTY_SPLIT', `the split has ${train.length} training and ${valid.length} validation images.`, { input: datasetDir, fix: 'import more images or split again with another --val-fraction.' });
  }
  return { train, valid, test, all: labelled, unit };
}

/** A short hash of which images (by content) and labels a model was trained and validated on. */
export function dataFingerprint(train: readonly ManifestRow[], valid: readonly ManifestRow[]): string {
  const h = createHash('sha256');
  for (const [name, rows] of [['train', train], ['valid', valid]] as const) {
    for (const r of [...rows].sort((a, b) => a.contentHash.localeCompare(b.contentHash))) h.update(`${name}:${r.contentHash}:${r.label}\n`);
  }
  return `sha256:${h.digest('hex').slice(0, 16)}`;
}

export function optimizerFactory(config: TrainConfig): OptimizerFactory {
  return (groups: Tensor[][]) => {
    const params = groups.filter((g) => g.length > 0).map((g) => ({ params: g }));
    switch (config.optimizer) {
      case 'adam':
        return new Adam(params, { lr: 1e-3, betas: [config.moms[0], config.beta2], weightDecay: config.weightDecay });
      case 'adamw':
        return new AdamW(params, { lr: 1e-3, betas: [config.moms[0], config.beta2], weightDecay: config.weightDecay });
      case 'sgd':
        return new SGD(params, { lr: 1e-3, momentum: config.moms[0], weightDecay: config.weightDecay });
    }
  };
}

/**
 * Refuses, before any rank starts, what a data-parallel run cannot do: a global batch that does not split over
 * the ranks, and the LR finder (each rank would stop on its own shard's loss).
 */
export function checkDistributedConfig(config: TrainConfig, worldSize: number): void {
  if (config.batchSize % worldSize !== 0) {
    throw new HipfracError('HF_DIST_BATCH', `the global batch ${config.batchSize} does not split evenly over ${worldSize} ranks.`, { input: `--batch-size ${config.batchSize}`, fix: `use a multiple of ${worldSize}.` });
  }
  if (config.lrFind && (config.lr === null || config.unfrozenLr === null)) {
    throw new HipfracError('HF_DIST_LR_FIND', 'the LR finder does not run data-parallel yet (each rank would stop on its own shard\'s loss).', {
      fix: 'run the LR finder in one process, then pass --lr and --unfrozen-lr (or --no-lr-find) to the data-parallel run.',
    });
  }
}

export async function trainRun(options: TrainRunOptions): Promise<TrainRunResult> {
  // A wrong --device fails here, before the split, the loaders and the model are made.
  if (options.device !== undefined) resolveDevice(options.device);
  const dist = options.distributed;
  if (dist === undefined) return trainRunOnRanks(options, null);
  const { config } = options;
  checkDistributedConfig(config, dist.worldSize);
  const group = await ProcessGroup.create({
    masterAddr: dist.masterAddr,
    masterPort: dist.masterPort,
    worldSize: dist.worldSize,
    rank: dist.rank,
    timeoutMs: dist.timeoutMs,
    backend: options.device !== undefined && options.device.startsWith('cuda') ? 'nccl' : 'gloo',
    configHash: configHash({ config, weights: options.weights ?? null, resume: options.resume, syncBn: dist.syncBn ?? false }),
  });
  try {
    return await trainRunOnRanks(options, group);
  } finally {
    group.close();
  }
}

/** One process's run; with a group, this rank's part of a data-parallel run (rank 0 alone writes files). */
async function trainRunOnRanks(options: TrainRunOptions, group: ProcessGroup | null): Promise<TrainRunResult> {
  const rank = group?.rank ?? 0;
  const writer = rank === 0;
  const quiet = (): void => undefined;
  const log = writer ? (options.log ?? ((line: string): void => void process.stderr.write(`${line}\n`))) : quiet;
  const { config, outDir } = options;
  requireDataset(options.datasetDir); // before the run folder is made: a wrong --data leaves nothing behind
  if (writer) mkdirSync(outDir, { recursive: true });
  const configFile = path.join(outDir, 'config.json');
  if (!writer) {
    // Rank 0 checks the run folder and writes config.json and split.json first.
  } else if (options.resume && existsSync(configFile)) {
    const saved = JSON.parse(readFileSync(configFile, 'utf8')) as { config: TrainConfig };
    // Options added to hipfrac after the run started are absent from its config.json: their defaults train as before.
    if (JSON.stringify({ ...paperProtocol, ...saved.config }) !== JSON.stringify({ ...paperProtocol, ...config })) {
      throw new TrainError('HF_TRAIN_RESUME_CONFIG', 'the configuration differs from the one the interrupted run started with.', {
        input: configFile,
        fix: 'resume with the same options, or start a new run in another --out folder.',
      });
    }
  } else {
    writeFileSync(configFile, `${JSON.stringify({ config, datasetDir: path.resolve(options.datasetDir) }, null, 1)}\n`);
  }

  if (group !== null && rank !== 0) await group.barrier();
  const split = await datasetSplit(options.datasetDir, config.seed, config.validFraction, log);
  if (group !== null && rank === 0) await group.barrier();
  if (config.crop === 'roi') checkRois([...split.train, ...split.valid, ...split.test], options.datasetDir);
  const toSamples = (rows: readonly ManifestRow[]): Sample[] => rows.map((r) => ({ imagePath: cachedPngPath(options.datasetDir, r), label: r.label as number, region: sampleRegion(r, config), boxes: r.boxes ?? null }));
  const boxSupervised = config.boxLossWeight > 0;
  if (boxSupervised) checkBoxes(split.train, options.datasetDir);
  const fingerprint = dataFingerprint(split.train, split.valid);
  log(`data: ${split.train.length} training, ${split.valid.length} validation${split.test.length > 0 ? ` and ${split.test.length} held-out test` : ''} images (${split.unit}-level split), fingerprint ${fingerprint}`);

  const workers = options.workers ?? 2;
  // --batch-size stays the global batch: each rank takes its share, so the schedule and LRs are those of one
  // process with the same batch (no LR scaling).
  const shard = group === null ? null : { rank, worldSize: group.worldSize };
  const trainSamples = toSamples(split.train);
  const trainAt = (imageSize: number): ImageLoader =>
    new ImageLoader(trainSamples, {
      batchSize: config.batchSize / (group?.worldSize ?? 1),
      shard,
      imageSize,
      shuffle: true,
      // As fastai's training DataLoader: a last batch of one image would break BatchNorm's statistics.
      dropLast: true,
      balanced: config.balanced,
      seed: config.seed,
      workers,
      augment: config.augment ? defaultAugmentConfig : null,
      boxMasks: boxSupervised,
      maskMarkers: config.maskMarkers,
      regionJitter: loaderRegionJitter(config, 'train'),
    });
  const trainLoader: ClosableSource & { readonly resize?: Callback } =
    config.progressive.length === 0 ? trainAt(config.inputSize) : new ProgressiveSource(new Map([config.inputSize, ...config.progressive.map((s) => s.size)].map((size) => [size, trainAt(size)])), config.progressive, config.inputSize);
  if (config.progressive.length > 0) log(describeSizeSteps(config.progressive, config.inputSize, config.unfrozenEpochs));
  const validLoader = new ImageLoader(toSamples(split.valid), { batchSize: config.batchSize, imageSize: config.inputSize, shuffle: false, seed: config.seed, workers, augment: null, regionJitter: loaderRegionJitter(config, 'valid'), shard });

  const fromScratch = options.weights === undefined && !config.pretrained;
  // LibTorch seeds its generator from the OS at start-up: seed it so the head (and a from-scratch body) start the same every run.
  manualSeed(config.seed);
  const model = createClassifier(config.arch, {
    numClasses: 2,
    head: config.head,
    ps: config.ps,
    ...(options.weights !== undefined ? { weights: options.weights } : config.pretrained ? { pretrained: true } : { weights: null }),
    ...(options.weightsDir !== undefined ? { weightsDir: options.weightsDir } : {}),
    boxHead: boxSupervised ? config.boxHead : false,
  });
  const dataParallel = group === null ? undefined : new DataParallel(group);
  let distributed: DistributedSummary | null = null;
  if (group !== null) {
    await broadcastModule(group, model);
    const syncBn = options.distributed?.syncBn ?? false;
    const syncBatchNormLayers = syncBn ? convertSyncBatchNorm(model, group) : 0;
    distributed = { worldSize: group.worldSize, backend: group.backend, syncBatchNorm: syncBn, syncBatchNormLayers };
    log(`data-parallel: ${group.worldSize} ranks over ${group.backend}, ${config.batchSize / group.worldSize} images per rank and step${syncBn ? `, ${syncBatchNormLayers} BatchNorm layers synchronised (global-batch statistics)` : ''}`);
  }
  log(`model: ${config.arch} with a ${config.head} head, ${(model.numParameters() / 1e6).toFixed(2)} M parameters, ${fromScratch ? 'trained from scratch (no ImageNet weights)' : options.weights !== undefined ? `starting from the weights in ${path.basename(options.weights)}` : 'ImageNet-pretrained'}${config.precision === 'bf16' ? '; training forward passes in bfloat16 autocast' : ''}`);

  const learner = new Learner({
    model,
    train: trainLoader,
    valid: validLoader,
    optimizer: optimizerFactory(config),
    labelSmoothing: config.labelSmoothing,
    boxLossWeight: config.boxLossWeight,
    boxPeakWeight: config.boxPeakWeight,
    seed: config.seed,
    precision: config.precision,
    ...(options.device !== undefined ? { device: options.device } : {}),
    ...(dataParallel === undefined ? {} : { dataParallel }),
    callbacks: [...(trainLoader.resize === undefined ? [] : [trainLoader.resize]), ...(writer ? [new ProgressCallback(config.arch), new JsonlLogger(path.join(outDir, 'log.jsonl'))] : [])],
  });
  const started = Date.now();
  let protocol: ProtocolResult;
  try {
    protocol = await fineTune(learner, config, { stateDir: outDir, resume: options.resume, log, readOnlyState: !writer });
  } catch (error) {
    await trainLoader.close();
    await validLoader.close();
    throw error;
  }
  const seconds = (Date.now() - started) / 1000;
  const inferenceStart = Date.now();
  const validation = await learner.validate();
  const inferenceSeconds = (Date.now() - inferenceStart) / 1000;
  await trainLoader.close();
  await validLoader.close();
  // Every choice is made (epochs by early stopping, the temperature next, on validation): only now the test images
  // are read, once, for the reported figures.
  const validEvaluation = evaluateValidation(validation, split.valid, { seed: config.seed });
  let evaluated = validation;
  let evaluatedRows = split.valid;
  let evaluation = validEvaluation;
  if (split.test.length > 0) {
    const testLoader = new ImageLoader(toSamples(split.test), { batchSize: config.batchSize, imageSize: config.inputSize, shuffle: false, seed: config.seed, workers, augment: null, regionJitter: loaderRegionJitter(config, 'test') });
    try {
      evaluated = await learner.validate(testLoader);
    } finally {
      await testLoader.close();
    }
    evaluatedRows = split.test;
    evaluation = evaluateTest(evaluated, split.test, validEvaluation.temperature, { seed: config.seed });
  }
  const trainedImages = learner.history.length * split.train.length;
  dataParallel?.release();
  // The trained model is a plain one again (the group closes with this run; evaluation never synchronises).
  if (distributed?.syncBatchNorm === true) convertSyncBatchNorm(model, null);
  const checkpointDir = path.join(outDir, 'model');
  if (writer) saveCheckpoint(checkpointDir, model, {
    classes: ['no fracture', 'fracture'],
    // The size and crop it was trained at, which predict must reproduce (not the architecture's ImageNet size).
    inputSize: config.inputSize,
    crop: config.crop,
    dataFingerprint: fingerprint,
    metrics: {
      accuracy: evaluation.metrics.metrics.accuracy,
      precision: evaluation.metrics.metrics.precision,
      recall: evaluation.metrics.metrics.recall,
      f1: evaluation.metrics.metrics.f1,
      rocAuc: evaluation.metrics.metrics.rocAuc,
      temperature: evaluation.temperature.temperature,
      calibrationBias: evaluation.temperature.bias,
    },
    extra: { evaluatedOn: evaluation.set, evaluatedImages: evaluation.n, temperatureFrom: 'validation', fromScratch, epochs: learner.history.length, protocol: { frozenLr: protocol.lrs.frozen, unfrozenLrs: protocol.lrs.unfrozen }, distributed },
  });
  log('input gate: fitting on training features, thresholds on validation…');
  let gate: GateCard | null = null;
  let gateMissing: string | undefined;
  try {
    gate = await fitRunGate({ model, trainRows: split.train, validRows: split.valid, testRows: split.test, datasetDir: options.datasetDir, checkpointDir, config, workers });
    log(`input gate: ${(100 * gate.measured.validation.passRate).toFixed(1)} % of validation${gate.measured.test === undefined ? '' : `, ${(100 * gate.measured.test.passRate).toFixed(1)} % of test`} images pass`);
  } catch (error) {
    // The trained model is kept: a gate that cannot be calibrated is left out, and said so, rather than failing the run.
    if (!(error instanceof HipfracError && error.code === 'HF_GATE_TOO_FEW')) throw error;
    gateMissing = error.message;
    log(`input gate: none (${error.message}); the checkpoint is saved without one.`);
  }
  const localiserEpochs = options.localiserEpochs ?? LOCALISER_DEFAULTS.epochs;
  const localiser = config.crop === 'roi' && localiserEpochs > 0 ? await fitLocaliser(split, options.datasetDir, checkpointDir, localiserEpochs, config.seed, workers, log) : null;
  const result: TrainRunResult = {
    model,
    evaluation,
    evaluated,
    evaluatedRows,
    validEvaluation,
    validation,
    protocol,
    trainRows: split.train,
    validRows: split.valid,
    testRows: split.test,
    history: learner.history,
    seconds,
    imagesPerSecond: { train: seconds > 0 ? trainedImages / seconds : Number.NaN, inference: inferenceSeconds > 0 ? split.valid.length / inferenceSeconds : Number.NaN },
    checkpointDir,
    dataFingerprint: fingerprint,
    splitUnit: split.unit,
    fromScratch,
    gate,
    ...(gateMissing === undefined ? {} : { gateMissing }),
    localiser,
    distributed,
  };
  if (writer) await writeJsonAtomic(path.join(outDir, 'results.json'), summarise(result, config));
  return result;
}

/**
 * The machine-readable summary of a run (no images, no identifiers: row ids are hashes). `metrics`, `intervals`,
 * `ece`, `byGroup` and `predictions` are on `evaluatedOn` (test when the split has one); `validation` holds the
 * figures of the set the choices were made on.
 */
export function summarise(run: TrainRunResult, config: TrainConfig): Record<string, unknown> {
  const m = run.evaluation.metrics.metrics;
  return {
    arch: config.arch,
    config,
    fromScratch: run.fromScratch,
    dataFingerprint: run.dataFingerprint,
    splitUnit: run.splitUnit,
    images: { train: run.trainRows.length, valid: run.validRows.length, test: run.testRows.length },
    evaluatedOn: run.evaluation.set,
    chosenOn: { epochs: 'validation', temperature: 'validation', triageCutoff: 'validation' },
    validation: {
      n: run.validEvaluation.n,
      metrics: run.validEvaluation.metrics.metrics,
      ece: { before: run.validEvaluation.calibrationBefore.ece, after: run.validEvaluation.calibrationAfter.ece, fractureProbability: run.validEvaluation.fractureEce },
      // What later choices (cut-offs, conformal sets) are calibrated on, so they never touch the test predictions.
      predictions: run.validEvaluation.rowIds.map((id, i) => ({ id, label: run.validEvaluation.labels[i], probability: run.validEvaluation.probs[i] })),
    },
    metrics: m,
    intervals: run.evaluation.intervals,
    temperature: run.evaluation.temperature.temperature,
    // Added to the fracture logit after the temperature, fitted with it on validation (0 = none).
    calibrationBias: run.evaluation.temperature.bias,
    // Top-label ECE (Guo et al.) before and after calibration, what a perfectly calibrated model would show on as
    // many images (median, 95th percentile), and the fracture probability's own ECE.
    ece: {
      before: run.evaluation.calibrationBefore.ece,
      after: run.evaluation.calibrationAfter.ece,
      perfectModel: run.evaluation.eceFloor,
      fractureProbability: run.evaluation.fractureEce,
    },
    byGroup: run.evaluation.byGroup,
    history: run.history,
    lrs: run.protocol.lrs,
    localiser: run.localiser,
    distributed: run.distributed,
    gate: run.gate === null ? { missing: run.gateMissing ?? 'not fitted' } : { passRate: run.gate.passRate, thresholds: run.gate.thresholds, measured: run.gate.measured, bodyPart: run.gate.bodyPart ?? null, view: run.gate.view ?? null },
    bestEpoch: run.protocol.bestEpoch,
    stoppedEarly: run.protocol.stoppedEarly,
    seconds: run.seconds,
    imagesPerSecond: run.imagesPerSecond,
    parameters: run.model.numParameters(),
    predictions: run.evaluation.rowIds.map((id, i) => ({ id, label: run.evaluation.labels[i], probability: run.evaluation.probs[i] })),
  };
}

/**
 * Trains the hip localiser on the training images' regions, measures its IoU on the held-out images (test, else
 * validation) and stores it in the checkpoint, so predict/explain/attack cut images without --rois.
 */
async function fitLocaliser(split: { train: ManifestRow[]; valid: ManifestRow[]; test: ManifestRow[] }, datasetDir: string, checkpointDir: string, epochs: number, seed: number, workers: number, log: (l: string) => void): Promise<LocaliserCard> {
  const withRoi = (rows: readonly ManifestRow[]): (ManifestRow & { roi: RegionOfInterest })[] => rows.filter((r): r is ManifestRow & { roi: RegionOfInterest } => r.roi !== undefined && r.roi !== null);
  log(`hip localiser: training on ${split.train.length} whole images (${epochs} epochs)…`);
  const { net, card } = await trainLocaliser(withRoi(split.train).map((r) => ({ imagePath: cachedPngPath(datasetDir, r), roi: r.roi })), { epochs, seed, workers });
  const heldOutSet = split.test.length > 0 ? 'test' : 'validation';
  const heldOut = withRoi(split.test.length > 0 ? split.test : split.valid);
  const predicted = await localiseFiles(net, heldOut.map((r) => cachedPngPath(datasetDir, r)), workers, heldOut);
  const ious = heldOut.map((r, i) => iou(predicted[i] as RegionOfInterest, r.roi)).sort((a, b) => a - b);
  const measured: LocaliserCard = ious.length === 0 ? card : { ...card, heldOutIou: { median: ious[Math.floor((ious.length - 1) / 2)] as number, mean: ious.reduce((a, b) => a + b, 0) / ious.length, n: ious.length, set: heldOutSet } };
  await saveLocaliser(checkpointDir, net, measured);
  net.dispose();
  log(`hip localiser: median IoU ${measured.heldOutIou?.median.toFixed(3) ?? '–'} on ${ious.length} ${heldOutSet} images`);
  return measured;
}

/** The region a row's image is cut to before resizing: its ROI under crop 'roi', else the whole image. */
export function sampleRegion(row: ManifestRow, config: Pick<TrainConfig, 'crop'>): RegionOfInterest | null {
  return config.crop === 'roi' ? (row.roi ?? null) : null;
}

/** A loader's region jitter: the config's for the training images of a crop 'roi' model; none for validation and test. */
export function loaderRegionJitter(config: Pick<TrainConfig, 'crop' | 'regionJitter'>, set: 'train' | 'valid' | 'test'): RegionJitter | null {
  return set === 'train' && config.crop === 'roi' ? (config.regionJitter ?? null) : null;
}

/** Box supervision needs fracture boxes: at least one fractured training image with a box. */
function checkBoxes(train: readonly ManifestRow[], datasetDir: string): void {
  if (train.some((r) => r.label === 1 && (r.boxes?.length ?? 0) > 0)) return;
  throw new TrainError('HF_TRAIN_NO_BOXES', 'box supervision (--box-loss-weight) needs fracture boxes, and no fractured training image has one.', {
    input: datasetDir,
    fix: "import with boxes (FracAtlas's yolo_boxes column, or a labels.csv fracture_boxes column \"x0 y0 x1 y1;…\" in pixels; the phantom writes one), or train without --box-loss-weight.",
  });
}

function checkRois(rows: readonly ManifestRow[], datasetDir: string): void {
  const missing = rows.filter((r) => r.roi === undefined || r.roi === null);
  if (missing.length === 0) return;
  throw new TrainError('HF_TRAIN_NO_ROI', `crop 'roi' needs a region of interest for every image; ${missing.length} of ${rows.length} have none (first: ${missing[0]?.sourcePath}).`, {
    input: datasetDir,
    fix: 'import with a label file that has hip_roi_x0, hip_roi_y0, hip_roi_x1, hip_roi_y1 (pixels; the phantom writes them), or train with --crop none.',
  });
}
