// Self-supervised pretraining with SimCLR (Chen et al. 2020) on unlabelled radiographs: each training image is
// seen twice under strong random transforms, the network body plus a small projection head learns to tell the two
// views of one image from all other images (NT-Xent), and the body is written with torchvision's key names, so
// `train --weights` takes it exactly like an ImageNet file. Only training images are used: validation and test
// images never reach it.
import { ImageLoader, applyAugment, drawAugmentParams, resolveAugmentConfig, type AugmentConfig } from '../../data/index.js';
import { createClassifier, type Classifier } from '../../models/index.js';
import { AdamW, Linear, ReLU, Sequential, saveSafetensors } from '../../nn/index.js';
import { autocast, manualSeed, noGrad, tensor, tidy, zeros, type Precision, type Tensor } from '../../torch/index.js';
import { Rng } from '../../util/index.js';
import { TrainError } from '../errors.js';
import { ntXent } from './ntxent.js';

/**
 * SimCLR's view transforms for grey radiographs: random zoom up to 1.8× about a random centre (its random resized
 * crop), mirror, rotation ±15°, a mild perspective warp, and strong brightness/contrast changes (its colour jitter,
 * in grey); reflection outside the image.
 */
export const SIMCLR_VIEWS: AugmentConfig = resolveAugmentConfig({ flipP: 0.5, maxRotate: 15, minZoom: 1, maxZoom: 1.8, maxWarp: 0.15, maxLighting: 0.4, pAffine: 0.9, pLighting: 0.9, padding: 'reflection' });

export interface SimclrOptions {
  readonly arch: string;
  readonly inputSize?: number;
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly lr?: number;
  readonly weightDecay?: number;
  /** τ of NT-Xent (default 0.2). */
  readonly temperature?: number;
  /** Width of the projection's output (default 128; its hidden layer is 512 or the body's width if smaller). */
  readonly projectionDim?: number;
  readonly seed?: number;
  readonly workers?: number;
  readonly views?: AugmentConfig;
  /** The forward passes in float32 (default) or bfloat16 autocast; NT-Xent, backward and AdamW stay float32. */
  readonly precision?: Precision;
  readonly log?: (line: string) => void;
}

export interface SimclrResult {
  readonly model: Classifier;
  readonly projection: Sequential;
  /** Mean NT-Xent per epoch. */
  readonly losses: number[];
  readonly images: number;
  readonly seconds: number;
}

/** Mean over the spatial positions of the body's map: one vector per image. */
function pooledFeatures(model: Classifier, images: Tensor): Tensor {
  const mean = tensor(new Float32Array(model.spec.mean), [1, 3, 1, 1]);
  const std = tensor(new Float32Array(model.spec.std), [1, 3, 1, 1]);
  return model.body.call(images.sub(mean).div(std)).mean([2, 3]);
}

/**
 * The body's feature width, from one small forward pass in eval mode: in training mode a BatchNorm whose map is 1 × 1
 * at this size would refuse a single image, and the zero image would move its running statistics.
 */
function bodyWidth(model: Classifier, size: number): number {
  const wasTraining = model.body.training;
  model.body.eval();
  try {
    return tidy(() => noGrad(() => model.body.call(zeros([1, 3, size, size])).shape[1] as number));
  } finally {
    model.body.train(wasTraining);
  }
}

/** Trains a body with SimCLR on image files (cached PNGs of the training split). */
export async function pretrainSimclr(files: readonly string[], options: SimclrOptions): Promise<SimclrResult> {
  const started = Date.now();
  const inputSize = options.inputSize ?? 224;
  const epochs = options.epochs ?? 20;
  const batchSize = Math.min(options.batchSize ?? 32, files.length);
  const temperature = options.temperature ?? 0.2;
  const precision = options.precision ?? 'fp32';
  const log = options.log ?? ((): void => {});
  if (files.length < 8) throw new TrainError('HF_TRAIN_EMPTY_SPLIT', `self-supervised pretraining needs at least 8 training images, got ${files.length}.`, { fix: 'import more images, or split with a larger training share.' });
  if (batchSize < 4) throw new TrainError('HF_TRAIN_BAD_OPTION', `NT-Xent needs batches of at least 4 images, got ${batchSize}.`, { fix: 'use --batch-size 32 or more (SimCLR gains from large batches).' });
  if (!(temperature > 0)) throw new TrainError('HF_TRAIN_BAD_OPTION', `the NT-Xent temperature must be > 0, got ${temperature}.`, { fix: 'use e.g. 0.2.' });
  manualSeed(options.seed ?? 0);
  const model = createClassifier(options.arch, { weights: null });
  const width = bodyWidth(model, inputSize);
  const hidden = Math.min(512, width);
  const projection = new Sequential(new Linear(width, hidden), new ReLU(), new Linear(hidden, options.projectionDim ?? 128));
  const params = [...model.body.parameters(), ...projection.parameters()];
  const baseLr = options.lr ?? 1e-3;
  const optimizer = new AdamW(params, { lr: baseLr, weightDecay: options.weightDecay ?? 1e-6 });
  const loader = new ImageLoader(files.map((imagePath) => ({ imagePath, label: 0, region: null })), { batchSize, imageSize: inputSize, shuffle: true, dropLast: true, seed: options.seed ?? 0, workers: options.workers ?? 2, augment: null });
  const rng = new Rng((options.seed ?? 0) + 104729);
  const views = options.views ?? SIMCLR_VIEWS;
  const losses: number[] = [];
  try {
    model.train();
    projection.train();
    for (let epoch = 0; epoch < epochs; epoch++) {
      // Cosine decay to 1/20 of the rate over the run.
      for (const group of optimizer.paramGroups) group.lr = baseLr * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * epoch) / epochs)));
      let sum = 0;
      let batches = 0;
      for await (const batch of loader.epoch(epoch)) {
        const n = batch.images.shape[0] as number;
        const loss = tidy(() => {
          const a = applyAugment(batch.images, drawAugmentParams(n, rng, views), views);
          const b = applyAugment(batch.images, drawAugmentParams(n, rng, views), views);
          const embed = (views: Tensor): Tensor => autocast('cpu', precision, () => projection.call(pooledFeatures(model, views))).to('float32');
          const l = ntXent(embed(a), embed(b), temperature);
          optimizer.zeroGrad();
          l.backward();
          optimizer.step();
          return l.item();
        });
        batch.images.dispose();
        batch.labels.dispose();
        if (!Number.isFinite(loss)) throw new TrainError('HF_TRAIN_DIVERGED', `NT-Xent became ${loss} in epoch ${epoch + 1}.`, { fix: 'lower --lr or raise --temperature.' });
        sum += loss;
        batches++;
      }
      losses.push(sum / Math.max(1, batches));
      log(`pretrain epoch ${epoch + 1}/${epochs}: NT-Xent ${(sum / Math.max(1, batches)).toFixed(4)}`);
    }
  } catch (error) {
    model.dispose();
    projection.dispose();
    throw error;
  } finally {
    await loader.close();
  }
  model.eval();
  projection.eval();
  return { model, projection, losses, images: files.length, seconds: (Date.now() - started) / 1000 };
}

/** Writes the body with torchvision's key names (what `train --weights` loads) and the run's card in the metadata. */
export function saveSimclrBody(file: string, model: Classifier, card: Readonly<Record<string, unknown>>): void {
  saveSafetensors(file, model.body.stateDict(), { format: 'pt', 'hipfrac.pretrain': JSON.stringify(card) });
}
