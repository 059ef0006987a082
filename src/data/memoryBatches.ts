// Batches from images already in memory (rendered, not read from disk), with the loader's seeding: the same
// seed and epoch give the same order and augmentation. Groups of consecutive samples (e.g. a fractured image and
// its intact twin) can be kept in one batch, so each step compares them.
import { Rng } from '../util/index.js';
import { DataError } from './errors.js';
import { keep, tensor } from '../torch/index.js';
import { augmentBatch, resolveAugmentConfig, type AugmentConfig } from './augment.js';
import { mixSeed, PURPOSE_AUGMENT, PURPOSE_ORDER, type Batch } from './loader.js';

export interface MemoryBatchOptions {
  readonly batchSize: number;
  /** Shuffle (groups, not samples) each epoch; default true. */
  readonly shuffle?: boolean;
  /** Consecutive samples that stay together, in order, within a batch (default 1). batchSize must be a multiple. */
  readonly groupSize?: number;
  /** Applied per batch with a per-batch seed; null (default) = none. */
  readonly augment?: Partial<AugmentConfig> | null;
  readonly seed?: number;
  /** Drop the last, smaller batch (default false). */
  readonly dropLast?: boolean;
}

/**
 * Serves `count` grey images ([count, height, width] in [0, 1]) restricted to `indices`, as [N, 1, H, W] batches.
 * @example
 * const train = new MemoryBatches(crops.images, crops.labels, [crops.outputSize, crops.outputSize], trainIdx, { batchSize: 32, groupSize: 2 });
 */
export class MemoryBatches {
  private readonly groups: readonly (readonly number[])[];
  private readonly augment: AugmentConfig | null;
  readonly options: Required<Omit<MemoryBatchOptions, 'augment'>>;

  constructor(
    private readonly images: Float32Array,
    private readonly labels: ArrayLike<number>,
    private readonly imageSize: readonly [number, number],
    indices: readonly number[],
    options: MemoryBatchOptions,
  ) {
    const groupSize = options.groupSize ?? 1;
    const [h, w] = imageSize;
    const problems: string[] = [];
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) problems.push(`batchSize must be a positive integer, got ${options.batchSize}`);
    if (!Number.isInteger(groupSize) || groupSize < 1 || options.batchSize % groupSize !== 0) problems.push(`groupSize must divide batchSize, got ${groupSize} for ${options.batchSize}`);
    if (images.length !== labels.length * h * w) problems.push(`images hold ${images.length} values, expected ${labels.length} × ${h} × ${w}`);
    if (indices.length === 0) problems.push('no samples');
    if (indices.length % groupSize !== 0) problems.push(`${indices.length} samples do not split into groups of ${groupSize}`);
    for (const i of indices) if (!Number.isInteger(i) || i < 0 || i >= labels.length) problems.push(`sample index ${i} out of range [0, ${labels.length})`);
    if (problems.length > 0) throw new DataError('HF_DATA_BAD_SAMPLE', `In-memory batches: ${problems.slice(0, 3).join('; ')}.`, { fix: 'pass images, labels and indices that agree.' });
    this.groups = Array.from({ length: indices.length / groupSize }, (_, g) => indices.slice(g * groupSize, (g + 1) * groupSize));
    this.augment = options.augment === undefined || options.augment === null ? null : resolveAugmentConfig(options.augment);
    this.options = { batchSize: options.batchSize, shuffle: options.shuffle ?? true, groupSize, seed: options.seed ?? 0, dropLast: options.dropLast ?? false };
  }

  get batchesPerEpoch(): number {
    const n = this.groups.length * this.options.groupSize;
    return this.options.dropLast ? Math.floor(n / this.options.batchSize) : Math.ceil(n / this.options.batchSize);
  }

  /** The sample indices of epoch `epochIndex`, in batch order. */
  epochOrder(epochIndex: number): number[] {
    const rng = new Rng(mixSeed(this.options.seed, epochIndex, PURPOSE_ORDER));
    const groups = this.options.shuffle ? rng.shuffle(this.groups) : this.groups;
    return groups.flat();
  }

  async *epoch(epochIndex: number): AsyncGenerator<Batch, void, undefined> {
    const order = this.epochOrder(epochIndex);
    const { batchSize } = this.options;
    const [h, w] = this.imageSize;
    const plane = h * w;
    for (let start = 0, b = 0; start + (this.options.dropLast ? batchSize : 1) <= order.length; start += batchSize, b++) {
      const indices = order.slice(start, start + batchSize);
      const data = new Float32Array(indices.length * plane);
      indices.forEach((i, k) => data.set(this.images.subarray(i * plane, (i + 1) * plane), k * plane));
      // keep(): the batch belongs to the consumer even inside an open tidy scope.
      let images = keep(tensor(data, [indices.length, 1, h, w]));
      const labels = keep(tensor(BigInt64Array.from(indices, (i) => BigInt(this.labels[i] as number)), [indices.length]));
      if (this.augment !== null) {
        const augmented = keep(augmentBatch(images, new Rng(mixSeed(this.options.seed, epochIndex, PURPOSE_AUGMENT, b)), this.augment));
        images.dispose();
        images = augmented;
      }
      yield { images, labels, indices };
    }
  }
}
