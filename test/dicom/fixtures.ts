// Test fixtures made at test time by real DICOM tools (dcmtk's dump2dcm/dcmcjpeg/dcmcrle/dcmcjpls/dcmconv,
// GDCM's gdcmconv), plus reference decodes by dcmj2pnm and gdcmconv/gdcmraw, never by hipfrac itself.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tool(command: string, args: readonly string[], cwd?: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'latin1', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `hipfrac-${prefix}-`));
  // HIPFRAC_KEEP_FIXTURES=1 keeps the files for debugging a failure.
  return { dir, cleanup: () => (process.env['HIPFRAC_KEEP_FIXTURES'] === '1' ? undefined : rmSync(dir, { recursive: true, force: true })) };
}

/** A deterministic test pattern with edges, ramps and texture, in the stored range of `bits` (signed or not). */
export function pattern(width: number, height: number, bits: number, signed: boolean, seed = 1): Int32Array {
  const out = new Int32Array(width * height);
  const range = 2 ** bits;
  const min = signed ? -(range / 2) : 0;
  let s = seed >>> 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const ramp = (x / (width - 1)) * 0.6 + (y / (height - 1)) * 0.3;
      const disc = (x - width / 2) ** 2 + (y - height / 2) ** 2 < (Math.min(width, height) / 4) ** 2 ? 0.1 : 0;
      const noise = (s / 2 ** 32) * 0.05;
      out[y * width + x] = min + Math.min(range - 1, Math.floor((ramp + disc + noise) * (range - 1)));
    }
  }
  return out;
}

/** Stored values as little-endian bytes of `bitsAllocated`. */
export function pixelBytes(values: Int32Array, bitsAllocated: number): Buffer {
  const out = Buffer.alloc(values.length * (bitsAllocated / 8));
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (bitsAllocated === 8) out.writeUInt8(v & 0xff, i);
    else out.writeUInt16LE(v & 0xffff, 2 * i);
  }
  return out;
}

export interface FixtureSpec {
  readonly width: number;
  readonly height: number;
  readonly bitsAllocated: number;
  readonly bitsStored: number;
  readonly signed: boolean;
  readonly photometric?: string;
  readonly samplesPerPixel?: number;
  readonly frames?: number;
  /** Extra dump lines, e.g. '(0028,1050) DS [100\\200]'. */
  readonly extra?: readonly string[];
  readonly sopClassUid?: string;
  readonly sopInstanceUid?: string;
  readonly patientId?: string;
  readonly patientName?: string;
  readonly studyInstanceUid?: string;
  /** Pixel payload; omitted = no Pixel Data element. */
  readonly pixels?: Buffer | null;
}

let uidCounter = 0;

/** Writes a Part 10 explicit-VR-little-endian file with dcmtk's dump2dcm. */
export function makeDicom(dir: string, name: string, spec: FixtureSpec): string {
  uidCounter++;
  const rawName = `${name}.raw`;
  const lines = [
    `(0008,0016) UI [${spec.sopClassUid ?? '1.2.840.10008.5.1.4.1.1.1.1'}]`,
    `(0008,0018) UI [${spec.sopInstanceUid ?? `1.2.826.0.1.3680043.2.1143.9.${process.pid}.${uidCounter}`}]`,
    '(0008,0060) CS [DX]',
    `(0010,0010) PN [${spec.patientName ?? 'Test^Patient'}]`,
    `(0010,0020) LO [${spec.patientId ?? 'P0001'}]`,
    `(0020,000d) UI [${spec.studyInstanceUid ?? '1.2.826.0.1.3680043.2.1143.1'}]`,
    `(0020,000e) UI [1.2.826.0.1.3680043.2.1143.2.${uidCounter}]`,
    `(0028,0002) US ${spec.samplesPerPixel ?? 1}`,
    `(0028,0004) CS [${spec.photometric ?? 'MONOCHROME2'}]`,
    ...(spec.samplesPerPixel === 3 ? ['(0028,0006) US 0'] : []),
    ...(spec.frames !== undefined ? [`(0028,0008) IS [${spec.frames}]`] : []),
    `(0028,0010) US ${spec.height}`,
    `(0028,0011) US ${spec.width}`,
    `(0028,0100) US ${spec.bitsAllocated}`,
    `(0028,0101) US ${spec.bitsStored}`,
    `(0028,0102) US ${spec.bitsStored - 1}`,
    `(0028,0103) US ${spec.signed ? 1 : 0}`,
    ...(spec.extra ?? []),
  ];
  if (spec.pixels !== null && spec.pixels !== undefined) {
    writeFileSync(join(dir, rawName), spec.pixels);
    lines.push(`(7fe0,0010) ${spec.bitsAllocated > 8 ? 'OW' : 'OB'} =${join(dir, rawName)}`);
  }
  const dumpPath = join(dir, `${name}.dump`);
  writeFileSync(dumpPath, lines.join('\n') + '\n');
  const out = join(dir, `${name}.dcm`);
  // dump2dcm exits 0 even when lines fail: treat any error output or a missing file as failure.
  const result = spawnSync('dump2dcm', ['+te', '-g', dumpPath, out], { cwd: dir, encoding: 'latin1' });
  if (result.status !== 0 || !existsSync(out) || /^E:/m.test(result.stderr)) throw new Error(`dump2dcm could not build ${out}: ${result.stderr}`);
  return out;
}

/** Converts with a dcmtk or GDCM command into `${name}.dcm` beside the input. */
export function convert(input: string, output: string, command: string, args: readonly string[]): string {
  if (command === 'gdcmconv') tool(command, [...args, input, output]);
  else tool(command, [...args, input, output]);
  return output;
}

/** GDCM's decode of the pixel data (gdcmconv --raw, then the raw Pixel Data bytes), as stored values. */
export function gdcmStoredValues(path: string, dir: string, bitsAllocated: number, bitsStored: number, signed: boolean, pixelCount?: number): Int32Array {
  const rawDicom = join(dir, `gdcm-raw-${Math.random().toString(36).slice(2)}.dcm`);
  const rawPixels = `${rawDicom}.px`;
  tool('gdcmconv', ['--raw', path, rawDicom]);
  tool('gdcmraw', ['-i', rawDicom, '-o', rawPixels, '-t', '7fe0,0010']);
  const bytes = readFileSync(rawPixels);
  // Odd-length 8-bit pixel data carries a pad byte: keep only the pixels.
  const count = Math.min(pixelCount ?? Infinity, Math.floor(bytes.length / (bitsAllocated / 8)));
  const out = new Int32Array(count);
  const mask = 2 ** bitsStored - 1;
  for (let i = 0; i < count; i++) {
    let v = (bitsAllocated === 8 ? bytes[i] : bytes.readUInt16LE(2 * i)) as number;
    v &= mask;
    if (signed && v >= 2 ** (bitsStored - 1)) v -= 2 ** bitsStored;
    out[i] = v;
  }
  return out;
}

/** dcmtk's own rendering: dcmj2pnm to a 16-bit ASCII PGM with the given VOI options. */
export function dcmtkRender16(path: string, options: readonly string[]): { width: number; height: number; data: Uint16Array } {
  const text = tool('dcmj2pnm', ['+opw', ...options, path]);
  const tokens = text.split(/\s+/).filter((t) => t !== '');
  if (tokens[0] !== 'P2') throw new Error(`dcmj2pnm did not write an ASCII PGM for ${path}`);
  const width = Number(tokens[1]);
  const height = Number(tokens[2]);
  const data = Uint16Array.from(tokens.slice(4, 4 + width * height), Number);
  return { width, height, data };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

export function countDifferent(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

/**
 * An HTJ2K file (1.2.840.10008.1.2.4.201): OpenJPH's WASM encoder makes the codestream, dcmtk's dump2dcm (which
 * predates the HTJ2K UIDs) wraps it as JPEG 2000, and the Transfer Syntax UID and group length are rewritten.
 */
export async function makeHtj2k(dir: string, name: string, width: number, height: number, bitsStored: number, pixels16: Uint8Array): Promise<string> {
  const { createRequire } = await import('node:module');
  type Encoder = { getDecodedBuffer(info: object): Uint8Array; encode(): void; getEncodedBuffer(): Uint8Array; delete(): void };
  const factory = createRequire(import.meta.url)('@cornerstonejs/codec-openjph/wasmjs') as (arg: object) => Promise<{ HTJ2KEncoder: new () => Encoder }>;
  const openjph = await factory({ print: () => undefined, printErr: () => undefined });
  const encoder = new openjph.HTJ2KEncoder();
  encoder.getDecodedBuffer({ width, height, bitsPerSample: bitsStored, componentCount: 1, isSigned: false, isUsingColorTransform: false }).set(pixels16);
  encoder.encode();
  writeFileSync(join(dir, `${name}.j2c`), encoder.getEncodedBuffer());
  encoder.delete();
  const dump = [
    '(0002,0010) UI [1.2.840.10008.1.2.4.90]',
    '(0008,0016) UI [1.2.840.10008.5.1.4.1.1.7]',
    `(0008,0018) UI [1.2.826.0.1.3680043.2.1143.201.${++uidCounter}]`,
    '(0028,0002) US 1',
    '(0028,0004) CS [MONOCHROME2]',
    `(0028,0010) US ${height}`,
    `(0028,0011) US ${width}`,
    '(0028,0100) US 16',
    `(0028,0101) US ${bitsStored}`,
    `(0028,0102) US ${bitsStored - 1}`,
    '(0028,0103) US 0',
    '(7fe0,0010) OB (PixelSequence #=2)',
    '(fffe,e000) pi (no value available)',
    `(fffe,e000) pi =${join(dir, `${name}.j2c`)}`,
    '(fffe,e0dd) na (SequenceDelimitationItem)',
  ];
  writeFileSync(join(dir, `${name}.dump`), `${dump.join('\n')}\n`);
  tool('dump2dcm', ['-g', join(dir, `${name}.dump`), join(dir, `${name}-j2k.dcm`)]);
  const bytes = readFileSync(join(dir, `${name}-j2k.dcm`));
  const oldUid = Buffer.from('1.2.840.10008.1.2.4.90');
  const at = bytes.indexOf(oldUid);
  if (at <= 132 || bytes.readUInt16LE(at - 2) !== 22) throw new Error('makeHtj2k: the Transfer Syntax UID value was not found');
  const newUid = Buffer.from('1.2.840.10008.1.2.4.201\0');
  const patched = Buffer.concat([bytes.subarray(0, at - 2), Buffer.from([newUid.length, 0]), newUid, bytes.subarray(at + oldUid.length)]);
  patched.writeUInt32LE(patched.readUInt32LE(140) + 2, 140); // (0002,0000) group length
  const file = join(dir, `${name}.dcm`);
  writeFileSync(file, patched);
  return file;
}

/** dicom3tools' dciodvfy: the lines it reports as errors (warnings left out). */
export function dciodvfyErrors(file: string): string[] {
  const r = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
  return `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /^Error/.test(l.trim()));
}
