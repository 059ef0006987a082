// Full-resolution pixels for the viewer: a stored DICOM decoded by src/dicom's reader with a min–max VOI (so the
// browser's window/level works on the whole stored range), sent as little-endian Uint16 with its size and a
// default window (the 0.5–99.5 percentile range of the non-padding pixels). Decoded images are kept in a small LRU.
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { parseDicomBytes, readDicomBytes } from '../../dicom/index.js';
import type { BlobStore, InstanceRecord } from '../store/index.js';
import { ReviewError } from './errors.js';

const gzipAsync = promisify(gzip);

export interface ViewerImage {
  readonly sopInstanceUid: string;
  readonly width: number;
  readonly height: number;
  /** Display values 0..65535 (MONOCHROME2), little-endian Uint16, row by row. */
  readonly pixels: Buffer;
  /** The same bytes gzip-compressed (level 1), for clients that accept it. */
  readonly gzipped: Buffer;
  readonly windowCenter: number;
  readonly windowWidth: number;
  /** View Position as written in the header (AP, LL …), '' when absent. */
  readonly view: string;
}

/** The default window: 0.5th–99.5th percentile of the pixels above the padding value 0. */
export function defaultWindow(display: Uint16Array): { center: number; width: number } {
  const histogram = new Uint32Array(65536);
  let n = 0;
  for (let i = 0; i < display.length; i++) {
    const v = display[i] as number;
    if (v > 0) {
      histogram[v]! += 1;
      n++;
    }
  }
  if (n === 0) return { center: 32768, width: 65536 };
  const lowCount = n * 0.005;
  const highCount = n * 0.995;
  let acc = 0;
  let low = 0;
  let high = 65535;
  let lowFound = false;
  for (let v = 0; v < 65536; v++) {
    acc += histogram[v] as number;
    if (!lowFound && acc >= lowCount) {
      low = v;
      lowFound = true;
    }
    if (acc >= highCount) {
      high = v;
      break;
    }
  }
  const width = Math.max(1, high - low);
  return { center: low + width / 2, width };
}

export class ViewerImages {
  readonly #blobs: BlobStore;
  readonly #cache = new Map<string, Promise<ViewerImage>>();
  readonly #capacity: number;

  constructor(blobs: BlobStore, capacity = 8) {
    this.#blobs = blobs;
    this.#capacity = capacity;
  }

  get(instance: InstanceRecord): Promise<ViewerImage> {
    const key = instance.sopInstanceUid;
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      this.#cache.delete(key);
      this.#cache.set(key, hit);
      return hit;
    }
    const loading = this.#load(instance);
    this.#cache.set(key, loading);
    loading.catch(() => this.#cache.delete(key));
    while (this.#cache.size > this.#capacity) this.#cache.delete(this.#cache.keys().next().value as string);
    return loading;
  }

  async #load(instance: InstanceRecord): Promise<ViewerImage> {
    if (instance.status !== 'stored' || instance.file === '') {
      throw new ReviewError('HF_REVIEW_IMAGE', `image ${instance.sopInstanceUid.slice(-8)} was not stored (${instance.status}: ${instance.reason || 'no file'}).`, { input: 'image' });
    }
    const bytes = await this.#blobs.read(instance.file);
    let image;
    try {
      image = await readDicomBytes(bytes, instance.file, { voi: 'minmax' });
    } catch (cause) {
      throw new ReviewError('HF_REVIEW_IMAGE', `the stored image cannot be decoded: ${(cause as Error).message}`, { input: 'image', cause });
    }
    const pixels = Buffer.from(image.display.buffer, image.display.byteOffset, image.display.byteLength);
    // Uint16Array is host order; every machine Node runs on here is little-endian, which is what the browser reads.
    const window = defaultWindow(image.display);
    return {
      sopInstanceUid: instance.sopInstanceUid,
      width: image.width,
      height: image.height,
      pixels,
      gzipped: await gzipAsync(pixels, { level: 1 }),
      windowCenter: window.center,
      windowWidth: window.width,
      view: (image.header.viewPosition ?? '').trim(),
    };
  }
}

/** The View Position (0018,5101) of a stored image from its header alone (no pixel decoding); '' when absent or unreadable. */
export async function viewPositionOf(blobs: BlobStore, instance: InstanceRecord): Promise<string> {
  if (instance.status !== 'stored' || instance.file === '') return '';
  try {
    const parsed = parseDicomBytes(await blobs.read(instance.file), instance.file);
    return (parsed.dataSet.string('x00185101') ?? '').replace(/[^A-Za-z0-9 _-]/g, '').trim();
  } catch {
    return '';
  }
}
