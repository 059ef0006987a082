// A small DICOM Part 10 encoder for the phantom's images: file meta, explicit/implicit VR little endian,
// Deflated Explicit VR LE and RLE Lossless pixel data. Written by hand so output bytes are fully deterministic.
import { endianness } from 'node:os';
import { deflateRawSync } from 'node:zlib';
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

export const IMPLEMENTATION_CLASS_UID = '2.25.203990617261311474522473640766187720466';
export const IMPLEMENTATION_VERSION_NAME = 'HIPFRAC_PHANTOM';
const PIXEL_DATA = 0x7fe00010;

// VRs whose explicit encoding uses a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
const LONG_VRS = new Set<Vr>(['OB', 'OW', 'SQ']);
// UI values pad with NUL, every other string VR with a space (PS3.5 6.2).
const padByte = (vr: Vr): number => (vr === 'UI' ? 0 : 0x20);

class ByteSink {
  private chunks: Uint8Array[] = [];
  private current = new Uint8Array(4096);
  private view = new DataView(this.current.buffer);
  private pos = 0;
  length = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.current.length) return;
    this.chunks.push(this.current.subarray(0, this.pos));
    this.current = new Uint8Array(Math.max(4096, n));
    this.view = new DataView(this.current.buffer);
    this.pos = 0;
  }
  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
    this.length += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
    this.length += 4;
  }
  bytes(b: Uint8Array): void {
    // Large blocks (pixel data) are kept by reference instead of copied.
    if (b.length > 1024) {
      this.chunks.push(this.current.subarray(0, this.pos));
      this.chunks.push(b);
      this.current = new Uint8Array(4096);
      this.view = new DataView(this.current.buffer);
      this.pos = 0;
    } else {
      this.ensure(b.length);
      this.current.set(b, this.pos);
      this.pos += b.length;
    }
    this.length += b.length;
  }
  finish(): Uint8Array {
    this.chunks.push(this.current.subarray(0, this.pos));
    return Buffer.concat(this.chunks);
  }
}

function encodeValue(element: DicomElement, explicit: boolean): Uint8Array {
  switch (element.vr) {
    case 'US':
    case 'SS': {
      const out = new Uint8Array(element.value.length * 2);
      const dv = new DataView(out.buffer);
      const signed = element.vr === 'SS';
      element.value.forEach((v, i) => (signed ? dv.setInt16(i * 2, v, true) : dv.setUint16(i * 2, v, true)));
      return out;
    }
    case 'SQ': {
      const sink = new ByteSink();
      for (const item of element.value) {
        const body = encodeDataset(item, explicit);
        sink.u16(0xfffe);
        sink.u16(0xe000);
        sink.u32(body.length);
        sink.bytes(body);
      }
      return sink.finish();
    }
    case 'OB':
    case 'OW': {
      if (element.value.length % 2 === 0) return element.value;
      const out = new Uint8Array(element.value.length + 1);
      out.set(element.value);
      return out;
    }
    default: {
      const text = Buffer.from(element.value, 'latin1');
      if (text.length % 2 === 0) return text;
      const out = new Uint8Array(text.length + 1);
      out.set(text);
      out[text.length] = padByte(element.vr);
      return out;
    }
  }
}

function writeElement(sink: ByteSink, element: DicomElement, explicit: boolean): void {
  const value = encodeValue(element, explicit);
  sink.u16(element.tag >>> 16);
  sink.u16(element.tag & 0xffff);
  if (explicit) {
    sink.bytes(Buffer.from(element.vr, 'latin1'));
    if (LONG_VRS.has(element.vr)) {
      sink.u16(0);
      sink.u32(value.length);
    } else {
      if (value.length > 0xffff) throw new HipfracError('HF_PHANTOM_DICOM_VALUE_TOO_LONG', `Value of tag ${tagText(element.tag)} is too long for VR ${element.vr}`, { input: tagText(element.tag) });
      sink.u16(value.length);
    }
  } else {
    sink.u32(value.length);
  }
  sink.bytes(value);
}

function encodeDataset(elements: readonly DicomElement[], explicit: boolean): Uint8Array {
  const sink = new ByteSink();
  const sorted = [...elements].sort((a, b) => a.tag - b.tag);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.tag === sorted[i - 1]?.tag) throw new HipfracError('HF_PHANTOM_DICOM_DUPLICATE_TAG', `Tag ${tagText(sorted[i]?.tag ?? 0)} appears twice`, { input: tagText(sorted[i]?.tag ?? 0) });
  }
  for (const e of sorted) writeElement(sink, e, explicit);
  return sink.finish();
}

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

function encapsulatedPixelData(frame: Uint8Array): Uint8Array {
  const sink = new ByteSink();
  sink.u16(0x7fe0);
  sink.u16(0x0010);
  sink.bytes(Buffer.from('OB', 'latin1'));
  sink.u16(0);
  sink.u32(0xffffffff);
  // Empty Basic Offset Table item: one frame needs no offsets.
  sink.u16(0xfffe);
  sink.u16(0xe000);
  sink.u32(0);
  sink.u16(0xfffe);
  sink.u16(0xe000);
  sink.u32(frame.length);
  sink.bytes(frame);
  // Sequence Delimitation Item.
  sink.u16(0xfffe);
  sink.u16(0xe0dd);
  sink.u32(0);
  return sink.finish();
}

function fileMeta(image: DicomImage): Uint8Array {
  const elements: DicomElement[] = [
    { tag: 0x00020001, vr: 'OB', value: new Uint8Array([0, 1]) },
    { tag: 0x00020002, vr: 'UI', value: image.sopClassUid },
    { tag: 0x00020003, vr: 'UI', value: image.sopInstanceUid },
    { tag: 0x00020010, vr: 'UI', value: image.transferSyntax },
    { tag: 0x00020012, vr: 'UI', value: IMPLEMENTATION_CLASS_UID },
    { tag: 0x00020013, vr: 'SH', value: IMPLEMENTATION_VERSION_NAME },
  ];
  const body = encodeDataset(elements, true);
  const sink = new ByteSink();
  sink.bytes(new Uint8Array(128));
  sink.bytes(Buffer.from('DICM', 'latin1'));
  // (0002,0000) File Meta Information Group Length, UL: written by hand, the element model has no UL.
  sink.u16(0x0002);
  sink.u16(0x0000);
  sink.bytes(Buffer.from('UL', 'latin1'));
  sink.u16(4);
  sink.u32(body.length);
  sink.bytes(body);
  return sink.finish();
}

/** Encodes one single-frame image as a complete DICOM Part 10 file. */
export function encodeDicomFile(image: DicomImage): Uint8Array {
  if (image.pixels.length !== image.rows * image.columns) {
    throw new HipfracError('HF_PHANTOM_DICOM_PIXEL_COUNT', `Pixel count ${image.pixels.length} does not match ${image.rows}×${image.columns}`, { input: image.sopInstanceUid });
  }
  const explicit = image.transferSyntax !== TransferSyntax.implicitVrLittleEndian;
  const elements: DicomElement[] = [
    ...image.elements,
    { tag: 0x00080016, vr: 'UI', value: image.sopClassUid },
    { tag: 0x00080018, vr: 'UI', value: image.sopInstanceUid },
  ];
  let pixelPart: Uint8Array;
  if (image.transferSyntax === TransferSyntax.rleLossless) {
    pixelPart = encapsulatedPixelData(encodeRleFrame(image.pixels, image.rows, image.columns));
  } else {
    const sink = new ByteSink();
    writeElement(sink, { tag: PIXEL_DATA, vr: 'OW', value: nativePixelBytes(image.pixels) }, explicit);
    pixelPart = sink.finish();
  }
  let dataset: Uint8Array = Buffer.concat([encodeDataset(elements, explicit), pixelPart]);
  if (image.transferSyntax === TransferSyntax.deflatedExplicitVrLittleEndian) {
    // Level 1: this noisy data compresses almost as well as at level 6, at a fraction of the time.
    dataset = deflateRawSync(dataset, { level: 1 });
  }
  return Buffer.concat([fileMeta(image), dataset]);
}
