// A complete sample report from synthetic predictions (a run and a three-model comparison), shared by the
// report tests and handy for looking at the result: every section the learner's report will have.
import { encode } from 'fast-png';
import {
  binaryMetrics, bootstrapMetrics, compareModels, expectedCalibrationError, fitTemperature, metricsByGroup, mostConfidentCorrect,
  positiveClassProbabilities, precisionRecallCurve, rocCurve, topLosses,
} from '../../src/train/metrics/index.js';
import {
  breakdownTable, comparisonTable, confusionMatrixHtml, figure, figureRow, gallery, keyValueTable, lineChart, metricsTable, note,
  paragraph, prChart, reliabilityChart, renderReport, rocChart, statCards, subheading, type ReportSection,
} from '../../src/report/index.js';
import { Rng } from '../../src/util/index.js';

export interface SampleCohort {
  readonly labels: number[];
  readonly views: string[];
  readonly implants: boolean[];
  /** Per model: validation-style margins (logits z1 − z0) on the same cases. */
  readonly margins: Record<string, Float64Array>;
  readonly keys: string[];
}

/** Synthetic test cases: ~43 % fractures, lateral views harder, three models of different skill. */
export function sampleCohort(n: number, seed: number): SampleCohort {
  const rng = new Rng(seed);
  const labels: number[] = [];
  const views: string[] = [];
  const implants: boolean[] = [];
  const keys: string[] = [];
  const skills: Record<string, number> = { densenet169: 3.2, resnet50: 2.6, alexnet: 1.6 };
  const margins: Record<string, Float64Array> = Object.fromEntries(Object.keys(skills).map((m) => [m, new Float64Array(n)]));
  for (let i = 0; i < n; i++) {
    const y = rng.next() < 0.43 ? 1 : 0;
    const view = rng.next() < 0.7 ? 'AP' : 'lateral';
    labels.push(y);
    views.push(view);
    implants.push(rng.next() < 0.1);
    keys.push(`P${(rng.nextUint32() >>> 8).toString(16).padStart(6, '0')}`);
    const shared = rng.normal(0, 1);
    for (const [model, skill] of Object.entries(skills)) {
      const s = (view === 'lateral' ? 0.6 : 1) * skill;
      // Over-confident logits (× 2.2) so that temperature scaling has something to fix.
      margins[model]![i] = 2.2 * ((y === 1 ? s : -s) / 2 + 0.9 * (0.6 * shared + 0.8 * rng.normal(0, 1)));
    }
  }
  return { labels, views, implants, margins, keys };
}

/** A small grey "radiograph" tile as PNG bytes: a soft femur-like shape, a dark line when fractured. */
export function sampleTile(fractured: boolean, seed: number, size = 96): Uint8Array {
  const rng = new Rng(seed);
  const data = new Uint8Array(size * size);
  const angle = rng.uniform(-0.3, 0.3);
  for (let yy = 0; yy < size; yy++) {
    for (let xx = 0; xx < size; xx++) {
      const u = (xx - size / 2) * Math.cos(angle) + (yy - size / 2) * Math.sin(angle);
      const bone = Math.exp(-(u * u) / (2 * (size / 9) ** 2));
      const head = Math.exp(-(((xx - size * 0.45) ** 2 + (yy - size * 0.22) ** 2) / (2 * (size / 8) ** 2)));
      let v = 30 + 180 * Math.max(bone, head) + rng.normal(0, 6);
      if (fractured && Math.abs(yy - size * 0.42 - 0.3 * (xx - size / 2)) < 1.5 && bone > 0.3) v -= 110;
      data[yy * size + xx] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return encode({ width: size, height: size, data, channels: 1, depth: 8 });
}

export interface SampleReport {
  readonly run: string;
  readonly comparison: string;
  readonly sections: ReportSection[];
}

/** Builds the run report of the best model and the comparison report; `caption` is appended to a gallery caption (tests inject markup there). */
export async function sampleReports(options: { n?: number; seed?: number; injectedCaption?: string } = {}): Promise<SampleReport> {
  const cohort = sampleCohort(options.n ?? 600, options.seed ?? 1);
  const { labels } = cohort;
  const half = Math.floor(labels.length / 2);
  const validation = { labels: labels.slice(0, half) };
  const test = { labels: labels.slice(half) };
  const best = 'densenet169';
  const margins = cohort.margins[best]!;
  const fit = fitTemperature(margins.slice(0, half), validation.labels, { numClasses: 1 });
  const rawProbs = positiveClassProbabilities(margins.slice(half), 1, 1);
  const probs = positiveClassProbabilities(margins.slice(half), fit.temperature, 1);
  const evaluation = binaryMetrics(probs, test.labels);
  const boot = bootstrapMetrics(probs, test.labels, { resamples: 300, seed: 0 });
  const calBefore = expectedCalibrationError(rawProbs, test.labels, { mode: 'positive-class' });
  const calAfter = expectedCalibrationError(probs, test.labels, { mode: 'positive-class' });
  const roc = rocCurve(probs, test.labels);
  const pr = precisionRecallCurve(probs, test.labels);

  const epochs = Array.from({ length: 14 }, (_, i) => i + 1);
  const trainLoss = epochs.map((e) => 0.25 + 0.5 * Math.exp(-e / 3));
  const validLoss = epochs.map((e) => 0.3 + 0.45 * Math.exp(-e / 3.5) + 0.004 * Math.max(0, e - 9));
  const lrs = Array.from({ length: 90 }, (_, i) => 1e-7 * 10 ** (i * 8 / 89));
  const lrLoss = lrs.map((lr) => 0.7 - 0.35 / (1 + Math.exp(-(Math.log10(lr) + 4) * 2)) + (lr > 0.02 ? 0.6 * Math.log10(lr / 0.02) : 0));

  const tiles = (cases: ReturnType<typeof topLosses>): { image: Uint8Array; caption: string; key: string }[] =>
    cases.map((c, k) => ({ image: sampleTile(c.actual === 1, c.index), caption: k === 0 && options.injectedCaption !== undefined ? c.caption + options.injectedCaption : c.caption, key: cohort.keys[half + c.index]! }));

  const groups = metricsByGroup(probs, test.labels, { view: cohort.views.slice(half), implant: cohort.implants.slice(half) }, { bootstrap: { resamples: 200, seed: 0 } });
  const sections: ReportSection[] = [
    {
      id: 'summary', title: 'Summary', html: statCards([
        { label: 'Accuracy', value: `${(evaluation.metrics.accuracy * 100).toFixed(1)} %`, detail: `95 % CI ${(boot.intervals.accuracy.lower * 100).toFixed(1)}–${(boot.intervals.accuracy.upper * 100).toFixed(1)}` },
        { label: 'ROC-AUC', value: evaluation.metrics.rocAuc.toFixed(3), detail: `95 % CI ${boot.intervals.rocAuc.lower.toFixed(3)}–${boot.intervals.rocAuc.upper.toFixed(3)}` },
        { label: 'Sensitivity', value: `${(evaluation.metrics.sensitivity * 100).toFixed(1)} %` },
        { label: 'Specificity', value: `${(evaluation.metrics.specificity * 100).toFixed(1)} %` },
        { label: 'Test cases', value: String(evaluation.n), detail: `${evaluation.positives} fractures` },
      ]) + paragraph(`Synthetic sample: ${best} evaluated on ${evaluation.n} held-out cases at threshold 0.5 after temperature scaling (T = ${fit.temperature.toFixed(2)}).`),
    },
    {
      id: 'configuration', title: 'Configuration and data', html: keyValueTable({
        architecture: best, imageSize: 224, batchSize: 32, optimiser: { name: 'Adam', betas: [0.95, 0.999] }, frozenEpochs: 8, patience: 7,
        data: { cases: labels.length, fractures: labels.reduce((a, b) => a + b, 0), split: 'by patient, 50/50', patientKey: 'HMAC-SHA256 pseudonym' },
      }),
    },
    {
      id: 'learning-curves', title: 'Learning curves', html: figureRow([
        figure(await lineChart([{ name: 'training loss', x: epochs, y: trainLoss }, { name: 'validation loss', x: epochs, y: validLoss, dashed: true }],
          { xLabel: 'epoch', yLabel: 'cross-entropy loss', markers: [{ x: 9, label: 'unfrozen' }] }), 'Loss per epoch; the body was unfrozen after epoch 8.'),
        figure(await lineChart([{ name: 'loss', x: lrs, y: lrLoss }], { xLabel: 'learning rate', yLabel: 'smoothed loss', logX: true, markers: [{ x: lrs[45]!, y: lrLoss[45]!, label: `valley ${lrs[45]!.toExponential(1)}` }] }),
          'LR range test with the body frozen; the suggestion (valley) is marked.'),
      ]),
    },
    {
      id: 'metrics', title: 'Metrics', html: metricsTable({ ...boot.intervals, ece: calAfter.ece }, { caption: 'Test set, 300 bootstrap resamples' })
        + subheading('Confusion matrix') + confusionMatrixHtml(evaluation.confusion),
    },
    {
      id: 'curves', title: 'ROC and precision-recall', html: figureRow([
        figure(await rocChart([{ name: best, fpr: roc.fpr, tpr: roc.tpr, auc: evaluation.metrics.rocAuc }]), 'ROC curve; the dashed diagonal is chance.'),
        figure(await prChart([{ name: best, precision: pr.precision, recall: pr.recall, ap: evaluation.metrics.prAuc }], { prevalence: evaluation.positives / evaluation.n }), 'Precision-recall; the dashed line is the fracture rate.'),
      ]),
    },
    {
      id: 'calibration', title: 'Calibration', html: figure(await reliabilityChart([
        { name: 'before scaling', bins: calBefore.bins, ece: calBefore.ece }, { name: `temperature ${fit.temperature.toFixed(2)}`, bins: calAfter.bins, ece: calAfter.ece },
      ], { mode: 'positive-class' }), 'Reliability diagram (15 bins); the diagonal is perfect calibration.')
        + note(`Temperature fitted on the validation half: NLL ${fit.nllBefore.toFixed(3)} → ${fit.nllAfter.toFixed(3)}.`),
    },
    { id: 'subgroups', title: 'By view and implant', html: breakdownTable(groups) },
    {
      id: 'top-losses', title: 'Top losses', html: gallery(tiles(topLosses(probs, test.labels, 8)), { caption: 'prediction/actual/loss/probability of the actual class' }),
    },
    { id: 'most-confident', title: 'Most confident correct', html: gallery(tiles(mostConfidentCorrect(probs, test.labels, 4))) },
  ];
  const run = renderReport({ title: `Hip fracture detection — ${best}`, subtitle: 'Synthetic sample run', generatedAt: '2026-11-27 07:00 UTC', meta: 'seed 1', sections });

  const testProbs = Object.fromEntries(Object.keys(cohort.margins).map((model) => [model, positiveClassProbabilities(cohort.margins[model]!.slice(half), 1, 1)]));
  const compared = compareModels(test.labels, testProbs, { bootstrap: { resamples: 200, seed: 0 } });
  const cost: Record<string, { parameters: number; trainingSeconds: number; imagesPerSecond: number }> = {
    densenet169: { parameters: 14_149_480, trainingSeconds: 3725, imagesPerSecond: 41.2 },
    resnet50: { parameters: 25_557_032, trainingSeconds: 2410, imagesPerSecond: 63.5 },
    alexnet: { parameters: 61_100_840, trainingSeconds: 610, imagesPerSecond: 310.4 },
  };
  const comparisonRows = compared.map((c) => ({
    model: c.model, accuracy: c.intervals.accuracy, precision: c.intervals.precision, recall: c.intervals.recall, f1: c.intervals.f1,
    rocAuc: c.intervals.rocAuc, ...cost[c.model]!, ...(c.mcnemar === undefined ? {} : { mcnemar: c.mcnemar }),
  }));
  const comparison = renderReport({
    title: 'Architecture comparison', subtitle: 'Same protocol, same test cases', generatedAt: '2026-11-27 07:00 UTC', sections: [
      { id: 'table', title: 'Comparison table', html: comparisonTable(comparisonRows, { caption: 'Test set; intervals from 200 bootstrap resamples' }) },
      {
        id: 'roc', title: 'ROC curves', html: figure(await rocChart(compared.map((c) => {
          const curve = rocCurve(testProbs[c.model]!, test.labels);
          return { name: c.model, fpr: curve.fpr, tpr: curve.tpr, auc: c.evaluation.metrics.rocAuc };
        }))),
      },
    ],
  });
  return { run, comparison, sections };
}
