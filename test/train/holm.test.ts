// Holm's step-down correction of the comparison's McNemar tests.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compareModels, holmAdjust } from '../../src/train/metrics/index.js';

describe("Holm's correction", () => {
  it('matches the step-down formula (statsmodels multipletests method="holm")', () => {
    // Sorted 0.01, 0.03, 0.04 → ×3, ×2, ×1 → 0.03, 0.06, 0.04 → running max → 0.03, 0.06, 0.06.
    const adjusted = holmAdjust([0.01, 0.04, 0.03]);
    [0.03, 0.06, 0.06].forEach((v, i) => assert.ok(Math.abs((adjusted[i] as number) - v) < 1e-12, `${adjusted[i]} vs ${v}`));
    assert.deepEqual(holmAdjust([0.5, 0.9]), [1, 1], "capped at 1, never decreasing");
    assert.deepEqual(holmAdjust([]), []);
    assert.throws(() => holmAdjust([1.2]), /p-value/);
  });

  it('compareModels reports a Holm-adjusted p no smaller than the raw one for every model but the best', () => {
    const labels = Array.from({ length: 60 }, (_, i) => i % 2);
    const good = labels.map((y, i) => (i % 10 === 0 ? 1 - y : y) * 0.8 + 0.1);
    const worse = labels.map((y, i) => (i % 4 === 0 ? 1 - y : y) * 0.8 + 0.1);
    const worst = labels.map((y, i) => (i % 3 === 0 ? 1 - y : y) * 0.8 + 0.1);
    const rows = compareModels(labels, { good, worse, worst });
    assert.equal(rows[0]?.model, 'good');
    assert.equal(rows[0]?.mcnemarHolm, undefined);
    const tested = rows.slice(1);
    const expected = holmAdjust(tested.map((r) => r.mcnemar?.pValue as number));
    tested.forEach((r, i) => {
      assert.equal(r.mcnemarHolm, expected[i]);
      assert.ok((r.mcnemarHolm as number) >= (r.mcnemar?.pValue as number));
    });
    assert.ok(tested.some((r) => (r.mcnemarHolm as number) > (r.mcnemar?.pValue as number)), 'the correction changes something');
  });
});
