// The localiser's augmentation: the data room's transforms (mirror, zoom about a random centre, brightness and
// contrast; no rotation or warp, which would turn a box into a non-box) applied to the image, and the same map
// applied to its region, so a few hundred radiographs teach where a hip is rather than where it was. Mirroring
// moves a hip from one image half to the other, so both slots see every position.
import { applyAugment, drawAugmentParams, resolveAugmentConfig, samplingMatrix, type AugmentConfig, type RegionOfInterest } from '../data/index.js';
import type { Tensor } from '../torch/index.js';
import type { Rng } from '../util/index.js';

/** Mirror half the time, zoom up to 1.3× (which also shifts: the zoom centre is random), mild lighting, zeros outside. */
export const LOCALISER_AUGMENT: AugmentConfig = resolveAugmentConfig({ flipP: 0.5, maxRotate: 0, minZoom: 1, maxZoom: 1.3, maxWarp: 0, pAffine: 0.75, maxLighting: 0.2, pLighting: 0.75, padding: 'zeros' });

/**
 * Transforms images [N, C, H, W] and moves their regions. samplingMatrix maps an output point to the input point it
 * reads (normalised, -1 and 1 at the edge pixels' centres); a region edge e (fraction of the image) lands where
 * that map's inverse sends it. A mirror swaps x0 and x1.
 */
export function augmentWithRegions(images: Tensor, rois: readonly RegionOfInterest[], rng: Rng, config: AugmentConfig = LOCALISER_AUGMENT): { images: Tensor; rois: RegionOfInterest[] } {
  const [n, , h, w] = images.shape as [number, number, number, number];
  const params = drawAugmentParams(n, rng, config);
  const moved = rois.map((roi, i): RegionOfInterest => {
    // Affine (no warp, no rotation): input = m·output, per axis x_in = a·x_out + b.
    const m = samplingMatrix(params[i]!, h, w);
    const along = (f: number, size: number, a: number, b: number): number => {
      const uIn = -1 + (2 * (f * size - 0.5)) / (size - 1);
      const uOut = (uIn - b) / a;
      return ((uOut + 1) * (size - 1)) / 2 / size + 0.5 / size;
    };
    const xa = along(roi[0], w, m[0], m[2]), xb = along(roi[2], w, m[0], m[2]);
    return [Math.min(xa, xb), along(roi[1], h, m[4], m[5]), Math.max(xa, xb), along(roi[3], h, m[4], m[5])];
  });
  return { images: applyAugment(images, params, config), rois: moved };
}
