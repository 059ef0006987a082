// Small geometric transforms of image batches in one pass (affine_grid + grid_sample), shared by the
// rotation-translation attack and test-time augmentation.
import { affineGrid, gridSample, tensor, type Tensor } from '../torch/index.js';

/** How the content moves: rotated by `angleDeg` about the centre (clockwise on screen), scaled, mirrored, then shifted. */
export interface AffineParams {
  readonly angleDeg?: number;
  /** Shift right, pixels. */
  readonly txPx?: number;
  /** Shift down, pixels. */
  readonly tyPx?: number;
  /** Zoom factor (1 = none). */
  readonly scale?: number;
  /** Mirror left ↔ right. */
  readonly flip?: boolean;
}

/**
 * The 2×3 matrix affine_grid needs (output → input, normalised coordinates, align_corners=false) for content
 * moved by `p` in a width × height image. Pixel space: p_out = s·F·R·p_in + t, so p_in = (sFR)⁻¹(p_out − t).
 */
export function affineTheta(p: AffineParams, width: number, height: number): number[] {
  const a = ((p.angleDeg ?? 0) * Math.PI) / 180;
  const s = p.scale ?? 1;
  const f = p.flip === true ? -1 : 1;
  // Forward A = s·F·R with R = [[cos, −sin], [sin, cos]], F = diag(f, 1); its inverse in closed form.
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  const forward = [s * f * cos, -s * f * sin, s * sin, s * cos];
  const det = (forward[0] as number) * (forward[3] as number) - (forward[1] as number) * (forward[2] as number);
  const m = [(forward[3] as number) / det, -(forward[1] as number) / det, -(forward[2] as number) / det, (forward[0] as number) / det];
  const tx = p.txPx ?? 0;
  const ty = p.tyPx ?? 0;
  const bx = -((m[0] as number) * tx + (m[1] as number) * ty);
  const by = -((m[2] as number) * tx + (m[3] as number) * ty);
  // Normalise: x_n = 2x/W, y_n = 2y/H (centred), so A_n = D·M·D⁻¹ and b_n = D·b.
  const rx = 2 / width;
  const ry = 2 / height;
  return [m[0] as number, ((m[1] as number) * rx) / ry, bx * rx, ((m[2] as number) * ry) / rx, m[3] as number, by * ry];
}

/** Applies one transform per image (or one for all) to [N, C, H, W]; areas from outside take the padding mode. */
export function affineTransform(images: Tensor, params: AffineParams | readonly AffineParams[], padding: 'zeros' | 'border' | 'reflection' = 'zeros'): Tensor {
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const list = Array.isArray(params) ? (params as readonly AffineParams[]) : Array.from({ length: n }, () => params as AffineParams);
  const theta = tensor(Float32Array.from(list.flatMap((p) => affineTheta(p, w, h))), [n, 2, 3], { dtype: images.dtype, device: images.device });
  const grid = affineGrid(theta, [n, c, h, w], false);
  return gridSample(images, grid, 'bilinear', padding, false);
}
