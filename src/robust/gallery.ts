// Gallery data for attacks: clean image, magnified perturbation and adversarial image with both predictions
// (and, given a CAM, both heatmaps), plus PNG files of the three panels.
import path from 'node:path';
import { heatmapsFromTensor, writeRgbPng, type BaseCam, type Heatmap, type RgbImage } from '../explain/index.js';
import type { Module } from '../nn/index.js';
import { ClassifierOutputTarget } from '../explain/index.js';
import { tidy, type Tensor } from '../torch/index.js';
import type { Attack } from './attack.js';
import { predictProbabilities } from './predict.js';

export interface Prediction {
  readonly predicted: number;
  /** Probability of the predicted class. */
  readonly probability: number;
  /** Probability of class 1 (fracture). */
  readonly positiveProbability: number;
}

/** A [C, H, W] image in [0, 1], row-major per channel. */
export interface PlanarImage {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly data: Float32Array;
}

export interface AdversarialExample {
  readonly index: number;
  readonly label: number;
  readonly clean: Prediction;
  readonly adversarial: Prediction;
  /** ‖x' − x‖∞ on the [0, 1] scale. */
  readonly linf: number;
  /** Perturbation magnification used for the middle panel (0.5 + magnify·δ). */
  readonly magnify: number;
  readonly cleanImage: PlanarImage;
  readonly perturbationImage: PlanarImage;
  readonly adversarialImage: PlanarImage;
  readonly cleanHeatmap?: Heatmap;
  readonly adversarialHeatmap?: Heatmap;
}

export interface GalleryOptions {
  /** At most this many examples (flipped ones first). Default all. */
  readonly limit?: number;
  /** Magnification of the perturbation panel; default maps ±‖δ‖∞ to the full [0, 1] range. */
  readonly magnify?: number;
  /** A CAM for heatmaps of both images (each explained for its own predicted class). */
  readonly cam?: BaseCam;
}

function predictionsOf(probabilities: Float32Array, classes: number, n: number): Prediction[] {
  return Array.from({ length: n }, (_, i) => {
    const row = probabilities.subarray(i * classes, (i + 1) * classes);
    let best = 0;
    for (let k = 1; k < classes; k++) if ((row[k] as number) > (row[best] as number)) best = k;
    return { predicted: best, probability: row[best] as number, positiveProbability: (row[Math.min(1, classes - 1)] as number) };
  });
}

/**
 * Attacks `images` [N, C, H, W] in [0, 1] with `attack` and returns one gallery entry per image, the ones
 * whose prediction flipped first.
 */
export function adversarialGallery(model: Module, images: Tensor, labels: Tensor, attack: Attack, options: GalleryOptions = {}): AdversarialExample[] {
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const labelList = labels.toArray();
  const size = c * h * w;
  const examples = tidy(() => {
    const adversarial = attack.run(images, labels);
    const cleanProbabilities = predictProbabilities(model, images);
    const classes = cleanProbabilities.shape[1] as number;
    const clean = predictionsOf(cleanProbabilities.toFloat32Array(), classes, n);
    const attacked = predictionsOf(predictProbabilities(model, adversarial).toFloat32Array(), classes, n);
    const cleanData = images.toFloat32Array();
    const advData = adversarial.toFloat32Array();
    const heatmaps = (x: Tensor, preds: Prediction[]): Heatmap[] | undefined =>
      options.cam === undefined ? undefined : heatmapsFromTensor(options.cam.compute(x, preds.map((p) => new ClassifierOutputTarget(p.predicted))));
    const cleanMaps = heatmaps(images, clean);
    const advMaps = heatmaps(adversarial, attacked);
    return Array.from({ length: n }, (_, i) => {
      const x = cleanData.slice(i * size, (i + 1) * size);
      const xa = advData.slice(i * size, (i + 1) * size);
      let linf = 0;
      for (let p = 0; p < size; p++) linf = Math.max(linf, Math.abs((xa[p] as number) - (x[p] as number)));
      const magnify = options.magnify ?? (linf > 0 ? 0.5 / linf : 1);
      const delta = new Float32Array(size);
      for (let p = 0; p < size; p++) delta[p] = Math.min(1, Math.max(0, 0.5 + magnify * ((xa[p] as number) - (x[p] as number))));
      const planar = (data: Float32Array): PlanarImage => ({ channels: c, height: h, width: w, data });
      return {
        index: i,
        label: labelList[i] as number,
        clean: clean[i] as Prediction,
        adversarial: attacked[i] as Prediction,
        linf,
        magnify,
        cleanImage: planar(x),
        perturbationImage: planar(delta),
        adversarialImage: planar(xa),
        ...(cleanMaps === undefined ? {} : { cleanHeatmap: cleanMaps[i] as Heatmap }),
        ...(advMaps === undefined ? {} : { adversarialHeatmap: advMaps[i] as Heatmap }),
      };
    });
  });
  const flipped = (e: AdversarialExample): number => (e.clean.predicted !== e.adversarial.predicted ? 0 : 1);
  const ordered = [...examples].sort((a, b) => flipped(a) - flipped(b) || a.index - b.index);
  return options.limit === undefined ? ordered : ordered.slice(0, options.limit);
}

/** A planar image as 8-bit RGB (grey when it has one channel; the first three channels otherwise). */
export function planarToRgb(image: PlanarImage): RgbImage {
  const { channels, height, width, data } = image;
  const out = new Uint8Array(width * height * 3);
  const plane = width * height;
  for (let p = 0; p < plane; p++) {
    for (let k = 0; k < 3; k++) {
      const channel = channels >= 3 ? k : 0;
      out[3 * p + k] = Math.round(255 * Math.min(1, Math.max(0, data[channel * plane + p] as number)));
    }
  }
  return { width, height, data: out };
}

/** Writes the three panels as `<prefix>-clean.png`, `-perturbation.png`, `-adversarial.png` in `dir`. */
export async function writeGalleryPngs(example: AdversarialExample, dir: string, prefix: string): Promise<{ clean: string; perturbation: string; adversarial: string }> {
  const files = {
    clean: path.join(dir, `${prefix}-clean.png`),
    perturbation: path.join(dir, `${prefix}-perturbation.png`),
    adversarial: path.join(dir, `${prefix}-adversarial.png`),
  };
  await writeRgbPng(files.clean, planarToRgb(example.cleanImage));
  await writeRgbPng(files.perturbation, planarToRgb(example.perturbationImage));
  await writeRgbPng(files.adversarial, planarToRgb(example.adversarialImage));
  return files;
}
