// Run-length masks for annotations.json: compact, exact, and trivial to decode in any language.
// Row-major runs alternating 0s and 1s, starting with 0s (COCO's uncompressed RLE, but row-major).
import type { MaskRle } from './types.js';

export function encodeMaskRle(mask: Uint8Array, width: number, height: number): MaskRle {
  const counts: number[] = [];
  let current = 0;
  let run = 0;
  for (let i = 0; i < width * height; i++) {
    const v = mask[i] === 0 ? 0 : 1;
    if (v === current) run++;
    else {
      counts.push(run);
      current = v;
      run = 1;
    }
  }
  counts.push(run);
  return { size: [height, width], counts };
}

export function decodeMaskRle(rle: MaskRle): Uint8Array {
  const [h, w] = rle.size;
  const out = new Uint8Array(h * w);
  let pos = 0;
  rle.counts.forEach((n, i) => {
    if (i % 2 === 1) out.fill(1, pos, pos + n);
    pos += n;
  });
  return out;
}
