// Region jitter for crop training: each training image's region of interest moved and rescaled at random before it is
// cut, so a crop classifier learns to tolerate the misplaced regions a hip localiser gives at prediction time. Only the
// training loader applies it (LoaderOptions.regionJitter); validation, test and predict cut the region as given.
import { Rng } from '../util/index.js';
import { DataError } from './errors.js';
import type { RegionOfInterest } from './imageIo.js';

/** How far a region may move and how much it may grow or shrink; every draw is uniform in its range. */
export interface RegionJitter {
  /** Largest move of the region's centre on each axis, as a fraction of the region's width (x) or height (y). */
  readonly shift: number;
  /** Range of the factor both sides of the region are scaled by, about its moved centre: [smallest, largest]. */
  readonly scale: readonly [number, number];
}

/**
 * What `--region-jitter on` uses (jitter is off by default). The hip localiser's regions have a median IoU of about 0.75 with the true ones
 * (bench/results/localiser.json); a 12 % move on both axes alone gives IoU 0.65, a scale of 0.85 or 1.2 alone 0.72 or
 * 0.69, so these ranges span the errors it typically makes without cutting the hip away.
 */
export const defaultRegionJitter: RegionJitter = Object.freeze({ shift: 0.12, scale: Object.freeze([0.85, 1.2]) as readonly [number, number] });

/** What is wrong with a jitter setting (empty when valid): shift in [0, 0.5], scale 0 < low ≤ 1 ≤ high ≤ 2. */
export function regionJitterProblems(jitter: unknown): string[] {
  if (typeof jitter !== 'object' || jitter === null) return ['must be {shift, scale: [low, high]} or null'];
  const { shift, scale } = jitter as { shift?: unknown; scale?: unknown };
  const problems: string[] = [];
  if (typeof shift !== 'number' || !(shift >= 0 && shift <= 0.5)) problems.push(`shift must be a number in [0, 0.5], got ${JSON.stringify(shift)}`);
  const pair = Array.isArray(scale) && scale.length === 2 && scale.every((s) => typeof s === 'number' && Number.isFinite(s));
  if (!pair || !((scale[0] as number) > 0 && (scale[0] as number) <= 1 && (scale[1] as number) >= 1 && (scale[1] as number) <= 2)) {
    problems.push(`scale must be [low, high] with 0 < low ≤ 1 ≤ high ≤ 2, got ${JSON.stringify(scale)}`);
  }
  for (const key of Object.keys(jitter)) if (key !== 'shift' && key !== 'scale') problems.push(`unknown key ${key}`);
  return problems;
}

/**
 * `region` moved by up to `shift` of its size on each axis and scaled by one factor drawn from `scale`, then clipped
 * to the image (to [0, 1], or as far past an edge as the given region already reached: such regions are cut with
 * the edge repeated). The clipped region always keeps part of the given one, since a move is at most half its size.
 */
export function jitterRegion(region: RegionOfInterest, jitter: RegionJitter, rng: Rng): RegionOfInterest {
  const [x0, y0, x1, y1] = region;
  const w = x1 - x0;
  const h = y1 - y0;
  const cx = (x0 + x1) / 2 + rng.uniform(-jitter.shift, jitter.shift) * w;
  const cy = (y0 + y1) / 2 + rng.uniform(-jitter.shift, jitter.shift) * h;
  const s = rng.uniform(jitter.scale[0], jitter.scale[1]);
  const clip = (v: number, low: number, high: number): number => Math.min(high, Math.max(low, v));
  const out = [
    clip(cx - (s * w) / 2, Math.min(0, x0), Math.max(1, x1)),
    clip(cy - (s * h) / 2, Math.min(0, y0), Math.max(1, y1)),
    clip(cx + (s * w) / 2, Math.min(0, x0), Math.max(1, x1)),
    clip(cy + (s * h) / 2, Math.min(0, y0), Math.max(1, y1)),
  ] as const;
  if (!(out[2] > out[0] && out[3] > out[1])) {
    throw new DataError('HF_DATA_BAD_ROI', `Region of interest [${region.join(', ')}] cannot be jittered: it is empty or not finite.`, { fix: 'give x0 < x1 and y0 < y1 as fractions of the image (the manifest stores them so).' });
  }
  return out;
}
