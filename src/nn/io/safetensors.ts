// safetensors (Hugging Face's weight format): an 8-byte header length, a JSON header, raw tensor bytes.
// The reader trusts nothing in the header; the writer is atomic (temp file, fsync, rename).
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { type DType, type Tensor } from '../../torch/index.js';
import { HipfracError } from '../../util/index.js';
import { withFileReader } from './fileReader.js';
import { ELEMENT_SIZE, tensorFromBytes, tensorToBytes } from './tensorBytes.js';
import { NnError } from '../errors.js';

/** The format's dtype names and ours. */
const DTYPE_OF_NAME: Readonly<Record<string, DType>> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
const NAME_OF_DTYPE = Object.fromEntries(Object.entries(DTYPE_OF_NAME).map(([name, dtype]) => [dtype, name])) as Record<DType, string>;

/** The reference implementation refuses headers above 100 MB; so do we (a lying length must not allocate). */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

export interface SafetensorsContent {
  readonly tensors: Map<string, Tensor>;
  /** The free-form string map stored under `__metadata__` (empty when absent). */
  readonly metadata: Record<string, string>;
}

/** One tensor's entry in the header, after validation. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: number[];
  /** Byte range in the data section (after the header). */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  readonly entries: SafetensorsEntry[];
  readonly metadata: Record<string, string>;
  /** File offset where the data section starts. */
  readonly dataStart: number;
}

function lying(file: string, what: string, key?: string): HipfracError {
  return new NnError('HF_IO_SAFETENSORS_HEADER', `safetensors header is invalid: ${what}.`, {
    input: key === undefined ? file : `${file}, tensor '${key}'`,
    fix: 'the file is damaged or was not written by a safetensors writer; re-export it from its source.',
  });
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** The header length from the first 8 bytes, checked against the file size and the 100 MB limit. */
export function safetensorsHeaderLength(prefix: Uint8Array, file: string, fileSize: number): number {
  if (fileSize < 8 || prefix.length < 8) throw lying(file, `the file has ${fileSize} bytes, fewer than the 8-byte header length`);
  const headerLength = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, fileSize - 8))) {
    throw lying(file, `the header length ${headerLength} exceeds ${fileSize - 8 < MAX_HEADER_BYTES ? `the ${fileSize - 8} bytes after it (truncated?)` : 'the 100 MB limit'}`);
  }
  return Number(headerLength);
}

/**
 * Parses and validates the header of a safetensors file whose first bytes (at least 8 + header length)
 * are `bytes`: length, JSON, dtype names, shapes, data offsets in range, byte count = numel × element
 * size, and tensors tiling the data section exactly (no gap, no overlap).
 */
export function parseSafetensorsHeader(bytes: Uint8Array, file: string, fileSize = bytes.length): SafetensorsHeader {
  const dataStart = 8 + safetensorsHeaderLength(bytes, file, fileSize);
  if (bytes.length < dataStart) throw lying(file, `only ${bytes.length} of the header's ${dataStart} bytes were given`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (error) {
    throw lying(file, `the header is not JSON (${(error as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw lying(file, 'the header is not a JSON object');

  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  const dataLength = fileSize - dataStart;
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw lying(file, '__metadata__ is not an object', name);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw lying(file, `__metadata__ value '${k}' is not a string`);
      }
      metadata = { ...(value as Record<string, string>) };
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw lying(file, 'the entry is not an object', name);
    const { dtype: dtypeName, shape, data_offsets: offsets } = value as Record<string, unknown>;
    const dtype = typeof dtypeName === 'string' ? DTYPE_OF_NAME[dtypeName] : undefined;
    if (dtype === undefined) throw lying(file, `unknown dtype ${JSON.stringify(dtypeName)} (known: ${Object.keys(DTYPE_OF_NAME).join(', ')})`, name);
    if (!Array.isArray(shape) || !shape.every(isCount)) throw lying(file, `shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw lying(file, `data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`, name);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw lying(file, `data_offsets [${begin}, ${end}] run backwards`, name);
    if (end > dataLength) throw lying(file, `data_offsets [${begin}, ${end}] reach beyond the ${dataLength} data bytes in the file (truncated?)`, name);
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    const expected = numel * ELEMENT_SIZE[dtype];
    if (end - begin !== expected) {
      throw lying(file, `shape [${(shape as number[]).join(', ')}] of ${dtypeName as string} needs ${expected} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`, name);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // The tensors must tile the data section: sorted by offset, each starts where the last ended.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const entry of byOffset) {
    if (entry.begin < cursor) throw lying(file, `data_offsets [${entry.begin}, ${entry.end}] overlap another tensor's bytes (ending at ${cursor})`, entry.name);
    if (entry.begin > cursor) throw lying(file, `a gap of ${entry.begin - cursor} bytes precedes data_offsets [${entry.begin}, ${entry.end}]`, entry.name);
    cursor = entry.end;
  }
  if (cursor !== dataLength) throw lying(file, `the tensors cover ${cursor} data bytes but the file holds ${dataLength}`);
  return { entries, metadata, dataStart };
}

/** Reads every tensor and the metadata of a safetensors file (CPU tensors, in header order). */
export function readSafetensors(file: string): SafetensorsContent {
  return withFileReader(file, (reader) => {
    const length = safetensorsHeaderLength(reader.read(0, Math.min(8, reader.size)), file, reader.size);
    const header = parseSafetensorsHeader(reader.read(0, 8 + length), file, reader.size);
    const tensors = new Map<string, Tensor>();
    try {
      for (const entry of header.entries) {
        // Through one scratch buffer: the file is never held whole in JS memory.
        tensors.set(entry.name, tensorFromBytes(reader.readShared(header.dataStart + entry.begin, entry.end - entry.begin), entry.dtype, entry.shape));
      }
    } catch (error) {
      for (const t of tensors.values()) t.dispose();
      throw error;
    }
    return { tensors, metadata: header.metadata };
  });
}

/** Reads every tensor of a safetensors file (use readSafetensors for the metadata too). */
export function loadSafetensors(file: string): Map<string, Tensor> {
  return readSafetensors(file).tensors;
}

/**
 * Writes tensors (any device, any layout; stored contiguous) and string metadata as a safetensors file.
 * Atomic: written to a temporary file beside it, flushed to disk, then renamed over `file`.
 */
export function saveSafetensors(file: string, tensors: ReadonlyMap<string, Tensor> | Iterable<readonly [string, Tensor]>, metadata: Readonly<Record<string, string>> = {}): void {
  const named = [...tensors];
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') {
      throw new NnError('HF_IO_SAFETENSORS_METADATA', `safetensors metadata value '${k}' is a ${typeof v}, not a string.`, { input: file, fix: 'JSON.stringify non-string values.' });
    }
  }
  const seen = new Set<string>();
  for (const [name, t] of named) {
    if (name === '' || name === METADATA_KEY || seen.has(name)) {
      throw new NnError('HF_IO_SAFETENSORS_NAME', `tensor name '${name}' is empty, reserved or repeated.`, { input: file, fix: 'give each tensor a distinct, non-empty name.' });
    }
    seen.add(name);
    if (NAME_OF_DTYPE[t.dtype] === undefined) {
      throw new NnError('HF_IO_SAFETENSORS_DTYPE', `tensor '${name}' has dtype ${t.dtype}, which safetensors cannot hold.`, { input: file });
    }
  }
  // As the reference writer: larger elements first so every tensor stays aligned, then by name.
  named.sort(([a, ta], [b, tb]) => ELEMENT_SIZE[tb.dtype] - ELEMENT_SIZE[ta.dtype] || (a < b ? -1 : a > b ? 1 : 0));

  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const [name, t] of named) {
    const length = t.numel * ELEMENT_SIZE[t.dtype];
    header[name] = { dtype: NAME_OF_DTYPE[t.dtype], shape: t.shape, data_offsets: [offset, offset + length] };
    offset += length;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));

  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx');
    writeAll(fd, prefix);
    writeAll(fd, headerBytes);
    for (const [, t] of named) writeAll(fd, tensorToBytes(t));
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, file);
    syncDirectory(path.dirname(file));
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    rmSync(temp, { force: true });
    if (error instanceof HipfracError) throw error;
    throw new NnError('HF_IO_WRITE', `cannot write the weight file: ${(error as Error).message}`, { input: file, fix: 'check that the folder exists, is writable and has space.', cause: error });
  }
}

/** Makes the rename itself durable across a power cut. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems cannot fsync a directory; the rename is atomic all the same.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}
