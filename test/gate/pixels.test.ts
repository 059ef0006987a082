// The gate's order statistics: selection gives the values a full sort gives, at every rank asked, on arrays with
// ties, constant arrays, tiny arrays and the value ranges of grey planes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { orderStatistics } from '../../src/gate/index.js';
import { Rng } from '../../src/util/index.js';

test('orderStatistics equals a sort at the asked ranks, ties and constant arrays included', () => {
  const rng = new Rng(17);
  const cases: Float32Array[] = [
    Float32Array.of(0.5),
    Float32Array.of(1, 0),
    new Float32Array(257).fill(0.25),
    Float32Array.from({ length: 1000 }, () => Math.floor(rng.next() * 4) / 4),
    Float32Array.from({ length: 9216 }, () => rng.next()),
    Float32Array.from({ length: 4096 }, (_, i) => (i % 2 === 0 ? 0 : 1)),
    Float32Array.from({ length: 3000 }, (_, i) => i / 3000),
    Float32Array.from({ length: 3000 }, (_, i) => 1 - i / 3000),
  ];
  for (const values of cases) {
    const n = values.length;
    const sorted = Float32Array.from(values).sort();
    for (const fractions of [[0.1, 0.9], [0.3, 0.7], [0.5], [0, 1], [0.5, 0.5]]) {
      const ranks = fractions.map((f) => Math.floor(f * (n - 1)));
      assert.deepEqual(orderStatistics(Float32Array.from(values), ranks), ranks.map((k) => sorted[k]), `n ${n}, ranks ${ranks.join(', ')}`);
    }
  }
});
