// A minimal ZIP reader for PyTorch's `torch.save` archives: central directory (zip64 included),
// stored or deflated entries, read on demand from the file. No writing, no encryption, no multi-disk.
import { constants } from 'node:buffer';
import { inflateRawSync } from 'node:zlib';
import { HipfracError } from '../../util/index.js';
import type { FileReader } from './fileReader.js';
import { NnError } from '../errors.js';

export interface ZipEntry {
  readonly name: string;
  /** 0 stored, 8 deflate. */
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
  readonly flags: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_END = 0x06054b50;
const SIG_ZIP64_END = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EXTRA_ID = 0x0001;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
const END_RECORD = 22;

function damaged(file: string, what: string): HipfracError {
  return new NnError('HF_IO_ZIP', `the zip archive is damaged or truncated: ${what}.`, {
    input: file,
    fix: 'download or copy the file again; a complete torch.save file ends with a zip central directory.',
  });
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** True when the file starts like a zip archive (a local file header). */
export function looksLikeZip(reader: FileReader): boolean {
  return reader.size >= 4 && viewOf(reader.read(0, 4)).getUint32(0, true) === SIG_LOCAL;
}

function u64(view: DataView, at: number, file: string): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw damaged(file, `a 64-bit size ${value} is out of range`);
  return Number(value);
}

/** Reads the central directory: entry name → entry. */
export function readZipDirectory(reader: FileReader): Map<string, ZipEntry> {
  const file = reader.file;
  if (reader.size < END_RECORD) throw damaged(file, `the file has only ${reader.size} bytes`);
  // The end-of-central-directory record sits in the last 22 + comment (≤ 65535) bytes.
  const tailStart = Math.max(0, reader.size - END_RECORD - U16_MAX);
  const tail = reader.read(tailStart, reader.size - tailStart);
  const tailView = viewOf(tail);
  let end = -1;
  for (let at = tail.length - END_RECORD; at >= 0; at--) {
    if (tailView.getUint32(at, true) === SIG_END && at + END_RECORD + tailView.getUint16(at + 20, true) === tail.length) {
      end = at;
      break;
    }
  }
  if (end < 0) throw damaged(file, 'no end-of-central-directory record');
  let count = tailView.getUint16(end + 10, true);
  let directorySize = tailView.getUint32(end + 12, true);
  let directoryOffset = tailView.getUint32(end + 16, true);
  if (count === U16_MAX || directorySize === U32_MAX || directoryOffset === U32_MAX) {
    const locator = end - 20;
    if (locator < 0 || tailView.getUint32(locator, true) !== SIG_ZIP64_LOCATOR) throw damaged(file, 'zip64 sizes without a zip64 locator');
    const recordOffset = u64(tailView, locator + 8, file);
    if (recordOffset + 56 > reader.size) throw damaged(file, 'the zip64 end record lies beyond the end of the file');
    const record = viewOf(reader.read(recordOffset, 56));
    if (record.getUint32(0, true) !== SIG_ZIP64_END) throw damaged(file, 'the zip64 end record is missing');
    count = u64(record, 32, file);
    directorySize = u64(record, 40, file);
    directoryOffset = u64(record, 48, file);
  }
  if (directoryOffset + directorySize > reader.size) throw damaged(file, 'the central directory lies beyond the end of the file');
  const directory = reader.read(directoryOffset, directorySize);
  const view = viewOf(directory);

  const entries = new Map<string, ZipEntry>();
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > directory.length || view.getUint32(at, true) !== SIG_CENTRAL) throw damaged(file, `central directory entry ${i} is missing`);
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localHeaderOffset = view.getUint32(at + 42, true);
    const extraEnd = at + 46 + nameLength + extraLength;
    if (extraEnd > directory.length) throw damaged(file, `central directory entry ${i} runs past the directory`);
    const name = new TextDecoder().decode(directory.subarray(at + 46, at + 46 + nameLength));
    // zip64 extra field: the 64-bit values, in this order, for each 32-bit field that is saturated.
    let extra = at + 46 + nameLength;
    while (extra + 4 <= extraEnd) {
      const id = view.getUint16(extra, true);
      const length = view.getUint16(extra + 2, true);
      if (id === ZIP64_EXTRA_ID) {
        let field = extra + 4;
        const fieldEnd = Math.min(extra + 4 + length, extraEnd);
        const next = (): number => {
          if (field + 8 > fieldEnd) throw damaged(file, `the zip64 field of '${name}' is too short`);
          const value = u64(view, field, file);
          field += 8;
          return value;
        };
        if (size === U32_MAX) size = next();
        if (compressedSize === U32_MAX) compressedSize = next();
        if (localHeaderOffset === U32_MAX) localHeaderOffset = next();
      }
      extra += 4 + length;
    }
    checkName(file, name);
    if (entries.has(name)) throw unsafe(file, 'HF_IO_ZIP_NAME', `the archive holds two entries named '${name}'`);
    entries.set(name, { name, method, compressedSize, size, localHeaderOffset, flags });
    at = extraEnd + commentLength;
  }
  checkOverlap(file, [...entries.values()]);
  return entries;
}

/** Refusals of hostile archives (zip-slip names, overlapping entries, decompression bombs). */
function unsafe(file: string, code: 'HF_IO_ZIP_NAME' | 'HF_IO_ZIP_OVERLAP' | 'HF_IO_ZIP_BOMB', what: string): HipfracError {
  return new HipfracError(code, `the zip archive is refused: ${what}.`, {
    input: file,
    fix: 'use a weight file written by torch.save (or hipfrac); this archive is malformed or built to attack readers.',
  });
}

/** Entry names are relative paths inside the archive: no '..' segment, no absolute or drive path, no NUL or backslash. */
function checkName(file: string, name: string): void {
  const bad = name === '' || name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.includes('\\') || name.includes('\0') || name.split('/').some((part) => part === '..');
  if (bad) throw unsafe(file, 'HF_IO_ZIP_NAME', `the entry name ${JSON.stringify(name)} points outside the archive (zip-slip)`);
}

/** Two entries whose data share bytes (a classic way to multiply a small file into a huge one) are refused. */
function checkOverlap(file: string, entries: readonly ZipEntry[]): void {
  const sorted = entries.slice().sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1] as ZipEntry;
    const current = sorted[i] as ZipEntry;
    // 30 bytes of local header at least, then the data: the next header must start after the previous data.
    if (current.localHeaderOffset < previous.localHeaderOffset + 30 + previous.compressedSize) {
      throw unsafe(file, 'HF_IO_ZIP_OVERLAP', `entries '${previous.name}' and '${current.name}' overlap in the file`);
    }
  }
}

/** The most one deflated entry may expand to, and the largest expansion ratio accepted (deflate's own limit is ~1032). */
export const MAX_INFLATED_BYTES = 1 << 30;
const MAX_RATIO = 200;

/**
 * The entry's uncompressed bytes. With `shared`, stored entries come in the reader's scratch buffer,
 * valid until its next shared read (for tensor bytes copied at once into a tensor).
 */
export function readZipEntry(reader: FileReader, entry: ZipEntry, shared = false): Uint8Array {
  const file = reader.file;
  if (entry.localHeaderOffset + 30 > reader.size) throw damaged(file, `the local header of '${entry.name}' lies beyond the end of the file`);
  const header = viewOf(reader.read(entry.localHeaderOffset, 30));
  if (header.getUint32(0, true) !== SIG_LOCAL) throw damaged(file, `the local header of '${entry.name}' is missing`);
  if ((entry.flags & 1) !== 0) throw damaged(file, `'${entry.name}' is encrypted`);
  const start = entry.localHeaderOffset + 30 + header.getUint16(26, true) + header.getUint16(28, true);
  if (start + entry.compressedSize > reader.size) throw damaged(file, `the data of '${entry.name}' runs past the end of the file`);
  if (entry.method === 0) {
    if (entry.size !== entry.compressedSize) throw damaged(file, `stored entry '${entry.name}' has two different sizes`);
    return shared ? reader.readShared(start, entry.size) : reader.read(start, entry.size);
  }
  if (entry.method === 8) {
    if (entry.size > MAX_INFLATED_BYTES || entry.size > MAX_RATIO * Math.max(entry.compressedSize, 1024)) {
      throw unsafe(file, 'HF_IO_ZIP_BOMB', `'${entry.name}' declares ${entry.size} bytes from ${entry.compressedSize} compressed (a decompression bomb; at most ${MAX_RATIO}:1 and ${MAX_INFLATED_BYTES} bytes are inflated)`);
    }
    let out: Buffer;
    try {
      // Bounded by the declared size, so a lying entry cannot inflate without limit.
      out = inflateRawSync(reader.readShared(start, entry.compressedSize), { maxOutputLength: Math.max(1, Math.min(entry.size, constants.MAX_LENGTH)) });
    } catch (error) {
      throw damaged(file, `'${entry.name}' does not inflate (${(error as Error).message})`);
    }
    if (out.length !== entry.size) throw damaged(file, `'${entry.name}' inflates to ${out.length} bytes, not ${entry.size}`);
    return out;
  }
  throw new NnError('HF_IO_ZIP_METHOD', `zip entry '${entry.name}' uses compression method ${entry.method}; only stored (0) and deflate (8) are supported.`, {
    input: file,
    fix: 're-save it with torch.save, which stores entries uncompressed.',
  });
}
