// Compressed-frame decoders: the Cornerstone WASM builds of libjpeg-turbo, CharLS, OpenJPEG and OpenJPH,
// jpeg-lossless-decoder-js for JPEG process 14, and our own RLE and 12-bit sequential JPEG decoders.
import { createRequire } from 'node:module';
import { decodeRle } from './rle.js';
import { decodeSequentialJpeg } from './jpeg.js';
import type { PixelEncoding } from './uids.js';

/** A decoded frame: samples interleaved (pixel by pixel), each an integer as the codec produced it. */
export interface CodecFrame {
  readonly width: number;
  readonly height: number;
  readonly components: number;
  readonly bitsPerSample: number;
  /** Unsigned samples; the caller applies the pixel representation (sign) from Bits Stored. */
  readonly samples: Uint8Array | Uint16Array;
}

export interface FrameShape {
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: number;
  readonly bitsAllocated: number;
}

const require = createRequire(import.meta.url);

// The Emscripten factories read their .wasm beside the .js with fs in Node: nothing is fetched at run time.
interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
}
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): FrameInfo;
  delete(): void;
}
type WasmModule = Record<string, new () => WasmDecoder>;
type Factory = (moduleArg: { print: (text: string) => void; printErr: (text: string) => void }) => Promise<WasmModule>;

const loaders = {
  jpegTurbo: ['@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs', 'JPEGDecoder'],
  charls: ['@cornerstonejs/codec-charls/decodewasmjs', 'JpegLSDecoder'],
  openjpeg: ['@cornerstonejs/codec-openjpeg/decodewasmjs', 'J2KDecoder'],
  openjph: ['@cornerstonejs/codec-openjph/wasmjs', 'HTJ2KDecoder'],
} as const;
type CodecName = keyof typeof loaders;

const modules = new Map<CodecName, Promise<WasmModule>>();

function loadModule(name: CodecName): Promise<WasmModule> {
  let pending = modules.get(name);
  if (pending === undefined) {
    const factory = require(loaders[name][0]) as Factory;
    // OpenJPEG logs [INFO] lines through print/printErr; silence them so import output stays readable.
    pending = factory({ print: () => undefined, printErr: () => undefined });
    modules.set(name, pending);
  }
  return pending;
}

async function decodeWithWasm(name: CodecName, encoded: Uint8Array): Promise<CodecFrame> {
  const module = await loadModule(name);
  const Decoder = module[loaders[name][1]];
  if (Decoder === undefined) throw new Error(`${loaders[name][0]} has no ${loaders[name][1]}`);
  const decoder = new Decoder();
  try {
    decoder.getEncodedBuffer(encoded.length).set(encoded);
    decoder.decode();
    const info = decoder.getFrameInfo();
    const decoded = decoder.getDecodedBuffer();
    // The decoded buffer is a view into WASM memory that the next call may reuse: copy it out.
    const bytes = decoded.slice();
    const samples = info.bitsPerSample > 8 ? new Uint16Array(bytes.buffer, 0, bytes.length >> 1) : bytes;
    return { width: info.width, height: info.height, components: info.componentCount, bitsPerSample: info.bitsPerSample, samples };
  } finally {
    decoder.delete();
  }
}

interface LosslessDecoder {
  decode(buffer: ArrayBufferLike, offset: number, length: number, numBytes?: number): Uint8Array | Uint16Array;
  xDim: number;
  yDim: number;
  numComp: number;
  precision: number;
}
interface LosslessModule {
  Decoder: new () => LosslessDecoder;
}

let lossless: Promise<LosslessModule> | undefined;

async function decodeJpegLossless(encoded: Uint8Array, shape: FrameShape): Promise<CodecFrame> {
  // jpeg-lossless-decoder-js ships no type declarations; the import is typed by the interface above.
  lossless ??= import('jpeg-lossless-decoder-js' as string) as Promise<LosslessModule>;
  const { Decoder } = await lossless;
  const decoder = new Decoder();
  // A fresh copy: a Buffer's slice() shares Node's pool, and the decoder wants its own ArrayBuffer from 0.
  const copy = new Uint8Array(encoded);
  const numBytes = shape.bitsAllocated > 8 ? 2 : 1;
  const out = decoder.decode(copy.buffer, 0, copy.length, numBytes);
  const samples = out instanceof Uint16Array ? out : new Uint8Array(out.buffer, out.byteOffset, out.length);
  return { width: decoder.xDim, height: decoder.yDim, components: decoder.numComp, bitsPerSample: decoder.precision, samples };
}

/** Decodes one compressed frame. Errors thrown here are wrapped with the file by the caller. */
export async function decodeCompressedFrame(encoding: PixelEncoding, encoded: Uint8Array, shape: FrameShape): Promise<CodecFrame> {
  switch (encoding) {
    case 'rle':
      return decodeRle(encoded, shape);
    case 'jpeg-baseline':
    case 'jpeg-extended': {
      // libjpeg-turbo's 8-bit build does 8-bit DCT; 12-bit extended JPEG goes to our own decoder.
      if (jpegPrecision(encoded) === 8) return decodeWithWasm('jpegTurbo', encoded);
      return decodeSequentialJpeg(encoded);
    }
    case 'jpeg-lossless':
      return decodeJpegLossless(encoded, shape);
    case 'jpeg-ls':
      requireEndOfImage(encoded, 'JPEG-LS');
      return decodeWithWasm('charls', encoded);
    case 'jpeg2000':
      return decodeWithWasm('openjpeg', encoded);
    case 'htj2k':
      return decodeWithWasm('openjph', encoded);
    case 'native':
      throw new Error('native pixel data is not compressed');
  }
}

/**
 * CharLS (this WASM build) never returns on a JPEG-LS scan cut short, found by bench/fuzz-dicom.ts: a stream must
 * end with its EOI marker (FFD9, optionally followed by zero padding) before it is handed over.
 */
function requireEndOfImage(encoded: Uint8Array, what: string): void {
  let end = encoded.length;
  while (end > 0 && encoded[end - 1] === 0) end--;
  if (end < 4 || encoded[end - 2] !== 0xff || encoded[end - 1] !== 0xd9) throw new Error(`the ${what} stream ends without its EOI marker: it was cut short`);
}

/** The sample precision from the first SOF marker of a JPEG stream (8 when none is found). */
export function jpegPrecision(encoded: Uint8Array): number {
  let i = 2;
  while (i + 4 < encoded.length) {
    if (encoded[i] !== 0xff) {
      i++;
      continue;
    }
    const marker = encoded[i + 1] as number;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return encoded[i + 4] ?? 8;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0xff) {
      i += 2;
      continue;
    }
    const length = ((encoded[i + 2] as number) << 8) | (encoded[i + 3] as number);
    i += 2 + length;
  }
  return 8;
}
