// Things radiographers put on the detector: lead L/R side markers, a radiopaque ruler, a calibration ball.
// Drawn straight into the line-integral map in detector coordinates; placed independently of the label.
import type { Rng } from '../util/index.js';
import { MU } from './anatomy.js';
import type { ViewFrame } from './projection.js';
import type { MarkerSpec } from './types.js';

// 5×7 glyphs, one string per row, '#' = lead.
const GLYPHS: Record<'L' | 'R', readonly string[]> = {
  L: ['#....', '#....', '#....', '#....', '#....', '#....', '#####'],
  R: ['####.', '#...#', '#...#', '####.', '#.#..', '#..#.', '#...#'],
};

export function sampleMarkers(rng: Rng, side: 'L' | 'R'): MarkerSpec {
  // Corners first: markers sit at the field's edge, away from the hip.
  const corner = (): [number, number] => [rng.bernoulli(0.5) ? rng.uniform(0.1, 0.2) : rng.uniform(0.8, 0.9), rng.bernoulli(0.5) ? rng.uniform(0.1, 0.2) : rng.uniform(0.8, 0.9)];
  const [lx, ly] = corner();
  const [bx, by] = corner();
  return {
    letter: rng.bernoulli(0.85) ? { text: side, fx: lx, fy: ly, heightMm: rng.uniform(12, 20) } : null,
    ruler: rng.bernoulli(0.25) ? { fx: rng.uniform(0.05, 0.95), fy: rng.uniform(0.05, 0.95), vertical: rng.bernoulli(0.5), lengthMm: rng.uniform(100, 200) } : null,
    ball: rng.bernoulli(0.2) ? { fx: bx, fy: by, diameterMm: 25 } : null,
  };
}

function addRect(line: Float32Array, size: number, x0: number, y0: number, x1: number, y1: number, value: number): void {
  const xa = Math.max(0, Math.round(x0));
  const xb = Math.min(size, Math.round(x1));
  const ya = Math.max(0, Math.round(y0));
  const yb = Math.min(size, Math.round(y1));
  for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) line[y * size + x] = (line[y * size + x] as number) + value;
}

/** Adds the markers' attenuation; anything outside the collimated field is skipped (it would not be exposed). */
export function drawMarkers(line: Float32Array, frame: ViewFrame, m: MarkerSpec, field: readonly [number, number, number, number]): void {
  const { size, mmPerPx } = frame;
  const inField = (fx: number, fy: number): boolean => fx * size >= field[0] && fx * size < field[2] && fy * size >= field[1] && fy * size < field[3];
  if (m.letter !== null && inField(m.letter.fx, m.letter.fy)) {
    const cell = m.letter.heightMm / 7 / mmPerPx;
    const cx = m.letter.fx * size - 2.5 * cell;
    const cy = m.letter.fy * size - 3.5 * cell;
    // The plastic holder, then 1.5 mm of lead per stroke.
    addRect(line, size, cx - cell, cy - cell, cx + 6 * cell, cy + 8 * cell, 0.12);
    GLYPHS[m.letter.text].forEach((row, r) => {
      for (let c = 0; c < row.length; c++) if (row[c] === '#') addRect(line, size, cx + c * cell, cy + r * cell, cx + (c + 1) * cell, cy + (r + 1) * cell, MU.lead * 1.5);
    });
  }
  if (m.ruler !== null) {
    const len = m.ruler.lengthMm / mmPerPx;
    const width = 18 / mmPerPx;
    const x0 = m.ruler.fx * size;
    const y0 = m.ruler.fy * size;
    const [w, h] = m.ruler.vertical ? [width, len] : [len, width];
    addRect(line, size, x0 - w / 2, y0 - h / 2, x0 + w / 2, y0 + h / 2, 0.06);
    for (let mm = 0; mm <= m.ruler.lengthMm; mm += 10) {
      const t = mm / mmPerPx - len / 2;
      const tick = (mm % 50 === 0 ? 12 : 6) / mmPerPx;
      const thick = Math.max(1, 0.8 / mmPerPx);
      if (m.ruler.vertical) addRect(line, size, x0 - w / 2, y0 + t, x0 - w / 2 + tick, y0 + t + thick, MU.lead);
      else addRect(line, size, x0 + t, y0 - h / 2, x0 + t + thick, y0 - h / 2 + tick, MU.lead);
    }
  }
  if (m.ball !== null && inField(m.ball.fx, m.ball.fy)) {
    const r = m.ball.diameterMm / 2 / mmPerPx;
    const cx = m.ball.fx * size;
    const cy = m.ball.fy * size;
    for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(size - 1, Math.ceil(cy + r)); y++) {
      for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(size - 1, Math.ceil(cx + r)); x++) {
        const d2 = (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2;
        if (d2 < r * r) line[y * size + x] = (line[y * size + x] as number) + MU.steel * 2 * Math.sqrt(r * r - d2) * mmPerPx;
      }
    }
  }
}

/** Where a marker lies in the image: its kind and its box [x0, y0, x1, y1] in pixels (x1/y1 exclusive), clipped to the image. */
export interface MarkerTruth {
  readonly kind: 'letter' | 'ruler' | 'ball';
  readonly box: readonly [number, number, number, number];
}

/**
 * The boxes drawMarkers fills for a spec (the letter with its holder, the ruler, the ball), those it skips (outside the
 * collimated field) left out: the ground truth a burned-in-marker detector is checked against.
 */
export function markerBoxes(frame: ViewFrame, m: MarkerSpec, field: readonly [number, number, number, number]): MarkerTruth[] {
  const { size, mmPerPx } = frame;
  const inField = (fx: number, fy: number): boolean => fx * size >= field[0] && fx * size < field[2] && fy * size >= field[1] && fy * size < field[3];
  const clip = (x0: number, y0: number, x1: number, y1: number): [number, number, number, number] | null => {
    const b: [number, number, number, number] = [Math.max(0, Math.floor(x0)), Math.max(0, Math.floor(y0)), Math.min(size, Math.ceil(x1)), Math.min(size, Math.ceil(y1))];
    return b[2] > b[0] && b[3] > b[1] ? b : null;
  };
  const out: MarkerTruth[] = [];
  const push = (kind: MarkerTruth['kind'], box: [number, number, number, number] | null): void => {
    if (box !== null) out.push({ kind, box });
  };
  if (m.letter !== null && inField(m.letter.fx, m.letter.fy)) {
    const cell = m.letter.heightMm / 7 / mmPerPx;
    const cx = m.letter.fx * size - 2.5 * cell;
    const cy = m.letter.fy * size - 3.5 * cell;
    push('letter', clip(cx - cell, cy - cell, cx + 6 * cell, cy + 8 * cell));
  }
  if (m.ruler !== null) {
    const len = m.ruler.lengthMm / mmPerPx;
    const width = 18 / mmPerPx;
    const [w, h] = m.ruler.vertical ? [width, len] : [len, width];
    const x0 = m.ruler.fx * size;
    const y0 = m.ruler.fy * size;
    // The ruler is drawn over the whole image (the collimator does not hide it in this model): only its part in the field shows.
    const box = clip(Math.max(x0 - w / 2, field[0]), Math.max(y0 - h / 2, field[1]), Math.min(x0 + w / 2, field[2]), Math.min(y0 + h / 2, field[3]));
    push('ruler', box);
  }
  if (m.ball !== null && inField(m.ball.fx, m.ball.fy)) {
    const r = m.ball.diameterMm / 2 / mmPerPx;
    push('ball', clip(m.ball.fx * size - r, m.ball.fy * size - r, m.ball.fx * size + r, m.ball.fy * size + r));
  }
  return out;
}
