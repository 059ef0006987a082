// Geometric augmentation for the localiser: each image of a batch is mirrored (half the time), zoomed and shifted
// by one affine resampling, and its region moves with it, so a few hundred radiographs teach where a hip is rather
// than where it was. Mirroring moves a hip from one image half to the other, so both slots see every position.
import type { RegionOfInterest } from '../data/index.js';
import { affineGrid, gridSample, tensor, type Tensor } from '../torch/index.js';
import { Rng } from '../util/index.js';

export interface LocaliserAugment {
  /** Largest zoom change either way (0.15: 0.85× to 1.15×). */
  readonly zoom: number;
  /** Largest shift as a fraction of the image. */
  readonly shift: number;
  /** Mirror left–right with probability 0.5. */
  readonly mirror: boolean;
}

export const DEFAULT_LOCALISER_AUGMENT: LocaliserAugment = { zoom: 0.15, shift: 0.1, mirror: true };

/**
 * Resamples images [N, C, S, S] (zeros outside) and moves their regions. An output position u (in [-1, 1]) reads
 * the input at a·u + t, so an input edge e lands at (e − t)/a; a negative a_x mirrors and swaps x0 and x1.
 */
export function augmentBatch(images: Tensor, rois: readonly RegionOfInterest[], rng: Rng, options: LocaliserAugment = DEFAULT_LOCALISER_AUGMENT): { images: Tensor; rois: RegionOfInterest[] } {
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const theta = new Float32Array(n * 6);
  const moved: RegionOfInterest[] = rois.map((roi, i) => {
    const a = 1 / rng.uniform(1 - options.zoom, 1 + options.zoom);
    const ax = options.mirror && rng.bernoulli(0.5) ? -a : a;
    const tx = rng.uniform(-2 * options.shift, 2 * options.shift);
    const ty = rng.uniform(-2 * options.shift, 2 * options.shift);
    theta.set([ax, 0, tx, 0, a, ty], i * 6);
    const out = (f: number, scale: number, t: number): number => ((2 * f - 1 - t) / scale + 1) / 2;
    const xa = out(roi[0], ax, tx), xb = out(roi[2], ax, tx);
    return [Math.min(xa, xb), out(roi[1], a, ty), Math.max(xa, xb), out(roi[3], a, ty)];
  });
  const grid = affineGrid(tensor(theta, [n, 2, 3]), [n, c, h, w]);
  const resampled = gridSample(images, grid, 'bilinear', 'zeros');
  grid.dispose();
  return { images: resampled, rois: moved };
}
