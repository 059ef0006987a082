// Multiplicity correction for a family of hypothesis tests: Holm's step-down method (Holm 1979, "A simple
// sequentially rejective multiple test procedure", Scand. J. Statist. 6:65–70), which controls the family-wise error.
import { badOption, type NumberArray } from './errors.js';

/**
 * Holm-adjusted p-values, in the input's order: sort the m p-values ascending, multiply the i-th (0-based) by
 * m − i, carry the running maximum so adjusted values never decrease, cap at 1. Reject H_i at level α when its
 * adjusted p ≤ α. Equals statsmodels' `multipletests(p, method='holm')[1]`.
 * @example holmAdjust([0.01, 0.04, 0.03]) // [0.03, 0.06, 0.06]
 */
export function holmAdjust(pValues: NumberArray): number[] {
  const m = pValues.length;
  for (let i = 0; i < m; i++) {
    const p = pValues[i] as number;
    if (!(p >= 0 && p <= 1)) throw badOption('holmAdjust', `pValues[${i}]`, p, 'a p-value in [0, 1]');
  }
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => (pValues[a] as number) - (pValues[b] as number) || a - b);
  const adjusted = new Array<number>(m).fill(0);
  let running = 0;
  order.forEach((index, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * (pValues[index] as number)));
    adjusted[index] = running;
  });
  return adjusted;
}
