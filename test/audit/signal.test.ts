// The shortcut audit's model-free statistics: balanced accuracy is not fooled by a majority class, the one-vs-rest AUC
// is the plain AUC for two classes, folds are stratified, and the fracture signal a nuisance label carries is told
// apart from the bone's: a model that ranks by the label keeps its overall AUC and drops to chance within the groups.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { balancedAccuracy, fractureSignal, oneVsRestAuc, stratifiedFolds } from '../../src/audit/index.js';
import { rocAuc } from '../../src/train/metrics/index.js';
import { Rng } from '../../src/util/index.js';

describe('probe scores', () => {
  it('balanced accuracy gives a majority-class answer 1 / classes, whatever the class shares', () => {
    const truth = ['absent', 'absent', 'absent', 'present'];
    assert.equal(balancedAccuracy(truth, ['absent', 'absent', 'absent', 'absent']), 0.5);
    assert.equal(balancedAccuracy(['a', 'a', 'b', 'c', 'c', 'c'], ['a', 'a', 'a', 'a', 'a', 'a']), 1 / 3);
    // Recall 2/3 on a, 1/1 on b: (2/3 + 1) / 2.
    assert.ok(Math.abs(balancedAccuracy(['a', 'a', 'a', 'b'], ['a', 'a', 'b', 'b']) - 5 / 6) < 1e-12);
    assert.ok(Number.isNaN(balancedAccuracy([], [])));
  });

  it('one-vs-rest AUC is the AUC for two classes and the macro mean for more', () => {
    const rng = new Rng(4);
    const truth = Array.from({ length: 60 }, () => (rng.next() < 0.3 ? 'yes' : 'no'));
    const p = truth.map((t) => Math.min(1, Math.max(0, (t === 'yes' ? 0.6 : 0.4) + rng.normal(0, 0.2))));
    const two = oneVsRestAuc(truth, p.map((x) => [1 - x, x]), ['no', 'yes']);
    assert.ok(Math.abs(two - rocAuc(p, truth.map((t) => (t === 'yes' ? 1 : 0)))) < 1e-12);
    // Three classes: class a ranked perfectly (AUC 1), b and c not at all (each scored by the other's indicator).
    const three = ['a', 'b', 'c', 'a', 'b', 'c'];
    const probs = three.map((t) => [t === 'a' ? 1 : 0, t === 'c' ? 1 : 0, t === 'b' ? 1 : 0]);
    assert.ok(Math.abs(oneVsRestAuc(three, probs, ['a', 'b', 'c']) - (1 + 0.25 + 0.25) / 3) < 1e-12);
    // A class never present (d) is left out of the mean rather than counted as NaN.
    assert.ok(Math.abs(oneVsRestAuc(three, probs.map((q) => [...q, 0]), ['a', 'b', 'c', 'd']) - 0.5) < 1e-12);
  });

  it('stratified folds hold each class in equal shares, the same for the same seed', () => {
    const labels = [...Array<string>(23).fill('hand'), ...Array<string>(11).fill('leg'), ...Array<string>(4).fill('shoulder')];
    const folds = stratifiedFolds(labels, 5, 7);
    assert.deepEqual(folds, stratifiedFolds(labels, 5, 7));
    for (const c of ['hand', 'leg', 'shoulder']) {
      const counts = [0, 1, 2, 3, 4].map((f) => folds.filter((x, i) => x === f && labels[i] === c).length);
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${c}: ${counts.join(' ')}`);
    }
    // Four shoulders over five folds: not all in the first folds, because each class starts where the last stopped.
    const all = [0, 1, 2, 3, 4].map((f) => folds.filter((x) => x === f).length);
    assert.ok(Math.max(...all) - Math.min(...all) <= 1, all.join(' '));
  });
});

describe('fracture signal of a nuisance label', () => {
  // Group A: 3 fractured, 1 normal; group B: 1 fractured, 3 normal.
  const groups = ['A', 'A', 'A', 'A', 'B', 'B', 'B', 'B'];
  const fractured = [1, 1, 1, 0, 1, 0, 0, 0];

  it('a model that scores the group rides on it: its AUC drops to chance within the groups', () => {
    const byGroup = groups.map((g) => (g === 'A' ? 0.9 : 0.1));
    const s = fractureSignal(groups, fractured, byGroup, { groups, fractured });
    // 16 fractured–normal pairs: 9 A-fracture over B-normal right, 6 within a group tied, 1 B-fracture under A-normal.
    assert.equal(s.modelAuc, (9 + 0.5 * 6) / 16);
    assert.equal(s.labelOnlyAuc, s.modelAuc, 'the group rate ranks as the model does');
    assert.equal(s.withinGroupAuc, 0.5);
    assert.equal(s.withinGroupPairs, 6);
    assert.equal(s.allPairs, 16);
    assert.deepEqual(s.groups, [{ name: 'A', images: 4, fractured: 3 }, { name: 'B', images: 4, fractured: 1 }]);
  });

  it('a model that reads the bone keeps its AUC within the groups', () => {
    const byBone = fractured.map((f, i) => (f === 1 ? 0.6 + i / 100 : 0.4 - i / 100));
    const s = fractureSignal(groups, fractured, byBone, { groups, fractured });
    assert.equal(s.modelAuc, 1);
    assert.equal(s.withinGroupAuc, 1);
  });

  it('pools the within-group AUC over same-group pairs only, as counting the pairs does', () => {
    const rng = new Rng(11);
    const n = 300;
    const g = Array.from({ length: n }, () => ['hand', 'leg', 'shoulder', null][rng.int(0, 4)] ?? null);
    const y = g.map((x) => (rng.next() < (x === 'leg' ? 0.6 : 0.2) ? 1 : 0));
    const score = y.map((v, i) => Math.round(10 * ((g[i] === 'leg' ? 0.3 : 0) + 0.3 * v + rng.next())) / 10);
    const s = fractureSignal(g, y, score, { groups: g.slice(0, 150), fractured: y.slice(0, 150) });
    let right = 0;
    let pairs = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (g[i] === null || g[i] !== g[j] || y[i] !== 1 || y[j] !== 0) continue;
        pairs++;
        right += (score[i] as number) > (score[j] as number) ? 1 : score[i] === score[j] ? 0.5 : 0;
      }
    }
    assert.equal(s.withinGroupPairs, pairs);
    assert.ok(Math.abs(s.withinGroupAuc - right / pairs) < 1e-12, `${s.withinGroupAuc} vs ${right / pairs}`);
    // Images with no label are left out of every figure.
    assert.equal(s.groups.reduce((a, x) => a + x.images, 0), g.filter((x) => x !== null).length);
  });

  it('scores the label alone by the reference images\' group rates (an unseen group: their overall rate)', () => {
    const reference = { groups: ['A', 'A', 'B', 'B', 'B', null], fractured: [1, 1, 0, 0, 1, 1] };
    // Rates A 1, B 1/3, overall 3/5 for C: fractured in C and A, normal in B and C.
    const s = fractureSignal(['A', 'B', 'C', 'C'], [1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5], reference);
    // Scores 1, 1/3, 3/5, 3/5: fractured (1, 3/5) against normal (1/3, 3/5): 1 + 1 + 1 + 0.5 of 4.
    assert.equal(s.labelOnlyAuc, 3.5 / 4);
    assert.equal(s.modelAuc, 0.5);
  });
});
