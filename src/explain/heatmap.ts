// A heatmap as plain data (values in [0, 1], row-major), so overlays, localisation scores and reports
// work without tensors; plus bilinear resampling to another resolution.
import type { Tensor } from '../torch/index.js';
import { ExplainError } from './errors.js';

export interface Heatmap {
  readonly width: number;
  readonly height: number;
  /** Row-major values, height × width. */
  readonly data: Float32Array;
}

/** Splits heatmaps [N, H, W] (or one [H, W]) into plain Heatmap objects. */
export function heatmapsFromTensor(maps: Tensor): Heatmap[] {
  const shape = maps.shape;
  if (shape.length !== 2 && shape.length !== 3) {
    throw new ExplainError('HF_EXPLAIN_HEATMAP_SHAPE', `heatmaps must be [N, H, W] or [H, W]; got [${shape.join(', ')}].`);
  }
  const [n, height, width] = (shape.length === 2 ? [1, ...shape] : shape) as [number, number, number];
  const all = maps.toFloat32Array();
  const size = height * width;
  return Array.from({ length: n }, (_, i) => ({ width, height, data: all.slice(i * size, (i + 1) * size) }));
}

/** Bilinear resampling with half-pixel centres (as interpolate with align_corners=false). */
export function resizeHeatmap(map: Heatmap, width: number, height: number): Heatmap {
  if (map.width === width && map.height === height) return map;
  const out = new Float32Array(width * height);
  const sx = map.width / width;
  const sy = map.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.max(0, (y + 0.5) * sy - 0.5);
    const y0 = Math.min(Math.floor(fy), map.height - 1);
    const y1 = Math.min(y0 + 1, map.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.max(0, (x + 0.5) * sx - 0.5);
      const x0 = Math.min(Math.floor(fx), map.width - 1);
      const x1 = Math.min(x0 + 1, map.width - 1);
      const wx = fx - x0;
      const top = (map.data[y0 * map.width + x0] as number) * (1 - wx) + (map.data[y0 * map.width + x1] as number) * wx;
      const bottom = (map.data[y1 * map.width + x0] as number) * (1 - wx) + (map.data[y1 * map.width + x1] as number) * wx;
      out[y * width + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return { width, height, data: out };
}
