// Batches of image tensors for training and evaluation: seeded per-epoch order (shuffled or class-balanced),
// PNG decoding in worker threads with prefetch, an optional in-memory store, optional batch augmentation.
import { Worker } from 'node:worker_threads';
import { HipfracError, Rng } from '../util/index.js';
import { DataError } from './errors.js';
import { keep, tensor, type Tensor } from '../torch/index.js';
import { decodeGrey, unreadableImage, type RegionOfInterest, type ResizeMethod } from './imageIo.js';
import { applyAugment, drawAugmentParams, resolveAugmentConfig, type AugmentConfig } from './augment.js';
import { boxesInRegion, boxesKnown, boxMaskPlane } from './boxes.js';
import { jitterRegion, regionJitterProblems, type RegionJitter } from './regionJitter.js';
import { shardOrder, type Shard } from './distributedSampler.js';
import type { DecodeRequest, DecodeResponse } from './loaderWorker.js';

/** One image and its class index (0 = intact, 1 = fractured in the study's two-class setting). */
export interface Sample {
  /** A grey PNG, 16-bit or 8-bit (the dataset cache); colour files are read as luminance. */
  readonly imagePath: string;
  readonly label: number;
  /** Cut this region (fractions of the image) out before resizing, e.g. the hip of a pelvis view. */
  readonly region?: RegionOfInterest | null;
  /**
   * Fracture boxes as fractions of the image (before `region` is cut): [] for none; null or absent when unknown.
   * Read only when the loader's `boxMasks` is on.
   */
  readonly boxes?: readonly RegionOfInterest[] | null;
}

export interface LoaderOptions {
  /** Images per batch. Default 32 (the study's). */
  readonly batchSize: number;
  /** Model input size in pixels: one number for a square, or [height, width]. Default 224. */
  readonly imageSize: number | readonly [number, number];
  /** How other aspect ratios reach the input size (see ResizeMethod). Default 'squish'. */
  readonly resize: ResizeMethod;
  /** 1 keeps the grey channel (models replicate it inside); 3 repeats it here. Default 1. */
  readonly channels: 1 | 3;
  /** Reorder the samples every epoch. Default true (set false for evaluation). */
  readonly shuffle: boolean;
  /** Draw each epoch's samples with replacement, each class equally likely. Default false. */
  readonly balanced: boolean;
  /** Leave out the last, smaller batch. Default false. */
  readonly dropLast: boolean;
  /** Seed of the order, the balanced draw and the augmentation: the same seed gives the same batches. Default 0. */
  readonly seed: number;
  /** Decoding threads; 0 decodes in this thread (sharp still works off the event loop). Default 2. */
  readonly workers: number;
  /** Batches decoded ahead of the one being consumed. Default 3. */
  readonly prefetch: number;
  /**
   * Keep every decoded image (16-bit, at the input size) in memory after its first read, when the whole set
   * fits in this many bytes; 0 turns it off. Default 512 MiB (about 5,000 images at 224 px).
   */
  readonly memoryCacheBytes: number;
  /** Augment each batch with these settings (training); null for none (evaluation). Default null. */
  readonly augment: AugmentConfig | null;
  /** Read only this rank's share of every epoch (data-parallel training; see shardOrder). Default null. */
  readonly shard: Shard | null;
  /**
   * Give each batch the samples' fracture-box masks (`boxMasks`, `boxWeights`), warped by the same augmentation as
   * the images. Needs resize 'squish'. Default false.
   */
  readonly boxMasks: boolean;
  /** Fill burned-in markers and text (detectMarkers) with local background before resizing. Default false. */
  readonly maskMarkers: boolean;
  /**
   * Move and rescale each sample's region at random before it is cut (training a crop model; see regionJitter.ts):
   * drawn per epoch and sample from `seed`, before `augment`, with the fracture boxes cut to the same region. The
   * memory store is then off (every epoch cuts new regions). null: regions as given. Default null.
   */
  readonly regionJitter: RegionJitter | null;
}

export const defaultLoaderOptions: LoaderOptions = Object.freeze({
  batchSize: 32,
  imageSize: 224,
  resize: 'squish',
  channels: 1,
  shuffle: true,
  balanced: false,
  dropLast: false,
  seed: 0,
  workers: 2,
  prefetch: 3,
  memoryCacheBytes: 512 * 2 ** 20,
  augment: null,
  shard: null,
  boxMasks: false,
  maskMarkers: false,
  regionJitter: null,
});

/**
 * One batch. The consumer owns the tensors and must release them: `dispose(batch)` from src/torch (or
 * `batch.images.dispose(); batch.labels.dispose()`) once the step is done.
 */
export interface Batch {
  /** [N, C, H, W] float32 in [0, 1] — not ImageNet-normalised: that is the model's first layer. */
  readonly images: Tensor;
  /** [N] int64 class indices. */
  readonly labels: Tensor;
  /** Which samples (positions in the list the loader was given) are in the batch, in order. */
  readonly indices: number[];
  /** With `boxMasks`: [N, 1, H, W] float32, 1 inside a fracture box (after augmentation), 0 elsewhere. */
  readonly boxMasks?: Tensor;
  /** With `boxMasks`: [N] float32, 1 where the sample's boxes are known (boxesKnown), 0 where its mask means nothing. */
  readonly boxWeights?: Tensor;
}

interface PendingRequest {
  readonly resolve: (pixels: Uint16Array) => void;
  readonly reject: (error: Error) => void;
}

/** One worker thread, referenced only while it has work so a forgotten close() cannot keep the process alive. */
class DecodeWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 0;
  /** Why this worker can take no more work (a crash, or the loader closing). */
  private failure: HipfracError | null = null;
  /** Set by terminate(): the worker stays referenced until its exit, so awaiting terminate() keeps the process alive. */
  private terminating = false;

  constructor(onExit: () => void) {
    this.worker = new Worker(new URL('./loaderWorker.js', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (response: DecodeResponse) => {
      const request = this.pending.get(response.id);
      if (request === undefined) return;
      this.pending.delete(response.id);
      // A response already on its way when terminate() was called must not unref: Worker.terminate() refs the
      // worker so its promise can settle on 'exit', and an unref here would let the process end before that.
      if (this.pending.size === 0 && !this.terminating) this.worker.unref();
      if (response.ok) request.resolve(response.pixels);
      else request.reject(unreadableImage(response.path, response.reason));
    });
    this.worker.on('error', (error) => {
      this.failure = new DataError('HF_DATA_LOADER_WORKER_FAILED', `A loader worker stopped: ${error.message}.`, { cause: error, fix: 'create a new ImageLoader; report the message if it repeats.' });
      this.failAll(this.failure);
    });
    this.worker.on('exit', () => {
      this.failure ??= new DataError('HF_DATA_LOADER_CLOSED', 'The loader was closed while images were being decoded.', { fix: 'create a new ImageLoader.' });
      this.failAll(this.failure);
      onExit();
    });
  }

  decode(paths: readonly string[], regions: readonly (RegionOfInterest | null)[], height: number, width: number, method: ResizeMethod, maskMarkers: boolean): Promise<Uint16Array> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    const request: DecodeRequest = { id, paths, regions, height, width, method, maskMarkers };
    return new Promise<Uint16Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage(request);
    });
  }

  async terminate(): Promise<void> {
    this.terminating = true;
    await this.worker.terminate();
  }

  private failAll(error: Error): void {
    for (const request of this.pending.values()) request.reject(error);
    this.pending.clear();
  }
}

/** Folds numbers into one 32-bit seed, so each (seed, epoch, purpose, batch) gets its own stream. */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x85ebca6b) >>> 0;
  }
  return h;
}
export const PURPOSE_ORDER = 1;
export const PURPOSE_AUGMENT = 2;
export const PURPOSE_REGION = 3;

function resolveOptions(overrides: Partial<LoaderOptions>): LoaderOptions {
  const o: LoaderOptions = { ...defaultLoaderOptions, ...overrides };
  const problems: string[] = [];
  const positiveInt = (name: keyof LoaderOptions, v: number, min: number): void => {
    if (!Number.isInteger(v) || v < min) problems.push(`${name} must be an integer ≥ ${min}, got ${v}`);
  };
  positiveInt('batchSize', o.batchSize, 1);
  positiveInt('workers', o.workers, 0);
  positiveInt('prefetch', o.prefetch, 1);
  const [h, w] = typeof o.imageSize === 'number' ? [o.imageSize, o.imageSize] : o.imageSize;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) problems.push(`imageSize must be a positive integer or [height, width], got ${JSON.stringify(o.imageSize)}`);
  if (o.resize !== 'squish' && o.resize !== 'crop') problems.push(`resize must be 'squish' or 'crop', got '${String(o.resize)}'`);
  if (o.channels !== 1 && o.channels !== 3) problems.push(`channels must be 1 or 3, got ${String(o.channels)}`);
  if (!Number.isFinite(o.seed)) problems.push(`seed must be a number, got ${o.seed}`);
  if (!(o.memoryCacheBytes >= 0)) problems.push(`memoryCacheBytes must be ≥ 0, got ${o.memoryCacheBytes}`);
  if (o.regionJitter !== null) problems.push(...regionJitterProblems(o.regionJitter).map((p) => `regionJitter: ${p}`));
  if (o.boxMasks && o.resize !== 'squish') problems.push(`boxMasks needs resize 'squish' (boxes are not mapped through a centre crop), got '${o.resize}'`);
  if (problems.length > 0) {
    throw new DataError('HF_DATA_BAD_LOADER_OPTION', `Invalid loader options: ${problems.join('; ')}.`, { fix: 'see defaultLoaderOptions in src/data/loader.ts.' });
  }
  return Object.freeze({ ...o, augment: o.augment === null ? null : resolveAugmentConfig(o.augment) });
}

/**
 * Serves a list of samples as batches of tensors, epoch by epoch.
 * @example
 * const loader = new ImageLoader(samples, { batchSize: 32, augment: defaultAugmentConfig, seed: 7 });
 * try {
 *   for await (const batch of loader.epoch(0)) {
 *     try { step(batch.images, batch.labels); } finally { dispose(batch); }
 *   }
 * } finally { await loader.close(); }
 */
export class ImageLoader {
  readonly options: LoaderOptions;
  readonly height: number;
  readonly width: number;
  private readonly samples: readonly Sample[];
  private readonly labels: readonly number[];
  private workers: DecodeWorker[] = [];
  private live = 0;
  private nextWorker = 0;
  private closed = false;
  /** Decoded images by sample position, when the memory store is on. */
  private readonly store: Map<number, Uint16Array> | null;

  constructor(samples: readonly Sample[], options: Partial<LoaderOptions> = {}) {
    this.options = resolveOptions(options);
    const size = this.options.imageSize;
    [this.height, this.width] = typeof size === 'number' ? [size, size] : [size[0], size[1]];
    if (samples.length === 0) throw new DataError('HF_DATA_EMPTY', 'The loader was given no samples.', { fix: 'check the split or the manifest the samples come from.' });
    samples.forEach((s, i) => {
      if (typeof s.imagePath !== 'string' || s.imagePath === '') throw new DataError('HF_DATA_BAD_SAMPLE', `Sample ${i} has no imagePath.`, { input: JSON.stringify(s) });
      if (!Number.isInteger(s.label) || s.label < 0) throw new DataError('HF_DATA_BAD_SAMPLE', `Sample ${i} has label ${s.label}; a class index (integer ≥ 0) is expected.`, { input: s.imagePath });
    });
    this.samples = samples.slice();
    this.labels = samples.map((s) => s.label);
    const storeBytes = samples.length * this.height * this.width * 2;
    const jittered = this.options.regionJitter !== null && samples.some((s) => s.region !== undefined && s.region !== null);
    this.store = this.options.memoryCacheBytes > 0 && storeBytes <= this.options.memoryCacheBytes && !jittered ? new Map() : null;
    // Start the workers now: loading sharp in each costs ~0.3 s of CPU, which then overlaps the caller's
    // own set-up (building the model) instead of delaying the first batch. Idle workers do not keep the process alive.
    this.startWorkers();
  }

  /** Batches one epoch yields. */
  get batchesPerEpoch(): number {
    const shard = this.options.shard;
    const n = shard === null ? this.samples.length : Math.ceil(this.samples.length / shard.worldSize);
    return this.options.dropLast ? Math.floor(n / this.options.batchSize) : Math.ceil(n / this.options.batchSize);
  }

  /** Worker threads currently running (`workers` from construction, 0 after close()). */
  get liveWorkers(): number {
    return this.live;
  }

  /** Whether decoded images are kept in memory (the whole set fits the memory budget). */
  get usesMemoryStore(): boolean {
    return this.store !== null;
  }

  /**
   * The sample positions epoch `epochIndex` visits, in order: all samples (shuffled when `shuffle`), or, when
   * `balanced`, as many draws with replacement where every class has the same total weight; with `shard`, only
   * that rank's share of it.
   */
  epochOrder(epochIndex: number): number[] {
    const n = this.samples.length;
    const rng = new Rng(mixSeed(this.options.seed, epochIndex, PURPOSE_ORDER));
    const shard = this.options.shard;
    if (this.options.balanced) {
      const drawn = balancedDraw(this.labels, n, rng);
      return shard === null ? drawn : shardOrder(drawn, shard);
    }
    const order = Array.from({ length: n }, (_, i) => i);
    const ordered = this.options.shuffle ? rng.shuffle(order) : order;
    return shard === null ? ordered : shardOrder(ordered, shard);
  }

  /**
   * The batches of epoch `epochIndex` (0-based; each index has its own seeded order and augmentation).
   * Images are decoded `prefetch` batches ahead. The consumer disposes each batch's tensors.
   */
  async *epoch(epochIndex: number): AsyncGenerator<Batch, void, undefined> {
    if (this.closed) throw new DataError('HF_DATA_LOADER_CLOSED', 'The loader is closed.', { fix: 'create a new ImageLoader.' });
    const order = this.epochOrder(epochIndex);
    const { batchSize, prefetch } = this.options;
    const batches: number[][] = [];
    for (let i = 0; i + (this.options.dropLast ? batchSize : 1) <= order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
    const inFlight: Promise<Uint16Array[]>[] = [];
    let requested = 0;
    const fill = (): void => {
      while (inFlight.length < prefetch && requested < batches.length) {
        const request = this.pixelsOf(batches[requested++] as number[], epochIndex);
        // A prefetched batch may fail while an earlier one is consumed: mark it handled now, rethrow on await.
        request.catch(() => undefined);
        inFlight.push(request);
      }
    };
    for (let b = 0; b < batches.length; b++) {
      fill();
      const pixels = await (inFlight.shift() as Promise<Uint16Array[]>);
      fill();
      yield this.assemble(batches[b] as number[], pixels, epochIndex, b);
    }
  }

  /** Stops the worker threads; pending reads fail with HF_DATA_LOADER_CLOSED. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((w) => w.terminate()));
    this.store?.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private startWorkers(): void {
    for (let i = 0; i < this.options.workers; i++) {
      this.live++;
      this.workers.push(new DecodeWorker(() => this.live--));
    }
  }

  /**
   * The region sample `sampleIndex` is cut to in epoch `epochIndex`: as given, or jittered with its own stream of
   * (seed, epoch, sample), so the images and their box masks get the same region whatever the batch order.
   */
  regionOf(sampleIndex: number, epochIndex: number): RegionOfInterest | null {
    const region = this.samples[sampleIndex]?.region ?? null;
    const jitter = this.options.regionJitter;
    if (region === null || jitter === null) return region;
    return jitterRegion(region, jitter, new Rng(mixSeed(this.options.seed, epochIndex, PURPOSE_REGION, sampleIndex)));
  }

  /** The 16-bit pixels of each sample, from the store or decoded (split over the workers). */
  private async pixelsOf(indices: readonly number[], epochIndex: number): Promise<Uint16Array[]> {
    const out = new Array<Uint16Array | undefined>(indices.length);
    const missing: number[] = [];
    indices.forEach((sample, i) => {
      const stored = this.store?.get(sample);
      if (stored === undefined) missing.push(i);
      else out[i] = stored;
    });
    if (missing.length > 0) {
      const plane = this.height * this.width;
      const paths = missing.map((i) => (this.samples[indices[i] as number] as Sample).imagePath);
      const regions = missing.map((i) => this.regionOf(indices[i] as number, epochIndex));
      let decoded: Uint16Array[];
      if (this.options.workers === 0) {
        decoded = await Promise.all(paths.map((p, k) => decodeGrey(p, { height: this.height, width: this.width }, this.options.resize, regions[k] ?? null, { maskMarkers: this.options.maskMarkers })));
      } else {
        if (this.closed) throw new DataError('HF_DATA_LOADER_CLOSED', 'The loader is closed.', { fix: 'create a new ImageLoader.' });
        // Contiguous shares, one per worker, starting where the last batch stopped so work spreads evenly.
        const shares = Math.min(this.workers.length, paths.length);
        const per = Math.ceil(paths.length / shares);
        const parts: Promise<Uint16Array>[] = [];
        for (let s = 0; s < shares; s++) {
          const worker = this.workers[this.nextWorker++ % this.workers.length] as DecodeWorker;
          const chunk = paths.slice(s * per, (s + 1) * per);
          if (chunk.length > 0) parts.push(worker.decode(chunk, regions.slice(s * per, (s + 1) * per), this.height, this.width, this.options.resize, this.options.maskMarkers));
        }
        decoded = (await Promise.all(parts)).flatMap((buffer) => Array.from({ length: buffer.length / plane }, (_, k) => buffer.subarray(k * plane, (k + 1) * plane)));
      }
      missing.forEach((i, k) => {
        const pixels = decoded[k] as Uint16Array;
        out[i] = pixels;
        this.store?.set(indices[i] as number, pixels);
      });
    }
    return out as Uint16Array[];
  }

  private assemble(indices: number[], pixels: readonly Uint16Array[], epochIndex: number, batchIndex: number): Batch {
    const { channels } = this.options;
    const plane = this.height * this.width;
    const data = new Float32Array(indices.length * channels * plane);
    pixels.forEach((image, i) => {
      const first = i * channels * plane;
      for (let p = 0; p < plane; p++) data[first + p] = (image[p] as number) / 65535;
      for (let c = 1; c < channels; c++) data.copyWithin(first + c * plane, first, first + plane);
    });
    // keep(): the batch belongs to the consumer even if a tidy scope happens to be open around next().
    let images = keep(tensor(data, [indices.length, channels, this.height, this.width]));
    const labels = keep(tensor(BigInt64Array.from(indices, (i) => BigInt(this.labels[i] as number)), [indices.length]));
    const boxes = this.options.boxMasks ? this.boxMasksOf(indices, epochIndex) : null;
    let boxMasks = boxes?.masks;
    if (this.options.augment !== null) {
      const params = drawAugmentParams(indices.length, new Rng(mixSeed(this.options.seed, epochIndex, PURPOSE_AUGMENT, batchIndex)), this.options.augment);
      const augmented = keep(applyAugment(images, params, this.options.augment));
      images.dispose();
      images = augmented;
      if (boxMasks !== undefined) {
        // The same geometry, no lighting, and nothing brought in from outside the image: the box moves with the bone.
        const warped = keep(applyAugment(boxMasks, params.map((p) => ({ ...p, brightness: 0.5, contrast: 1 })), { ...this.options.augment, padding: 'zeros' }));
        boxMasks.dispose();
        boxMasks = warped;
      }
    }
    return boxes === null || boxMasks === undefined ? { images, labels, indices } : { images, labels, indices, boxMasks, boxWeights: boxes.weights };
  }

  /** The batch's fracture-box masks at the input size (the region cut first) and whether each is known. */
  private boxMasksOf(indices: readonly number[], epochIndex: number): { masks: Tensor; weights: Tensor } {
    const plane = this.height * this.width;
    const data = new Float32Array(indices.length * plane);
    const weights = new Float32Array(indices.length);
    indices.forEach((sampleIndex, i) => {
      const sample = this.samples[sampleIndex] as Sample;
      if (!boxesKnown(sample.label, sample.boxes)) return;
      weights[i] = 1;
      data.set(boxMaskPlane(boxesInRegion(sample.boxes ?? [], this.regionOf(sampleIndex, epochIndex)), this.height, this.width), i * plane);
    });
    return { masks: keep(tensor(data, [indices.length, 1, this.height, this.width])), weights: keep(tensor(weights, [indices.length])) };
  }
}

/** `count` draws with replacement, each sample weighted 1 / (size of its class). */
function balancedDraw(labels: readonly number[], count: number, rng: Rng): number[] {
  const classSize = new Map<number, number>();
  for (const label of labels) classSize.set(label, (classSize.get(label) ?? 0) + 1);
  const cumulative = new Float64Array(labels.length);
  let total = 0;
  labels.forEach((label, i) => {
    total += 1 / (classSize.get(label) as number);
    cumulative[i] = total;
  });
  const out: number[] = [];
  for (let k = 0; k < count; k++) {
    const target = rng.next() * total;
    let lo = 0;
    let hi = labels.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] as number) > target) hi = mid;
      else lo = mid + 1;
    }
    out.push(lo);
  }
  return out;
}
