// A minimal ZIP reader for PyTorch's `torch.save` archives: central directory (zip64 included),
// stored or deflated entries. No writing, no encryption, no multi-disk archives.
import { inflateRawSync } from 'node:zlib';
import { HipfracError } from '../../util/index.js';

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

function damaged(file: string, what: string): HipfracError {
  return new HipfracError('HF_IO_ZIP', `the zip archive is damaged or truncated: ${what}.`, {
    input: file,
    fix: 'download or copy the file again; a complete torch.save file ends with a zip central directory.',
  });
}

/** True when the bytes start like a zip archive (a local file header). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

function u64(view: DataView, at: number, file: string): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw damaged(file, `a 64-bit size ${value} is out of range`);
  return Number(value);
}

/** Reads the central directory: entry name → entry. */
export function readZipDirectory(bytes: Uint8Array, file: string): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The end-of-central-directory record sits in the last 22 + comment (≤ 65535) bytes.
  let end = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - U16_MAX); at--) {
    if (view.getUint32(at, true) === SIG_END && at + 22 + view.getUint16(at + 20, true) === bytes.length) {
      end = at;
      break;
    }
  }
  if (end < 0) throw damaged(file, 'no end-of-central-directory record');
  let count = view.getUint16(end + 10, true);
  let directorySize = view.getUint32(end + 12, true);
  let directoryOffset = view.getUint32(end + 16, true);
  if (count === U16_MAX || directorySize === U32_MAX || directoryOffset === U32_MAX) {
    const locator = end - 20;
    if (locator < 0 || view.getUint32(locator, true) !== SIG_ZIP64_LOCATOR) throw damaged(file, 'zip64 sizes without a zip64 locator');
    const record = u64(view, locator + 8, file);
    if (record + 56 > bytes.length || view.getUint32(record, true) !== SIG_ZIP64_END) throw damaged(file, 'the zip64 end record is missing');
    count = u64(view, record + 32, file);
    directorySize = u64(view, record + 40, file);
    directoryOffset = u64(view, record + 48, file);
  }
  if (directoryOffset + directorySize > bytes.length) {
    throw damaged(file, 'the central directory lies beyond the end of the file');
  }

  const entries = new Map<string, ZipEntry>();
  let at = directoryOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== SIG_CENTRAL) throw damaged(file, `central directory entry ${i} is missing`);
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localHeaderOffset = view.getUint32(at + 42, true);
    if (at + 46 + nameLength + extraLength > bytes.length) throw damaged(file, `central directory entry ${i} runs past the end`);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // zip64 extra field: the 64-bit values, in this order, for each 32-bit field that is saturated.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = view.getUint16(extra, true);
      const length = view.getUint16(extra + 2, true);
      if (id === ZIP64_EXTRA_ID) {
        let field = extra + 4;
        if (size === U32_MAX) {
          size = u64(view, field, file);
          field += 8;
        }
        if (compressedSize === U32_MAX) {
          compressedSize = u64(view, field, file);
          field += 8;
        }
        if (localHeaderOffset === U32_MAX) localHeaderOffset = u64(view, field, file);
      }
      extra += 4 + length;
    }
    entries.set(name, { name, method, compressedSize, size, localHeaderOffset, flags });
    at = extraEnd + commentLength;
  }
  return entries;
}

/** The entry's uncompressed bytes (a view into `bytes` when stored). */
export function readZipEntry(bytes: Uint8Array, entry: ZipEntry, file: string): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = entry.localHeaderOffset;
  if (at + 30 > bytes.length || view.getUint32(at, true) !== SIG_LOCAL) throw damaged(file, `the local header of '${entry.name}' is missing`);
  if ((entry.flags & 1) !== 0) throw damaged(file, `'${entry.name}' is encrypted`);
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  if (start + entry.compressedSize > bytes.length) throw damaged(file, `the data of '${entry.name}' runs past the end of the file`);
  const raw = bytes.subarray(start, start + entry.compressedSize);
  if (entry.method === 0) {
    if (entry.size !== entry.compressedSize) throw damaged(file, `stored entry '${entry.name}' has two different sizes`);
    return raw;
  }
  if (entry.method === 8) {
    let out: Buffer;
    try {
      out = inflateRawSync(raw);
    } catch (error) {
      throw damaged(file, `'${entry.name}' does not inflate (${(error as Error).message})`);
    }
    if (out.length !== entry.size) throw damaged(file, `'${entry.name}' inflates to ${out.length} bytes, not ${entry.size}`);
    return out;
  }
  throw new HipfracError('HF_IO_ZIP_METHOD', `zip entry '${entry.name}' uses compression method ${entry.method}; only stored (0) and deflate (8) are supported.`, {
    input: file,
    fix: 're-save it with torch.save, which stores entries uncompressed.',
  });
}
