// The data-parallel proofs' toy pieces: the toy CNN without BatchNorm, and the toy batch source restricted to
// one shard of each epoch's seeded order (the DistributedSampler contract).
import { shardOrder, type Shard } from '../../src/data/index.js';
import { keep, type DType } from '../../src/torch/index.js';
import type { Batch } from '../../src/train/index.js';
import { ToyNet, ToySource, type ToyData } from './toy.js';

export class PlainNet extends ToyNet {
  constructor() {
    super(false);
  }
}

export class ShardedSource extends ToySource {
  /** @param dtype the images' dtype (float64 isolates an algorithm from float32 rounding). */
  constructor(data: ToyData, batchSize: number, shuffle: boolean, readonly shard: Shard, readonly dtype: DType = 'float32') {
    super(data, batchSize, shuffle);
  }
  override get batchesPerEpoch(): number {
    return Math.ceil(Math.ceil(this.data.labels.length / this.shard.worldSize) / this.batchSize);
  }
  override order(seed: number): number[] {
    return shardOrder(super.order(seed), this.shard);
  }
  override async *epoch(seed: number): AsyncGenerator<Batch> {
    for await (const batch of super.epoch(seed)) {
      if (this.dtype === 'float32') {
        yield batch;
        continue;
      }
      const images = keep(batch.images.to(this.dtype));
      batch.images.dispose();
      yield { ...batch, images };
    }
  }
}
