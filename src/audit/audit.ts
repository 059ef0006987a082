// The shortcut audit of a trained classifier on a dataset: (a) linear probes from its pooled features to nuisance
// labels (view, body part, hardware, marker presence) and how much of the fracture signal those labels carry, (b) its AUC with
// burned-in markers masked against unmasked, (c) where Grad-CAM (and the box head) put their heat against the
// fracture boxes, beside a random heatmap.
import { boxesInRegion, cachedPngPath, decodeGrey, detectMarkers, loadManifest, requireDataset, type ManifestRow, type RegionOfInterest } from '../data/index.js';
import { ClassifierOutputTarget, GradCam, heatmapsFromTensor, localisationScores, resizeHeatmap, type Box, type Heatmap } from '../explain/index.js';
import { fitProbe, gateFeatures, probeProbabilities } from '../gate/index.js';
import type { Classifier, ModelCard } from '../models/index.js';
import { manualSeed, noGrad, rand, sigmoid, softmax, tensor, tidy, type Tensor } from '../torch/index.js';
import { rocAuc } from '../train/metrics/index.js';
import { AuditError } from './errors.js';
import { checkMarkerDetector, readMarkerTruth, type MarkerCheck } from './markerCheck.js';
import { balancedAccuracy, fractureSignal, oneVsRestAuc, stratifiedFolds, type FractureSignal } from './signal.js';

export interface AuditOptions {
  readonly datasetDir: string;
  readonly model: Classifier;
  readonly card: ModelCard;
  /** A phantom cohort's annotations.json: the marker detector is scored against its markers. */
  readonly markerTruth?: string;
  /** At most this many training images fit the probes (a seeded subset; default 1000). */
  readonly maxProbeImages?: number;
  readonly batchSize?: number;
  readonly seed?: number;
  readonly log?: (line: string) => void;
}

/** The nuisance labels the audit reads: the manifest's view, body part and hardware, and the marker detector's verdict. */
export type NuisanceLabel = 'view' | 'bodyPart' | 'hardware' | 'markers';

/** Folds of the probes' cross-validation on the training images. */
export const PROBE_FOLDS = 5;

export interface ProbeResult {
  readonly label: NuisanceLabel;
  readonly classes: readonly string[];
  readonly trainImages: number;
  readonly heldOutImages: number;
  /** Probe accuracy on the held-out images. */
  readonly accuracy: number;
  /** Accuracy of always answering the training set's most common class, on the same held-out images. */
  readonly majorityBaseline: number;
  // The fields below are absent in audits written before them.
  /** Mean recall over the classes present in the held-out images: chance cannot inflate it as it does accuracy. */
  readonly balancedAccuracy?: number;
  /** ROC AUC of the probe's probabilities on the held-out images, one class against the rest, macro (two classes: the AUC). */
  readonly rocAuc?: number;
  /** What a probe that reads nothing scores on the held-out images: 1 / (classes present) and 0.5. */
  readonly chance?: { readonly balancedAccuracy: number; readonly rocAuc: number };
  /** Stratified k-fold cross-validation on the training images (out-of-fold predictions pooled); chance as above. */
  readonly crossValidated?: { readonly folds: number; readonly images: number; readonly balancedAccuracy: number; readonly rocAuc: number; readonly chanceBalancedAccuracy: number };
}

/**
 * How much of the fracture signal a nuisance label carries, on the held-out images whose label is known:
 * `labelOnlyAuc` scores each image by its group's fracture rate in the probes' training images (0.5: the label says
 * nothing about fracture); `withinGroupAuc` is the model's AUC over fractured–normal pairs of the same group only,
 * read against `modelAuc` on the same images (a model that ranks by the label loses AUC within groups).
 */
export interface NuisanceSignal extends FractureSignal {
  readonly label: NuisanceLabel;
}

export interface LocalisationResult {
  readonly n: number;
  readonly layer: string;
  readonly gradCam: { readonly pointingGame: number; readonly energyInBoxes: number };
  readonly boxHead: { readonly pointingGame: number; readonly energyInBoxes: number } | null;
  /** Uniform random heatmaps (seeded) scored the same way. */
  readonly random: { readonly pointingGame: number; readonly energyInBoxes: number };
  /** Mean share of the image the boxes cover: a random heatmap's expected score. */
  readonly boxAreaShare: number;
}

export interface ShortcutAudit {
  readonly dataset: string;
  readonly architecture: string;
  /** The set every figure below is measured on (the probes are fitted on training images). */
  readonly evaluatedOn: 'test' | 'validation';
  readonly images: number;
  readonly probes: readonly ProbeResult[];
  /** Per nuisance label with two groups or more on the held-out images (absent in audits written before it). */
  readonly fractureSignal?: readonly NuisanceSignal[];
  readonly masking: {
    readonly auc: number;
    readonly aucMasked: number;
    /** aucMasked − auc: how much the AUC leans on what the detector masks (negative: it did lean on it). */
    readonly aucChange: number;
    readonly imagesWithMarkers: number;
    readonly meanAbsProbabilityChange: number;
  };
  /** Null when the set has no fractured image with a box. */
  readonly localisation: LocalisationResult | null;
  /** Null without a marker-truth file. */
  readonly markerDetector: MarkerCheck | null;
}

/** An image at the model's input size, the region cut when the model was trained on regions; markers masked on request. */
async function plane(datasetDir: string, row: ManifestRow, card: ModelCard, maskMarkers: boolean): Promise<Float32Array> {
  const region = card.crop === 'roi' ? (row.roi ?? null) : null;
  const px = await decodeGrey(cachedPngPath(datasetDir, row), { width: card.inputSize, height: card.inputSize }, 'squish', region, { maskMarkers });
  return Float32Array.from(px, (v) => v / 65535);
}

function stack(planes: readonly Float32Array[], size: number): Tensor {
  const data = new Float32Array(planes.length * size * size);
  planes.forEach((p, i) => data.set(p, i * size * size));
  return tensor(data, [planes.length, 1, size, size]);
}

/** Whether the detector finds a burned-in marker on the cached image at its own resolution. */
async function hasMarkers(datasetDir: string, row: ManifestRow): Promise<boolean> {
  const px = await decodeGrey(cachedPngPath(datasetDir, row), { width: row.cacheWidth, height: row.cacheHeight }, 'squish', null);
  return detectMarkers(Float32Array.from(px, (v) => v / 65535), row.cacheWidth, row.cacheHeight).components.length > 0;
}

/** A seeded subset of at most `n` rows, in their original order (a partial Fisher–Yates on indices). */
function subset<T>(rows: readonly T[], n: number, seed: number): T[] {
  if (rows.length <= n) return rows.slice();
  let s = seed >>> 0 || 1;
  const next = (): number => ((s = Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
  const idx = rows.map((_, i) => i);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(next() * (idx.length - i));
    [idx[i], idx[j]] = [idx[j] as number, idx[i] as number];
  }
  return idx.slice(0, n).sort((a, b) => a - b).map((i) => rows[i] as T);
}

interface Pass {
  readonly features: Float32Array[];
  readonly probabilities: number[];
}

/** Pooled features and P(fracture) of rows, in batches. */
async function pass(options: AuditOptions, rows: readonly ManifestRow[], maskMarkers: boolean): Promise<Pass> {
  const { model, card, datasetDir } = options;
  const batch = options.batchSize ?? 16;
  const features: Float32Array[] = [];
  const probabilities: number[] = [];
  for (let s = 0; s < rows.length; s += batch) {
    const planes = await Promise.all(rows.slice(s, s + batch).map((r) => plane(datasetDir, r, card, maskMarkers)));
    tidy(() => {
      const g = noGrad(() => gateFeatures(model, stack(planes, card.inputSize)));
      features.push(...g.features);
      for (const logits of g.logits) probabilities.push(softmax(tensor(Float32Array.from(logits), [1, logits.length]), 1).toFloat32Array()[1] as number);
    });
  }
  return { features, probabilities };
}

interface Labelled {
  readonly x: Float32Array;
  readonly y: string;
}

/** Probabilities over `classes` (by name: a class the probe never saw gets 0); a null probe knows one class only. */
function probabilitiesOver(fitted: ReturnType<typeof fitProbe>, only: string, x: Float32Array, classes: readonly string[]): number[] {
  if (fitted === null) return classes.map((c) => (c === only ? 1 : 0));
  const p = probeProbabilities(fitted, x);
  return classes.map((c) => p[fitted.classes.indexOf(c)] ?? 0);
}

const argmax = (p: readonly number[], classes: readonly string[]): string => classes[p.indexOf(Math.max(...p))] as string;

/** Stratified k-fold cross-validation of a probe on `train`: balanced accuracy and AUC of the pooled out-of-fold predictions. */
function crossValidate(train: readonly Labelled[], classes: readonly string[], seed: number): NonNullable<ProbeResult['crossValidated']> {
  const truth = train.map((t) => t.y);
  const fold = stratifiedFolds(truth, PROBE_FOLDS, seed);
  const probabilities: number[][] = new Array<number[]>(train.length);
  for (let f = 0; f < PROBE_FOLDS; f++) {
    const fitOn = train.filter((_, i) => fold[i] !== f);
    if (fitOn.length === train.length) continue;
    const fitted = fitProbe(fitOn.map((t) => t.x), fitOn.map((t) => t.y));
    train.forEach((t, i) => {
      if (fold[i] === f) probabilities[i] = probabilitiesOver(fitted, fitOn[0]?.y ?? '', t.x, classes);
    });
  }
  return {
    folds: PROBE_FOLDS,
    images: train.length,
    balancedAccuracy: balancedAccuracy(truth, probabilities.map((p) => argmax(p, classes))),
    rocAuc: oneVsRestAuc(truth, probabilities, classes),
    chanceBalancedAccuracy: 1 / new Set(truth).size,
  };
}

function probe(label: NuisanceLabel, train: Labelled[], held: Labelled[], seed: number): ProbeResult | null {
  const fitted = fitProbe(train.map((t) => t.x), train.map((t) => t.y));
  if (fitted === null || held.length === 0) return null;
  const counts = new Map<string, number>();
  for (const t of train) counts.set(t.y, (counts.get(t.y) ?? 0) + 1);
  const majority = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const truth = held.map((h) => h.y);
  const probabilities = held.map((h) => probeProbabilities(fitted, h.x));
  const predicted = probabilities.map((p) => argmax(p, fitted.classes));
  return {
    label,
    classes: fitted.classes,
    trainImages: train.length,
    heldOutImages: held.length,
    accuracy: predicted.filter((p, i) => p === truth[i]).length / held.length,
    majorityBaseline: held.filter((h) => h.y === majority).length / held.length,
    balancedAccuracy: balancedAccuracy(truth, predicted),
    rocAuc: oneVsRestAuc(truth, probabilities, fitted.classes),
    chance: { balancedAccuracy: 1 / new Set(truth).size, rocAuc: 0.5 },
    crossValidated: crossValidate(train, fitted.classes, seed),
  };
}

/** Grad-CAM, box head and random heatmaps on the fractured images with boxes, scored against the boxes. */
async function localisation(options: AuditOptions, rows: readonly ManifestRow[]): Promise<LocalisationResult | null> {
  const { model, card, datasetDir } = options;
  const size = card.inputSize;
  const fractured = rows.filter((r) => r.label === 1 && (r.boxes?.length ?? 0) > 0);
  const boxesOf = (r: ManifestRow): Box[] => boxesInRegion(r.boxes ?? [], card.crop === 'roi' ? (r.roi ?? null) : null).map(([x0, y0, x1, y1]: RegionOfInterest) => [x0 * size, y0 * size, x1 * size, y1 * size] as const);
  const scored = fractured.filter((r) => boxesOf(r).length > 0);
  if (scored.length === 0) return null;
  const layer = model.spec.gradCamLayer;
  const cam = new GradCam(model, layer);
  const camMaps: Heatmap[] = [];
  const headMaps: Heatmap[] = [];
  try {
    for (let s = 0; s < scored.length; s += options.batchSize ?? 16) {
      const planes = await Promise.all(scored.slice(s, s + (options.batchSize ?? 16)).map((r) => plane(datasetDir, r, card, false)));
      tidy(() => {
        const x = stack(planes, size);
        camMaps.push(...heatmapsFromTensor(cam.compute(x, new ClassifierOutputTarget(1))));
        if (model.boxHead !== null) {
          const h = noGrad(() => sigmoid(model.forwardWithHeatmap(x).heatmap));
          const [n, , hh, ww] = h.shape as [number, number, number, number];
          const data = h.toFloat32Array();
          for (let i = 0; i < n; i++) headMaps.push(resizeHeatmap({ width: ww, height: hh, data: data.slice(i * hh * ww, (i + 1) * hh * ww) }, size, size));
        }
      });
    }
  } finally {
    cam.dispose();
  }
  const boxes = scored.map(boxesOf);
  const camScores = localisationScores(camMaps, boxes);
  manualSeed(options.seed ?? 0);
  const random = localisationScores(tidy(() => heatmapsFromTensor(rand([scored.length, size, size]))), boxes);
  const head = headMaps.length === 0 ? null : localisationScores(headMaps, boxes);
  return {
    n: scored.length,
    layer,
    gradCam: { pointingGame: camScores.pointingGame, energyInBoxes: camScores.energyInBoxes },
    boxHead: head === null ? null : { pointingGame: head.pointingGame, energyInBoxes: head.energyInBoxes },
    random: { pointingGame: random.pointingGame, energyInBoxes: random.energyInBoxes },
    boxAreaShare: camScores.randomBaseline,
  };
}

/**
 * Audits a classifier for shortcuts on a dataset's test images (validation when the split has no test set): probes
 * fitted on (a seeded subset of) the training images, everything else measured on the held-out set.
 */
export async function auditShortcuts(options: AuditOptions): Promise<ShortcutAudit> {
  const log = options.log ?? ((): void => undefined);
  requireDataset(options.datasetDir);
  const rows = (await loadManifest(options.datasetDir)).filter((r) => r.label !== null);
  const test = rows.filter((r) => r.split === 'test');
  const evaluatedOn = test.length > 0 ? 'test' : 'validation';
  const held = test.length > 0 ? test : rows.filter((r) => r.split === 'val');
  if (held.length === 0) {
    throw new AuditError('HF_AUDIT_NO_IMAGES', 'the dataset has no labelled test or validation images to audit on.', { input: options.datasetDir, fix: 'split it first: `hipfrac split DATASET --val 0.15 --test 0.15`.' });
  }
  const train = subset(rows.filter((r) => r.split === 'train'), options.maxProbeImages ?? 1000, options.seed ?? 0);
  log(`shortcut audit: probes on ${train.length} training images, measured on ${held.length} ${evaluatedOn} images`);

  const heldPass = await pass(options, held, false);
  const trainPass = await pass(options, train, false);
  const trainMarkers = await Promise.all(train.map((r) => hasMarkers(options.datasetDir, r)));
  const heldMarkers = await Promise.all(held.map((r) => hasMarkers(options.datasetDir, r)));
  const labelOf: Record<NuisanceLabel, (r: ManifestRow, i: number, markers: readonly boolean[]) => string | null> = {
    view: (r) => (r.view === 'unknown' ? null : r.view),
    bodyPart: (r) => r.bodyPart,
    hardware: (r) => (r.hardware === undefined ? null : r.hardware ? 'present' : 'absent'),
    markers: (_r, i, markers) => (markers[i] === true ? 'present' : 'absent'),
  };
  log(`shortcut audit: nuisance-label probes (${PROBE_FOLDS}-fold cross-validated on the training images) and the fracture signal of each label…`);
  const probes: ProbeResult[] = [];
  const signals: NuisanceSignal[] = [];
  const fractured = (set: readonly ManifestRow[]): number[] => set.map((r) => (r.label === 1 ? 1 : 0));
  for (const label of ['view', 'bodyPart', 'hardware', 'markers'] as const) {
    const pairs = (set: readonly ManifestRow[], p: Pass, markers: readonly boolean[]): Labelled[] =>
      set.flatMap((r, i) => {
        const y = labelOf[label](r, i, markers);
        return y === null ? [] : [{ x: p.features[i] as Float32Array, y }];
      });
    const result = probe(label, pairs(train, trainPass, trainMarkers), pairs(held, heldPass, heldMarkers), options.seed ?? 0);
    if (result !== null) probes.push(result);
    const heldGroups = held.map((r, i) => labelOf[label](r, i, heldMarkers));
    if (new Set(heldGroups.filter((g) => g !== null)).size >= 2) {
      const reference = { groups: train.map((r, i) => labelOf[label](r, i, trainMarkers)), fractured: fractured(train) };
      signals.push({ label, ...fractureSignal(heldGroups, fractured(held), heldPass.probabilities, reference) });
    }
  }

  log('shortcut audit: predictions with burned-in markers masked…');
  const masked = await pass(options, held, true);
  const labels = held.map((r) => r.label as number);
  const auc = rocAuc(heldPass.probabilities, labels);
  const aucMasked = rocAuc(masked.probabilities, labels);
  const change = heldPass.probabilities.reduce((a, p, i) => a + Math.abs(p - (masked.probabilities[i] as number)), 0) / held.length;

  log('shortcut audit: Grad-CAM against the fracture boxes…');
  const local = await localisation(options, held);
  const markerDetector = options.markerTruth === undefined ? null : await checkMarkerDetector(options.datasetDir, rows, readMarkerTruth(options.markerTruth));
  return {
    dataset: options.datasetDir,
    architecture: options.card.architecture,
    evaluatedOn,
    images: held.length,
    probes,
    fractureSignal: signals,
    masking: { auc, aucMasked, aucChange: aucMasked - auc, imagesWithMarkers: heldMarkers.filter(Boolean).length, meanAbsProbabilityChange: change },
    localisation: local,
    markerDetector,
  };
}
