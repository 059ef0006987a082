// The Learner: one training loop (fit) driven by callbacks, with one-cycle and discriminative LRs
// layered on top, as fastai's Learner.fit / fit_one_cycle — every level callable by users.
import { adaptiveAvgPool2d, autocast, binaryCrossEntropyWithLogits, clamp, crossEntropy, distError, inferenceMode, logSoftmax, manualSeed, PRECISIONS, resolveDevice, softmax, tidy, type Precision, type Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import { CancelBatch, CancelEpoch, CancelFit, CancelValidate, runEvent, sortCallbacks, type Callback, type TrainEvent } from './events.js';
import { defaultOneCycle, oneCycleLr, oneCycleMomentum, type OneCycleOptions, type Schedule } from './schedule.js';
import { TrainError } from './errors.js';
import { rocAuc } from './metrics/index.js';

/** One batch: images in [0, 1] as [N, C, H, W] float32, labels [N] int64, dataset row indices. */
export interface Batch {
  readonly images: Tensor;
  readonly labels: Tensor;
  readonly indices: readonly number[];
  /** Fracture-box masks [N, 1, H, W] in the images' geometry (box supervision); absent without boxes. */
  readonly boxMasks?: Tensor;
  /** [N]: 1 where an image's mask is known, 0 where it must not count. */
  readonly boxWeights?: Tensor;
}

/** What the learner needs from a data loader: seeded epochs of batches and their count. */
export interface BatchSource {
  epoch(index: number): AsyncIterable<Batch>;
  /** Batches per epoch. */
  readonly batchesPerEpoch: number;
}

/** The model contract: a module taking [0,1] images and returning logits, with freezing and layer groups. */
export interface TrainableModel extends Module {
  freeze(): void;
  unfreeze(): void;
  layerGroups(): Tensor[][];
  /** Logits and fracture-heatmap logits [N, 1, h, w] from one pass: what box supervision trains (Classifier with a box head). */
  forwardWithHeatmap?(x: Tensor): { logits: Tensor; heatmap: Tensor };
}

export interface ParamGroupLike {
  lr: number;
  betas?: [number, number];
  momentum?: number;
}
/** The optimiser contract (src/nn/optim's Adam/AdamW/SGD satisfy it). */
export interface OptimizerLike {
  readonly paramGroups: ParamGroupLike[];
  step(): void;
  zeroGrad(): void;
}
export type OptimizerFactory = (groups: Tensor[][]) => OptimizerLike;

/**
 * Data-parallel training (src/train/distributed): gradients averaged across ranks between backward and the
 * optimiser step, and validation results gathered from every rank's shard.
 */
export interface DataParallelHooks {
  /** Called just before backward with the parameters that will receive gradients. */
  beforeBackward(params: readonly Tensor[]): void;
  /** Resolves once every parameter's gradient is the average over all ranks. */
  afterBackward(): Promise<void>;
  /** Every rank's validation result merged into what a single process would have computed. */
  gatherValidation(result: ValidationResult): Promise<ValidationResult>;
}

export interface LearnerOptions {
  readonly model: TrainableModel;
  readonly train: BatchSource;
  readonly valid: BatchSource;
  readonly optimizer: OptimizerFactory;
  /** Applied to training images only (augmentation), with a per-batch seed for reproducibility. */
  readonly batchTransform?: (images: Tensor, seed: number) => Tensor;
  readonly labelSmoothing?: number;
  /**
   * Weight of the box-supervision loss (default 0: off): binary cross-entropy between the model's heatmap logits and
   * each batch's fracture-box masks averaged to the heatmap's cells, over the images whose boxes are known, added to
   * the classification loss. Needs a model with forwardWithHeatmap and batches with boxMasks.
   */
  readonly boxLossWeight?: number;
  /**
   * Weight of the box-peak loss (default 0: off; needs boxLossWeight > 0): cross-entropy between the softmax of the
   * heatmap over its cells and the box mask as a distribution over the cells, on the images with a box. It trains
   * where the heatmap peaks, which the per-cell binary loss barely does when boxes cover 1 % of an image.
   */
  readonly boxPeakWeight?: number;
  readonly callbacks?: readonly Callback[];
  /** Seeds dropout per epoch, so a resumed run draws the same masks as an uninterrupted one. */
  readonly seed?: number;
  /**
   * Where training runs: 'cpu' (default) or a CUDA device ('cuda', 'cuda:1'). The model is moved there before
   * the optimiser is built, and every batch (augmentation included) is moved there as it arrives.
   */
  readonly device?: string;
  /**
   * The training forward pass's precision: 'fp32' (default) or 'bf16' (autocast: convolutions and linear layers in
   * bfloat16, weights, gradients, losses and the optimiser in float32; fastai's to_bf16). Validation stays float32.
   */
  readonly precision?: Precision;
  /** Set on each rank of a data-parallel run. */
  readonly dataParallel?: DataParallelHooks;
}

export interface EpochRecord {
  readonly stage: string;
  readonly epoch: number;
  readonly trainLoss: number;
  readonly validLoss: number;
  readonly validAccuracy: number;
  /** ROC-AUC of the fracture probability on validation; NaN for other than two classes or a one-class set. */
  readonly validRocAuc: number;
  readonly lr: number;
  readonly seconds: number;
}

export interface ValidationResult {
  readonly loss: number;
  readonly accuracy: number;
  /** Softmax probabilities [N × C], row-major. */
  readonly probs: Float32Array;
  readonly logits: Float32Array;
  readonly labels: Int32Array;
  readonly indices: Int32Array;
  readonly numClasses: number;
  readonly perSampleLoss: Float32Array;
}

/** ROC-AUC of the fracture probability (class 1) of a two-class validation pass; NaN otherwise or with one class. */
export function validationRocAuc(v: ValidationResult): number {
  if (v.numClasses !== 2) return Number.NaN;
  return rocAuc(Float64Array.from(v.labels, (_, i) => v.probs[2 * i + 1] as number), v.labels);
}

export class Learner {
  readonly model: TrainableModel;
  readonly train: BatchSource;
  readonly valid: BatchSource;
  readonly seed: number;
  callbacks: Callback[];
  optimizer: OptimizerLike;
  private readonly makeOptimizer: OptimizerFactory;
  private readonly batchTransform: ((images: Tensor, seed: number) => Tensor) | undefined;
  private readonly labelSmoothing: number;
  readonly boxLossWeight: number;
  readonly boxPeakWeight: number;
  /** The box-supervision term of the last training batch (0 when off), for callbacks and tests. */
  lastBoxLoss = 0;
  readonly device: string;
  readonly precision: Precision;
  readonly dataParallel: DataParallelHooks | undefined;

  // Loop state, readable by callbacks.
  stage = 'fit';
  epoch = 0;
  nEpochs = 0;
  /** Batches done in this fit call. */
  iteration = 0;
  nIterations = 0;
  /** Progress through this fit call in [0, 1], what schedules read. */
  progress = 0;
  batch: Batch | null = null;
  lastLoss = Number.NaN;
  trainLossSum = 0;
  trainBatches = 0;
  lastValidation: ValidationResult | null = null;
  readonly history: EpochRecord[] = [];
  /** The first epoch index fit() runs (resume sets it). */
  startEpoch = 0;

  constructor(options: LearnerOptions) {
    this.model = options.model;
    this.train = options.train;
    this.valid = options.valid;
    this.makeOptimizer = options.optimizer;
    this.batchTransform = options.batchTransform;
    this.labelSmoothing = options.labelSmoothing ?? 0;
    this.boxLossWeight = options.boxLossWeight ?? 0;
    if (!(this.boxLossWeight >= 0) || !Number.isFinite(this.boxLossWeight)) {
      throw new TrainError('HF_TRAIN_BAD_OPTION', `boxLossWeight must be a number ≥ 0, got ${this.boxLossWeight}.`);
    }
    this.boxPeakWeight = options.boxPeakWeight ?? 0;
    if (!(this.boxPeakWeight >= 0) || !Number.isFinite(this.boxPeakWeight) || (this.boxPeakWeight > 0 && this.boxLossWeight === 0)) {
      throw new TrainError('HF_TRAIN_BAD_OPTION', `boxPeakWeight must be a number ≥ 0, and 0 without box supervision; got ${this.boxPeakWeight} with boxLossWeight ${this.boxLossWeight}.`, {
        fix: 'set boxLossWeight above 0 as well (the peak loss trains the box head), or leave boxPeakWeight at 0.',
      });
    }
    if (this.boxLossWeight > 0 && options.model.forwardWithHeatmap === undefined) {
      throw new TrainError('HF_TRAIN_BAD_OPTION', 'box supervision needs a model with a box head (forwardWithHeatmap).', { fix: 'build the classifier with boxHead: true.' });
    }
    this.callbacks = sortCallbacks(options.callbacks ?? []);
    this.seed = options.seed ?? 0;
    this.device = resolveDevice(options.device ?? 'cpu');
    this.precision = options.precision ?? 'fp32';
    if (!PRECISIONS.includes(this.precision)) {
      throw new TrainError('HF_TRAIN_BAD_OPTION', `precision must be one of ${PRECISIONS.join(', ')}, got '${String(this.precision)}'.`);
    }
    this.dataParallel = options.dataParallel;
    if (this.device !== 'cpu') this.model.to(this.device);
    this.optimizer = this.makeOptimizer(this.model.layerGroups());
  }

  /** Rebuilds the optimiser over the model's layer groups (after freeze/unfreeze changes what trains). */
  resetOptimizer(): void {
    this.optimizer = this.makeOptimizer(this.model.layerGroups());
  }
  freeze(): void {
    this.model.freeze();
  }
  unfreeze(): void {
    this.model.unfreeze();
  }

  /** The callbacks of the running fit (the learner's plus the fit's extra ones), sorted once per fit. */
  private active: readonly Callback[] = [];

  async event(name: TrainEvent): Promise<void> {
    await runEvent(this.active, name, this);
  }

  /** Sets one learning rate per parameter group (a single number applies to all). */
  setLearningRates(lrs: number | readonly number[]): void {
    const groups = this.optimizer.paramGroups;
    groups.forEach((g, i) => {
      g.lr = typeof lrs === 'number' ? lrs : (lrs[Math.min(i, lrs.length - 1)] as number);
    });
  }

  /**
   * The training loop: `nEpochs` epochs of train + validate, callbacks at every event.
   * Cancel errors from callbacks end a batch, validation, an epoch or the fit, as named.
   */
  async fit(nEpochs: number, lrs: number | readonly number[], extra: readonly Callback[] = []): Promise<void> {
    if (!Number.isInteger(nEpochs) || nEpochs < 0) {
      throw new TrainError('HF_TRAIN_BAD_OPTION', `fit: epochs must be a non-negative integer, got ${nEpochs}.`);
    }
    this.nEpochs = nEpochs;
    this.nIterations = nEpochs * this.train.batchesPerEpoch;
    this.iteration = this.startEpoch * this.train.batchesPerEpoch;
    this.setLearningRates(lrs);
    this.active = extra.length === 0 ? this.callbacks : sortCallbacks([...this.callbacks, ...extra]);
    try {
      await this.event('beforeFit');
      for (this.epoch = this.startEpoch; this.epoch < nEpochs; this.epoch++) {
        try {
          await this.runEpoch();
        } catch (error) {
          if (!(error instanceof CancelEpoch)) throw error;
        }
        await this.event('afterEpoch');
      }
    } catch (error) {
      if (!(error instanceof CancelFit)) throw error;
    } finally {
      this.startEpoch = 0;
    }
    await this.event('afterFit');
  }

  private async runEpoch(): Promise<void> {
    const started = Date.now();
    // Dropout masks depend only on (seed, stage, epoch): resuming reproduces them.
    manualSeed(hashSeed(this.seed, this.stage, this.epoch));
    await this.event('beforeEpoch');
    this.model.train();
    this.trainLossSum = 0;
    this.trainBatches = 0;
    await this.event('beforeTrain');
    let batchIndex = 0;
    for await (const batch of this.train.epoch(hashSeed(this.seed, this.stage, this.epoch))) {
      this.batch = batch;
      this.progress = this.nIterations > 0 ? this.iteration / this.nIterations : 0;
      try {
        await this.event('beforeBatch');
        const augmentSeed = hashSeed(this.seed, this.stage, this.epoch * 100003 + batchIndex);
        this.lastLoss = this.dataParallel === undefined ? this.trainStep(batch, augmentSeed) : await this.trainStepDataParallel(batch, augmentSeed, this.dataParallel);
        this.trainLossSum += this.lastLoss;
        this.trainBatches++;
        await this.event('afterStep');
      } catch (error) {
        if (!(error instanceof CancelBatch)) {
          disposeBatch(batch);
          throw error;
        }
      }
      disposeBatch(batch);
      this.batch = null;
      this.iteration++;
      batchIndex++;
      await this.event('afterBatch');
    }
    await this.event('afterTrain');
    // A callback may cancel validation (the LR finder, progressive resizing's reduced-size epochs): this epoch then
    // has no validation result, rather than the previous epoch's.
    this.lastValidation = null;
    try {
      await this.event('beforeValidate');
      this.lastValidation = await this.validate();
      await this.event('afterValidate');
    } catch (error) {
      if (!(error instanceof CancelValidate)) throw error;
    }
    const group = this.optimizer.paramGroups[this.optimizer.paramGroups.length - 1];
    this.history.push({
      stage: this.stage,
      epoch: this.epoch,
      trainLoss: this.trainBatches > 0 ? this.trainLossSum / this.trainBatches : Number.NaN,
      validLoss: this.lastValidation?.loss ?? Number.NaN,
      validAccuracy: this.lastValidation?.accuracy ?? Number.NaN,
      validRocAuc: this.lastValidation === null ? Number.NaN : validationRocAuc(this.lastValidation),
      lr: group?.lr ?? Number.NaN,
      seconds: (Date.now() - started) / 1000,
    });
  }

  /** One optimisation step on a batch; returns the loss. */
  trainStep(batch: Batch, augmentSeed: number): number {
    return tidy(() => {
      const value = this.forwardBackward(batch, augmentSeed, undefined);
      this.optimizer.step();
      return value;
    });
  }

  /** One step of a data-parallel run: backward starts the gradient all-reduce, the step waits for it. */
  async trainStepDataParallel(batch: Batch, augmentSeed: number, hooks: DataParallelHooks): Promise<number> {
    let value: number;
    try {
      value = tidy(() => this.forwardBackward(batch, augmentSeed, hooks));
    } catch (error) {
      // A collective inside backward (SyncBatchNorm's) fails as an autograd error: give it its distributed code.
      if (error instanceof Error && /sync batch norm backward on rank/.test(error.message)) throw distError(error, `step ${this.iteration}`);
      throw error;
    }
    await hooks.afterBackward();
    tidy(() => this.optimizer.step());
    return value;
  }

  private forwardBackward(batch: Batch, augmentSeed: number, hooks: DataParallelHooks | undefined): number {
    const [onDevice, labels] = this.toDevice(batch);
    const images = this.batchTransform === undefined ? onDevice : this.batchTransform(onDevice, augmentSeed);
    const supervised = this.boxLossWeight > 0 && batch.boxMasks !== undefined && batch.boxWeights !== undefined;
    // The forward pass in the learner's precision; its outputs, the losses and backward in float32.
    const outputs = supervised ? autocast(this.device, this.precision, () => this.model.forwardWithHeatmap?.(images)) : undefined;
    let loss: Tensor;
    if (outputs !== undefined) {
      const logits = outputs.logits.to('float32');
      const heatmap = outputs.heatmap.to('float32');
      const masks = this.onDevice(batch.boxMasks as Tensor);
      const weights = this.onDevice(batch.boxWeights as Tensor);
      let box = boxLoss(heatmap, masks, weights).mul(this.boxLossWeight);
      if (this.boxPeakWeight > 0) box = box.add(boxPeakLoss(heatmap, masks, weights).mul(this.boxPeakWeight));
      this.lastBoxLoss = box.item();
      loss = crossEntropy(logits, labels, { labelSmoothing: this.labelSmoothing }).add(box);
    } else {
      const logits = autocast(this.device, this.precision, () => this.model.call(images));
      loss = crossEntropy(logits.to('float32'), labels, { labelSmoothing: this.labelSmoothing });
    }
    const value = loss.item();
    if (!Number.isFinite(value)) {
      throw new TrainError('HF_TRAIN_DIVERGED', `the training loss became ${value} at epoch ${this.epoch}, batch ${this.iteration}.`, {
        fix: 'lower the learning rate (run the LR finder) or check the data for broken images.',
      });
    }
    this.optimizer.zeroGrad();
    hooks?.beforeBackward(this.model.parameters().filter((p) => p.requiresGrad));
    loss.backward();
    return value;
  }

  private onDevice(t: Tensor): Tensor {
    return this.device === 'cpu' ? t : t.to(this.device);
  }

  /** A batch's images and labels on the training device (the loader's own tensors when that is the CPU). */
  private toDevice(batch: Batch): [Tensor, Tensor] {
    if (this.device === 'cpu') return [batch.images, batch.labels];
    return [batch.images.to(this.device), batch.labels.to(this.device)];
  }

  /** Runs the model over the validation set in inference mode; no augmentation. */
  async validate(source: BatchSource = this.valid): Promise<ValidationResult> {
    this.model.eval();
    const probs: number[] = [];
    const logitsOut: number[] = [];
    const labels: number[] = [];
    const indices: number[] = [];
    const losses: number[] = [];
    let numClasses = 0;
    try {
      for await (const batch of source.epoch(0)) {
        inferenceMode(() =>
          tidy(() => {
            const [images, labelsOnDevice] = this.toDevice(batch);
            const logits = this.model.call(images);
            numClasses = logits.shape[1] as number;
            const p = softmax(logits, 1);
            const perSample = crossEntropy(logits, labelsOnDevice, { reduction: 'none' });
            for (const v of logits.toFloat32Array()) logitsOut.push(v);
            for (const v of p.toFloat32Array()) probs.push(v);
            for (const v of perSample.toFloat32Array()) losses.push(v);
            for (const v of batch.labels.toArray()) labels.push(v);
            indices.push(...batch.indices);
          }),
        );
        disposeBatch(batch);
      }
    } finally {
      this.model.train();
    }
    let correct = 0;
    for (let i = 0; i < labels.length; i++) {
      let best = 0;
      for (let c = 1; c < numClasses; c++) if ((probs[i * numClasses + c] as number) > (probs[i * numClasses + best] as number)) best = c;
      if (best === labels[i]) correct++;
    }
    const n = labels.length;
    const result: ValidationResult = {
      loss: n > 0 ? losses.reduce((a, b) => a + b, 0) / n : Number.NaN,
      accuracy: n > 0 ? correct / n : Number.NaN,
      probs: Float32Array.from(probs),
      logits: Float32Array.from(logitsOut),
      labels: Int32Array.from(labels),
      indices: Int32Array.from(indices),
      numClasses,
      perSampleLoss: Float32Array.from(losses),
    };
    return this.dataParallel === undefined ? result : await this.dataParallel.gatherValidation(result);
  }

  /**
   * Smith's one-cycle policy (fastai's fit_one_cycle): cosine LR warm-up to `lrMax` and annealing,
   * Adam β1 (or SGD momentum) cycling the other way. `lrMax` may hold one LR per layer group.
   */
  async fitOneCycle(nEpochs: number, lrMax: number | readonly number[], options: Partial<OneCycleOptions> = {}, extra: readonly Callback[] = []): Promise<void> {
    const opts: OneCycleOptions = { ...defaultOneCycle, ...options };
    const maxes = typeof lrMax === 'number' ? this.optimizer.paramGroups.map(() => lrMax) : [...lrMax];
    const lrScheds = maxes.map((m) => oneCycleLr(m, opts));
    const momSched = oneCycleMomentum(opts);
    await this.fit(nEpochs, maxes, [paramScheduler(lrScheds, momSched), ...extra]);
  }
}

/** Sets each group's LR (and Adam β1 / SGD momentum) from schedules before every batch. */
export function paramScheduler(lrScheds: readonly Schedule[], momentum?: Schedule): Callback {
  return {
    name: 'ParamScheduler',
    order: -10,
    beforeBatch(learner: Learner): void {
      const p = learner.progress;
      learner.optimizer.paramGroups.forEach((g, i) => {
        g.lr = (lrScheds[Math.min(i, lrScheds.length - 1)] as Schedule)(p);
        if (momentum !== undefined) {
          const m = momentum(p);
          if (g.betas !== undefined) g.betas = [m, g.betas[1]];
          else if (g.momentum !== undefined && g.momentum > 0) g.momentum = m;
        }
      });
    },
  };
}

/** LRs spread geometrically from lo to hi over the groups (fastai's slice(lo, hi) / even_mults). */
export function discriminativeLrs(lo: number, hi: number, groups: number): number[] {
  if (groups <= 1) return [hi];
  const step = (hi / lo) ** (1 / (groups - 1));
  return Array.from({ length: groups }, (_, i) => lo * step ** i);
}

function disposeBatch(batch: Batch): void {
  for (const t of [batch.images, batch.labels, batch.boxMasks, batch.boxWeights]) if (t !== undefined && !t.isDisposed) t.dispose();
}

/**
 * Box supervision: binary cross-entropy between heatmap logits [N, 1, h, w] and the box masks [N, 1, H, W] averaged
 * over each heatmap cell (the share of the cell inside a box), mean per image, weighted by `weights` [N] (0 where an
 * image's boxes are unknown) and averaged over the weighted images; 0 when none is.
 */
export function boxLoss(heatmap: Tensor, masks: Tensor, weights: Tensor): Tensor {
  const [h, w] = heatmap.shape.slice(2) as [number, number];
  const target = adaptiveAvgPool2d(masks, [h, w]);
  const perImage = binaryCrossEntropyWithLogits(heatmap, target, { reduction: 'none' }).mean([1, 2, 3]);
  return perImage.mul(weights).sum().div(weights.sum().clamp_(1, null));
}

/**
 * Box-peak loss: per image, the cross-entropy between the box mask averaged to the heatmap's cells and normalised to
 * sum to 1 (where the fracture is) and the softmax of the heatmap logits over the cells (where the head looks),
 * weighted by `weights` [N] and averaged over the weighted images whose mask is not empty (intact images have nothing
 * to point at); 0 when none is. Unlike the per-cell binary loss it depends only on the ranking of the cells, so it
 * trains the heatmap's peak to lie in a box however small the box is.
 */
export function boxPeakLoss(heatmap: Tensor, masks: Tensor, weights: Tensor): Tensor {
  const [n, , h, w] = heatmap.shape as [number, number, number, number];
  const target = adaptiveAvgPool2d(masks, [h, w]).reshape([n, h * w]);
  const mass = target.sum(1, true);
  const where = target.div(clamp(mass, 1e-12));
  const perImage = where.mul(logSoftmax(heatmap.reshape([n, h * w]), 1)).sum(1).neg();
  // 1 for an image with some box inside the heatmap, 0 for an empty mask.
  const counted = weights.mul(clamp(mass.reshape([n]).mul(1e12), 0, 1));
  return perImage.mul(counted).sum().div(counted.sum().clamp_(1, null));
}

/** A stable 31-bit seed from parts (FNV-1a), so every (seed, stage, epoch, batch) has its own stream. */
export function hashSeed(seed: number, stage: string, n: number): number {
  let h = 0x811c9dc5;
  for (const ch of `${seed}|${stage}|${n}`) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h & 0x7fffffff;
}
