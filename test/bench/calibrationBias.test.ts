// The calibration study's pieces: stored probabilities turned back into margins, and the two fits scored on held-out
// cases of a model whose mean probability is off (as a class-balanced sampler leaves it).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eceFloor, marginsFromProbabilities, protocolEceFloor, repartitionedEce, scoreCalibration, validationOnlyEce } from '../../bench/lib/calibrationBias.js';
import { calibrationNoiseFloor, positiveClassProbabilities } from '../../src/train/metrics/index.js';
import { Rng } from '../../src/util/index.js';

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** Held-out cases of two kinds of model: `calibrated` draws labels from σ(m / T + b) (T and b recover a perfect
 * calibration), `stepped` from a fracture rate that jumps from 0.1 to 0.6 at m = 0 (no affine map calibrates it). */
function syntheticCases(rng: Rng) {
  const fitted = { temperature: 1.2, bias: -1.4 };
  const cases = (n: number, rate: (m: number) => number) => {
    const margins = Float64Array.from({ length: n }, () => rng.normal(0, 3));
    return { margins, labels: Array.from(margins, (m) => (rng.next() < rate(m) ? 1 : 0)) };
  };
  return {
    fitted,
    calibrated: (n: number) => cases(n, (m) => sigmoid(m / fitted.temperature + fitted.bias)),
    stepped: (n: number) => cases(n, (m) => (m < 0 ? 0.1 : 0.6)),
  };
}

describe('bench/calibration-bias', () => {
  it('recovers the margins behind p = σ(m / T + b), clamping probabilities of exactly 0 or 1', () => {
    const margins = [-6, -0.5, 0, 2.25, 9];
    const probs = margins.map((m) => sigmoid(m / 1.6 - 0.7));
    const back = marginsFromProbabilities(probs, 1.6, -0.7);
    back.margins.forEach((m, i) => assert.ok(Math.abs(m - (margins[i] as number)) < 1e-9, `${m} != ${margins[i]}`));
    assert.equal(back.clamped, 0);
    const edge = marginsFromProbabilities([0, 1, 0.5], 2, 0);
    assert.equal(edge.clamped, 2);
    assert.ok(edge.margins[0]! < -60 && edge.margins[1]! > 60 && Number.isFinite(edge.margins[1]!));
    assert.throws(() => marginsFromProbabilities([1.2], 1, 0), /1.2 is not in \[0, 1\]/);
  });

  it('on held-out cases of a model that predicts fractures twice too often, the bias brings the mean probability to the rate and lowers the NLL', () => {
    const rng = new Rng(17);
    const draw = (n: number): { margins: Float64Array; labels: number[] } => {
      const margins = Float64Array.from({ length: n }, () => rng.normal(-0.5, 2.5));
      return { margins, labels: Array.from(margins, (m) => (rng.next() < sigmoid(m / 1.3 - 1.4) ? 1 : 0)) };
    };
    const val = draw(3000);
    const test = draw(3000);
    const alone = scoreCalibration(val, test, false);
    const withBias = scoreCalibration(val, test, true);
    const rate = test.labels.reduce((a, y) => a + y, 0) / test.labels.length;
    assert.equal(alone.bias, 0);
    assert.ok(Math.abs(withBias.bias + 1.4) < 0.2 && Math.abs(withBias.temperature - 1.3) < 0.15, `T ${withBias.temperature}, b ${withBias.bias}`);
    assert.ok(Math.abs(withBias.meanProbability - rate) < 0.015, `mean p ${withBias.meanProbability} vs rate ${rate}`);
    assert.ok(Math.abs(alone.meanProbability - rate) > 0.05, `T alone: mean p ${alone.meanProbability} vs rate ${rate}`);
    assert.ok(withBias.nll < alone.nll && withBias.brier < alone.brier && withBias.fractureEce < alone.fractureEce);
    const floor = eceFloor(test, withBias);
    assert.ok(floor.median > 0 && floor.upper >= floor.median && withBias.ece < floor.upper * 2);
  });

  it('the protocol floor: a perfectly calibrated model refitted on drawn validation labels scores above the test draw alone, and near zero on many images', () => {
    const rng = new Rng(5);
    const margins = (n: number): Float64Array => Float64Array.from({ length: n }, () => rng.normal(-0.5, 2.5));
    const fitted = { temperature: 1.2, bias: -1.4 };
    const val = margins(553);
    const test = margins(553);
    const protocol = protocolEceFloor(val, test, fitted, { draws: 100 });
    const testAlone = calibrationNoiseFloor(positiveClassProbabilities(test, fitted.temperature, 1, fitted.bias), { seed: 0 });
    assert.ok(protocol.median > testAlone.median && protocol.upper >= protocol.median, `protocol ${protocol.median} vs test alone ${testAlone.median}`);
    assert.ok(protocol.median > 0.015 && protocol.median < 0.06, `median ${protocol.median}`);
    assert.ok(protocol.shareAtGoal > 0 && protocol.shareAtGoal < 1 && protocol.goal === 0.03 && protocol.draws === 100);
    assert.deepEqual(protocolEceFloor(val, test, fitted, { draws: 100 }), protocol, 'seeded: the same draws');
    assert.equal(protocolEceFloor(val, test, fitted, { draws: 20, goal: 1 }).shareAtGoal, 1);
    const large = protocolEceFloor(margins(20000), margins(20000), fitted, { draws: 5 });
    assert.ok(large.median < 0.01, `20,000 images: median ${large.median}`);
  });

  it('re-partitioned ECE: a calibratable model scores what a perfect one does under the protocol, a miscalibrated one more', () => {
    const { fitted, calibrated, stepped } = syntheticCases(new Rng(9));
    const val = calibrated(553);
    const test = calibrated(553);
    const good = repartitionedEce(val, test, { draws: 100 });
    const perfect = protocolEceFloor(val.margins, test.margins, fitted, { draws: 100 });
    assert.ok(Math.abs(good.median - perfect.median) < 0.01, `re-partitioned ${good.median} vs perfect model ${perfect.median}`);
    assert.ok(good.upper >= good.median && good.shareAtGoal > 0 && good.goal === 0.03 && good.draws === 100);
    assert.deepEqual(repartitionedEce(val, test, { draws: 100 }), good, 'seeded: the same partitions');
    const bad = repartitionedEce(stepped(553), stepped(553), { draws: 100 });
    assert.ok(bad.median > good.upper, `miscalibrated ${bad.median} vs calibrated 95th pct ${good.upper}`);
    const large = repartitionedEce(calibrated(10000), calibrated(10000), { draws: 5 });
    assert.ok(large.median < 0.01, `10,000 images: median ${large.median}`);
    const oneLabel = { margins: Float64Array.from([1, 2, 3]), labels: [0, 0, 0] };
    assert.throws(() => repartitionedEce(oneLabel, oneLabel), /need both labels in both parts/);
  });

  it('validation-only ECE partitions the validation cases alone: halves of one set, blind to test, and it tells calibratable from miscalibrated', () => {
    const { calibrated, stepped } = syntheticCases(new Rng(21));
    const val = calibrated(553);
    const good = validationOnlyEce(val, { draws: 100 });
    // The same as re-partitioning two halves of the validation cases (fractures dealt alternately), whatever the order.
    const fractures = val.labels.flatMap((l, i) => (l === 1 ? [i] : []));
    const normals = val.labels.flatMap((l, i) => (l === 0 ? [i] : []));
    const part = (ids: number[]) => ({ margins: Float64Array.from(ids, (i) => val.margins[i] as number), labels: ids.map((i) => val.labels[i] as number) });
    const half = (k: number) => part([...normals.filter((_, j) => j % 2 === k), ...fractures.filter((_, j) => j % 2 === k)]);
    assert.deepEqual(good, repartitionedEce(half(0), half(1), { draws: 100 }));
    // Half as many cases to score: a calibratable model's ECE is larger than over validation and test pooled.
    const pooled = repartitionedEce(val, calibrated(553), { draws: 100 });
    assert.ok(good.median > pooled.median, `validation-only ${good.median} vs pooled ${pooled.median}`);
    // With 2,000 validation cases a miscalibrated model stands out of a calibratable one's spread.
    const bad = validationOnlyEce(stepped(2000), { draws: 50 });
    const fine = validationOnlyEce(calibrated(2000), { draws: 50 });
    assert.ok(bad.median > fine.upper, `miscalibrated ${bad.median} vs calibrated 95th pct ${fine.upper}`);
    assert.throws(() => validationOnlyEce({ margins: Float64Array.from([1, 2, 3, 4]), labels: [0, 0, 0, 1] }), /need both labels in both parts/);
  });
});
