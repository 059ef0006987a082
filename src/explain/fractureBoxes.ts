// Fracture boxes from a box head's heatmap (box supervision): cells above a probability threshold, grouped into
// 8-connected components, each one box with the highest probability inside it as its score.
import { connectedComponents } from '../data/index.js';

/** A predicted fracture box: [x0, y0, x1, y1] as fractions of the model input (x1/y1 exclusive) and its score. */
export interface FractureBox {
  readonly box: readonly [number, number, number, number];
  /** The highest heatmap probability inside the box, in (threshold, 1]. */
  readonly score: number;
}

/**
 * Boxes from one heatmap of probabilities [height × width] (row-major): every 8-connected component of cells above
 * `threshold`, as the fraction of the map it spans, best score first.
 */
export function fractureBoxes(probabilities: ArrayLike<number>, height: number, width: number, threshold: number): FractureBox[] {
  const on = Uint8Array.from({ length: height * width }, (_, i) => ((probabilities[i] as number) > threshold ? 1 : 0));
  return connectedComponents(on, width, height)
    .map((cells) => {
      let [x0, y0, x1, y1, score] = [width, height, 0, 0, 0];
      for (const i of cells) {
        const x = i % width;
        const y = (i - x) / width;
        [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x + 1), Math.max(y1, y + 1)];
        score = Math.max(score, probabilities[i] as number);
      }
      return { box: [x0 / width, y0 / height, x1 / width, y1 / height] as const, score };
    })
    .sort((a, b) => b.score - a.score);
}

/** A fraction-of-input box in the pixels of an image of `size` that starts at `origin` in its file (a cut region). */
export function boxToPixels(box: FractureBox['box'], size: { width: number; height: number }, origin: readonly [number, number] = [0, 0]): [number, number, number, number] {
  const r = (v: number): number => Math.round(v * 10) / 10;
  return [r(origin[0] + box[0] * size.width), r(origin[1] + box[1] * size.height), r(origin[0] + box[2] * size.width), r(origin[1] + box[3] * size.height)];
}

/**
 * Draws box outlines (fractions of the image) on an RGB image in place, `thickness` pixels wide: predicted fracture
 * boxes and true ones on the report's galleries.
 */
export function drawBoxOutlines(image: { readonly width: number; readonly height: number; readonly data: Uint8Array }, boxes: readonly (readonly [number, number, number, number])[], colour: readonly [number, number, number], thickness = 2): void {
  const { width, height, data } = image;
  const paint = (x: number, y: number): void => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    data.set(colour, 3 * (y * width + x));
  };
  for (const [fx0, fy0, fx1, fy1] of boxes) {
    const [x0, y0] = [Math.round(fx0 * width), Math.round(fy0 * height)];
    const [x1, y1] = [Math.max(x0 + 1, Math.round(fx1 * width)) - 1, Math.max(y0 + 1, Math.round(fy1 * height)) - 1];
    for (let t = 0; t < thickness; t++) {
      for (let x = x0; x <= x1; x++) {
        paint(x, y0 + t);
        paint(x, y1 - t);
      }
      for (let y = y0; y <= y1; y++) {
        paint(x0 + t, y);
        paint(x1 - t, y);
      }
    }
  }
}
