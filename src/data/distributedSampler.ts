// The DistributedSampler contract (torch.utils.data.DistributedSampler, drop_last=False): an epoch's order,
// padded by repeating its head to a multiple of the world size, dealt round-robin so rank r takes r, r+W, ….
import { HipfracError } from '../util/index.js';

/** Which part of every epoch one process reads. */
export interface Shard {
  readonly rank: number;
  readonly worldSize: number;
}

/**
 * Rank `shard.rank`'s share of `order`: ceil(n / W) positions, equal on every rank; together the shards
 * cover `order`, and only the padding (the first positions repeated) is read twice.
 * @example shardOrder([4, 2, 0, 1, 3], { rank: 1, worldSize: 2 }) // → [2, 1, 4]
 */
export function shardOrder(order: readonly number[], shard: Shard): number[] {
  const { rank, worldSize } = shard;
  if (!Number.isInteger(worldSize) || worldSize < 1 || !Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new HipfracError('HF_DATA_BAD_SHARD', `shard rank ${rank} is not in a world of size ${worldSize}.`, { fix: 'give 0 ≤ rank < world size.' });
  }
  if (order.length === 0) return [];
  const perRank = Math.ceil(order.length / worldSize);
  const total = perRank * worldSize;
  const padded = [...order];
  while (padded.length < total) padded.push(...order.slice(0, total - padded.length));
  const out: number[] = [];
  for (let i = rank; i < total; i += worldSize) out.push(padded[i] as number);
  return out;
}
