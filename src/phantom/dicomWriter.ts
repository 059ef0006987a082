// The phantom's DICOM Part 10 files, written through hipfrac's one DICOM writer (src/dicom/write.ts over dcmjs):
// explicit/implicit VR little endian, deflated explicit VR LE, and RLE Lossless, whose frame this module encodes
// (PS3.5 Annex G) before dcmjs encapsulates it. Same inputs, same bytes.
import { endianness } from 'node:os';
import { DicomError, writeDicomDict, type DenaturalizedDataset } from '../dicom/index.js';
import { HipfracError } from '../util/index.js';

/** Transfer syntaxes the phantom writes, by their DICOM UIDs. */
export const TransferSyntax = {
  implicitVrLittleEndian: '1.2.840.10008.1.2',
  explicitVrLittleEndian: '1.2.840.10008.1.2.1',
  deflatedExplicitVrLittleEndian: '1.2.840.10008.1.2.1.99',
  rleLossless: '1.2.840.10008.1.2.5',
} as const;
export type TransferSyntaxUid = (typeof TransferSyntax)[keyof typeof TransferSyntax];

export type Vr = 'AE' | 'AS' | 'CS' | 'DA' | 'DS' | 'IS' | 'LO' | 'LT' | 'PN' | 'SH' | 'ST' | 'TM' | 'UI' | 'US' | 'SS' | 'SQ' | 'OB' | 'OW';

/** One data element. `value` is text for string VRs, numbers for US, items for SQ, bytes for OB/OW. */
export type DicomElement =
  | { readonly tag: number; readonly vr: Exclude<Vr, 'US' | 'SS' | 'SQ' | 'OB' | 'OW'>; readonly value: string }
  | { readonly tag: number; readonly vr: 'US' | 'SS'; readonly value: readonly number[] }
  | { readonly tag: number; readonly vr: 'SQ'; readonly value: readonly (readonly DicomElement[])[] }
  | { readonly tag: number; readonly vr: 'OB' | 'OW'; readonly value: Uint8Array };

export interface DicomImage {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntax: TransferSyntaxUid;
  /** Every element except file meta and Pixel Data, in any order. */
  readonly elements: readonly DicomElement[];
  readonly rows: number;
  readonly columns: number;
  /** Stored values, row-major, one 16-bit word per pixel. */
  readonly pixels: Uint16Array;
}

export const IMPLEMENTATION_VERSION_NAME = 'HIPFRAC_PHANTOM';
const PIXEL_DATA = 0x7fe00010;

export function tagText(tag: number): string {
  return `(${(tag >>> 16).toString(16).padStart(4, '0').toUpperCase()},${(tag & 0xffff).toString(16).padStart(4, '0').toUpperCase()})`;
}

/** Native pixel data: 16-bit words, little endian. On a little-endian host the array's own bytes are used. */
function nativePixelBytes(pixels: Uint16Array): Uint8Array {
  if (endianness() === 'LE') return new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  const out = new Uint8Array(pixels.length * 2);
  for (let i = 0, j = 0; i < pixels.length; i++, j += 2) {
    const v = pixels[i] as number;
    out[j] = v & 0xff;
    out[j + 1] = v >>> 8;
  }
  return out;
}

/**
 * PackBits one row of bytes (PS3.5 G.3.1): literal runs `n-1` then bytes, replicate runs `1-n` then the byte.
 * Returns the new write position.
 */
function packBitsRow(src: Uint8Array, start: number, end: number, out: Uint8Array, pos: number): number {
  let i = start;
  while (i < end) {
    // Length of the replicate run starting at i.
    let run = 1;
    while (i + run < end && run < 128 && src[i + run] === src[i]) run++;
    if (run >= 3) {
      out[pos++] = (257 - run) & 0xff;
      out[pos++] = src[i] as number;
      i += run;
      continue;
    }
    // Literal run: stop before a replicate run of 3 or at 128 bytes.
    let litEnd = i;
    while (litEnd < end && litEnd - i < 128) {
      if (litEnd + 2 < end && src[litEnd] === src[litEnd + 1] && src[litEnd] === src[litEnd + 2]) break;
      litEnd++;
    }
    const n = litEnd - i;
    out[pos++] = n - 1;
    out.set(src.subarray(i, litEnd), pos);
    pos += n;
    i = litEnd;
  }
  return pos;
}

/** RLE Lossless frame (PS3.5 Annex G): a 64-byte header then one segment per byte plane, MSB first. */
export function encodeRleFrame(pixels: Uint16Array, rows: number, columns: number): Uint8Array {
  const high = new Uint8Array(pixels.length);
  const low = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i] as number;
    high[i] = v >>> 8;
    low[i] = v & 0xff;
  }
  // Worst case PackBits growth is 1 byte per 128, plus one per row.
  const worst = pixels.length + Math.ceil(pixels.length / 128) + rows + 2;
  const segments: Uint8Array[] = [];
  for (const plane of [high, low]) {
    const out = new Uint8Array(worst);
    let pos = 0;
    for (let r = 0; r < rows; r++) pos = packBitsRow(plane, r * columns, (r + 1) * columns, out, pos);
    if (pos % 2 === 1) out[pos++] = 0;
    segments.push(out.subarray(0, pos));
  }
  const header = new Uint8Array(64);
  const dv = new DataView(header.buffer);
  dv.setUint32(0, segments.length, true);
  let offset = 64;
  segments.forEach((s, i) => {
    dv.setUint32(4 + i * 4, offset, true);
    offset += s.length;
  });
  return Buffer.concat([header, ...segments]);
}

/** A phantom element as dcmjs's tag-keyed entry: strings split on '\\', numbers, items, or one byte buffer. */
function entryOf(element: DicomElement): DenaturalizedDataset[string] {
  switch (element.vr) {
    case 'US':
    case 'SS':
      return { vr: element.vr, Value: [...element.value] };
    case 'SQ':
      return { vr: 'SQ', Value: element.value.map(datasetOf) };
    case 'OB':
    case 'OW':
      return { vr: element.vr, Value: [Uint8Array.from(element.value).buffer] };
    default:
      return { vr: element.vr, Value: element.value === '' ? [] : element.value.split('\\') };
  }
}

/** Elements in tag order, keyed as dcmjs wants ("00080016"); a tag given twice is an error. */
function datasetOf(elements: readonly DicomElement[]): DenaturalizedDataset {
  const out: DenaturalizedDataset = {};
  for (const element of [...elements].sort((x, y) => x.tag - y.tag)) {
    const key = (element.tag >>> 0).toString(16).padStart(8, '0').toUpperCase();
    if (out[key] !== undefined) throw new HipfracError('HF_PHANTOM_DICOM_DUPLICATE_TAG', `Tag ${tagText(element.tag)} appears twice`, { input: tagText(element.tag) });
    out[key] = entryOf(element);
  }
  return out;
}

/** Encodes one single-frame image as a complete DICOM Part 10 file. */
export function encodeDicomFile(image: DicomImage): Uint8Array {
  if (image.pixels.length !== image.rows * image.columns) {
    throw new HipfracError('HF_PHANTOM_DICOM_PIXEL_COUNT', `Pixel count ${image.pixels.length} does not match ${image.rows}×${image.columns}`, { input: image.sopInstanceUid });
  }
  const rle = image.transferSyntax === TransferSyntax.rleLossless;
  const pixels = rle ? encodeRleFrame(image.pixels, image.rows, image.columns) : nativePixelBytes(image.pixels);
  const elements: DicomElement[] = [
    ...image.elements,
    { tag: 0x00080016, vr: 'UI', value: image.sopClassUid },
    { tag: 0x00080018, vr: 'UI', value: image.sopInstanceUid },
    { tag: PIXEL_DATA, vr: rle ? 'OB' : 'OW', value: pixels },
  ];
  try {
    // Deflate level 1: this noisy data compresses almost as well as at level 6, at a fraction of the time.
    return writeDicomDict(datasetOf(elements), { transferSyntaxUid: image.transferSyntax, implementationVersionName: IMPLEMENTATION_VERSION_NAME, deflateLevel: 1 });
  } catch (error) {
    if (error instanceof HipfracError || error instanceof DicomError) throw error;
    throw new HipfracError('HF_PHANTOM_DICOM_ENCODE', `The phantom image could not be encoded: ${(error as Error).message}`, { input: image.sopInstanceUid, cause: error });
  }
}
