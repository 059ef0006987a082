// Mirror averaging (bench/tta.ts, bench/mirror-rows.ts): an image and its left-right mirror through the same model,
// the mirror's box-head map turned back before the two are averaged.
import { cachedPngPath, decodeGrey, type ManifestRow } from '../../src/data/index.js';
import { loadCheckpoint } from '../../src/models/index.js';
import { noGrad, sigmoid, tensor, tidy } from '../../src/torch/index.js';

/** A row-major width × height plane with its columns reversed (its left-right mirror). */
export function mirrorColumns(plane: ArrayLike<number>, width: number, height: number): Float32Array {
  if (plane.length !== width * height) throw new Error(`a ${width} x ${height} plane has ${width * height} values, got ${plane.length}.`);
  const out = new Float32Array(plane.length);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = plane[y * width + (width - 1 - x)] as number;
  return out;
}

/**
 * The mean of a map of the image and the map of its mirror, turned back into the image's frame: what a model that
 * looked at both would show.
 */
export function mirrorAveraged(plain: ArrayLike<number>, ofMirror: ArrayLike<number>, width: number, height: number): Float32Array {
  const back = mirrorColumns(ofMirror, width, height);
  return Float32Array.from(back, (v, i) => ((plain[i] as number) + v) / 2);
}

/** Element-wise mean of equally long arrays (logits or maps of several models, or of two views). */
export function meanOf(arrays: readonly ArrayLike<number>[]): Float32Array {
  const first = arrays[0];
  if (first === undefined) throw new Error('nothing to average.');
  const out = new Float32Array(first.length);
  for (const a of arrays) {
    if (a.length !== first.length) throw new Error(`cannot average arrays of ${first.length} and ${a.length} values.`);
    for (let i = 0; i < a.length; i++) out[i] = (out[i] as number) + (a[i] as number) / arrays.length;
  }
  return out;
}

export type SetName = 'val' | 'test';
export const SETS: readonly SetName[] = ['val', 'test'];

/** One model's outputs on one set: 2-class logits per image (row-major), box-head maps of the fractured images with boxes. */
export interface Outputs {
  readonly logits: Float32Array;
  readonly maps: Float32Array[];
}
export interface ModelOutputs {
  readonly size: number;
  readonly grid: readonly [number, number];
  readonly plain: Record<SetName, Outputs>;
  readonly mirror: Record<SetName, Outputs>;
}

export const boxed = (r: ManifestRow): boolean => r.label === 1 && (r.boxes?.length ?? 0) > 0;

/**
 * A stored model's logits on the validation and test images, plain and mirrored, and its box-head maps of the fractured
 * images with boxes; a model without a box head gives logits only (no maps, grid 0 × 0), or is refused before any pass
 * with `requireBoxHead`.
 */
export async function outputsOf(modelDir: string, data: string, rows: Record<SetName, ManifestRow[]>, options: { requireBoxHead?: boolean } = {}): Promise<ModelOutputs> {
  const { model, card } = loadCheckpoint(modelDir);
  if (options.requireBoxHead === true && model.boxHead === null) {
    model.dispose();
    throw new Error(`${modelDir} has no box head: pass models trained with box supervision (--box-loss-weight > 0), such as bench/boxhead.ts's.`);
  }
  const size = card.inputSize;
  let grid: [number, number] = [0, 0];
  const empty = (): Record<SetName, { logits: number[]; maps: Float32Array[] }> => ({ val: { logits: [], maps: [] }, test: { logits: [], maps: [] } });
  const plain = empty();
  const mirror = empty();
  try {
    for (const set of SETS) {
      for (let s = 0; s < rows[set].length; s += 16) {
        const part = rows[set].slice(s, s + 16);
        const planes = await Promise.all(part.map(async (r) => Float32Array.from(await decodeGrey(cachedPngPath(data, r), { width: size, height: size }, 'squish', null, {}), (v) => v / 65535)));
        for (const [views, mirrored] of [[plain, false], [mirror, true]] as const) {
          const x = new Float32Array(part.length * size * size);
          planes.forEach((p, i) => x.set(mirrored ? mirrorColumns(p, size, size) : p, i * size * size));
          tidy(() => {
            const input = tensor(x, [part.length, 1, size, size]);
            if (model.boxHead === null) {
              views[set].logits.push(...noGrad(() => model.forward(input)).toFloat32Array());
              return;
            }
            const out = noGrad(() => model.forwardWithHeatmap(input));
            const heat = sigmoid(out.heatmap);
            const [n, , h, w] = heat.shape as [number, number, number, number];
            grid = [h, w];
            views[set].logits.push(...out.logits.toFloat32Array());
            const all = heat.toFloat32Array();
            for (let i = 0; i < n; i++) if (boxed(part[i] as ManifestRow)) views[set].maps.push(all.slice(i * h * w, (i + 1) * h * w));
          });
        }
      }
    }
  } finally {
    model.dispose();
  }
  const done = (v: ReturnType<typeof empty>): Record<SetName, Outputs> => ({ val: { logits: Float32Array.from(v.val.logits), maps: v.val.maps }, test: { logits: Float32Array.from(v.test.logits), maps: v.test.maps } });
  return { size, grid, plain: done(plain), mirror: done(mirror) };
}

/** The mirror-averaged outputs: mean logits, and each mirror map turned back and averaged with the plain one. */
export function averaged(m: ModelOutputs): Record<SetName, Outputs> {
  const [h, w] = m.grid;
  const one = (set: SetName): Outputs => ({ logits: meanOf([m.plain[set].logits, m.mirror[set].logits]), maps: m.plain[set].maps.map((p, i) => mirrorAveraged(p, m.mirror[set].maps[i] as Float32Array, w, h)) });
  return { val: one('val'), test: one('test') };
}
