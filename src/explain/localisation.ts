// Localisation scores of heatmaps against ground-truth fracture boxes: the pointing game and the share of
// heatmap energy inside the boxes, with the score a random heatmap would get for comparison.
import type { Heatmap } from './heatmap.js';
import { ExplainError } from './errors.js';

/** [x0, y0, x1, y1] in the heatmap's pixels, x1/y1 exclusive (the phantom's FractureTruth.box). */
export type Box = readonly [number, number, number, number];

/** Rescales boxes from one image size to another (e.g. original radiograph → 224 × 224 heatmap). */
export function scaleBoxes(boxes: readonly Box[], from: { width: number; height: number }, to: { width: number; height: number }): Box[] {
  const sx = to.width / from.width;
  const sy = to.height / from.height;
  return boxes.map(([x0, y0, x1, y1]) => [x0 * sx, y0 * sy, x1 * sx, y1 * sy] as const);
}

function inside(x: number, y: number, [x0, y0, x1, y1]: Box, tolerance: number): boolean {
  // Pixel centres; the tolerance grows the box on every side (Zhang et al. use 15 px at 224).
  const cx = x + 0.5;
  const cy = y + 0.5;
  return cx >= x0 - tolerance && cx <= x1 + tolerance && cy >= y0 - tolerance && cy <= y1 + tolerance;
}

function boxMask(width: number, height: number, boxes: readonly Box[], tolerance = 0): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (boxes.some((b) => inside(x, y, b, tolerance))) mask[y * width + x] = 1;
  return mask;
}

function checkBoxes(boxes: readonly Box[]): void {
  if (boxes.length === 0) {
    throw new ExplainError('HF_EXPLAIN_BAD_OPTION', 'localisation needs at least one ground-truth box per image.', {
      fix: 'score only images with a fracture box (intact hips have nothing to point at).',
    });
  }
}

/**
 * Pointing game (Zhang et al., "Top-down Neural Attention by Excitation Backprop", IJCV 2018): a hit when
 * the heatmap's maximum lies inside any box (grown by `tolerance` pixels). Ties: the first maximum in raster order.
 */
export function pointingGameHit(heatmap: Heatmap, boxes: readonly Box[], tolerance = 0): boolean {
  checkBoxes(boxes);
  let best = -Infinity;
  let at = 0;
  for (let i = 0; i < heatmap.data.length; i++) {
    const v = heatmap.data[i] as number;
    if (v > best) {
      best = v;
      at = i;
    }
  }
  return boxes.some((b) => inside(at % heatmap.width, Math.floor(at / heatmap.width), b, tolerance));
}

/** Share of the heatmap's total energy (sum of values) that falls inside the boxes; 0 for an all-zero map. */
export function energyInBoxes(heatmap: Heatmap, boxes: readonly Box[]): number {
  checkBoxes(boxes);
  const mask = boxMask(heatmap.width, heatmap.height, boxes);
  let inBoxes = 0;
  let total = 0;
  for (let i = 0; i < heatmap.data.length; i++) {
    const v = Math.max(0, heatmap.data[i] as number);
    total += v;
    if (mask[i] === 1) inBoxes += v;
  }
  return total > 0 ? inBoxes / total : 0;
}

/**
 * The pointing-game hit rate (and energy share) a heatmap with a uniformly random peak would score:
 * the share of the image the boxes cover.
 */
export function boxAreaShare(width: number, height: number, boxes: readonly Box[], tolerance = 0): number {
  const mask = boxMask(width, height, boxes, tolerance);
  let n = 0;
  for (const m of mask) n += m;
  return n / (width * height);
}

export interface LocalisationSummary {
  /** Images scored (those with at least one box). */
  readonly n: number;
  /** Pointing-game hit rate in [0, 1]. */
  readonly pointingGame: number;
  /** Mean energy share inside the boxes. */
  readonly energyInBoxes: number;
  /** Mean box area share: a random heatmap's expected pointing game and energy share. */
  readonly randomBaseline: number;
  /** Per-image results, in input order (null where an image has no box). */
  readonly perImage: readonly ({ hit: boolean; energy: number; areaShare: number } | null)[];
}

/** Scores many heatmaps against their boxes; images without boxes are skipped (null in perImage). */
export function localisationScores(heatmaps: readonly Heatmap[], boxes: readonly (readonly Box[])[], tolerance = 0): LocalisationSummary {
  if (heatmaps.length !== boxes.length) {
    throw new ExplainError('HF_EXPLAIN_BAD_OPTION', `got ${heatmaps.length} heatmaps but ${boxes.length} box lists.`, { fix: 'give one box list per heatmap (empty for intact hips).' });
  }
  const perImage = heatmaps.map((h, i) => {
    const b = boxes[i] as readonly Box[];
    if (b.length === 0) return null;
    return { hit: pointingGameHit(h, b, tolerance), energy: energyInBoxes(h, b), areaShare: boxAreaShare(h.width, h.height, b, tolerance) };
  });
  const scored = perImage.filter((p): p is NonNullable<typeof p> => p !== null);
  const mean = (f: (p: (typeof scored)[number]) => number): number => (scored.length === 0 ? Number.NaN : scored.reduce((a, p) => a + f(p), 0) / scored.length);
  return {
    n: scored.length,
    pointingGame: mean((p) => (p.hit ? 1 : 0)),
    energyInBoxes: mean((p) => p.energy),
    randomBaseline: mean((p) => p.areaShare),
    perImage,
  };
}
