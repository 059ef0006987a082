// Metrics against hand-made cases: threshold metrics, AUCs with ties, calibration bins, McNemar,
// temperature scaling (with and without a bias), the ECE noise floor, bootstrap intervals, subgroup breakdown, top losses and input errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  accuracyScore, applyTemperature, brierScore, calibrationNoiseFloor, compareModels, averagePrecision, binaryConfusion, binaryMetrics, bootstrapMetrics, bootstrapStatistic,
  confusionMatrix, expectedCalibrationError, fitTemperature, mcnemarFromCounts, mcnemarTest, metricsByGroup, METRIC_NAMES,
  MetricsError, mostConfidentCorrect, negativeLogLikelihood, positiveClassProbabilities, rocAuc, rocCurve, topLosses,
} from '../../src/train/metrics/index.js';
import { Rng } from '../../src/util/index.js';

const close = (actual: number, expected: number, tol = 1e-12, what = ''): void => {
  assert.ok(Math.abs(actual - expected) <= tol, `${what} ${actual} != ${expected} (tol ${tol})`);
};

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** A cohort whose fracture probability is σ(m / trueTemperature) for margins m the model reports. */
function miscalibrated(n: number, trueTemperature: number, seed: number): { margins: Float64Array; labels: number[] } {
  const rng = new Rng(seed);
  const margins = Float64Array.from({ length: n }, () => rng.normal(0.3, 4));
  const labels = Array.from(margins, (m) => (rng.next() < sigmoid(m / trueTemperature) ? 1 : 0));
  return { margins, labels };
}

describe('threshold metrics', () => {
  const probs = [0.9, 0.8, 0.4, 0.3, 0.6, 0.1];
  const labels = [1, 1, 1, 0, 0, 0];

  it('counts the confusion matrix and derives the study metrics', () => {
    assert.deepEqual(binaryConfusion(probs, labels), { tp: 2, fp: 1, tn: 2, fn: 1 });
    const m = binaryMetrics(probs, labels).metrics;
    close(m.accuracy, 4 / 6);
    close(m.precision, 2 / 3);
    close(m.recall, 2 / 3);
    close(m.f1, 2 / 3);
    close(m.sensitivity, 2 / 3);
    close(m.specificity, 2 / 3);
  });

  it('calls a case positive at exactly the threshold and honours other thresholds', () => {
    assert.deepEqual(binaryConfusion([0.5, 0.49], [1, 0]), { tp: 1, fp: 0, tn: 1, fn: 0 });
    const e = binaryMetrics(probs, labels, { threshold: 0.35 });
    assert.deepEqual(e.confusion, { tp: 3, fp: 1, tn: 2, fn: 0 });
    assert.equal(e.positives, 3);
    assert.equal(e.negatives, 3);
    close(e.metrics.precision, 3 / 4);
    close(e.metrics.f1, 2 * 3 / (2 * 3 + 1));
  });

  it('gives 0, not NaN, for empty denominators (scikit-learn zero_division)', () => {
    const m = binaryMetrics([0.1, 0.2, 0.3], [1, 0, 0]).metrics;
    assert.equal(m.precision, 0);
    assert.equal(m.recall, 0);
    assert.equal(m.f1, 0);
    close(m.specificity, 1);
  });

  it('handles more than two classes for accuracy and the confusion matrix', () => {
    const actual = [0, 1, 2, 2, 1, 0];
    const predicted = [0, 2, 2, 1, 1, 0];
    assert.deepEqual(confusionMatrix(actual, predicted), [[2, 0, 0], [0, 1, 1], [0, 1, 1]]);
    assert.deepEqual(confusionMatrix([0], [0], 3), [[1, 0, 0], [0, 0, 0], [0, 0, 0]]);
    close(accuracyScore(actual, predicted), 4 / 6);
  });
});

describe('ranking metrics', () => {
  it('matches the scikit-learn documentation example', () => {
    const scores = [0.1, 0.4, 0.35, 0.8];
    const labels = [0, 0, 1, 1];
    close(rocAuc(scores, labels), 0.75);
    close(averagePrecision(scores, labels), (0.5 * 1) + (0.5 * 2 / 3));
    const roc = rocCurve(scores, labels);
    assert.deepEqual(Array.from(roc.fpr), [0, 0, 0.5, 0.5, 1]);
    assert.deepEqual(Array.from(roc.tpr), [0, 0.5, 0.5, 1, 1]);
    assert.equal(roc.thresholds[0], Number.POSITIVE_INFINITY);
  });

  it('counts tied scores as half right', () => {
    close(rocAuc([0.5, 0.5], [1, 0]), 0.5);
    // One tie between a positive and a negative among otherwise perfectly ranked cases: (3 + 0.5) / 4.
    close(rocAuc([0.9, 0.6, 0.6, 0.1], [1, 1, 0, 0]), 3.5 / 4);
    assert.ok(averagePrecision([0.9, 0.6, 0.6, 0.1], [1, 1, 0, 0]) < 1);
  });

  it('is NaN when a class is missing instead of a misleading number', () => {
    assert.ok(Number.isNaN(rocAuc([0.2, 0.7], [1, 1])));
    assert.ok(Number.isNaN(averagePrecision([0.2, 0.7], [0, 0])));
    assert.ok(Number.isNaN(binaryMetrics([0.2, 0.7], [0, 0]).metrics.rocAuc));
  });
});

describe('calibration', () => {
  const probs = [0.2, 0.2, 0.9, 0.9];
  const labels = [0, 1, 1, 1];

  it('bins the fracture probability (positive-class mode) with values on an edge in the lower bin', () => {
    const r = expectedCalibrationError(probs, labels, { bins: 5, mode: 'positive-class' });
    assert.equal(r.bins.length, 5);
    assert.equal(r.bins[0]!.count, 2);
    close(r.bins[0]!.observed, 0.5);
    close(r.bins[0]!.meanPredicted, 0.2);
    assert.equal(r.bins[4]!.count, 2);
    assert.ok(Number.isNaN(r.bins[2]!.observed));
    close(r.ece, 0.5 * 0.3 + 0.5 * 0.1);
    close(r.mce, 0.3);
  });

  it('bins the predicted class confidence in top-label mode (Guo et al.)', () => {
    const r = expectedCalibrationError(probs, labels, { bins: 5 });
    assert.equal(r.mode, 'top-label');
    assert.equal(r.bins[3]!.count, 2); // confidence 0.8, one right, one wrong
    close(r.bins[3]!.observed, 0.5);
    close(r.ece, 0.5 * 0.3 + 0.5 * 0.1);
    assert.equal(expectedCalibrationError([1, 0], [1, 0]).ece, 0);
    close(brierScore(probs, labels), (0.04 + 0.64 + 0.01 + 0.01) / 4);
  });
});

describe('temperature scaling', () => {
  it('recovers a known temperature and lowers the NLL and ECE of an over-confident model', () => {
    const { margins, labels } = miscalibrated(20000, 2.5, 11);
    const fit = fitTemperature(margins, labels, { numClasses: 1 });
    assert.ok(Math.abs(fit.temperature - 2.5) < 0.15, `fitted T = ${fit.temperature}`);
    assert.ok(fit.nllAfter < fit.nllBefore - 0.05, `NLL ${fit.nllBefore} -> ${fit.nllAfter}`);
    close(fit.nllAfter, negativeLogLikelihood(margins, labels, { numClasses: 1, temperature: fit.temperature }), 1e-12);
    const before = expectedCalibrationError(positiveClassProbabilities(margins, 1, 1), labels).ece;
    const after = expectedCalibrationError(positiveClassProbabilities(margins, fit.temperature, 1), labels).ece;
    assert.ok(after < before / 2, `ECE ${before} -> ${after}`);
  });

  it('fits the same T from [N, 2] logits as from their margins, and a well-calibrated model keeps T ≈ 1', () => {
    const { margins, labels } = miscalibrated(3000, 0.5, 5);
    const rows = new Float64Array(margins.length * 2);
    margins.forEach((m, i) => { rows[2 * i] = 0.7; rows[2 * i + 1] = 0.7 + m; });
    const fromMargins = fitTemperature(margins, labels, { numClasses: 1 });
    const fromRows = fitTemperature(rows, labels);
    close(fromRows.temperature, fromMargins.temperature, 1e-9);
    assert.ok(fromMargins.temperature < 0.6, `under-confident model needs T < 1, got ${fromMargins.temperature}`);
    const calibrated = miscalibrated(20000, 1, 3);
    close(fitTemperature(calibrated.margins, calibrated.labels, { numClasses: 1 }).temperature, 1, 0.08);
  });

  it('applies T as softmax(z / T) and stops at the bounds', () => {
    const probs = applyTemperature([0, Math.log(3)], 1);
    close(probs[1]!, 0.75);
    close(positiveClassProbabilities([0, 2 * Math.log(3)], 2)[0]!, 0.75);
    // Perfectly separated data wants T → 0: the fit stops at the lower bound.
    close(fitTemperature([-1, 1], [0, 1], { numClasses: 1, bounds: [0.1, 10] }).temperature, 0.1, 1e-12);
  });
});

describe('temperature with a bias (Platt scaling in temperature form)', () => {
  /** Labels from σ(m / T + b): a model whose mean probability is off as well as its spread. */
  function shifted(n: number, t: number, b: number, seed: number): { margins: Float64Array; labels: number[] } {
    const rng = new Rng(seed);
    const margins = Float64Array.from({ length: n }, () => rng.normal(1, 3));
    return { margins, labels: Array.from(margins, (m) => (rng.next() < sigmoid(m / t + b) ? 1 : 0)) };
  }

  it('recovers a known temperature and bias, where T alone leaves the mean probability off', () => {
    const { margins, labels } = shifted(40000, 2, -1.5, 21);
    const joint = fitTemperature(margins, labels, { numClasses: 1, bias: true });
    close(joint.temperature, 2, 0.1, 'T');
    close(joint.bias, -1.5, 0.08, 'bias');
    const alone = fitTemperature(margins, labels, { numClasses: 1 });
    assert.equal(alone.bias, 0);
    assert.ok(joint.nllAfter < alone.nllAfter - 0.01, `NLL with bias ${joint.nllAfter} vs T alone ${alone.nllAfter}`);
    close(joint.nllAfter, negativeLogLikelihood(margins, labels, { numClasses: 1, temperature: joint.temperature, bias: joint.bias }), 1e-12);
    const rate = labels.reduce((a, y) => a + y, 0) / labels.length;
    const mean = (p: Float64Array): number => p.reduce((a, v) => a + v, 0) / p.length;
    close(mean(positiveClassProbabilities(margins, joint.temperature, 1, joint.bias)), rate, 0.005, 'mean probability with bias');
    assert.ok(Math.abs(mean(positiveClassProbabilities(margins, alone.temperature, 1)) - rate) > 0.03, 'T alone keeps the mean off');
    const fracture = (t: number, b: number): number => expectedCalibrationError(positiveClassProbabilities(margins, t, 1, b), labels, { mode: 'positive-class' }).ece;
    assert.ok(fracture(joint.temperature, joint.bias) < fracture(alone.temperature, 0) / 3, 'fracture-probability ECE');
  });

  it('is a minimum: the NLL rises a step away in T or b; rows and margins agree', () => {
    const { margins, labels } = shifted(3000, 0.7, 0.8, 4);
    const fit = fitTemperature(margins, labels, { numClasses: 1, bias: true });
    const nll = (t: number, b: number): number => negativeLogLikelihood(margins, labels, { numClasses: 1, temperature: t, bias: b });
    for (const [dt, db] of [[1e-3, 0], [-1e-3, 0], [0, 1e-3], [0, -1e-3]] as const) {
      assert.ok(nll(fit.temperature + dt, fit.bias + db) > fit.nllAfter, `step (${dt}, ${db})`);
    }
    const rows = new Float64Array(margins.length * 2);
    margins.forEach((m, i) => { rows[2 * i] = -0.4; rows[2 * i + 1] = -0.4 + m; });
    const fromRows = fitTemperature(rows, labels, { bias: true });
    close(fromRows.temperature, fit.temperature, 1e-7, 'T from rows');
    close(fromRows.bias, fit.bias, 1e-7, 'bias from rows');
    // Softmax rows with the bias on the fracture logit equal the margin form.
    const p = applyTemperature([0.2, 1.4], fit.temperature, 2, fit.bias)[1]!;
    close(p, sigmoid(1.2 / fit.temperature + fit.bias), 1e-12, 'two-class row');
  });

  it('keeps the bias finite on one-class data and refuses a bias with more than two classes', () => {
    const fit = fitTemperature([1, 2, 3], [1, 1, 1], { numClasses: 1, bias: true });
    assert.ok(Number.isFinite(fit.bias) && fit.bias <= 20, `bias ${fit.bias}`);
    assert.throws(() => fitTemperature([1, 2, 3, 4, 5, 6], [0, 1], { numClasses: 3, bias: true }), (e: unknown) => e instanceof MetricsError && e.code === 'HF_METRICS_BAD_OPTION' && /two classes/.test(e.message));
    assert.throws(() => applyTemperature([1, 2, 3], 1, 3, 0.5), (e: unknown) => e instanceof MetricsError && e.code === 'HF_METRICS_BAD_OPTION');
  });
});

describe('the ECE noise floor', () => {
  it('a perfectly calibrated model shows an ECE that shrinks with the number of cases; the floor is seeded', () => {
    const rng = new Rng(9);
    const probs = Float64Array.from({ length: 4000 }, () => rng.next());
    const small = calibrationNoiseFloor(probs.subarray(0, 200), { seed: 1 });
    const large = calibrationNoiseFloor(probs, { seed: 1 });
    assert.ok(small.median > 2 * large.median, `floor at 200 cases ${small.median}, at 4000 ${large.median}`);
    assert.ok(small.upper >= small.median && large.median > 0);
    assert.deepEqual(calibrationNoiseFloor(probs.subarray(0, 200), { seed: 1 }), small);
    // Labels drawn from the probabilities score under the 95th percentile most of the time.
    const labels = Array.from(probs.subarray(0, 200), (p) => (rng.next() < p ? 1 : 0));
    assert.ok(expectedCalibrationError(probs.subarray(0, 200), labels).ece < small.upper * 1.5);
  });
});

describe('McNemar test', () => {
  it('uses the exact binomial test below 25 discordant pairs', () => {
    const r = mcnemarFromCounts(10, 2);
    assert.equal(r.method, 'exact');
    assert.equal(r.statistic, 2);
    close(r.pValue, 2 * (1 + 12 + 66) / 4096, 1e-15);
    assert.equal(mcnemarFromCounts(0, 0).pValue, 1);
    assert.equal(mcnemarFromCounts(3, 3).pValue, 1);
  });

  it('uses χ² with continuity correction from 25 discordant pairs', () => {
    const r = mcnemarFromCounts(30, 10);
    assert.equal(r.method, 'chi2');
    close(r.statistic, 19 * 19 / 40);
    // scipy.stats.chi2.sf(9.025, 1)
    close(r.pValue, 0.0026635, 1e-6);
  });

  it('counts discordant pairs from two models predictions', () => {
    const labels = [1, 1, 0, 0, 1];
    const a = [1, 1, 0, 1, 0];
    const b = [0, 1, 1, 1, 1];
    const r = mcnemarTest(labels, a, b);
    assert.equal(r.b, 2);
    assert.equal(r.c, 1);
  });
});

describe('bootstrap intervals', () => {
  function cohort(n: number, seed: number): { probs: number[]; labels: number[] } {
    const rng = new Rng(seed);
    const labels = Array.from({ length: n }, () => (rng.next() < 0.43 ? 1 : 0));
    const probs = labels.map((y) => Math.round(sigmoid(rng.normal(y === 1 ? 1.5 : -1.5, 1.5)) * 100) / 100);
    return { probs, labels };
  }

  it('contains each point estimate, is reproducible by seed, and shrinks with n', () => {
    const small = cohort(200, 1);
    const a = bootstrapMetrics(small.probs, small.labels, { resamples: 500, seed: 7 });
    const point = binaryMetrics(small.probs, small.labels).metrics;
    for (const name of METRIC_NAMES) {
      const iv = a.intervals[name];
      assert.equal(iv.estimate, point[name], name);
      assert.ok(iv.lower <= iv.estimate && iv.estimate <= iv.upper, `${name}: ${iv.lower} ${iv.estimate} ${iv.upper}`);
      assert.ok(iv.upper > iv.lower, `${name} interval has width`);
      assert.equal(a.definedResamples[name], 500);
    }
    assert.deepEqual(bootstrapMetrics(small.probs, small.labels, { resamples: 500, seed: 7 }).intervals, a.intervals);
    assert.notDeepEqual(bootstrapMetrics(small.probs, small.labels, { resamples: 500, seed: 8 }).intervals, a.intervals);
    const large = cohort(5000, 2);
    const b = bootstrapMetrics(large.probs, large.labels, { resamples: 500, seed: 7 });
    for (const name of ['accuracy', 'f1', 'rocAuc'] as const) {
      const wSmall = a.intervals[name].upper - a.intervals[name].lower;
      const wLarge = b.intervals[name].upper - b.intervals[name].lower;
      assert.ok(wLarge < 0.4 * wSmall, `${name}: width ${wSmall} at n=200, ${wLarge} at n=5000`);
    }
  });

  it('agrees between the weighted fast path and resampling a statistic directly', () => {
    const { probs, labels } = cohort(300, 3);
    const direct = bootstrapStatistic(probs.length, (counts) => {
      const p: number[] = [];
      const y: number[] = [];
      counts.forEach((c, i) => { for (let k = 0; k < c; k++) { p.push(probs[i]!); y.push(labels[i]!); } });
      return rocAuc(p, y);
    }, { resamples: 200, seed: 4 });
    const fast = bootstrapMetrics(probs, labels, { resamples: 200, seed: 4 }).intervals.rocAuc;
    close(direct.lower, fast.lower, 1e-12, 'lower');
    close(direct.upper, fast.upper, 1e-12, 'upper');
    close(direct.estimate, fast.estimate, 1e-12, 'estimate');
  });
});

describe('subgroup breakdown', () => {
  it('evaluates each group of each factor with counts, unknown last', () => {
    const probs = [0.9, 0.2, 0.7, 0.4, 0.8, 0.1];
    const labels = [1, 0, 0, 1, 1, 0];
    const view = ['AP', 'lateral', 'AP', 'lateral', null, 'AP'];
    const implant = [true, false, false, false, true, false];
    const groups = metricsByGroup(probs, labels, { view, implant }, { bootstrap: { resamples: 50, seed: 1 } });
    assert.deepEqual(groups.map((g) => `${g.factor}=${g.group}:${g.n}/${g.positives}`),
      ['view=AP:3/1', 'view=lateral:2/1', 'view=unknown:1/1', 'implant=no:4/1', 'implant=yes:2/2']);
    const ap = groups[0]!;
    assert.deepEqual(ap.metrics, binaryMetrics([0.9, 0.7, 0.1], [1, 0, 0]).metrics);
    assert.ok(ap.intervals !== undefined);
    assert.ok(Number.isNaN(groups[4]!.metrics.rocAuc), 'a group with one class has no AUC');
  });
});

describe('model comparison', () => {
  it('ranks models by accuracy and tests each against the best with McNemar', () => {
    const labels = [1, 1, 1, 1, 0, 0, 0, 0, 1, 0];
    const result = compareModels(labels, {
      weak: [0.9, 0.2, 0.3, 0.8, 0.6, 0.7, 0.1, 0.2, 0.4, 0.3],
      strong: [0.9, 0.8, 0.7, 0.8, 0.1, 0.2, 0.1, 0.6, 0.9, 0.3],
      middling: [0.9, 0.8, 0.3, 0.8, 0.1, 0.7, 0.1, 0.2, 0.9, 0.3],
    }, { bootstrap: { resamples: 100, seed: 1 } });
    assert.deepEqual(result.map((r) => r.model), ['strong', 'middling', 'weak']);
    assert.deepEqual(result.map((r) => r.isBest), [true, false, false]);
    assert.equal(result[0]!.mcnemar, undefined);
    close(result[0]!.evaluation.metrics.accuracy, 0.9);
    // weak is wrong on cases 1, 2, 4, 5, 8; strong only on 7: b = 5 (strong right, weak wrong), c = 1.
    assert.deepEqual([result[2]!.mcnemar!.b, result[2]!.mcnemar!.c], [5, 1]);
    close(result[2]!.mcnemar!.pValue, 2 * (1 + 6) / 64, 1e-15);
    assert.equal(result[1]!.intervals.accuracy.estimate, result[1]!.evaluation.metrics.accuracy);
  });
});

describe('top losses', () => {
  const probs = [0.95, 0.1, 0.6, 0.3, 0.99, 0.02];
  const labels = [0, 1, 1, 0, 1, 0];

  it('lists the k highest losses with study-style captions', () => {
    const top = topLosses(probs, labels, 2);
    assert.deepEqual(top.map((c) => c.index), [0, 1]);
    close(top[0]!.loss, -Math.log(0.05), 1e-12);
    assert.equal(top[0]!.caption, 'fracture/no fracture/3.00/0.05');
    assert.equal(top[1]!.caption, 'no fracture/fracture/2.30/0.10');
    assert.equal(topLosses(probs, labels, 2, { classNames: ['intact', 'fractured'] })[1]!.caption, 'intact/fractured/2.30/0.10');
  });

  it('lists the most confident correct cases, lowest loss first, and accepts learner losses', () => {
    const sure = mostConfidentCorrect(probs, labels, 3);
    assert.deepEqual(sure.map((c) => c.index), [4, 5, 3]);
    assert.ok(sure.every((c) => c.predicted === c.actual));
    const withLosses = topLosses(probs, labels, 1, { losses: [0, 0, 0, 9, 0, 0] });
    assert.equal(withLosses[0]!.index, 3);
    assert.equal(withLosses[0]!.caption, 'no fracture/no fracture/9.00/0.70');
  });
});

describe('input errors', () => {
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof MetricsError, String(e));
      return e.code;
    }
    return 'no error';
  };

  it('names what is wrong with coded errors', () => {
    assert.equal(code(() => binaryMetrics([0.1, 0.2], [1])), 'HF_METRICS_LENGTH_MISMATCH');
    assert.equal(code(() => binaryMetrics([], [])), 'HF_METRICS_EMPTY');
    assert.equal(code(() => binaryMetrics([0.1, 0.2], [1, 2])), 'HF_METRICS_BAD_LABEL');
    assert.equal(code(() => binaryMetrics([0.1, 3.2], [1, 0])), 'HF_METRICS_BAD_PROBABILITY');
    assert.equal(code(() => binaryMetrics([0.1, Number.NaN], [1, 0])), 'HF_METRICS_BAD_PROBABILITY');
    assert.equal(code(() => rocAuc([0.1, Number.POSITIVE_INFINITY], [1, 0])), 'HF_METRICS_BAD_SCORE');
    assert.equal(code(() => binaryMetrics([0.1], [1], { threshold: 2 })), 'HF_METRICS_BAD_OPTION');
    assert.equal(code(() => fitTemperature([1, 2, 3], [1, 0])), 'HF_METRICS_LENGTH_MISMATCH');
    assert.equal(code(() => bootstrapMetrics([0.1], [1], { resamples: 0 })), 'HF_METRICS_BAD_OPTION');
    assert.match(String((() => { try { binaryMetrics([0.1, 0.2], [1, 7]); } catch (e) { return e; } return ''; })()), /labels\[1\]/);
  });
});
