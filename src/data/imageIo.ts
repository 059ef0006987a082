// Decoding one image file into 16-bit grey pixels at the model's input size, shared by the loader's
// worker threads, its in-thread fallback and `hipfrac augment-preview`; and writing grey grids back to PNG.
import sharp from 'sharp';
import { HipfracError } from '../util/index.js';

/**
 * How an image of another aspect ratio reaches the input size:
 * - `squish`: both sides scaled independently to the target (the whole image kept, aspect distorted; fastai's
 *   `ResizeMethod.Squish`, the study's choice);
 * - `crop`: the shortest side scaled to the target, then the centre cut out (aspect kept, borders lost).
 */
export type ResizeMethod = 'squish' | 'crop';

export interface InputSize {
  readonly height: number;
  readonly width: number;
}

/**
 * Reads a PNG (or any format sharp reads) as one grey channel of 16-bit values at `size`.
 * 8-bit files come out ×257 so that both depths read alike (255 → 65535); colour files are converted to
 * luminance. Resampling is libvips' Lanczos-3 when shrinking.
 */
export async function decodeGrey(path: string, size: InputSize, method: ResizeMethod): Promise<Uint16Array> {
  let raw: Buffer;
  try {
    raw = await sharp(path)
      .resize({ width: size.width, height: size.height, fit: method === 'crop' ? 'cover' : 'fill', position: 'centre' })
      .toColourspace('grey16')
      .raw({ depth: 'ushort' })
      .toBuffer();
  } catch (cause) {
    throw unreadableImage(path, (cause as Error).message, cause);
  }
  const expected = size.width * size.height;
  if (raw.length !== expected * 2) throw unreadableImage(path, `decoded ${raw.length / 2} pixels where ${expected} were expected`);
  // Copy out of the Buffer pool into an aligned array of our own (transferable to the main thread).
  const out = new Uint16Array(expected);
  out.set(new Uint16Array(raw.buffer, raw.byteOffset, expected));
  return out;
}

/** The error for a file that cannot be decoded (also rebuilt on the main thread from a worker's report). */
export function unreadableImage(path: string, reason: string, cause?: unknown): HipfracError {
  return new HipfracError('HF_DATA_IMAGE_UNREADABLE', `Cannot decode the image: ${reason}.`, {
    input: path,
    fix: 'check that the file exists and is a PNG; re-run `hipfrac import` to rebuild the cache.',
    cause,
  });
}

/** Writes grey floats in [0, 1] (row-major, `width`×`height`) as an 8-bit grey PNG. */
export async function writeGreyPng(path: string, pixels: Float32Array, width: number, height: number): Promise<void> {
  const bytes = new Uint8Array(width * height);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.round(Math.min(1, Math.max(0, pixels[i] as number)) * 255);
  await sharp(bytes, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toFile(path);
}
