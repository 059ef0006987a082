// The shortcut audit of a trained classifier on a dataset: (a) linear probes from its pooled features to nuisance
// labels (view, body part, marker presence), (b) its AUC with burned-in markers masked against unmasked, (c) where
// Grad-CAM (and the box head) put their heat against the fracture boxes, beside a random heatmap.
import { boxesInRegion, cachedPngPath, decodeGrey, detectMarkers, loadManifest, requireDataset, type ManifestRow, type RegionOfInterest } from '../data/index.js';
import { ClassifierOutputTarget, GradCam, heatmapsFromTensor, localisationScores, resizeHeatmap, type Box, type Heatmap } from '../explain/index.js';
import { fitProbe, gateFeatures, probeProbabilities } from '../gate/index.js';
import type { Classifier, ModelCard } from '../models/index.js';
import { manualSeed, noGrad, rand, sigmoid, softmax, tensor, tidy, type Tensor } from '../torch/index.js';
import { rocAuc } from '../train/metrics/index.js';
import { AuditError } from './errors.js';
import { checkMarkerDetector, readMarkerTruth, type MarkerCheck } from './markerCheck.js';

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

export interface ProbeResult {
  readonly label: 'view' | 'bodyPart' | 'markers';
  readonly classes: readonly string[];
  readonly trainImages: number;
  readonly heldOutImages: number;
  /** Probe accuracy on the held-out images. */
  readonly accuracy: number;
  /** Accuracy of always answering the training set's most common class, on the same held-out images. */
  readonly majorityBaseline: number;
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

function probe(label: ProbeResult['label'], train: { x: Float32Array; y: string }[], held: { x: Float32Array; y: string }[]): ProbeResult | null {
  const fitted = fitProbe(train.map((t) => t.x), train.map((t) => t.y));
  if (fitted === null || held.length === 0) return null;
  const counts = new Map<string, number>();
  for (const t of train) counts.set(t.y, (counts.get(t.y) ?? 0) + 1);
  const majority = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  let right = 0;
  for (const h of held) {
    const p = probeProbabilities(fitted, h.x);
    if (fitted.classes[p.indexOf(Math.max(...p))] === h.y) right++;
  }
  return { label, classes: fitted.classes, trainImages: train.length, heldOutImages: held.length, accuracy: right / held.length, majorityBaseline: held.filter((h) => h.y === majority).length / held.length };
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
  const labelOf: Record<ProbeResult['label'], (r: ManifestRow, i: number, markers: readonly boolean[]) => string | null> = {
    view: (r) => (r.view === 'unknown' ? null : r.view),
    bodyPart: (r) => r.bodyPart,
    markers: (_r, i, markers) => (markers[i] === true ? 'present' : 'absent'),
  };
  const probes: ProbeResult[] = [];
  for (const label of ['view', 'bodyPart', 'markers'] as const) {
    const pairs = (set: readonly ManifestRow[], p: Pass, markers: readonly boolean[]): { x: Float32Array; y: string }[] =>
      set.flatMap((r, i) => {
        const y = labelOf[label](r, i, markers);
        return y === null ? [] : [{ x: p.features[i] as Float32Array, y }];
      });
    const result = probe(label, pairs(train, trainPass, trainMarkers), pairs(held, heldPass, heldMarkers));
    if (result !== null) probes.push(result);
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
    masking: { auc, aucMasked, aucChange: aucMasked - auc, imagesWithMarkers: heldMarkers.filter(Boolean).length, meanAbsProbabilityChange: change },
    localisation: local,
    markerDetector,
  };
}
