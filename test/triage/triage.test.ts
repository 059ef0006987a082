// Triage: Clopper–Pearson against scipy's values, the calibrated cut-off's error bound holding on held-out
// synthetic scores with known truth, conformal coverage, operating points, temperature, policies and bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  binaryRows,
  calibrateConformal,
  calibrateCutoff,
  calibratedCutoffPolicy,
  calibratedProbabilities,
  chooseOperatingPoints,
  clopperPearsonLower,
  clopperPearsonUpper,
  conformalPolicy,
  decide,
  evaluateConformal,
  evaluateCutoff,
  fractureLevel,
  gated,
  givenCutoffPolicy,
  policyFromModelCard,
  policyToJson,
  predictionSet,
  riskCoverageCurve,
  softmaxRow,
} from '../../src/triage/index.js';
import { fitTemperature } from '../../src/train/metrics/index.js';
import { HipfracError, Rng } from '../../src/util/index.js';

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

test('Clopper–Pearson bounds equal scipy.stats.beta.ppf', () => {
  // (k, n, δ, upper, lower) from scipy 1.10: beta.ppf(1 − δ, k + 1, n − k), beta.ppf(δ, k, n − k + 1).
  const reference: [number, number, number, number, number][] = [
    [0, 100, 0.05, 0.02951304960703993, 0],
    [1, 100, 0.05, 0.046559811453538935, 0.000512801416262292],
    [5, 1000, 0.05, 0.010484076911415651, 0.001972153141805247],
    [0, 598, 0.05, 0.004997058694246506, 0],
    [3, 50, 0.1, 0.1287564225866019, 0.022243984694506096],
    [49, 50, 0.05, 0.9989746601327679, 0.9086018692803026],
    [10, 20, 0.01, 0.7610403634834936, 0.2389596365165064],
  ];
  for (const [k, n, delta, upper, lower] of reference) {
    assert.ok(Math.abs(clopperPearsonUpper(k, n, delta) - upper) < 1e-9, `upper(${k}, ${n}, ${delta}) = ${clopperPearsonUpper(k, n, delta)}`);
    assert.ok(Math.abs(clopperPearsonLower(k, n, delta) - lower) < 1e-9, `lower(${k}, ${n}, ${delta}) = ${clopperPearsonLower(k, n, delta)}`);
  }
  assert.equal(clopperPearsonUpper(0, 0), 1);
  assert.equal(clopperPearsonUpper(7, 7), 1);
});

/**
 * Perfectly calibrated synthetic confidences c = 1 − 0.5·u³ (u uniform); the prediction is wrong with
 * probability 1 − c. True error among cases with c ≥ t is (1 − t)/4; coverage is (2(1 − t))^{1/3}.
 */
function calibratedCases(n: number, rng: Rng): { rows: number[][]; labels: number[] } {
  const rows: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = 1 - 0.5 * rng.next() ** 3;
    const predicted = rng.int(0, 2);
    const wrong = rng.next() < 1 - c;
    rows.push(predicted === 1 ? [1 - c, c] : [c, 1 - c]);
    labels.push(wrong ? 1 - predicted : predicted);
  }
  return { rows, labels };
}

test('calibrated cut-off: true and held-out error among auto-reported cases stay within the target (synthetic, known truth)', () => {
  const rng = new Rng(2024);
  const target = 0.01;
  const delta = 0.1;
  const trials = 30;
  let trueViolations = 0;
  let heldOutAbove = 0;
  let coverageSum = 0;
  for (let t = 0; t < trials; t++) {
    const validation = calibratedCases(4000, rng);
    const cut = calibrateCutoff(validation.rows, validation.labels, { targetError: target, delta });
    assert.ok(cut.cutoff <= 1, 'a cut-off exists at this size');
    assert.ok(cut.errorUpperBound <= target);
    assert.ok(cut.measuredError <= cut.errorUpperBound);
    const trueError = (1 - cut.cutoff) / 4;
    if (trueError > target) trueViolations += 1;
    const heldOut = calibratedCases(20000, rng);
    const realised = evaluateCutoff(heldOut.rows, heldOut.labels, cut.cutoff);
    if (realised.measuredError > target) heldOutAbove += 1;
    assert.ok(realised.measuredError < target * 1.5, `trial ${t}: held-out error ${realised.measuredError} at cut-off ${cut.cutoff}`);
    coverageSum += cut.coverage;
  }
  // P(true error > target) ≤ δ = 0.1: 30 trials should show few violations (≤ 8 has probability > 0.99).
  assert.ok(trueViolations <= 8, `${trueViolations} of ${trials} cut-offs exceed the target`);
  assert.ok(heldOutAbove <= 10, `${heldOutAbove} of ${trials} held-out error rates above target`);
  // Not trivially conservative: the best possible cut-off (t = 0.96) covers 43 %.
  assert.ok(coverageSum / trials > 0.25, `mean coverage ${coverageSum / trials}`);
});

test('too little validation data for the target gives no cut-off: every case is reviewed', () => {
  const rng = new Rng(5);
  const small = calibratedCases(300, rng);
  const cut = calibrateCutoff(small.rows, small.labels, { targetError: 0.005, delta: 0.05 });
  assert.equal(cut.minimumAccepted, 598);
  assert.ok(cut.cutoff > 1);
  assert.equal(cut.coverage, 0);
  const policy = calibratedCutoffPolicy(small.rows, small.labels, { targetError: 0.005 });
  const d = decide([0, 1], policy, { heatmapPath: 'heat/0001.png' });
  assert.equal(d.decision, 'radiologist-review');
  assert.equal(d.heatmapPath, 'heat/0001.png');
  assert.match(d.reason, /every case reviewed/);
});

test('conformal sets (LAC and APS) reach the stated coverage with miscalibrated scores; finite-sample rank', () => {
  const rng = new Rng(77);
  const alpha = 0.1;
  const draw = (n: number): { rows: number[][]; labels: number[] } => {
    const rows: number[][] = [];
    const labels: number[] = [];
    for (let i = 0; i < n; i++) {
      const x = rng.normal();
      labels.push(rng.next() < sigmoid(3 * x) ? 1 : 0);
      // The model is over-confident (×2.5 on the logit): conformal coverage must not care.
      const p = sigmoid(7.5 * x);
      rows.push([1 - p, p]);
    }
    return { rows, labels };
  };
  for (const score of ['lac', 'aps'] as const) {
    let coverage = 0;
    const trials = 25;
    for (let t = 0; t < trials; t++) {
      const cal = draw(500);
      const c = calibrateConformal(cal.rows, cal.labels, { alpha, score });
      assert.equal(c.statedCoverage, 0.9);
      const test = draw(4000);
      coverage += evaluateConformal(test.rows, test.labels, c).coverage;
      if (score === 'aps') {
        // APS never drops the most probable class (no empty sets for confident cases).
        for (const row of test.rows.slice(0, 200)) assert.ok(predictionSet(row, c).includes((row[1] as number) > (row[0] as number) ? 1 : 0));
      }
    }
    coverage /= trials;
    assert.ok(coverage >= 0.9 - 0.006, `${score}: mean coverage ${coverage}`);
    if (score === 'lac') assert.ok(coverage <= 0.9 + 1 / 501 + 0.01, `lac: mean coverage ${coverage}`);
  }
  // ⌈(n + 1)(1 − α)⌉ with n = 9 is rank 9 (the largest score); with n = 8 it exceeds n: qhat = ∞.
  const nine = Array.from({ length: 9 }, (_, i) => [1 - i / 10, i / 10]);
  const c9 = calibrateConformal(nine, nine.map(() => 0), { alpha: 0.1 });
  assert.ok(Math.abs(c9.qhat - 0.8) < 1e-12);
  const c8 = calibrateConformal(nine.slice(0, 8), nine.slice(0, 8).map(() => 0), { alpha: 0.1 });
  assert.equal(c8.qhat, Number.POSITIVE_INFINITY);
  assert.deepEqual(predictionSet([0.99, 0.01], c8), [0, 1]);
});

test('operating points: suspicious meets the sensitivity target, definite the specificity target, definite above suspicious', () => {
  const rng = new Rng(9);
  const p: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const y = rng.next() < 0.43 ? 1 : 0;
    labels.push(y);
    p.push(sigmoid((y === 1 ? 1.5 : -1.5) + rng.normal()));
  }
  const ops = chooseOperatingPoints(p, labels, { targetSensitivity: 0.95, targetSpecificity: 0.97 });
  assert.ok(ops.suspicious.sensitivity >= 0.95);
  assert.ok(ops.suspicious.sensitivity < 0.96, 'the highest such threshold, not a lower one');
  assert.ok(ops.definite.specificity >= 0.97);
  assert.ok(ops.definite.specificity < 0.98);
  assert.ok(ops.definite.threshold > ops.suspicious.threshold);
  assert.ok(ops.suspicious.sensitivityLower < ops.suspicious.sensitivity);
  assert.equal(fractureLevel(ops.definite.threshold, ops), 'definite');
  assert.equal(fractureLevel((ops.definite.threshold + ops.suspicious.threshold) / 2, ops), 'suspicious');
  assert.equal(fractureLevel(ops.suspicious.threshold - 1e-9, ops), 'negative');
});

test('temperature scaling (the one in train/metrics, checked against SciPy there) recovers the over-confidence factor of two-logit rows; risk–coverage on a hand example', () => {
  const rng = new Rng(13);
  const logits: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < 4000; i++) {
    const z = 2 * rng.normal();
    labels.push(rng.next() < sigmoid(z) ? 1 : 0);
    logits.push([0, 3 * z]);
  }
  const temperature = fitTemperature(logits.flat(), labels, { numClasses: 2 }).temperature;
  assert.ok(Math.abs(temperature - 3) < 0.3, `T = ${temperature}`);
  const curve = riskCoverageCurve([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], [1, 1, 1, 0]);
  assert.deepEqual(curve.points.map((q) => [q.coverage, q.risk]), [[0.25, 0], [0.5, 0.5], [0.75, 1 / 3], [1, 0.25]]);
  assert.ok(Math.abs(curve.aurc - (0 + 0.5 + 1 / 3 + 0.25) / 4) < 1e-12);
});

test('policies: given cut-off 0.995 measured on validation, JSON round trip through a model card, routing', () => {
  const rng = new Rng(3);
  const v = calibratedCases(3000, rng);
  const policy = givenCutoffPolicy(0.995, { probabilities: v.rows, labels: v.labels });
  assert.equal(policy.method, 'given-cutoff');
  assert.equal(policy.cutoff, 0.995);
  assert.ok(policy.coverage !== null && policy.coverage > 0.1 && policy.coverage < 0.4);
  const card = JSON.parse(JSON.stringify({ architecture: 'densenet169', threshold: policyToJson(policy) }));
  const back = policyFromModelCard(card, 'ckpt/model.json');
  assert.deepEqual(back, policy);
  assert.equal(decide([0.002, 0.998], back).decision, 'auto-report');
  const reviewed = decide([0.1, 0.9], back, { heatmapPath: 'h.png' });
  assert.equal(reviewed.decision, 'radiologist-review');
  assert.equal(reviewed.heatmapPath, 'h.png');
  assert.equal(decide([0.002, 0.998], back, { heatmapPath: 'h.png' }).heatmapPath, undefined, 'auto-reported cases carry no review heatmap');
  const conformal = conformalPolicy(binaryRows(v.rows.map((r) => r[1] as number)), v.labels, { alpha: 0.05 });
  const conformalBack = policyFromModelCard({ threshold: policyToJson(conformal) });
  const d = decide([0.001, 0.999], conformalBack);
  assert.deepEqual(d.predictionSet, [1]);
  assert.equal(d.decision, 'auto-report');
});

test('a calibration bias travels in the policy: written, read back, applied to the fracture logit; absent reads as 0', () => {
  const policy = givenCutoffPolicy(0.9, undefined, { temperature: 2, bias: -1.5 });
  const back = policyFromModelCard(JSON.parse(JSON.stringify({ threshold: policyToJson(policy) })), 'ckpt/model.json');
  assert.equal(back.bias, -1.5);
  const p = calibratedProbabilities([0.4, 3.4], back);
  assert.ok(Math.abs((p[1] as number) - sigmoid(3 / 2 - 1.5)) < 1e-12, `p = ${p[1]}`);
  assert.deepEqual(softmaxRow([0.4, 3.4], 2, -1.5), p);
  // A policy written before the bias existed, and one fitted without it, carry no bias field.
  assert.equal(policyFromModelCard({ threshold: { cutoff: 0.99, temperature: 1.3 } }).bias, undefined);
  assert.equal('bias' in givenCutoffPolicy(0.9, undefined, { temperature: 2, bias: 0 }), false);
  assert.throws(() => policyFromModelCard({ threshold: { cutoff: 0.99, bias: 'high' } }), (e: unknown) => e instanceof HipfracError && e.code === 'HF_TRIAGE_BAD_POLICY' && /bias must be a finite number/.test(e.message));
  assert.throws(() => softmaxRow([1, 2, 3], 1, 0.5), (e: unknown) => e instanceof HipfracError && e.code === 'HF_TRIAGE_BAD_OPTION' && /two-class/.test(e.message));
  assert.throws(() => softmaxRow([1.5]), (e: unknown) => e instanceof HipfracError && e.code === 'HF_TRIAGE_BAD_SCORES' && /at least two/.test(e.message));
  // The same softmax as the calibration figures (train/metrics' applyTemperature), three classes without a bias too.
  const three = softmaxRow([0.2, -1, 2.5], 1.7);
  const direct = [0.2, -1, 2.5].map((z) => Math.exp(z / 1.7));
  direct.forEach((e, k) => assert.ok(Math.abs((three[k] as number) - e / direct.reduce((a, b) => a + b, 0)) < 1e-12));
});

test('bad input: a checkpoint without a cut-off, an invalid policy, non-probabilities, bad options', () => {
  const code = (c: string, pattern?: RegExp) => (e: unknown): boolean => e instanceof HipfracError && e.code === c && (pattern === undefined || pattern.test(e.message));
  assert.throws(() => policyFromModelCard({ architecture: 'resnet50' }, 'ckpt/model.json'), code('HF_TRIAGE_NO_CUTOFF', /triage-calibrate/));
  assert.throws(() => policyFromModelCard({ threshold: {} }), code('HF_TRIAGE_NO_CUTOFF'));
  // The card's minimal form (cut-off only) is read as a given cut-off.
  const minimal = policyFromModelCard({ threshold: { cutoff: 0.99 } });
  assert.equal(minimal.method, 'given-cutoff');
  assert.equal(minimal.measuredError, null);
  assert.equal(minimal.temperature, 1);
  assert.equal(decide([0.005, 0.995], minimal).decision, 'auto-report');
  assert.throws(() => policyFromModelCard({ threshold: { method: 'magic', cutoff: '0.9' } }), code('HF_TRIAGE_BAD_POLICY', /method 'magic'.*cutoff must be a number/));
  assert.throws(() => calibrateCutoff([[2.3, -1]], [0]), code('HF_TRIAGE_BAD_SCORES', /not logits/));
  assert.throws(() => calibrateCutoff([[0.5, 0.5]], [2]), code('HF_TRIAGE_BAD_SCORES'));
  assert.throws(() => calibrateCutoff([[0.5, 0.5]], [0], { targetError: 5 }), code('HF_TRIAGE_BAD_OPTION'));
  assert.throws(() => givenCutoffPolicy(99.5), code('HF_TRIAGE_BAD_OPTION', /0\.995/));
  assert.throws(() => calibrateConformal([[0.5, 0.5]], [0], { alpha: 0 }), code('HF_TRIAGE_BAD_OPTION'));
});

test('the input gate over a route: a failed gate sends a sure case to review with its reasons; a pass or no gate keeps the route', () => {
  const policy = givenCutoffPolicy(0.9);
  const sure = decide([0.01, 0.99], policy);
  assert.equal(sure.decision, 'auto-report');
  const failed = gated(sure, { pass: false, reasons: ['blank or uniform image', 'colour image'] });
  assert.equal(failed.decision, 'radiologist-review');
  assert.equal(failed.reason, 'input gate: blank or uniform image; colour image');
  assert.equal(failed.fractureProbability, sure.fractureProbability, 'the probabilities stay as the model gave them');
  assert.equal(failed.predicted, sure.predicted);
  assert.deepEqual(gated(sure, { pass: true, reasons: [] }), sure);
  assert.deepEqual(gated(sure, undefined), sure);
  const unsure = decide([0.3, 0.7], policy);
  assert.equal(gated(unsure, { pass: false, reasons: ['inverted'] }).reason, 'input gate: inverted');
});
