// AUC bootstrap intervals, alone and paired: hand-computed estimates, intervals that collapse where every resample
// must give the same value, the paired difference's sign where one scorer dominates, and cluster resampling.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bootstrapAuc, bootstrapStatistic, pairedAucDifference, rocAuc } from '../../src/train/metrics/index.js';
import { Rng } from '../../src/util/index.js';

const labels = [1, 1, 0, 0];
// Perfect ranking: AUC 1.
const perfect = [0.9, 0.8, 0.3, 0.1];
// Positives 0.9 and 0.2 against negatives 0.3 and 0.1: 3 of 4 pairs ranked right, AUC 0.75.
const partial = [0.9, 0.2, 0.3, 0.1];

describe('AUC bootstrap', () => {
  it('gives the hand-computed estimates and difference', () => {
    assert.equal(bootstrapAuc(perfect, labels).estimate, 1);
    assert.equal(bootstrapAuc(partial, labels).estimate, 0.75);
    assert.equal(pairedAucDifference(perfect, partial, labels).estimate, 0.25);
    assert.equal(pairedAucDifference(partial, perfect, labels).estimate, -0.25);
  });

  it('pairs the resamples: a scorer against itself differs by exactly 0, a dominating one never by less', () => {
    const self = pairedAucDifference(partial, partial, labels, { resamples: 300, seed: 3 });
    assert.deepEqual([self.estimate, self.lower, self.upper], [0, 0, 0]);
    // AUC(perfect) is 1 on every resample with both classes, so the difference is ≥ 0 on each: paired, not two
    // independent draws (which would give negative replicates).
    const d = pairedAucDifference(perfect, partial, labels, { resamples: 300, seed: 3 });
    assert.ok(d.lower >= 0 && d.upper <= 1 && d.upper > 0, `${d.lower} ${d.upper}`);
    assert.ok(d.definedResamples < 300 && d.definedResamples > 100, 'resamples with one class are left out');
  });

  it('equals the generic bootstrap of rocAuc on expanded resamples', () => {
    const rng = new Rng(5);
    const y = Array.from({ length: 120 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const s = y.map((v) => rng.normal(v, 1));
    const direct = bootstrapStatistic(y.length, (counts) => {
      const ss: number[] = [];
      const yy: number[] = [];
      counts.forEach((c, i) => { for (let k = 0; k < c; k++) { ss.push(s[i] as number); yy.push(y[i] as number); } });
      return rocAuc(ss, yy);
    }, { resamples: 200, seed: 9 });
    const fast = bootstrapAuc(s, y, { resamples: 200, seed: 9 });
    for (const k of ['estimate', 'lower', 'upper'] as const) assert.ok(Math.abs(direct[k] - fast[k]) < 1e-12, k);
  });

  it('resamples clusters: one cluster per case is the case bootstrap, one cluster for all leaves no spread', () => {
    const rng = new Rng(6);
    const y = Array.from({ length: 60 }, (_, i) => (i % 2));
    const s = y.map((v) => rng.normal(v, 1));
    const own = pairedAucDifference(s, s.map((v) => -v), y, { resamples: 200, seed: 2, clusters: y.map((_, i) => `p${i}`) });
    assert.deepEqual(own, pairedAucDifference(s, s.map((v) => -v), y, { resamples: 200, seed: 2 }));
    const one = bootstrapAuc(s, y, { resamples: 50, seed: 2, clusters: y.map(() => 'same patient') });
    assert.equal(one.lower, one.estimate);
    assert.equal(one.upper, one.estimate);
    // Pairs of identical cases: resampling them as pairs gives a wider interval than as independent cases would.
    const twice = [...s, ...s];
    const twiceY = [...y, ...y];
    const asCases = bootstrapAuc(twice, twiceY, { resamples: 400, seed: 1 });
    const asPairs = bootstrapAuc(twice, twiceY, { resamples: 400, seed: 1, clusters: twice.map((_, i) => i % 60) });
    assert.ok(asPairs.upper - asPairs.lower > 1.2 * (asCases.upper - asCases.lower), `${asPairs.upper - asPairs.lower} vs ${asCases.upper - asCases.lower}`);
  });

  it('refuses clusters of the wrong length with a coded error', () => {
    assert.throws(() => bootstrapAuc(perfect, labels, { clusters: ['a', 'b'] }), { code: 'HF_METRICS_BAD_OPTION' });
  });
});
