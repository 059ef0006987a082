// Metrics against scikit-learn and scipy computed at test time by the reference Python (test/helpers/references.ts)
// on random data with many tied scores. Skips where scikit-learn or scipy is missing; fails there under CI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import {
  averagePrecision, binaryMetrics, brierScore, confusionMatrix, expectedCalibrationError, fitTemperature, mcnemarFromCounts,
  precisionRecallCurve, quantileSorted, rocAuc, rocCurve,
} from '../../src/train/metrics/index.js';
import { Rng } from '../../src/util/index.js';
import { needs, PYTHON } from '../helpers/references.js';

/** Runs `script` with `params` (JSON on stdin, as `params`) and returns the JSON it assigns to `result`. */
function python(script: string, params: unknown): unknown {
  const wrapper = `import json, sys\nparams = json.load(sys.stdin)\n${script}\nprint(json.dumps(result))\n`;
  const r = spawnSync(PYTHON, ['-c', wrapper], { input: JSON.stringify(params), encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  if (r.error !== undefined || r.status !== 0) throw new Error(`reference Python failed: ${r.error?.message ?? r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout);
}


interface Dataset { name: string; probs: number[]; labels: number[] }

/** Scores rounded to `decimals` so that many cases tie, positives shifted up by `separation`. */
function dataset(name: string, n: number, decimals: number, separation: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const labels = Array.from({ length: n }, () => (rng.next() < 0.43 ? 1 : 0));
  const scale = 10 ** decimals;
  const probs = labels.map((y) => Math.round(1 / (1 + Math.exp(-rng.normal(y * separation - separation / 2, 1.2))) * scale) / scale);
  return { name, probs, labels };
}

const DATASETS: Dataset[] = [
  dataset('n=40, 1 decimal', 40, 1, 1, 1),
  dataset('n=300, 2 decimals', 300, 2, 2, 2),
  dataset('n=1000, continuous', 1000, 12, 1.5, 3),
  dataset('n=500, 1 decimal, hard', 500, 1, 0.3, 4),
];

const REFERENCE = String.raw`
import numpy as np
from sklearn import metrics
from sklearn.calibration import calibration_curve
from scipy import optimize, stats
result = {'datasets': []}
for d in params['datasets']:
    p = np.array(d['probs'], dtype=np.float64); y = np.array(d['labels'])
    pred = (p >= 0.5).astype(int)
    tn, fp, fn, tp = metrics.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    fpr, tpr, _ = metrics.roc_curve(y, p)
    fpr_all, tpr_all, thr_all = metrics.roc_curve(y, p, drop_intermediate=False)
    prec, rec, prthr = metrics.precision_recall_curve(y, p)
    true10, pred10 = calibration_curve(y, p, n_bins=10, strategy='uniform')
    result['datasets'].append({
        'accuracy': metrics.accuracy_score(y, pred), 'precision': metrics.precision_score(y, pred, zero_division=0),
        'recall': metrics.recall_score(y, pred), 'f1': metrics.f1_score(y, pred), 'specificity': tn / (tn + fp),
        'confusion': [int(tp), int(fp), int(tn), int(fn)],
        'auc': metrics.roc_auc_score(y, p), 'ap': metrics.average_precision_score(y, p), 'brier': metrics.brier_score_loss(y, p),
        'fpr': fpr.tolist(), 'tpr': tpr.tolist(), 'fpr_all': fpr_all.tolist(), 'tpr_all': tpr_all.tolist(), 'thr_all': thr_all[1:].tolist(),
        'precision_curve': prec.tolist(), 'recall_curve': rec.tolist(), 'pr_thresholds': prthr.tolist(),
        'cal_true': true10.tolist(), 'cal_pred': pred10.tolist(),
    })
mc = params['multiclass']
result['multiclass'] = metrics.confusion_matrix(mc['actual'], mc['predicted']).tolist()
m = np.array(params['margins']); ym = np.array(params['marginLabels'])
def nll(t):
    z = m / t
    return float(np.mean(np.logaddexp(0, z) - ym * z))
result['temperature'] = optimize.minimize_scalar(nll, bounds=(0.05, 20), method='bounded', options={'xatol': 1e-10}).x
ys = np.array(params['shiftedLabels'])
def nll2(v):
    z = v[0] * m + v[1]
    return float(np.mean(np.logaddexp(0, z) - ys * z))
def grad2(v):
    r = 1 / (1 + np.exp(-(v[0] * m + v[1]))) - ys
    return np.array([np.mean(r * m), np.mean(r)])
fit = optimize.minimize(nll2, [1.0, 0.0], jac=grad2, method='BFGS', options={'gtol': 1e-13})
result['temperatureWithBias'] = [1 / fit.x[0], fit.x[1]]
result['mcnemar'] = []
for b, c in params['mcnemar']:
    n = b + c
    if n < 25:
        result['mcnemar'].append(stats.binomtest(min(b, c), n, 0.5).pvalue if n > 0 else 1.0)
    else:
        result['mcnemar'].append(stats.chi2.sf((abs(b - c) - 1) ** 2 / n, 1))
q = np.array(params['quantileValues'])
result['quantiles'] = [float(np.percentile(q, 100 * a)) for a in params['quantiles']]
`;

interface Reference {
  datasets: {
    accuracy: number; precision: number; recall: number; f1: number; specificity: number; confusion: number[];
    auc: number; ap: number; brier: number; fpr: number[]; tpr: number[]; fpr_all: number[]; tpr_all: number[]; thr_all: number[];
    precision_curve: number[]; recall_curve: number[]; pr_thresholds: number[]; cal_true: number[]; cal_pred: number[];
  }[];
  multiclass: number[][];
  temperature: number;
  temperatureWithBias: [number, number];
  mcnemar: number[];
  quantiles: number[];
}

function assertArraysClose(actual: ArrayLike<number>, expected: readonly number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs((actual[i] as number) - (expected[i] as number)) <= tol, `${what}[${i}]: ${actual[i]} != ${expected[i]}`);
  }
}

describe('metrics against scikit-learn and scipy', needs('numpy', 'sklearn', 'scipy'), () => {
  const mcRng = new Rng(9);
  const multiclass = {
    actual: Array.from({ length: 200 }, () => mcRng.int(0, 3)),
    predicted: Array.from({ length: 200 }, () => mcRng.int(0, 3)),
  };
  const tempRng = new Rng(10);
  const margins = Array.from({ length: 2000 }, () => tempRng.normal(0, 3));
  const marginLabels = margins.map((z) => (tempRng.next() < 1 / (1 + Math.exp(-z / 1.7)) ? 1 : 0));
  const shiftedLabels = margins.map((z) => (tempRng.next() < 1 / (1 + Math.exp(-z / 1.7 + 1.1)) ? 1 : 0));
  const mcnemarPairs = [[0, 0], [1, 0], [10, 2], [7, 17], [12, 12], [13, 12], [30, 10], [100, 60], [5, 400]];
  const quantileValues = Array.from({ length: 37 }, (_, i) => Math.sin(i) * 10);
  const quantiles = [0, 0.025, 0.5, 0.975, 1];
  // One interpreter start for every reference value: importing scikit-learn takes seconds here.
  let reference: Reference | undefined;
  const ref = (): Reference => {
    reference ??= python(REFERENCE, { datasets: DATASETS, multiclass, margins, marginLabels, shiftedLabels, mcnemar: mcnemarPairs, quantileValues, quantiles }) as Reference;
    return reference;
  };

  for (const [k, d] of DATASETS.entries()) {
    it(`threshold metrics, ROC-AUC and average precision (${d.name})`, () => {
      const r = ref().datasets[k]!;
      const e = binaryMetrics(d.probs, d.labels);
      const c = e.confusion;
      assert.deepEqual([c.tp, c.fp, c.tn, c.fn], r.confusion);
      for (const [name, value, expected] of [
        ['accuracy', e.metrics.accuracy, r.accuracy], ['precision', e.metrics.precision, r.precision],
        ['recall', e.metrics.recall, r.recall], ['f1', e.metrics.f1, r.f1], ['specificity', e.metrics.specificity, r.specificity],
        ['rocAuc', e.metrics.rocAuc, r.auc], ['prAuc', e.metrics.prAuc, r.ap],
        ['rocAuc()', rocAuc(d.probs, d.labels), r.auc], ['brierScore()', brierScore(d.probs, d.labels), r.brier], ['averagePrecision()', averagePrecision(d.probs, d.labels), r.ap],
      ] as const) {
        assert.ok(Math.abs(value - expected) <= 1e-12, `${name}: ${value} != scikit-learn ${expected}`);
      }
    });

    it(`ROC and PR curve points (${d.name})`, () => {
      const r = ref().datasets[k]!;
      const roc = rocCurve(d.probs, d.labels);
      assertArraysClose(roc.fpr, r.fpr, 1e-15, 'fpr');
      assertArraysClose(roc.tpr, r.tpr, 1e-15, 'tpr');
      const all = rocCurve(d.probs, d.labels, { dropIntermediate: false });
      assertArraysClose(all.fpr, r.fpr_all, 1e-15, 'fpr (all)');
      assertArraysClose(all.thresholds.slice(1), r.thr_all, 0, 'thresholds');
      const pr = precisionRecallCurve(d.probs, d.labels);
      assertArraysClose(pr.precision, r.precision_curve, 1e-15, 'precision');
      assertArraysClose(pr.recall, r.recall_curve, 1e-15, 'recall');
      assertArraysClose(pr.thresholds, r.pr_thresholds, 0, 'pr thresholds');
    });

    it(`reliability bins equal calibration_curve (${d.name})`, () => {
      const r = ref().datasets[k]!;
      const bins = expectedCalibrationError(d.probs, d.labels, { bins: 10, mode: 'positive-class' }).bins.filter((b) => b.count > 0);
      assertArraysClose(bins.map((b) => b.observed), r.cal_true, 1e-12, 'fraction of positives');
      assertArraysClose(bins.map((b) => b.meanPredicted), r.cal_pred, 1e-12, 'mean predicted');
    });
  }

  it('multi-class confusion matrix', () => {
    assert.deepEqual(confusionMatrix(multiclass.actual, multiclass.predicted), ref().multiclass);
  });

  it('temperature equals scipy bounded minimisation of the NLL', () => {
    const fitted = fitTemperature(margins, marginLabels, { numClasses: 1 }).temperature;
    assert.ok(Math.abs(fitted - ref().temperature) < 1e-6, `T ${fitted} != scipy ${ref().temperature}`);
  });

  it('temperature with a bias equals scipy BFGS on the two-parameter NLL', () => {
    const fit = fitTemperature(margins, shiftedLabels, { numClasses: 1, bias: true });
    const [t, b] = ref().temperatureWithBias;
    assert.ok(Math.abs(fit.temperature - t) < 1e-6 && Math.abs(fit.bias - b) < 1e-6, `(T, b) (${fit.temperature}, ${fit.bias}) != scipy (${t}, ${b})`);
  });

  it('McNemar p-values equal scipy binomtest / chi2.sf', () => {
    mcnemarPairs.forEach(([b, c], i) => {
      const p = mcnemarFromCounts(b!, c!).pValue;
      const expected = ref().mcnemar[i]!;
      assert.ok(Math.abs(p - expected) <= 1e-12 + 1e-9 * expected, `b=${b} c=${c}: ${p} != ${expected}`);
    });
  });

  it('bootstrap percentiles interpolate as numpy.percentile', () => {
    const sorted = Float64Array.from(quantileValues).sort();
    assertArraysClose(quantiles.map((q) => quantileSorted(sorted, q)), ref().quantiles, 1e-12, 'quantiles');
  });
});
