// After training: the study's three other results, measured on the reported images (test when the split has a
// test set, else validation) — Grad-CAM heatmaps scored against the phantom's fracture boxes, FGSM/PGD/rotation
// attacks with and without TTA — and the triage cut-off, calibrated on validation and measured on test (without a
// test set: calibrated on one half of validation, measured on the other half).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cachedPngPath, ImageLoader, writeJsonAtomic, type ManifestRow, type RegionOfInterest } from '../../data/index.js';
import {
  ClassifierOutputTarget,
  encodeRgbPng,
  GradCam,
  greyFromTensor,
  heatmapsFromTensor,
  localisationScores,
  renderOverlay,
  scaleBoxes,
  type Box,
} from '../../explain/index.js';
import { CHECKPOINT_CARD, type Classifier } from '../../models/index.js';
import { Fgsm, Pgd, RotationTranslationAttack, TestTimeAugmentation, epsilonSweep, robustnessTable, type LabelledBatch } from '../../robust/index.js';
import type { ReportSection } from '../../report/index.js';
import { heatmapSection, robustnessSection, triageSection, type HeatmapGalleryEntry } from '../../report/sections/index.js';
import { dispose, keep, tidy } from '../../torch/index.js';
import type { TrainConfig } from '../../train/index.js';
import { positiveClassProbabilities, type TemperatureFit } from '../../train/metrics/index.js';
import { binaryRows, calibratedCutoffPolicy, chooseOperatingPoints, evaluateCutoff, riskCoverageCurve, type TriagePolicy } from '../../triage/index.js';
import { sampleRegion, type TrainRunResult } from './trainRun.js';

export interface AfterTrainingInput {
  readonly run: TrainRunResult;
  readonly config: TrainConfig;
  readonly datasetDir: string;
  readonly outDir: string;
  /** The phantom cohort folder (annotations.json with fracture boxes), when the data are synthetic. */
  readonly cohortDir?: string;
  readonly log?: (line: string) => void;
}

/** Fracture boxes by source path (relative to the cohort's images/ folder or the cohort itself). */
function phantomBoxes(cohortDir: string): Map<string, { boxes: Box[]; width: number; height: number }> {
  const file = path.join(cohortDir, 'annotations.json');
  const out = new Map<string, { boxes: Box[]; width: number; height: number }>();
  if (!existsSync(file)) return out;
  const json = JSON.parse(readFileSync(file, 'utf8')) as { images: { file: string; width: number; height: number; fractures: { box: [number, number, number, number] }[] }[] };
  for (const im of json.images) {
    const entry = { boxes: im.fractures.map((f) => f.box as Box), width: im.width, height: im.height };
    out.set(im.file, entry);
    out.set(im.file.replace(/^images\//, ''), entry);
  }
  return out;
}

/** The reported images (test, else validation) as kept batches at the model's input size (small sets: the demo, tests). */
async function evaluatedBatches(run: TrainRunResult, datasetDir: string, config: TrainConfig, limit: number): Promise<{ batches: LabelledBatch[]; rows: ManifestRow[] }> {
  const rows = run.evaluatedRows.slice(0, limit);
  const loader = new ImageLoader(rows.map((r) => ({ imagePath: cachedPngPath(datasetDir, r), label: r.label as number, region: sampleRegion(r, config) })), { batchSize: 16, imageSize: config.inputSize, shuffle: false, workers: 1, augment: null });
  const batches: LabelledBatch[] = [];
  try {
    for await (const b of loader.epoch(0)) batches.push({ images: keep(b.images), labels: keep(b.labels) });
  } finally {
    await loader.close();
  }
  return { batches, rows };
}

/**
 * Fracture boxes (pixels of a width × height image) in the model input's pixels: scaled, or, when the input was
 * cut to a region (fractions of the image), moved into it and clipped; boxes wholly outside the region are dropped.
 */
function boxesInInput(boxes: readonly Box[], image: { width: number; height: number }, region: RegionOfInterest | null, size: number): Box[] {
  if (region === null) return scaleBoxes(boxes, image, { width: size, height: size });
  const [rx0, ry0, rx1, ry1] = region;
  const x = (v: number): number => Math.min(size, Math.max(0, ((v / image.width - rx0) / (rx1 - rx0)) * size));
  const y = (v: number): number => Math.min(size, Math.max(0, ((v / image.height - ry0) / (ry1 - ry0)) * size));
  return boxes.map(([x0, y0, x1, y1]): Box => [x(x0), y(y0), x(x1), y(y1)]).filter(([x0, y0, x1, y1]) => x1 > x0 && y1 > y0);
}

async function heatmaps(model: Classifier, batches: readonly LabelledBatch[], rows: readonly ManifestRow[], boxesByPath: ReturnType<typeof phantomBoxes>, size: number, crop: TrainConfig['crop'], set: string, calibration: TemperatureFit): Promise<ReportSection> {
  const layer = model.spec.gradCamLayer;
  const cam = new GradCam(model, layer);
  const items: HeatmapGalleryEntry[] = [];
  const allMaps: ReturnType<typeof heatmapsFromTensor> = [];
  const allBoxes: Box[][] = [];
  let offset = 0;
  try {
    for (const batch of batches) {
      const n = batch.images.shape[0] as number;
      // Explain the fracture class for every image: where does the model see a fracture?
      const { maps, logits } = tidy(() => {
        const out = cam.computeWithLogits(batch.images, new ClassifierOutputTarget(1));
        return { maps: heatmapsFromTensor(out.heatmaps), logits: out.logits.toFloat32Array() };
      });
      // The calibrated probability, as the report's figures and predict give it.
      const probs = positiveClassProbabilities(logits, calibration.temperature, 2, calibration.bias);
      for (let i = 0; i < n; i++) {
        const row = rows[offset + i] as ManifestRow;
        const truth = boxesByPath.get(row.sourcePath);
        const boxes = truth === undefined ? [] : boxesInInput(truth.boxes, truth, crop === 'roi' ? (row.roi ?? null) : null, size);
        allMaps.push(maps[i] as (typeof maps)[number]);
        allBoxes.push(boxes);
        if (row.label === 1 && items.length < 12) {
          const grey = greyFromTensor(batch.images, i);
          const overlay = renderOverlay(grey, maps[i] as (typeof maps)[number]);
          items.push({ overlayPng: await encodeRgbPng(overlay), caption: `fracture · P(fracture) = ${(probs[i] as number).toFixed(2)}`, key: row.id.slice(0, 12) });
        }
      }
      offset += n;
    }
  } finally {
    cam.dispose();
  }
  const localisation = allBoxes.some((b) => b.length > 0) ? localisationScores(allMaps, allBoxes) : undefined;
  return heatmapSection({
    method: 'Grad-CAM',
    layers: [layer],
    items,
    ...(localisation === undefined ? {} : { localisation }),
    source: `${set} images (${rows.length}${crop === 'roi' ? ', cut to the hip region' : ''}); boxes from the phantom's annotations`,
  });
}

function robustness(model: Classifier, batches: readonly LabelledBatch[]): Promise<ReportSection> {
  const eps = [0, 0.5, 1, 2, 4, 8].map((e) => e / 255);
  const tta = new TestTimeAugmentation({ views: 4, seed: 0 });
  const fgsm = epsilonSweep(model, batches, { eps });
  const fgsmTta = epsilonSweep(model, batches, { eps, predictor: tta.predictor(model) });
  const pgd = epsilonSweep(model, batches, { eps, attack: (m, e) => new Pgd(m, { eps: e, alpha: Math.max(e / 4, 0.25 / 255), steps: 5, seed: 0 }) });
  const table = robustnessTable(
    [
      { name: 'none', model },
      { name: 'TTA (4 views)', model, predictor: tta.predictor(model) },
    ],
    batches,
    [
      { name: 'FGSM 2/255', make: (m) => new Fgsm(m, { eps: 2 / 255 }) },
      { name: 'rotation + translation', make: (m) => new RotationTranslationAttack(m) },
    ],
  );
  return robustnessSection({ sweeps: [{ name: 'FGSM', rows: fgsm }, { name: 'FGSM vs TTA', rows: fgsmTta }, { name: 'PGD (5 steps)', rows: pgd }], table });
}

/**
 * Calibrates the cut-off on validation and measures it on test; without a test set, calibrates on the even-indexed
 * validation cases and measures on the odd ones. The test images never choose the cut-off.
 */
export function triageFromRun(run: TrainRunResult, target: number): { policy: TriagePolicy; section: Promise<ReportSection>; heldOut: ReturnType<typeof evaluateCutoff>; measuredOn: string } {
  const valProbs = Array.from(run.validEvaluation.probs);
  const valLabels = Array.from(run.validEvaluation.labels);
  const hasTest = run.evaluation.set === 'test';
  const calIdx = valProbs.map((_, i) => i).filter((i) => hasTest || i % 2 === 0);
  const calProbs = calIdx.map((i) => valProbs[i] as number);
  const calLabels = calIdx.map((i) => valLabels[i] as number);
  const policy = calibratedCutoffPolicy(binaryRows(calProbs), calLabels, { targetError: target }, {
    temperature: run.validEvaluation.temperature.temperature,
    bias: run.validEvaluation.temperature.bias,
    operatingPoints: chooseOperatingPoints(valProbs, valLabels),
  });
  let heldOutProbs: number[];
  let heldOutLabels: number[];
  if (hasTest) {
    heldOutProbs = Array.from(run.evaluation.probs);
    heldOutLabels = Array.from(run.evaluation.labels);
  } else {
    const odd = valProbs.map((_, i) => i).filter((i) => i % 2 === 1);
    heldOutProbs = odd.map((i) => valProbs[i] as number);
    heldOutLabels = odd.map((i) => valLabels[i] as number);
  }
  const heldOut = evaluateCutoff(binaryRows(heldOutProbs), heldOutLabels, policy.cutoff ?? 1);
  const measuredOn = hasTest ? 'test' : 'odd half of validation';
  const reported = Array.from(run.evaluation.probs);
  return { policy, heldOut, measuredOn, section: triageSection({
      policy,
      riskCoverage: riskCoverageCurve(binaryRows(reported), Array.from(run.evaluation.labels)),
      riskCoverageSet: run.evaluation.set,
      heldOut: { set: measuredOn, measuredError: heldOut.measuredError, errorUpperBound: heldOut.errorUpperBound, coverage: heldOut.coverage, n: heldOut.n },
    }) };
}

/** Runs the three analyses and returns their report sections; writes the triage policy into the model card. */
export async function afterTrainingSections(input: AfterTrainingInput): Promise<ReportSection[]> {
  const log = input.log ?? ((line: string): void => void process.stderr.write(`${line}\n`));
  const model = input.run.model;
  model.eval();
  const { batches, rows } = await evaluatedBatches(input.run, input.datasetDir, input.config, 64);
  const sections: ReportSection[] = [];
  try {
    log(`  Grad-CAM on the ${input.run.evaluation.set} images…`);
    sections.push(await heatmaps(model, batches, rows, input.cohortDir === undefined ? new Map() : phantomBoxes(input.cohortDir), input.config.inputSize, input.config.crop, input.run.evaluation.set, input.run.evaluation.temperature));
    log('  attacks: FGSM and PGD sweeps, rotation + translation, TTA…');
    sections.push(await robustness(model, batches));
  } finally {
    dispose(batches);
  }
  log('  triage cut-off…');
  const t = triageFromRun(input.run, 0.05);
  sections.push(await t.section);
  // The cut-off and its measured error travel in the model card.
  const cardFile = path.join(input.run.checkpointDir, CHECKPOINT_CARD);
  const card = JSON.parse(readFileSync(cardFile, 'utf8')) as Record<string, unknown>;
  card['threshold'] = { ...t.policy, calibratedOn: 'validation', heldOut: { measuredOn: t.measuredOn, measuredError: t.heldOut.measuredError, errorUpperBound: t.heldOut.errorUpperBound, coverage: t.heldOut.coverage, n: t.heldOut.n } };
  await writeJsonAtomic(cardFile, card);
  return sections;
}
