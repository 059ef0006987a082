// The data-parallel proofs' toy pieces: the toy CNN without BatchNorm, and the toy batch source restricted to
// one shard of each epoch's seeded order (the DistributedSampler contract).
import { shardOrder, type Shard } from '../../src/data/index.js';
import { ToyNet, ToySource, type ToyData } from './toy.js';

export class PlainNet extends ToyNet {
  constructor() {
    super(false);
  }
}

export class ShardedSource extends ToySource {
  constructor(data: ToyData, batchSize: number, shuffle: boolean, readonly shard: Shard) {
    super(data, batchSize, shuffle);
  }
  override get batchesPerEpoch(): number {
    return Math.ceil(Math.ceil(this.data.labels.length / this.shard.worldSize) / this.batchSize);
  }
  override order(seed: number): number[] {
    return shardOrder(super.order(seed), this.shard);
  }
}
