// Builds the HTML report of one training run from its result: summary, configuration and data,
// learning curves, LR finder, metrics with intervals, ROC/PR, calibration, per-view table, galleries.
import path from 'node:path';
import { boxesInRegion, cachedPngPath, decodeGrey, type ManifestRow } from '../../data/index.js';
import { boxHeadFractions, ClassifierOutputTarget, drawBoxOutlines, encodeRgbPng, GradCam, heatmapsFromTensor, renderOverlay, type Heatmap } from '../../explain/index.js';
import { DEFAULT_BOX_THRESHOLD, type Classifier } from '../../models/index.js';
import { tensor, tidy } from '../../torch/index.js';
import {
  breakdownTable,
  confusionMatrixHtml,
  figure,
  figureRow,
  formatDuration,
  gallery,
  keyValueTable,
  lineChart,
  metricsTable,
  note,
  paragraph,
  prChart,
  reliabilityChart,
  renderReport,
  rocChart,
  statCards,
  subheading,
  writeReport,
  type GalleryItem,
  type ReportSection,
} from '../../report/index.js';
import type { LrFinderResult, TrainConfig } from '../../train/index.js';
import type { CaptionedCase } from '../../train/metrics/index.js';
import type { Evaluation } from './evaluate.js';
import { sampleRegion, type TrainRunResult } from './trainRun.js';

export interface RunReportInput {
  readonly run: TrainRunResult;
  readonly config: TrainConfig;
  readonly datasetDir: string;
  readonly outDir: string;
  /** Sections added by later stages (heatmaps, robustness, triage). */
  readonly extraSections?: readonly ReportSection[];
  readonly title?: string;
}

const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : '–');

/** A case of a gallery: its manifest row, the class the model predicted and its caption. */
export interface GalleryCase {
  readonly row: ManifestRow;
  readonly predicted: number;
  /** "prediction/actual/loss/probability". */
  readonly caption: string;
}

/** The gallery cases of a run's evaluated images (the evaluation's case indices index its evaluated pass). */
function galleryCases(cases: readonly CaptionedCase[], run: TrainRunResult): GalleryCase[] {
  return cases.map((c) => ({ row: run.evaluatedRows[run.evaluated.indices[c.index] as number] as ManifestRow, predicted: c.predicted, caption: c.caption }));
}

/**
 * The study's top-loss and most-confident galleries, each case with its Grad-CAM for the predicted class over what
 * the model saw (the hip region under crop 'roi'), captioned "prediction/actual/loss/probability"; the data's fracture
 * boxes drawn in green, and the box head's predicted ones in yellow when the model has a box head.
 */
export async function caseGallery(cases: readonly GalleryCase[], model: Classifier, datasetDir: string, config: Pick<TrainConfig, 'inputSize' | 'crop'>): Promise<string> {
  if (cases.length === 0) return paragraph('No cases.', { muted: true });
  model.eval();
  const cam = new GradCam(model, model.spec.gradCamLayer);
  const items: GalleryItem[] = [];
  try {
    for (const c of cases) {
      const row = c.row;
      const file = cachedPngPath(datasetDir, row);
      const region = sampleRegion(row, config);
      const input = await decodeGrey(file, { width: config.inputSize, height: config.inputSize }, 'squish', region);
      const shown = await decodeGrey(file, { width: 224, height: 224 }, 'squish', region);
      const [heatmap] = tidy(() => heatmapsFromTensor(cam.compute(tensor(Float32Array.from(input, (v) => v / 65535), [1, 1, config.inputSize, config.inputSize]), new ClassifierOutputTarget(c.predicted))));
      const overlay = renderOverlay({ width: 224, height: 224, data: shown, maxValue: 65535 }, heatmap as Heatmap);
      // True fracture boxes in green, the box head's predicted ones in yellow (models trained with --box-loss-weight).
      drawBoxOutlines(overlay, boxesInRegion(row.boxes ?? [], region), [0, 220, 0]);
      if (model.boxHead !== null) {
        const [predicted] = tidy(() => boxHeadFractions(model, tensor(Float32Array.from(input, (v) => v / 65535), [1, 1, config.inputSize, config.inputSize]), DEFAULT_BOX_THRESHOLD));
        drawBoxOutlines(overlay, (predicted ?? []).map((b) => b.box), [255, 230, 0]);
      }
      items.push({ image: await encodeRgbPng(overlay), caption: c.caption, key: row.id.slice(0, 12) });
    }
  } finally {
    cam.dispose();
  }
  const boxes = `${cases.some((c) => c.row.boxes !== undefined) ? ' Green: the fracture boxes of the data.' : ''}${model.boxHead !== null ? ' Yellow: the fracture boxes the model predicts (box head).' : ''}`;
  return `${paragraph(`Heat: Grad-CAM of the predicted class on ${model.spec.gradCamLayer}${config.crop === 'roi' ? ', over the hip region the model saw' : ''}.${boxes}`, { muted: true })}${gallery(items, { columns: 4 })}`;
}

async function lrFinderFigure(result: LrFinderResult | null, title: string): Promise<string> {
  if (result === null || result.lrs.length < 2) return '';
  return figure(
    await lineChart([{ name: 'smoothed loss', x: result.lrs, y: result.losses }], {
      xLabel: 'learning rate',
      yLabel: 'loss',
      logX: true,
      title,
      markers: [{ x: result.suggested, label: `${result.method} ${result.suggested.toExponential(1)}` }],
    }),
    `${title}: suggestions valley ${result.suggestions.valley.toExponential(2)}, steep ${result.suggestions.steep.toExponential(2)}, minimum/10 ${result.suggestions.minimum.toExponential(2)}.`,
  );
}

/** The validation figure each monitor keeps the best epoch by (config.monitor), as the summary names it. */
const MONITOR_NAMES: Readonly<Record<TrainConfig['monitor'], string>> = { accuracy: 'validation accuracy', 'roc-auc': 'validation ROC AUC' };

/** What the summary section reads of a run. */
export type SummaryRun = Pick<TrainRunResult, 'protocol' | 'trainRows' | 'validRows' | 'history' | 'seconds' | 'imagesPerSecond' | 'fromScratch'> & {
  readonly evaluation: Pick<Evaluation, 'set' | 'n' | 'threshold' | 'metrics' | 'intervals'>;
};

/** Section "Summary": headline figures, the epoch kept and by which validation figure, which images each number comes from. */
export function summarySection(run: SummaryRun, config: TrainConfig): ReportSection {
  const ev = run.evaluation;
  const m = ev.metrics.metrics;
  const iv = ev.intervals.intervals;
  const onTest = ev.set === 'test';
  const setName = onTest ? 'test' : 'validation';
  return {
    id: 'summary',
    title: 'Summary',
    html:
      statCards([
        { label: 'Accuracy', value: pct(m.accuracy), detail: `95 % CI ${pct(iv.accuracy.lower)}–${pct(iv.accuracy.upper)}` },
        { label: 'ROC AUC', value: m.rocAuc.toFixed(3), detail: `95 % CI ${iv.rocAuc.lower.toFixed(3)}–${iv.rocAuc.upper.toFixed(3)}` },
        { label: 'Sensitivity', value: pct(m.sensitivity), detail: `specificity ${pct(m.specificity)}` },
        { label: onTest ? 'Test images' : 'Validation images', value: String(ev.n), detail: onTest ? `${run.trainRows.length} training, ${run.validRows.length} validation` : `${run.trainRows.length} for training` },
        { label: 'Training time', value: formatDuration(run.seconds), detail: `${run.history.length} epochs, ${run.imagesPerSecond.train.toFixed(1)} img/s` },
      ]) +
      paragraph(
        `${config.arch} with a ${config.head} head, ${run.fromScratch ? 'trained from random weights (no ImageNet weights were given)' : 'fine-tuned from ImageNet weights'}. ` +
          `Best ${MONITOR_NAMES[config.monitor]} at ${run.protocol.bestEpoch >= 0 ? `epoch ${run.protocol.bestEpoch + 1} of the unfrozen stage` : 'the head-only stage'}` +
          `${run.protocol.stoppedEarly ? '; early stopping ended training' : ''}. Decision threshold ${ev.threshold}.`,
      ) +
      (onTest
        ? paragraph(`Every figure in this report is measured on the ${ev.n} held-out test images, which took no part in training, epoch choice, temperature or the triage cut-off; those were chosen on the ${run.validRows.length} validation images.`)
        : note('This split has no test set: the figures are measured on the validation images that also chose the epoch, the temperature and the triage cut-off, so they are optimistic. Run `hipfrac split --test 0.15` before training.')) +
      keyValueTable(
        {
          'epochs (early stopping)': 'validation',
          temperature: 'validation',
          'triage cut-off': 'validation',
          'metrics, curves, calibration, breakdowns, galleries, heatmaps, attacks': setName,
        },
        { caption: 'Which images each number comes from' },
      ) +
      (run.fromScratch ? note('Without ImageNet weights the study\'s head-only stage trains a head on random features; the figures are not comparable to the study\'s.') : ''),
  };
}

export async function runSections(input: RunReportInput): Promise<ReportSection[]> {
  const { run, config, datasetDir } = input;
  const ev = run.evaluation;
  const m = ev.metrics.metrics;
  const iv = ev.intervals.intervals;
  const sections: ReportSection[] = [summarySection(run, config)];
  const onTest = ev.set === 'test';
  const setName = onTest ? 'test' : 'validation';

  const byLabel = new Map<string, number>();
  const byView = new Map<string, number>();
  for (const r of [...run.trainRows, ...run.validRows, ...run.testRows]) {
    byLabel.set(r.labelName ?? String(r.label), (byLabel.get(r.labelName ?? String(r.label)) ?? 0) + 1);
    byView.set(r.view, (byView.get(r.view) ?? 0) + 1);
  }
  sections.push({
    id: 'configuration',
    title: 'Configuration and data',
    html:
      keyValueTable({ ...config, dataFingerprint: run.dataFingerprint }, { caption: 'Training configuration (the study protocol unless changed)' }) +
      keyValueTable(
        {
          images: { training: run.trainRows.length, validation: run.validRows.length, test: run.testRows.length },
          labels: Object.fromEntries(byLabel),
          views: Object.fromEntries(byView),
          split: `${run.splitUnit === 'patient' ? 'patient-level, stratified by label: no patient in two sets' : 'image-level (the dataset has no patient keys), stratified by label: images of one patient may fall in two sets'}${onTest ? '; test held out' : '; no test set'}`,
        },
        { caption: 'Data' },
      ),
  });

  const epochs = run.history.map((_, i) => i + 1);
  const frozenCount = run.history.filter((h) => h.stage === 'frozen').length;
  sections.push({
    id: 'learning-curves',
    title: 'Learning curves',
    html: figureRow([
      figure(
        await lineChart(
          [
            { name: 'training loss', x: epochs, y: run.history.map((h) => h.trainLoss) },
            { name: 'validation loss', x: epochs, y: run.history.map((h) => h.validLoss), dashed: true },
          ],
          { xLabel: 'epoch', yLabel: 'loss', markers: frozenCount > 0 && frozenCount < run.history.length ? [{ x: frozenCount + 0.5, label: 'unfreeze' }] : [] },
        ),
        'Loss per epoch (head only, then all layers).',
      ),
      figure(
        await lineChart(
          [
            { name: 'validation accuracy', x: epochs, y: run.history.map((h) => h.validAccuracy) },
            // Two classes: the validation ROC AUC too (what --monitor roc-auc keeps the epoch by).
            ...(run.history.some((h) => Number.isFinite(h.validRocAuc)) ? [{ name: 'validation ROC AUC', x: epochs, y: run.history.map((h) => h.validRocAuc), dashed: true }] : []),
          ],
          { xLabel: 'epoch', yLabel: 'validation figure', yDomain: [0, 1] },
        ),
        `Validation figures per epoch; the epoch kept has the best ${MONITOR_NAMES[config.monitor]}.`,
      ),
    ]),
  });

  const lrFigures = [await lrFinderFigure(run.protocol.lrFinder.frozen, 'LR range test, body frozen'), await lrFinderFigure(run.protocol.lrFinder.unfrozen, 'LR range test, all layers')].filter((f) => f !== '');
  sections.push({
    id: 'lr-finder',
    title: 'Learning-rate range test',
    html:
      (lrFigures.length > 0 ? figureRow(lrFigures) : paragraph('The learning rates were given; the range test did not run.', { muted: true })) +
      paragraph(`Head stage max LR ${run.protocol.lrs.frozen.toExponential(2)}; unfrozen stage LRs ${run.protocol.lrs.unfrozen.map((x) => x.toExponential(1)).join(', ')} (slice(lr/${config.lrMult}, lr) over the layer groups).`),
  });

  sections.push({
    id: 'metrics',
    title: 'Metrics',
    html:
      paragraph(`On the ${ev.n} ${setName} images; 95 % bootstrap intervals.`, { muted: true }) +
      metricsTable({ ...iv }) +
      subheading('Confusion matrix') +
      confusionMatrixHtml(ev.metrics.confusion) +
      figureRow([
        figure(await rocChart([{ name: config.arch, fpr: ev.roc.fpr, tpr: ev.roc.tpr, auc: m.rocAuc }]), `ROC curve on the ${setName} set.`),
        figure(await prChart([{ name: config.arch, precision: ev.pr.precision, recall: ev.pr.recall, ap: m.prAuc }], { prevalence: ev.metrics.positives / Math.max(1, ev.n) }), `Precision–recall curve on the ${setName} set.`),
      ]),
  });

  sections.push({
    id: 'calibration',
    title: 'Calibration',
    html:
      figure(
        await reliabilityChart([
          { name: 'before calibration', bins: ev.calibrationBefore.bins, ece: ev.calibrationBefore.ece },
          { name: `after (T = ${ev.temperature.temperature.toFixed(2)}, bias ${ev.temperature.bias.toFixed(2)})`, bins: ev.calibrationAfter.bins, ece: ev.calibrationAfter.ece },
        ]),
        `Reliability diagram on the ${setName} images: accuracy against the confidence of the predicted class.`,
      ) +
      paragraph(`Temperature T and a bias on the fracture logit, p = σ((z₁ − z₀) / T + b), fitted together on the validation logits by minimising the negative log-likelihood (the bias corrects a shifted mean probability, such as class-balanced batches leave, which a temperature cannot). ECE (top-label, 15 bins) on the ${setName} images ${ev.calibrationBefore.ece.toFixed(3)} → ${ev.calibrationAfter.ece.toFixed(3)}; a perfectly calibrated model with these probabilities would show ${ev.eceFloor.median.toFixed(3)} on ${ev.n} images (95th percentile ${ev.eceFloor.upper.toFixed(3)}: above it, the model is miscalibrated rather than unlucky). ECE of the fracture probability itself (15 bins): ${ev.fractureEce.before.toFixed(3)} → ${ev.fractureEce.after.toFixed(3)}. The probabilities in this report are calibrated.`) +
      (onTest ? '' : note('The temperature and bias are fitted on the same validation set they are evaluated on (the split has no test set), so the calibrated ECE is optimistic.')),
  });

  const g = run.gate;
  if (g === null) {
    sections.push({ id: 'input-gate', title: 'Input gate', html: note(`This checkpoint has no input gate: ${run.gateMissing ?? 'it was not fitted'}. Images are not checked for being what the model was trained on before triage.`) });
  } else sections.push({
    id: 'input-gate',
    title: 'Input gate',
    html:
      paragraph(
        `Before triage each image is checked for being what this model was trained on: Mahalanobis distance of its pooled ${model(config)} features to the training images' class means, ` +
          `free energy of its logits, Mahalanobis distance of an intensity descriptor (histogram, spread, border against centre, edges), a blank-image rule and a colour rule` +
          `${g.bodyPart !== undefined || g.view !== undefined ? ', and body-part/view probes on the features' : ''}. An image that fails is never auto-reported; predict names the reason.`,
      ) +
      keyValueTable(
        {
          'thresholds (set on validation)': { feature: g.thresholds.feature.toFixed(1), pixel: g.thresholds.pixel.toFixed(1), energy: g.thresholds.energy.toFixed(3) },
          'pass rate asked on validation': pct(g.passRate),
          'measured pass rate': { validation: `${pct(g.measured.validation.passRate)} of ${g.measured.validation.n}`, ...(g.measured.test === undefined ? {} : { test: `${pct(g.measured.test.passRate)} of ${g.measured.test.n}` }) },
          ...(g.bodyPart === undefined ? {} : { 'body parts accepted': g.bodyPart.accepted.join(', ') }),
          ...(g.view === undefined ? {} : { 'views accepted': g.view.accepted.join(', ') }),
        },
        { caption: 'Input gate (stored in the checkpoint: model.json gate, gate.safetensors)' },
      ),
  });

  sections.push({ id: 'by-view', title: 'By view and quality flag', html: breakdownTable(ev.byGroup, { caption: `On the ${setName} images. AP and lateral views differ (the study's discussion); QC flags from import.` }) });

  sections.push({
    id: 'interpretation',
    title: 'Top losses and most confident cases',
    html:
      paragraph(`Cases from the ${setName} images.`, { muted: true }) +
      subheading('Top losses (prediction/actual/loss/probability)') +
      (await caseGallery(galleryCases(ev.topLosses, run), run.model, datasetDir, config)) +
      subheading('Most confident correct cases') +
      (await caseGallery(galleryCases(ev.confidentCorrect, run), run.model, datasetDir, config)),
  });
  return [...sections, ...(input.extraSections ?? [])];
}

const model = (config: TrainConfig): string => config.arch;

/** Writes `<outDir>/report.html` and returns its path. */
export async function writeRunReport(input: RunReportInput): Promise<string> {
  const sections = await runSections(input);
  const html = renderReport({
    title: input.title ?? `hipfrac — ${input.config.arch}`,
    subtitle: 'Hip fracture detection: training run report',
    meta: `seed ${input.config.seed} · data ${input.run.dataFingerprint}`,
    sections,
  });
  const file = path.join(input.outDir, 'report.html');
  writeReport(file, html);
  return file;
}
