// Decoding one image file into 16-bit grey pixels at the model's input size, shared by the loader's
// worker threads, its in-thread fallback and `hipfrac augment-preview`; and writing grey grids back to PNG.
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { DataError } from './errors.js';
import { maskMarkers } from './markers.js';

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
 * luminance. sharp decodes at full size; the resize is `resampleGrey` (see there for why not libvips').
 */
/**
 * A region of interest as fractions of the image's width and height, [x0, y0, x1, y1] (x1/y1 exclusive). It may
 * reach past the edges (a hip near the border): outside pixels repeat the edge.
 */
export type RegionOfInterest = readonly [number, number, number, number];

/** What is done to the full-resolution pixels before the region is cut and the image resized. */
export interface DecodeOptions {
  /** Replace burned-in markers and text (detectMarkers) with local background (default false). */
  readonly maskMarkers?: boolean;
}

export async function decodeGrey(path: string, size: InputSize, method: ResizeMethod, region: RegionOfInterest | null = null, options: DecodeOptions = {}): Promise<Uint16Array> {
  let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
  let sixteenBit: boolean;
  try {
    const bytes = await readFile(path);
    // Only a 16-bit PNG needs a 16-bit decode; 8-bit files decode about twice as fast as 8-bit ('b-w').
    sixteenBit = isSixteenBitPng(bytes);
    decoded = await sharp(bytes)
      .removeAlpha()
      .toColourspace(sixteenBit ? 'grey16' : 'b-w')
      .raw(sixteenBit ? { depth: 'ushort' } : {})
      .toBuffer({ resolveWithObject: true });
  } catch (cause) {
    throw unreadableImage(path, (cause as Error).message, cause);
  }
  const { width, height, channels } = decoded.info;
  const bytesPerPixel = sixteenBit ? 2 : 1;
  if (channels !== 1 || decoded.data.length !== width * height * bytesPerPixel) throw unreadableImage(path, `decoded ${channels} channels of ${width}×${height} where one grey plane was expected`);
  const { buffer, byteOffset } = decoded.data;
  const raw = sixteenBit ? new Uint16Array(buffer, byteOffset, width * height) : new Uint8Array(buffer, byteOffset, width * height);
  const pixels = options.maskMarkers === true ? withoutMarkers(raw, width, height) : raw;
  if (region === null) return resampleGrey(pixels, width, height, size, method);
  const cut = cropGrey(pixels, width, height, region);
  return resampleGrey(cut.pixels, cut.width, cut.height, size, method);
}

/** The image with its detected burned-in markers filled with local background, on the 16-bit scale. */
function withoutMarkers(pixels: Uint16Array | Uint8Array, width: number, height: number): Uint16Array {
  const full = pixels instanceof Uint8Array ? 255 : 65535;
  const masked = maskMarkers(Float32Array.from(pixels, (v) => v / full), width, height);
  return Uint16Array.from(masked, (v) => Math.round(Math.min(1, Math.max(0, v)) * 65535));
}

/** Cuts a region (fractions of the image) out of a grey image at whole pixels; edge pixels repeat outside. */
export function cropGrey<T extends Uint16Array | Uint8Array>(pixels: T, width: number, height: number, region: RegionOfInterest): { pixels: T; width: number; height: number } {
  const [fx0, fy0, fx1, fy1] = region;
  if (![fx0, fy0, fx1, fy1].every(Number.isFinite) || fx1 <= fx0 || fy1 <= fy0) {
    throw new DataError('HF_DATA_BAD_ROI', `Region of interest [${region.join(', ')}] is empty or not finite.`, { fix: 'give x0 < x1 and y0 < y1 as fractions of the image (the manifest stores them so).' });
  }
  const x0 = Math.round(fx0 * width);
  const y0 = Math.round(fy0 * height);
  const w = Math.max(1, Math.round(fx1 * width) - x0);
  const h = Math.max(1, Math.round(fy1 * height) - y0);
  const out = (pixels instanceof Uint16Array ? new Uint16Array(w * h) : new Uint8Array(w * h)) as T;
  for (let y = 0; y < h; y++) {
    const sy = Math.min(height - 1, Math.max(0, y0 + y)) * width;
    for (let x = 0; x < w; x++) out[y * w + x] = pixels[sy + Math.min(width - 1, Math.max(0, x0 + x))] as number;
  }
  return { pixels: out, width: w, height: h };
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** The bit depth byte of a PNG's IHDR chunk (always the first chunk, at offset 24). */
function isSixteenBitPng(bytes: Uint8Array): boolean {
  return bytes.length > 25 && PNG_SIGNATURE.every((b, i) => bytes[i] === b) && bytes[24] === 16;
}

/**
 * Resizes a grey image with a triangle (bilinear) filter widened by the shrink factor, so that shrinking
 * averages every source pixel (Pillow's antialiased BILINEAR, which torchvision's Resize uses on PIL images).
 * Weights are computed in floating point and sum to one: a flat image stays exactly flat. (libvips' 16-bit
 * reducers use fixed-point weights that darken white by up to 0.3 %, which is why sharp's resize is not used.)
 * Always returns a new array the caller owns.
 */
export function resampleGrey(src: Uint16Array | Uint8Array, srcWidth: number, srcHeight: number, size: InputSize, method: ResizeMethod): Uint16Array {
  // 8-bit sources are widened to the 16-bit scale (×257) inside the horizontal pass.
  const gain = src instanceof Uint8Array ? 257 : 1;
  // Source pixels per output pixel on each axis, and the source region that is kept.
  let scaleX = srcWidth / size.width;
  let scaleY = srcHeight / size.height;
  let x0 = 0;
  let y0 = 0;
  if (method === 'crop') {
    const scale = Math.min(scaleX, scaleY);
    x0 = (srcWidth - size.width * scale) / 2;
    y0 = (srcHeight - size.height * scale) / 2;
    scaleX = scale;
    scaleY = scale;
  }
  const outW = size.width;
  const outH = size.height;
  const columns = filterTaps(srcWidth, outW, scaleX, x0, gain);
  const rows = filterTaps(srcHeight, outH, scaleY, y0, 1);
  // Only the source rows some output row reads go through the horizontal pass (all of them when squishing).
  const firstRow = rows.first[0] as number;
  const lastRow = (rows.first[outH - 1] as number) + rows.taps - 1;
  const across = new Float32Array((lastRow - firstRow + 1) * outW);
  for (let y = firstRow; y <= lastRow; y++) {
    const line = y * srcWidth;
    const target = (y - firstRow) * outW;
    for (let x = 0; x < outW; x++) {
      const start = line + (columns.first[x] as number);
      const w = x * columns.taps;
      let sum = 0;
      for (let k = 0; k < columns.taps; k++) sum += (columns.weights[w + k] as number) * (src[start + k] as number);
      across[target + x] = sum;
    }
  }
  // Vertical pass row by row, so the inner loop runs along contiguous memory.
  const out = new Uint16Array(outW * outH);
  const acc = new Float32Array(outW);
  for (let y = 0; y < outH; y++) {
    acc.fill(0);
    for (let k = 0; k < rows.taps; k++) {
      const w = rows.weights[y * rows.taps + k] as number;
      if (w === 0) continue;
      const from = ((rows.first[y] as number) + k - firstRow) * outW;
      for (let x = 0; x < outW; x++) acc[x] += w * (across[from + x] as number);
    }
    const row = y * outW;
    for (let x = 0; x < outW; x++) out[row + x] = Math.min(65535, Math.max(0, Math.round(acc[x] as number)));
  }
  return out;
}

/**
 * Per output pixel: the first source pixel it reads and `taps` normalised triangle weights from there on
 * (zero-padded to the same count for every pixel, and shifted inwards at the borders so reads stay in range).
 */
interface FilterTaps {
  readonly first: Int32Array;
  readonly taps: number;
  readonly weights: Float32Array;
}

function filterTaps(srcLength: number, outLength: number, scale: number, offset: number, gain: number): FilterTaps {
  const support = Math.max(1, scale); // the triangle's half-width in source pixels
  const taps = Math.min(srcLength, Math.ceil(2 * support) + 1);
  const first = new Int32Array(outLength);
  const weights = new Float32Array(outLength * taps);
  for (let i = 0; i < outLength; i++) {
    const centre = offset + (i + 0.5) * scale; // in source pixel-edge coordinates
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(srcLength - 1, Math.ceil(centre + support) - 1);
    const start = Math.max(0, Math.min(lo, srcLength - taps));
    first[i] = start;
    let total = 0;
    for (let k = 0; k < taps; k++) {
      const p = start + k;
      const w = p < lo || p > hi ? 0 : Math.max(0, 1 - Math.abs(p + 0.5 - centre) / support);
      weights[i * taps + k] = w;
      total += w;
    }
    if (total === 0) {
      // Only when the output is far larger than the source's one pixel: take the nearest pixel.
      weights[i * taps + Math.min(taps - 1, Math.max(0, Math.floor(centre) - start))] = 1;
      total = 1;
    }
    for (let k = 0; k < taps; k++) weights[i * taps + k] *= gain / total;
  }
  return { first, taps, weights };
}

/** The error for a file that cannot be decoded (also rebuilt on the main thread from a worker's report). */
export function unreadableImage(path: string, reason: string, cause?: unknown): DataError {
  return new DataError('HF_DATA_IMAGE_UNREADABLE', `Cannot decode the image: ${reason}.`, {
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
