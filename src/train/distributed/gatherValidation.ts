// Gathered validation: every rank's per-sample results (its shard, padded by repetition) are all-gathered,
// ordered by dataset index and de-duplicated, so the metrics equal a single-process pass over the whole set.
import { dispose, tensor, type ProcessGroup } from '../../torch/index.js';
import type { ValidationResult } from '../learner.js';

/**
 * Merges `result` from every rank of `group`. Rows travel as float64 (exact for float32 values and indices),
 * padded to the longest rank's count; a sample seen by several ranks (shard padding) counts once.
 */
export async function gatherValidation(group: ProcessGroup, result: ValidationResult): Promise<ValidationResult> {
  const n = result.labels.length;
  const c = result.numClasses;
  const counts = await group.allgather(tensor(Float64Array.of(n, c), [2]));
  const sizes = counts.map((t) => t.toArray());
  dispose(counts);
  const rows = Math.max(...sizes.map((s) => s[0] as number));
  const classes = Math.max(...sizes.map((s) => s[1] as number));
  const width = 3 + 2 * classes;
  const packed = new Float64Array(Math.max(rows, 1) * width).fill(-1);
  for (let i = 0; i < n; i++) {
    const row = packed.subarray(i * width, (i + 1) * width);
    row[0] = result.indices[i] as number;
    row[1] = result.labels[i] as number;
    row[2] = result.perSampleLoss[i] as number;
    for (let k = 0; k < c; k++) {
      row[3 + k] = result.logits[i * c + k] as number;
      row[3 + classes + k] = result.probs[i * c + k] as number;
    }
  }
  const gathered = await group.allgather(tensor(packed, [Math.max(rows, 1), width]));
  const byIndex = new Map<number, Float64Array>();
  for (const part of gathered) {
    const data = part.dataSync() as Float64Array;
    for (let i = 0; i < rows; i++) {
      const row = data.subarray(i * width, (i + 1) * width);
      const index = row[0] as number;
      if (index >= 0 && !byIndex.has(index)) byIndex.set(index, row.slice());
    }
  }
  dispose(gathered);
  const order = [...byIndex.keys()].sort((a, b) => a - b);
  const m = order.length;
  const merged = {
    logits: new Float32Array(m * classes),
    probs: new Float32Array(m * classes),
    labels: new Int32Array(m),
    indices: new Int32Array(m),
    perSampleLoss: new Float32Array(m),
  };
  let lossSum = 0;
  let correct = 0;
  order.forEach((index, i) => {
    const row = byIndex.get(index) as Float64Array;
    merged.indices[i] = index;
    merged.labels[i] = row[1] as number;
    merged.perSampleLoss[i] = row[2] as number;
    lossSum += merged.perSampleLoss[i] as number;
    let best = 0;
    for (let k = 0; k < classes; k++) {
      merged.logits[i * classes + k] = row[3 + k] as number;
      merged.probs[i * classes + k] = row[3 + classes + k] as number;
      if ((row[3 + classes + k] as number) > (row[3 + classes + best] as number)) best = k;
    }
    if (best === merged.labels[i]) correct++;
  });
  return {
    // Summed in index order as float32 values, as the single-process pass sums them in its (index) order.
    loss: m > 0 ? lossSum / m : Number.NaN,
    accuracy: m > 0 ? correct / m : Number.NaN,
    numClasses: classes,
    ...merged,
  };
}
