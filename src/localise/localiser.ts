// The cascade's second stage: a small network that finds the hip region of interest on the whole radiograph,
// trained on any dataset whose manifest carries hip_roi_* regions (the phantom writes them), stored in a subfolder of
// the classifier's checkpoint so predict, explain and attack cut each image to its hip by themselves.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ImageLoader, resampleGrey, writeJsonAtomic, type RegionOfInterest } from '../data/index.js';
import { Adam, readSafetensors, saveSafetensors } from '../nn/index.js';
import { abs, manualSeed, narrow, noGrad, tensor, tidy, type Tensor } from '../torch/index.js';
import { HipfracError } from '../util/index.js';
import { LocaliserNet } from './net.js';

export const LOCALISER_DIR = 'localiser';
export const LOCALISER_WEIGHTS = 'localiser.safetensors';

/** The localiser's entry in the classifier's model card (model.json → localiser). */
export interface LocaliserCard {
  readonly version: 1;
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

export interface LocaliserTrainOptions {
  /** Whole-image input side in pixels, a multiple of 32 (default 128). */
  readonly inputSize?: number;
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly lr?: number;
  readonly seed?: number;
  readonly workers?: number;
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

/** [N, 4] outputs (cx, cy, w, h) → regions [x0, y0, x1, y1]; width and height kept above 1 % of the image. */
function toRegions(out: Float32Array): RegionOfInterest[] {
  const regions: RegionOfInterest[] = [];
  for (let i = 0; i < out.length / 4; i++) {
    const [cx, cy, w, h] = [out[4 * i], out[4 * i + 1], Math.max(0.01, out[4 * i + 2] as number), Math.max(0.01, out[4 * i + 3] as number)] as [number, number, number, number];
    regions.push([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]);
  }
  return regions;
}

function firstChannel(images: Tensor): Tensor {
  return images.shape[1] === 1 ? images : narrow(images, 1, 0, 1);
}

/** Trains a localiser on whole images with their true regions (L1 loss on centre and size, Adam). */
export async function trainLocaliser(samples: readonly LocaliserSample[], options: LocaliserTrainOptions = {}): Promise<{ net: LocaliserNet; card: LocaliserCard; losses: number[] }> {
  const inputSize = options.inputSize ?? 128;
  if (inputSize % 32 !== 0) throw new HipfracError('HF_LOCALISE_BAD_OPTION', `the localiser's input size must be a multiple of 32, got ${inputSize}.`, { fix: 'use e.g. 96 or 128.' });
  if (samples.length < 4) throw new HipfracError('HF_LOCALISE_TOO_FEW', `the localiser needs at least 4 images with a region of interest, got ${samples.length}.`, { fix: 'import a label file with hip_roi_x0…y1 columns (the phantom writes them).' });
  const epochs = options.epochs ?? 30;
  const batchSize = Math.min(options.batchSize ?? 16, samples.length);
  const log = options.log ?? ((): void => {});
  manualSeed(options.seed ?? 0);
  const net = new LocaliserNet(inputSize);
  const optimizer = new Adam(net.parameters(), { lr: options.lr ?? 2e-3 });
  const loader = new ImageLoader(samples.map((s) => ({ imagePath: s.imagePath, label: 0, region: null })), { batchSize, imageSize: inputSize, shuffle: true, dropLast: true, seed: options.seed ?? 0, workers: options.workers ?? 2, augment: null });
  const targets = samples.map((s) => toTarget(s.roi));
  net.startAt([0, 1, 2, 3].map((k) => targets.reduce((sum, t) => sum + (t[k] as number), 0) / targets.length));
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
          const target = tensor(Float32Array.from(batch.indices.flatMap((i) => targets[i] as number[])), [batch.indices.length, 4]);
          const l = abs(net.call(firstChannel(batch.images)).sub(target)).mean();
          optimizer.zeroGrad();
          l.backward();
          optimizer.step();
          return l.item();
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
  return { net, card: { version: 1, dir: LOCALISER_DIR, inputSize, epochs, trainedOn: samples.length }, losses };
}

/** Regions for a batch of whole images [N, 1 | 3, S, S] in [0, 1] at the localiser's input size. */
export function predictRegions(net: LocaliserNet, images: Tensor): RegionOfInterest[] {
  net.eval();
  return tidy(() => toRegions(noGrad(() => net.call(firstChannel(images))).toFloat32Array()));
}

/** The region of one grey image at its own resolution (16-bit display values), squished to the localiser's input. */
export function localiseGrey(net: LocaliserNet, pixels: Uint16Array, width: number, height: number): RegionOfInterest {
  const size = net.inputSize;
  const resized = resampleGrey(pixels, width, height, { width: size, height: size }, 'squish');
  const [region] = tidy(() => predictRegions(net, tensor(Float32Array.from(resized, (v) => v / 65535), [1, 1, size, size])));
  return region as RegionOfInterest;
}

/** Regions for image files (decoded and squished to the localiser's input, as in training). */
export async function localiseFiles(net: LocaliserNet, files: readonly string[], workers = 1): Promise<RegionOfInterest[]> {
  const loader = new ImageLoader(files.map((f) => ({ imagePath: f, label: 0, region: null })), { batchSize: 16, imageSize: net.inputSize, shuffle: false, workers, augment: null });
  const out: RegionOfInterest[] = new Array<RegionOfInterest>(files.length);
  try {
    for await (const batch of loader.epoch(0)) {
      predictRegions(net, batch.images).forEach((r, k) => (out[batch.indices[k] as number] = r));
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
  const net = new LocaliserNet(card.inputSize);
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

/** The checkpoint's hip localiser as a region finder for `radiographReader`, or undefined when it has none. */
export function checkpointLocator(checkpointDir: string | undefined): ((image: { readonly width: number; readonly height: number; readonly data: Uint16Array }) => RegionOfInterest) | undefined {
  const localiser = checkpointDir === undefined ? null : loadLocaliser(checkpointDir);
  if (localiser === null) return undefined;
  return (image) => localiseGrey(localiser.net, image.data, image.width, image.height);
}
