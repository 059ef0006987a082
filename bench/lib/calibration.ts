// int8 calibration images for the inference benchmarks: the first N FracAtlas radiographs (file order), grey,
// squished to size × size, in [0, 1] (../shared/datasets/fracatlas-nonhip; Abedeen et al., Scientific Data 10,
// 521, 2023; CC BY 4.0).
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeGrey } from '../../src/data/index.js';
import { REPO_ROOT } from './results.js';

export const FRACATLAS_IMAGES = path.resolve(REPO_ROOT, '..', 'shared', 'datasets', 'fracatlas-nonhip', 'images');

/** `count` images as one [N, size, size] Float32Array (fewer when the folder holds fewer). */
export async function calibrationImages(count: number, size: number): Promise<Float32Array> {
  const files = readdirSync(FRACATLAS_IMAGES).filter((f) => f.endsWith('.jpg')).sort().slice(0, count);
  const out = new Float32Array(files.length * size * size);
  for (const [i, f] of files.entries()) out.set(Float32Array.from(await decodeGrey(path.join(FRACATLAS_IMAGES, f), { width: size, height: size }, 'squish'), (v) => v / 65535), i * size * size);
  return out;
}
