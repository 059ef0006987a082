// Grey images as plain data: read from the cache's 8/16-bit PNGs, made from [C, H, W] tensors in [0, 1],
// and RGB images written as PNG with sharp (overlays, attack galleries).
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decode } from 'fast-png';
import sharp from 'sharp';
import type { Tensor } from '../torch/index.js';
import { ExplainError } from './errors.js';

/** One grey image with values in [0, maxValue]. */
export interface GreyImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array | Uint16Array | Float32Array;
  /** White level: 255 for 8-bit, 65535 for 16-bit, 1 for float. */
  readonly maxValue: number;
}

/** An 8-bit RGB image, interleaved. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** Reads an 8- or 16-bit PNG (grey, or the first channel of colour) at its own resolution. */
export function readGreyPng(file: string): GreyImage {
  let png: ReturnType<typeof decode>;
  try {
    png = decode(readFileSync(file));
  } catch (error) {
    throw new ExplainError('HF_EXPLAIN_IMAGE_SHAPE', `cannot read PNG: ${(error as Error).message}`, { input: file, fix: 'give an 8- or 16-bit PNG (the data cache writes these).', cause: error });
  }
  const { width, height, channels, depth } = png;
  if (depth !== 8 && depth !== 16) {
    throw new ExplainError('HF_EXPLAIN_IMAGE_SHAPE', `PNG bit depth ${depth} is not supported.`, { input: file, fix: 'give an 8- or 16-bit PNG.' });
  }
  const source = png.data as Uint8Array | Uint16Array;
  const data = depth === 16 ? new Uint16Array(width * height) : new Uint8Array(width * height);
  for (let i = 0; i < width * height; i++) data[i] = source[i * channels] as number;
  return { width, height, data, maxValue: depth === 16 ? 65535 : 255 };
}

/** The first channel of image `index` of a batch [N, C, H, W] (or one [C, H, W]) in [0, 1]. */
export function greyFromTensor(images: Tensor, index = 0): GreyImage {
  const shape = images.shape;
  const [n, c, height, width] = (shape.length === 3 ? [1, ...shape] : shape) as [number, number, number, number];
  if (shape.length < 3 || shape.length > 4 || index < 0 || index >= n) {
    throw new ExplainError('HF_EXPLAIN_IMAGE_SHAPE', `expected images [N, C, H, W] and an index below N; got [${shape.join(', ')}] and ${index}.`);
  }
  const all = images.toFloat32Array();
  const start = index * c * height * width;
  return { width, height, data: all.slice(start, start + height * width), maxValue: 1 };
}

/** An RGB image as PNG bytes (for reports that inline it); `upscaleTo` enlarges small images with nearest pixels. */
export async function encodeRgbPng(image: RgbImage, upscaleTo?: number): Promise<Uint8Array> {
  const raw = sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), { raw: { width: image.width, height: image.height, channels: 3 } });
  return (upscaleTo === undefined ? raw : raw.resize(upscaleTo, upscaleTo, { kernel: 'nearest' })).png().toBuffer();
}

/** Writes an RGB image as PNG (creating the folder). */
export async function writeRgbPng(file: string, image: RgbImage): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, await encodeRgbPng(image));
}

/** A grey image as 8-bit RGB (each value / maxValue, clamped). */
export function greyToRgb(image: GreyImage): RgbImage {
  const out = new Uint8Array(image.width * image.height * 3);
  for (let i = 0; i < image.width * image.height; i++) {
    const v = Math.round(255 * Math.min(1, Math.max(0, (image.data[i] as number) / image.maxValue)));
    out[3 * i] = v;
    out[3 * i + 1] = v;
    out[3 * i + 2] = v;
  }
  return { width: image.width, height: image.height, data: out };
}
