// Renders planned images to 8-bit greyscale for viewing: MONOCHROME1 inverted, full stored range.
// Used by the contact sheet and by anyone who wants to look at a phantom image.
import type { RenderedImage } from './types.js';

export function toDisplay8(img: RenderedImage): Uint8Array {
  const max = (1 << img.bitsStored) - 1;
  const out = new Uint8Array(img.width * img.height);
  const inv = img.photometric === 'MONOCHROME1';
  for (let i = 0; i < out.length; i++) {
    const v = (img.pixels[i] as number) / max;
    out[i] = Math.round((inv ? 1 - v : v) * 255);
  }
  return out;
}
