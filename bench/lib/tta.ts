// Mirror averaging (bench/tta.ts): an image and its left-right mirror through the same model, the mirror's box-head
// map turned back before the two are averaged.

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
