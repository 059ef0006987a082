// Fracture boxes carried by the manifest (fractions of the image, like the hip region of interest) and the box
// masks training supervises a heatmap head with: read from a label file's fracture_boxes column or FracAtlas's YOLO lines.
import type { RegionOfInterest } from './imageIo.js';

/** The label-file column with fracture boxes in source pixels: "x0 y0 x1 y1" per box, boxes separated by ';'. */
export const FRACTURE_BOXES_COLUMN = 'fracture_boxes';

const round5 = (v: number): number => Math.round(v * 1e5) / 1e5;
const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));

/**
 * Boxes of a fracture_boxes cell as fractions of an image of `size`: "x0 y0 x1 y1;…" in pixels, x1/y1 exclusive.
 * An empty cell gives [] (no fracture box); a malformed or empty box is left out.
 */
export function boxesFromPixelText(text: string, size: { width: number; height: number }): RegionOfInterest[] {
  const out: RegionOfInterest[] = [];
  for (const part of text.split(';')) {
    const v = part.trim().split(/[\s,]+/).filter((s) => s !== '').map(Number);
    if (v.length !== 4 || !v.every(Number.isFinite)) continue;
    const [x0, y0, x1, y1] = v as [number, number, number, number];
    if (!(x1 > x0 && y1 > y0)) continue;
    out.push([round5(clamp01(x0 / size.width)), round5(clamp01(y0 / size.height)), round5(clamp01(x1 / size.width)), round5(clamp01(y1 / size.height))]);
  }
  return out;
}

/** FracAtlas's YOLO lines "class cx cy w h" (normalised to the image), separated by ';', as fractions [x0, y0, x1, y1]. */
export function boxesFromYolo(text: string): RegionOfInterest[] {
  const out: RegionOfInterest[] = [];
  for (const part of text.split(';')) {
    const v = part.trim().split(/\s+/).filter((s) => s !== '').map(Number);
    if (v.length !== 5 || !v.every(Number.isFinite)) continue;
    const [, cx, cy, w, h] = v as [number, number, number, number, number];
    if (!(w > 0 && h > 0)) continue;
    out.push([round5(clamp01(cx - w / 2)), round5(clamp01(cy - h / 2)), round5(clamp01(cx + w / 2)), round5(clamp01(cy + h / 2))]);
  }
  return out;
}

/** The boxes in the coordinates of a region cut out of the image (fractions of the region), clipped to it. */
export function boxesInRegion(boxes: readonly RegionOfInterest[], region: RegionOfInterest | null): RegionOfInterest[] {
  if (region === null) return boxes.slice();
  const [rx0, ry0, rx1, ry1] = region;
  const w = rx1 - rx0;
  const h = ry1 - ry0;
  return boxes
    .map(([x0, y0, x1, y1]) => [clamp01((x0 - rx0) / w), clamp01((y0 - ry0) / h), clamp01((x1 - rx0) / w), clamp01((y1 - ry0) / h)] as const)
    .filter(([x0, y0, x1, y1]) => x1 > x0 && y1 > y0);
}

/**
 * A mask [height × width] (row-major, 1 inside any box, 0 elsewhere) of boxes given as fractions of the image, as the
 * 'squish' resize maps them: a pixel counts when its centre lies in a box.
 */
export function boxMaskPlane(boxes: readonly RegionOfInterest[], height: number, width: number): Float32Array {
  const mask = new Float32Array(height * width);
  for (const [x0, y0, x1, y1] of boxes) {
    const xa = Math.max(0, Math.ceil(x0 * width - 0.5));
    const xb = Math.min(width, Math.ceil(x1 * width - 0.5));
    const ya = Math.max(0, Math.ceil(y0 * height - 0.5));
    const yb = Math.min(height, Math.ceil(y1 * height - 0.5));
    // A box thinner than a pixel still marks the pixel it sits in.
    const [xs, xe] = xb > xa ? [xa, xb] : [Math.min(width - 1, Math.floor(x0 * width)), Math.min(width, Math.floor(x0 * width) + 1)];
    const [ys, ye] = yb > ya ? [ya, yb] : [Math.min(height - 1, Math.floor(y0 * height)), Math.min(height, Math.floor(y0 * height) + 1)];
    for (let y = ys; y < ye; y++) mask.fill(1, y * width + xs, y * width + xe);
  }
  return mask;
}

/**
 * Whether a row's boxes can supervise a localisation head: an intact image (label 0) always can (its mask is empty);
 * a fractured one only when it has at least one box (FracAtlas has fractured images without boxes).
 */
export function boxesKnown(label: number, boxes: readonly RegionOfInterest[] | null | undefined): boolean {
  if (boxes === undefined || boxes === null) return false;
  return label === 0 || boxes.length > 0;
}
