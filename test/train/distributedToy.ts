// The data-parallel proofs' toy pieces: a small CNN without BatchNorm and an in-memory batch source restricted to
// one shard of each epoch's seeded order (the DistributedSampler contract).
import { keep, tensor, type Tensor } from '../../src/torch/index.js';
import { AdaptiveAvgPool2d, Conv2d, Flatten, Linear, Module, ReLU, Sequential } from '../../src/nn/index.js';
import { shardOrder, type Shard } from '../../src/data/index.js';
import type { Batch, BatchSource, TrainableModel } from '../../src/train/index.js';
import { Rng } from '../../src/util/index.js';
import type { ToyData } from './toy.js';

export class PlainNet extends Module implements TrainableModel {
  readonly body: Sequential;
  readonly head: Sequential;
  constructor() {
    super();
    this.body = this.registerModule('body', new Sequential(new Conv2d(1, 8, 3, { padding: 1 }), new ReLU(), new Conv2d(8, 8, 3, { padding: 1, stride: 2 }), new ReLU()));
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

/** In-memory batches of a seeded per-epoch order, restricted to one shard (DistributedSampler contract). */
export class ShardedSource implements BatchSource {
  constructor(readonly data: ToyData, readonly batchSize: number, readonly shuffle: boolean, readonly shard: Shard) {}
  get batchesPerEpoch(): number {
    return Math.ceil(Math.ceil(this.data.labels.length / this.shard.worldSize) / this.batchSize);
  }
  order(seed: number): number[] {
    const n = this.data.labels.length;
    const all = this.shuffle ? new Rng(seed).shuffle([...Array(n).keys()]) : [...Array(n).keys()];
    return shardOrder(all, this.shard);
  }
  async *epoch(seed: number): AsyncGenerator<Batch> {
    const order = this.order(seed);
    const px = this.data.size * this.data.size;
    for (let start = 0; start < order.length; start += this.batchSize) {
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
