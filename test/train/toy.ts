// A toy image task for learner tests: a bright square on the left half (class 1) or the right (class 0),
// with a tiny CNN that satisfies the TrainableModel contract. Deterministic from a seed.
import { keep, tensor, type Tensor } from '../../src/torch/index.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, Module, ReLU, Sequential } from '../../src/nn/index.js';
import { Rng } from '../../src/util/index.js';
import type { Batch, BatchSource, TrainableModel } from '../../src/train/index.js';

export class ToyNet extends Module implements TrainableModel {
  readonly body: Sequential;
  readonly head: Sequential;
  /** @param batchNorm false leaves out the BatchNorm (data-parallel equivalence needs no per-rank statistics). */
  constructor(batchNorm = true) {
    super();
    const norm = batchNorm ? [new BatchNorm2d(8)] : [];
    this.body = this.registerModule('body', new Sequential(new Conv2d(1, 8, 3, { padding: 1 }), ...norm, new ReLU(), new Conv2d(8, 8, 3, { padding: 1, stride: 2 }), new ReLU()));
    this.head = this.registerModule('head', new Sequential(new AdaptiveAvgPool2d(2), new Flatten(), new Linear(32, 2)));
  }
  forward(x: Tensor): Tensor {
    return this.head.call(this.body.call(x));
  }
  freeze(): void {
    this.body.requiresGrad_(false);
  }
  unfreeze(): void {
    this.body.requiresGrad_(true);
  }
  layerGroups(): Tensor[][] {
    return [this.body.parameters(), this.head.parameters()];
  }
}

export interface ToyData {
  images: Float32Array;
  labels: number[];
  size: number;
}

export function toyData(n: number, seed: number, size = 16): ToyData {
  const rng = new Rng(seed);
  const images = new Float32Array(n * size * size);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    labels.push(label);
    const x0 = label === 1 ? rng.int(0, size / 2 - 4) : rng.int(size / 2, size - 4);
    const y0 = rng.int(0, size - 4);
    for (let p = 0; p < size * size; p++) images[i * size * size + p] = 0.2 * rng.next();
    for (let y = y0; y < y0 + 4; y++) for (let x = x0; x < x0 + 4; x++) images[i * size * size + y * size + x] = 0.9;
  }
  return { images, labels, size };
}

/** An in-memory BatchSource with seeded shuffling per epoch. */
export class ToySource implements BatchSource {
  constructor(readonly data: ToyData, readonly batchSize: number, readonly shuffle: boolean) {}
  get batchesPerEpoch(): number {
    return Math.ceil(this.data.labels.length / this.batchSize);
  }
  /** The sample indices an epoch with this seed visits, in order. */
  order(seed: number): number[] {
    const n = this.data.labels.length;
    return this.shuffle ? new Rng(seed).shuffle([...Array(n).keys()]) : [...Array(n).keys()];
  }
  async *epoch(seed: number): AsyncGenerator<Batch> {
    const order = this.order(seed);
    const n = order.length;
    const px = this.data.size * this.data.size;
    for (let start = 0; start < n; start += this.batchSize) {
      const idx = order.slice(start, start + this.batchSize);
      const buf = new Float32Array(idx.length * px);
      idx.forEach((j, k) => buf.set(this.data.images.subarray(j * px, (j + 1) * px), k * px));
      yield {
        images: keep(tensor(buf, [idx.length, 1, this.data.size, this.data.size])),
        labels: keep(tensor(BigInt64Array.from(idx, (j) => BigInt(this.data.labels[j] as number)), [idx.length])),
        indices: idx,
      };
    }
  }
}
