// One pass of the classifier that keeps what the gate scores: the logits (energy), the body's feature map
// average-pooled to one vector per image (Mahalanobis, body-part/view probes) and the grey input (pixel descriptor).
import type { Classifier } from '../models/index.js';
import { noGrad, tensor, tidy, type Tensor } from '../torch/index.js';
import { pixelDescriptor, polarityDescriptor } from './pixels.js';

export interface GateFeatures {
  /** Pooled penultimate features, one vector per image. */
  readonly features: Float32Array[];
  /** Logits, one row per image. */
  readonly logits: Float32Array[];
  /** pixelDescriptor of each image's first channel. */
  readonly pixels: number[][];
  /** polarityDescriptor of the first channel. */
  readonly polarity: number[][];
  /** polarityDescriptor of the same channel with its grey scale inverted (what a MONOCHROME1 mistake looks like). */
  readonly invertedPolarity: number[][];
}

/** Mean over h × w of a [N, C, h, w] map: [N, C] row-major. */
function pooled(raw: Float32Array, n: number, c: number, hw: number): Float32Array {
  const out = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) {
      let s = 0;
      const base = (i * c + j) * hw;
      for (let p = 0; p < hw; p++) s += raw[base + p] as number;
      out[i * c + j] = s / hw;
    }
  }
  return out;
}

/** Features of a batch [N, 1 | 3, S, S] in [0, 1] (the model's input, as predict and the loaders build it). */
export function gateFeatures(model: Classifier, images: Tensor): GateFeatures {
  const [n, channels, size] = images.shape as [number, number, number, number];
  return tidy(() =>
    noGrad(() => {
      const x = images.device === model.device ? images : images.to(model.device);
      const mean = tensor(new Float32Array(model.spec.mean), [1, 3, 1, 1]).to(model.device);
      const std = tensor(new Float32Array(model.spec.std), [1, 3, 1, 1]).to(model.device);
      const map = model.body.call(x.sub(mean).div(std));
      const logits = model.head.call(map).toFloat32Array();
      const [, c, h, w] = map.shape as [number, number, number, number];
      return gateFeaturesOf(pooled(map.toFloat32Array(), n, c, h * w), logits, images.toFloat32Array(), n, channels, size);
    }),
  );
}

/**
 * The gate's inputs for N images from what one forward pass gave: the body's pooled features [N, C] and the logits
 * [N, classes], both row-major, and the images [N, channels, S, S] in [0, 1], whose first channel the pixel
 * descriptors read. gateFeatures (LibTorch) and ONNX Runtime's pass (a graph exported with its `features` output:
 * predict, the DICOM node) both end here.
 */
export function gateFeaturesOf(features: Float32Array, logits: Float32Array, images: Float32Array, n: number, channels: number, size: number): GateFeatures {
  const c = features.length / Math.max(1, n);
  const k = logits.length / Math.max(1, n);
  const out: GateFeatures = { features: [], logits: [], pixels: [], polarity: [], invertedPolarity: [] };
  for (let i = 0; i < n; i++) {
    out.features.push(features.slice(i * c, (i + 1) * c));
    out.logits.push(logits.slice(i * k, (i + 1) * k));
    const plane = images.subarray(i * channels * size * size, (i * channels + 1) * size * size);
    const pixels = pixelDescriptor(plane, size);
    out.pixels.push(pixels);
    out.polarity.push(polarityDescriptor(plane, size, pixels));
    out.invertedPolarity.push(polarityDescriptor(Float32Array.from(plane, (v) => 1 - v), size));
  }
  return out;
}

/** Free energy −log Σ exp(logit) (Liu et al., NeurIPS 2020): higher for inputs unlike the training data. */
export function energyScore(logits: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] as number);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] as number) - max);
  return -(max + Math.log(sum));
}
