// Inputs an input gate must refuse, drawn synthetically at the model's input size (values in [0, 1]): a blank and
// a uniform image, a photograph-like scene, a CT/MR-like axial slice, a chest film, and (from a real input) the
// MONOCHROME1 mistake of showing an image inverted.
import { Rng } from '../../src/util/index.js';

export type Plane = Float32Array;

const clamp = (v: number): number => Math.min(1, Math.max(0, v));

export function blank(size: number): Plane {
  return new Float32Array(size * size);
}

export function uniform(size: number, value = 0.55): Plane {
  return new Float32Array(size * size).fill(value);
}

/** Sky gradient, a horizon, textured ground, a house-like block and a tree-like blob (a natural scene in grey). */
export function photograph(size: number, seed = 1): Plane {
  const rng = new Rng(seed);
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const sky = y < size * 0.45;
      let v = sky ? 0.85 - 0.25 * (y / size) : 0.35 + 0.15 * Math.sin(x * 0.9 + y * 0.3) + 0.1 * rng.next();
      if (x > size * 0.55 && x < size * 0.8 && y > size * 0.3 && y < size * 0.6) v = 0.7 + 0.05 * rng.next();
      if ((x - size * 0.25) ** 2 + (y - size * 0.35) ** 2 < (size * 0.12) ** 2) v = 0.2 + 0.1 * rng.next();
      out[y * size + x] = clamp(v);
    }
  }
  return out;
}

/** An axial CT/MR-like slice: dark air around an oval body, a bright rim, darker round organs, a bright spine. */
export function crossSection(size: number, seed = 2): Plane {
  const rng = new Rng(seed);
  const out = new Float32Array(size * size);
  const cx = size / 2, cy = size / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const e = ((x - cx) / (size * 0.42)) ** 2 + ((y - cy) / (size * 0.3)) ** 2;
      let v = 0.02 * rng.next();
      if (e < 1) v = 0.45 + 0.05 * rng.next();
      if (e > 0.8 && e < 1) v = 0.75;
      if ((x - cx * 0.7) ** 2 + (y - cy) ** 2 < (size * 0.1) ** 2) v = 0.25;
      if ((x - cx * 1.3) ** 2 + (y - cy) ** 2 < (size * 0.1) ** 2) v = 0.25;
      if ((x - cx) ** 2 + (y - cy * 1.35) ** 2 < (size * 0.05) ** 2) v = 0.95;
      out[y * size + x] = clamp(v);
    }
  }
  return out;
}

/** A PA chest film: bright body and mediastinum, two dark lungs crossed by bright rib arcs. */
export function chestFilm(size: number, seed = 3): Plane {
  const rng = new Rng(seed);
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / size, w = y / size;
      let v = 0.1 + 0.05 * rng.next();
      if (Math.abs(u - 0.5) < 0.42 && w > 0.08) v = 0.7;
      const lung = (cxl: number): boolean => ((u - cxl) / 0.16) ** 2 + ((w - 0.48) / 0.34) ** 2 < 1;
      if (lung(0.3) || lung(0.7)) {
        v = 0.18 + 0.05 * rng.next();
        if (Math.abs(Math.sin((w + 0.15 * Math.abs(u - 0.5)) * 38)) > 0.85) v = 0.55;
      }
      out[y * size + x] = clamp(v);
    }
  }
  return out;
}

/** The MONOCHROME1 mistake: an image shown with its grey scale inverted. */
export function inverted(plane: Plane): Plane {
  return Float32Array.from(plane, (v) => 1 - v);
}
