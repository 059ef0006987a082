// The cascade's second stage: a small network that finds the hip region of interest on the whole radiograph,
// trained on any dataset whose manifest carries hip_roi_* regions (the phantom writes them), stored in a subfolder of
// the classifier's checkpoint so predict, explain and attack cut each image to its hip by themselves.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ImageLoader, resampleGrey, writeJsonAtomic, type AugmentConfig, type RegionOfInterest } from '../data/index.js';
import { Adam, readSafetensors, saveSafetensors } from '../nn/index.js';
import { abs, crossEntropy, manualSeed, narrow, noGrad, tensor, tidy, type Tensor } from '../torch/index.js';
import { HipfracError, Rng } from '../util/index.js';
import { augmentWithRegions, LOCALISER_AUGMENT } from './augment.js';
import { LocaliserNet, SIDED_OUTPUTS } from './net.js';

export const LOCALISER_DIR = 'localiser';
export const LOCALISER_WEIGHTS = 'localiser.safetensors';

/**
 * What the DICOM header says of an image: its laterality and view. A frontal view of one named side ('L' or 'R')
 * fixes which hip is meant (the patient's left is on the image's right); otherwise the network's slot logits choose.
 */
export interface KnownSide {
  readonly laterality: 'L' | 'R' | 'B' | null;
  readonly view: string;
}

/** The localiser's entry in the classifier's model card (model.json → localiser). */
export interface LocaliserCard {
  /** 1: one region per image; 2: a region per image half and slot logits (two slots). */
  readonly version: 1 | 2;
  readonly dir: typeof LOCALISER_DIR;
  readonly inputSize: number;
  readonly epochs: number;
  readonly trainedOn: number;
  /** IoU with the true regions on held-out images, when measured. */
  readonly heldOutIou?: { readonly median: number; readonly mean: number; readonly n: number; readonly set: string };
}

export interface LocaliserSample {
  readonly imagePath: string;
  /** The true region as fractions of the image [x0, y0, x1, y1]. */
  readonly roi: RegionOfInterest;
}

/** What `train` fits and bench/localiser.ts measures (bench/results/localiser.json): a 96 px whole-image input, 80 epochs. */
export const LOCALISER_DEFAULTS = Object.freeze({ inputSize: 96, epochs: 80 });

export interface LocaliserTrainOptions {
  /** Whole-image input side in pixels, a multiple of 32 (default LOCALISER_DEFAULTS.inputSize). */
  readonly inputSize?: number;
  /** Default LOCALISER_DEFAULTS.epochs. */
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly lr?: number;
  readonly seed?: number;
  readonly workers?: number;
  /** Mirror, zoom and relight each training image, its region moved along (default LOCALISER_AUGMENT); null: none. */
  readonly augment?: AugmentConfig | null;
  readonly log?: (line: string) => void;
}

/** Intersection over union of two boxes [x0, y0, x1, y1]. */
export function iou(a: RegionOfInterest, b: RegionOfInterest): number {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = ix * iy;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

const toTarget = (r: RegionOfInterest): number[] => [(r[0] + r[2]) / 2, (r[1] + r[3]) / 2, r[2] - r[0], r[3] - r[1]];

/** The slot of a region: 0 when its centre lies in the image's left half, else 1. */
const slotOf = (r: RegionOfInterest): number => ((r[0] + r[2]) / 2 < 0.5 ? 0 : 1);

/** The slot a header names: a frontal view of the patient's left shows it on the image's right; else undefined. */
function slotFromHeader(known: KnownSide | undefined): number | undefined {
  if (known === undefined || known.view !== 'AP') return undefined;
  return known.laterality === 'L' ? 1 : known.laterality === 'R' ? 0 : undefined;
}

/** One output row (cx, cy, w, h at `offset`) → a region [x0, y0, x1, y1]; width and height kept above 1 % of the image. */
function toRegion(out: Float32Array, offset: number): RegionOfInterest {
  const [cx, cy] = [out[offset] as number, out[offset + 1] as number];
  const [w, h] = [Math.max(0.01, out[offset + 2] as number), Math.max(0.01, out[offset + 3] as number)];
  return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
}

function firstChannel(images: Tensor): Tensor {
  return images.shape[1] === 1 ? images : narrow(images, 1, 0, 1);
}

/** Weight of the slot logits' cross-entropy next to the regions' L1 (fractions of the image). */
const SLOT_WEIGHT = 0.05;

/** L1 between each true region and its slot's output, plus the slot logits' cross-entropy. Returns [L1, total]. */
function slotLoss(out: Tensor, rois: readonly RegionOfInterest[]): [Tensor, Tensor] {
  const n = rois.length;
  const slots = rois.map(slotOf);
  const target = tensor(Float32Array.from(rois.flatMap((r) => [...toTarget(r), ...toTarget(r)])), [n, 8]);
  const weight = tensor(Float32Array.from(slots.flatMap((slot) => [0, 1].flatMap((k) => new Array<number>(4).fill(k === slot ? 1 : 0)))), [n, 8]);
  const l1 = abs(narrow(out, 1, 0, 8).sub(target)).mul(weight).sum().div(4 * n);
  const ce = crossEntropy(narrow(out, 1, 8, 2), tensor(BigInt64Array.from(slots, (s) => BigInt(s)), [n]));
  return [l1, l1.add(ce.mul(SLOT_WEIGHT))];
}

/** Trains a localiser on whole images with their true regions (L1 loss on centre and size, Adam). */
export async function trainLocaliser(samples: readonly LocaliserSample[], options: LocaliserTrainOptions = {}): Promise<{ net: LocaliserNet; card: LocaliserCard; losses: number[] }> {
  const inputSize = options.inputSize ?? LOCALISER_DEFAULTS.inputSize;
  if (inputSize % 32 !== 0) throw new HipfracError('HF_LOCALISE_BAD_OPTION', `the localiser's input size must be a multiple of 32, got ${inputSize}.`, { fix: 'use e.g. 96 or 128.' });
  if (samples.length < 4) throw new HipfracError('HF_LOCALISE_TOO_FEW', `the localiser needs at least 4 images with a region of interest, got ${samples.length}.`, { fix: 'import a label file with hip_roi_x0…y1 columns (the phantom writes them).' });
  const epochs = options.epochs ?? LOCALISER_DEFAULTS.epochs;
  const augment = options.augment === undefined ? LOCALISER_AUGMENT : options.augment;
  const rng = new Rng((options.seed ?? 0) + 7919);
  const batchSize = Math.min(options.batchSize ?? 16, samples.length);
  const log = options.log ?? ((): void => {});
  manualSeed(options.seed ?? 0);
  const net = new LocaliserNet(inputSize);
  const optimizer = new Adam(net.parameters(), { lr: options.lr ?? 2e-3 });
  const loader = new ImageLoader(samples.map((s) => ({ imagePath: s.imagePath, label: 0, region: null })), { batchSize, imageSize: inputSize, shuffle: true, dropLast: true, seed: options.seed ?? 0, workers: options.workers ?? 2, augment: null });
  const mean = (slot: number): number[] => {
    const of = samples.filter((s) => slotOf(s.roi) === slot).map((s) => toTarget(s.roi));
    const use = of.length > 0 ? of : samples.map((s) => toTarget(s.roi));
    return [0, 1, 2, 3].map((k) => use.reduce((sum, t) => sum + (t[k] as number), 0) / use.length);
  };
  net.startAt([...mean(0), ...mean(1)]);
  const losses: number[] = [];
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      // Cosine decay from lr to lr/20 over the run.
      const lr = (options.lr ?? 2e-3) * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * epoch) / epochs)));
      for (const group of optimizer.paramGroups) group.lr = lr;
      net.train();
      let sum = 0;
      let batches = 0;
      for await (const batch of loader.epoch(epoch)) {
        const loss = tidy(() => {
          const rois = batch.indices.map((i) => (samples[i] as LocaliserSample).roi);
          const seen = augment === null ? { images: firstChannel(batch.images), rois } : augmentWithRegions(firstChannel(batch.images), rois, rng, augment);
          const [l1, total] = slotLoss(net.call(seen.images), seen.rois);
          optimizer.zeroGrad();
          total.backward();
          optimizer.step();
          return l1.item();
        });
        batch.images.dispose();
        batch.labels.dispose();
        sum += loss;
        batches++;
      }
      losses.push(sum / Math.max(1, batches));
      log(`localiser epoch ${epoch + 1}/${epochs}: L1 ${(sum / Math.max(1, batches)).toFixed(4)}`);
    }
  } finally {
    await loader.close();
  }
  net.eval();
  return { net, card: { version: 2, dir: LOCALISER_DIR, inputSize, epochs, trainedOn: samples.length }, losses };
}

/** Whether a header names a bilateral frontal view (an AP pelvis showing both hips): laterality 'B' on an AP view. */
export function isBilateralView(known: KnownSide | undefined): boolean {
  return known !== undefined && known.view === 'AP' && known.laterality === 'B';
}

/**
 * The hip regions to classify for each of a batch of whole images [N, 1 | 3, S, S] in [0, 1] at the localiser's
 * input size. A two-slot network gives the slot the header names (slotFromHeader), else the slot its logits favour;
 * for a view the header calls bilateral it gives both slots' regions, the favoured one first, so that both hips are
 * classified (the more suspicious decides). A one-slot network gives its one region.
 */
export function predictHipRegions(net: LocaliserNet, images: Tensor, known: readonly (KnownSide | undefined)[] = []): RegionOfInterest[][] {
  net.eval();
  const out = tidy(() => noGrad(() => net.call(firstChannel(images))).toFloat32Array());
  const width = net.sided ? SIDED_OUTPUTS : 4;
  return Array.from({ length: images.shape[0] as number }, (_, i) => {
    const row = i * width;
    if (!net.sided) return [toRegion(out, row)];
    const slot = slotFromHeader(known[i]) ?? ((out[row + 9] as number) > (out[row + 8] as number) ? 1 : 0);
    const chosen = toRegion(out, row + 4 * slot);
    return isBilateralView(known[i]) ? [chosen, toRegion(out, row + 4 * (1 - slot))] : [chosen];
  });
}

/** One region per image: the first of predictHipRegions (the named or favoured hip). */
export function predictRegions(net: LocaliserNet, images: Tensor, known: readonly (KnownSide | undefined)[] = []): RegionOfInterest[] {
  return predictHipRegions(net, images, known).map((regions) => regions[0] as RegionOfInterest);
}

/** The hip regions of one grey image at its own resolution (16-bit display values), squished to the localiser's input: one, or both hips of a bilateral view. */
export function localiseGrey(net: LocaliserNet, pixels: Uint16Array, width: number, height: number, known?: KnownSide): RegionOfInterest[] {
  const size = net.inputSize;
  const resized = resampleGrey(pixels, width, height, { width: size, height: size }, 'squish');
  const [regions] = tidy(() => predictHipRegions(net, tensor(Float32Array.from(resized, (v) => v / 65535), [1, 1, size, size]), [known]));
  return regions as RegionOfInterest[];
}

/** Regions for image files (decoded and squished to the localiser's input, as in training), with their headers' sides when known. */
export async function localiseFiles(net: LocaliserNet, files: readonly string[], workers = 1, known: readonly (KnownSide | undefined)[] = []): Promise<RegionOfInterest[]> {
  const loader = new ImageLoader(files.map((f) => ({ imagePath: f, label: 0, region: null })), { batchSize: 16, imageSize: net.inputSize, shuffle: false, workers, augment: null });
  const out: RegionOfInterest[] = new Array<RegionOfInterest>(files.length);
  try {
    for await (const batch of loader.epoch(0)) {
      predictRegions(net, batch.images, batch.indices.map((i) => known[i])).forEach((r, k) => (out[batch.indices[k] as number] = r));
      batch.images.dispose();
      batch.labels.dispose();
    }
  } finally {
    await loader.close();
  }
  return out;
}

/** Stores the localiser in `<checkpointDir>/localiser/` and records it in the classifier's model.json. */
export async function saveLocaliser(checkpointDir: string, net: LocaliserNet, card: LocaliserCard): Promise<void> {
  const dir = path.join(checkpointDir, LOCALISER_DIR);
  mkdirSync(dir, { recursive: true });
  saveSafetensors(path.join(dir, LOCALISER_WEIGHTS), net.stateDict(), { format: 'pt', 'hipfrac.localiser': JSON.stringify(card) });
  const cardFile = path.join(checkpointDir, 'model.json');
  const model = JSON.parse(readFileSync(cardFile, 'utf8')) as Record<string, unknown>;
  await writeJsonAtomic(cardFile, { ...model, localiser: card });
}

/** The localiser stored with a classifier checkpoint, or null when it has none. */
export function loadLocaliser(checkpointDir: string): { net: LocaliserNet; card: LocaliserCard } | null {
  const cardFile = path.join(checkpointDir, 'model.json');
  const card = existsSync(cardFile) ? (JSON.parse(readFileSync(cardFile, 'utf8')) as { localiser?: LocaliserCard }).localiser : undefined;
  if (card === undefined) return null;
  const file = path.join(checkpointDir, card.dir, LOCALISER_WEIGHTS);
  if (!existsSync(file)) throw new HipfracError('HF_LOCALISE_INVALID', 'the model card names a hip localiser but its weights are missing.', { input: file, fix: 'copy the localiser/ folder together with model.json.' });
  const net = new LocaliserNet(card.inputSize, card.version >= 2);
  const { tensors } = readSafetensors(file);
  try {
    const report = net.loadStateDict(tensors, { strict: true, source: file });
    if (report.missingKeys.length + report.unexpectedKeys.length + report.mismatchedKeys.length > 0) {
      throw new HipfracError('HF_LOCALISE_INVALID', `the localiser weights do not fit its network (missing ${report.missingKeys.length}, unexpected ${report.unexpectedKeys.length}).`, { input: file, fix: 'train the localiser again.' });
    }
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  net.eval();
  return { net, card };
}

/** The checkpoint's hip localiser as a region finder for `radiographReader` (one region, or both hips of a bilateral view), or undefined when it has none. */
export function checkpointLocator(checkpointDir: string | undefined): ((image: { readonly width: number; readonly height: number; readonly data: Uint16Array }, known: KnownSide) => RegionOfInterest[]) | undefined {
  const localiser = checkpointDir === undefined ? null : loadLocaliser(checkpointDir);
  if (localiser === null) return undefined;
  return (image, known) => localiseGrey(localiser.net, image.data, image.width, image.height, known);
}
