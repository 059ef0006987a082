// Shared by the ONNX tests: a model whose BatchNorm statistics are not the identity, and FracAtlas radiographs
// (Abedeen et al., Scientific Data 10, 521, 2023; CC BY 4.0) read from the shared data folder, never copied in.
import path from 'node:path';
import { readdirSync } from 'node:fs';
import { decodeGrey } from '../../src/data/index.js';
import { BatchNorm1d, BatchNorm2d, type Module } from '../../src/nn/index.js';
import { createClassifier, createOnnxPredictor, type Classifier } from '../../src/models/index.js';
import { manualSeed, noGrad, rand } from '../../src/torch/index.js';

export const FRACATLAS_IMAGES = path.join(process.cwd(), '..', 'shared', 'datasets', 'fracatlas-nonhip', 'images');

/** Running variances drawn from U(0.5, 1.5), so folding and the head's BatchNorm change the numbers. */
export function spreadRunningVariances(model: Module): void {
  noGrad(() => {
    for (const [, m] of model.namedModules()) {
      if (!(m instanceof BatchNorm2d || m instanceof BatchNorm1d)) continue;
      const r = rand([m.numFeatures]);
      m.buffer('running_var')?.copy_(r.add(0.5));
      r.dispose();
    }
  });
}

/** The FracAtlas JPEGs in name order, from `skip`, `count` of them. */
export function fracAtlasFiles(count: number, skip = 0): string[] {
  return readdirSync(FRACATLAS_IMAGES).filter((f) => f.endsWith('.jpg')).sort().slice(skip, skip + count).map((f) => path.join(FRACATLAS_IMAGES, f));
}

/** `count` FracAtlas radiographs from `skip`, grey [count, 1, size, size] in [0, 1] (squished). */
export async function fracAtlasGrey(count: number, skip: number, size: number): Promise<Float32Array> {
  const out = new Float32Array(count * size * size);
  for (const [i, f] of fracAtlasFiles(count, skip).entries()) out.set(Float32Array.from(await decodeGrey(f, { width: size, height: size }, 'squish'), (v) => v / 65535), i * size * size);
  return out;
}

/** A random-weight classifier (fastai head) from `seed`, with spread running variances, in eval mode. */
export function seededClassifier(name: string, seed: number): Classifier {
  manualSeed(seed);
  const model = createClassifier(name, { head: 'fastai', weights: null });
  spreadRunningVariances(model);
  return model.eval();
}

/** The logits ONNX Runtime computes for `count` images with the graph `bytes` (2 threads). */
export async function onnxLogits(bytes: Uint8Array, images: Float32Array, count: number): Promise<Float32Array> {
  const predictor = await createOnnxPredictor(bytes, { threads: 2 });
  try {
    return (await predictor.predictBatch(images, count)).logits;
  } finally {
    await predictor.dispose();
  }
}
