// A contact sheet: a grid of phantom previews with fracture boxes drawn in red, written as PNG with sharp.
// For docs/data.md and for a quick look at a freshly generated cohort.
import sharp from 'sharp';
import type { CohortPreview } from './cohort.js';

export interface ContactSheetOptions {
  /** Tile edge in pixels (previews are resampled to it). */
  readonly tile?: number;
  readonly columns?: number;
}

/** Nearest-neighbour resample of a square 8-bit image. */
function resample(src: Uint8Array, size: number, tile: number): Uint8Array {
  const out = new Uint8Array(tile * tile);
  for (let y = 0; y < tile; y++) {
    const sy = Math.min(size - 1, Math.floor(((y + 0.5) * size) / tile));
    for (let x = 0; x < tile; x++) out[y * tile + x] = src[sy * size + Math.min(size - 1, Math.floor(((x + 0.5) * size) / tile))] as number;
  }
  return out;
}

export async function writeContactSheet(path: string, previews: readonly CohortPreview[], options: ContactSheetOptions = {}): Promise<void> {
  const tile = options.tile ?? 256;
  const columns = Math.max(1, Math.min(options.columns ?? 4, previews.length));
  const rows = Math.max(1, Math.ceil(previews.length / columns));
  const gap = 4;
  const width = columns * tile + (columns + 1) * gap;
  const height = rows * tile + (rows + 1) * gap;
  const rgb = new Uint8Array(width * height * 3).fill(24);
  previews.forEach((p, n) => {
    const ox = gap + (n % columns) * (tile + gap);
    const oy = gap + Math.floor(n / columns) * (tile + gap);
    const img = resample(p.pixels, p.size, tile);
    for (let y = 0; y < tile; y++) {
      for (let x = 0; x < tile; x++) {
        const v = img[y * tile + x] as number;
        const o = ((oy + y) * width + ox + x) * 3;
        rgb[o] = v;
        rgb[o + 1] = v;
        rgb[o + 2] = v;
      }
    }
    const s = tile / p.size;
    for (const [x0, y0, x1, y1] of p.boxes) {
      const bx0 = Math.round(x0 * s);
      const by0 = Math.round(y0 * s);
      const bx1 = Math.min(tile - 1, Math.round(x1 * s));
      const by1 = Math.min(tile - 1, Math.round(y1 * s));
      const put = (x: number, y: number): void => {
        const o = ((oy + y) * width + ox + x) * 3;
        rgb[o] = 255;
        rgb[o + 1] = 40;
        rgb[o + 2] = 40;
      };
      for (let t = 0; t < 2; t++) {
        for (let x = bx0; x <= bx1; x++) {
          put(x, Math.min(tile - 1, by0 + t));
          put(x, Math.max(0, by1 - t));
        }
        for (let y = by0; y <= by1; y++) {
          put(Math.min(tile - 1, bx0 + t), y);
          put(Math.max(0, bx1 - t), y);
        }
      }
    }
  });
  await sharp(rgb, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 9 }).toFile(path);
}
