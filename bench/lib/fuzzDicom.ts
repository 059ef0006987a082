// The DICOM fuzzer's seeds and mutations. Seeds: phantom images in each transfer syntax the phantom writes, and
// test-fixture images made by dcmtk/GDCM/OpenJPH in every syntax hipfrac decodes (so every codec of
// src/dicom/codecs.ts sees damaged input). Mutations: bit flips, truncation, lying lengths, undefined lengths,
// deep sequence nesting, huge or zero image dimensions, bad fragments, damaged codec payloads, random splices.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDicomBytes } from '../../src/dicom/parse.js';
import { encodeImage, planCohort, TransferSyntax } from '../../src/phantom/index.js';
import { convert, makeDicom, makeHtj2k, pattern, pixelBytes, tempDir } from '../../test/dicom/fixtures.js';
import { rng, type FuzzCase } from './fuzzRunner.js';

export interface Seed {
  readonly label: string;
  readonly bytes: Uint8Array;
}

const W = 37;
const H = 29;

/** Phantom seeds: one small image in each syntax the phantom writes. */
export function phantomSeeds(): Seed[] {
  const syntaxes = Object.values(TransferSyntax);
  const [patient] = planCohort({ patients: 1, seed: 7, difficulty: 'standard', size: 48, transferSyntaxes: syntaxes });
  const image = patient?.images[0];
  if (image === undefined) throw new Error('the phantom planned no image');
  return syntaxes.map((ts) => ({ label: `phantom ${ts}`, bytes: encodeImage(7, { ...image, transferSyntax: ts }, false).bytes }));
}

/** Fixture seeds in every syntax hipfrac decodes, made by dcmtk, GDCM and OpenJPH (tools of the test suite). */
export async function fixtureSeeds(): Promise<{ seeds: Seed[]; cleanup: () => void }> {
  const { dir, cleanup } = tempDir('fuzz-seeds');
  const u12 = makeDicom(dir, 'u12', { width: W, height: H, bitsAllocated: 16, bitsStored: 12, signed: false, pixels: pixelBytes(pattern(W, H, 12, false, 3), 16) });
  const u8 = makeDicom(dir, 'u8', { width: W, height: H, bitsAllocated: 8, bitsStored: 8, signed: false, pixels: pixelBytes(pattern(W, H, 8, false, 4), 8) });
  const multi = makeDicom(dir, 'multi', { width: W, height: H, bitsAllocated: 16, bitsStored: 12, signed: false, frames: 3, pixels: pixelBytes(pattern(W, 3 * H, 12, false, 5), 16) });
  const made: [string, string][] = [
    ['explicit LE', u12],
    ['implicit LE', convert(u12, join(dir, 'ti.dcm'), 'dcmconv', ['+ti'])],
    ['explicit BE', convert(u12, join(dir, 'tb.dcm'), 'dcmconv', ['+tb'])],
    ['deflated', convert(u12, join(dir, 'td.dcm'), 'dcmconv', ['+td'])],
    ['RLE', convert(u12, join(dir, 'rle.dcm'), 'dcmcrle', [])],
    ['RLE 3 frames', convert(multi, join(dir, 'rle3.dcm'), 'dcmcrle', [])],
    ['JPEG baseline', convert(u8, join(dir, 'jb.dcm'), 'dcmcjpeg', ['+eb'])],
    ['JPEG extended 12-bit', convert(u12, join(dir, 'je.dcm'), 'dcmcjpeg', ['+ee'])],
    ['JPEG lossless SV1', convert(u12, join(dir, 'jl.dcm'), 'dcmcjpeg', ['+e1'])],
    ['JPEG-LS lossless', convert(u12, join(dir, 'jls.dcm'), 'dcmcjpls', ['+el'])],
    ['JPEG-LS near-lossless', convert(u12, join(dir, 'jlsn.dcm'), 'dcmcjpls', ['+en'])],
    ['JPEG 2000', convert(u12, join(dir, 'j2k.dcm'), 'gdcmconv', ['--j2k'])],
  ];
  made.push(['HTJ2K', await makeHtj2k(dir, 'ht', W, H, 12, pixelBytes(pattern(W, H, 12, false, 6), 16))]);
  return { seeds: made.map(([label, file]) => ({ label: `fixture ${label}`, bytes: new Uint8Array(readFileSync(file)) })), cleanup };
}

/** Where each element of a seed sits: the offset and width of its length field, its value, its fragments. */
interface ElementSite {
  readonly tag: number;
  /** Where the element's tag starts. */
  readonly headerAt: number;
  readonly implicit: boolean;
  readonly lengthAt: number;
  readonly lengthWidth: 2 | 4;
  readonly valueAt: number;
  readonly length: number;
  readonly fragments: readonly { readonly at: number; readonly length: number }[];
}

const LONG = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

function sites(bytes: Uint8Array): ElementSite[] {
  // hipfrac's own parse entry (it refuses deep nesting quickly): mutated seeds are parsed again here, on the main
  // thread, where a slow parse would delay every worker's time-out.
  let dataSet;
  try {
    ({ dataSet } = parseDicomBytes(bytes, 'seed'));
  } catch {
    return [];
  }
  if (bytes.length < 132 || String.fromCharCode(...bytes.subarray(128, 132)) !== 'DICM') return [];
  // Deflated data sets are parsed inflated: offsets would not point into the file.
  if ((dataSet.string('x00020010') ?? '').trim() === '1.2.840.10008.1.2.1.99') return [];
  const implicit = (dataSet.string('x00020010') ?? '').replace(/\0/g, '').trim() === '1.2.840.10008.1.2';
  return Object.entries(dataSet.elements).map(([key, el]) => {
    const tag = parseInt(key.slice(1), 16) >>> 0;
    const meta = tag >>> 16 === 0x0002;
    const width: 2 | 4 = (!meta && implicit) || LONG.has(el.vr ?? '') ? 4 : 2;
    return {
      tag,
      headerAt: el.dataOffset - ((!meta && implicit) || width === 2 ? 8 : 12),
      implicit: !meta && implicit,
      lengthAt: el.dataOffset - (width === 4 ? 4 : 2),
      lengthWidth: width,
      valueAt: el.dataOffset,
      length: el.hadUndefinedLength === true ? 0xffffffff : el.length,
      fragments: (el.fragments ?? []).map((f) => ({ at: f.position, length: f.length })),
    };
  });
}

type Random = () => number;
const int = (r: Random, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Random, items: readonly T[]): T => items[int(r, items.length)] as T;

function writeLength(out: Uint8Array, at: number, width: 2 | 4, value: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (at < 0 || at + width > out.length) return;
  if (width === 2) view.setUint16(at, value & 0xffff, true);
  else view.setUint32(at, value >>> 0, true);
}

/** A sequence nested `depth` items deep, undefined lengths, optionally never closed. */
function deepSequence(depth: number, implicit: boolean, closed: boolean): Uint8Array {
  const open = implicit ? [0x08, 0x00, 0x40, 0x11, 0xff, 0xff, 0xff, 0xff] : [0x08, 0x00, 0x40, 0x11, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff];
  const item = [0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff];
  const itemEnd = [0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0];
  const seqEnd = [0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0];
  const out: number[] = [];
  for (let i = 0; i < depth; i++) out.push(...open, ...item);
  if (closed) for (let i = 0; i < depth; i++) out.push(...itemEnd, ...seqEnd);
  return Uint8Array.from(out);
}

function insert(bytes: Uint8Array, where: number, piece: Uint8Array): Uint8Array {
  const at = Math.max(0, Math.min(where, bytes.length));
  const out = new Uint8Array(bytes.length + piece.length);
  out.set(bytes.subarray(0, at));
  out.set(piece, at);
  out.set(bytes.subarray(at), at + piece.length);
  return out;
}

export const MUTATIONS = ['bit-flips', 'header-bit-flips', 'truncation', 'lying-length', 'undefined-length', 'deep-nesting', 'huge-dimensions', 'bad-fragments', 'codec-payload', 'splice'] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** Applies one mutation; returns the new bytes (the input is not changed). */
export function mutate(seed: Uint8Array, kind: Mutation, r: Random): Uint8Array {
  let out = Uint8Array.from(seed);
  const elements = sites(seed);
  const pixel = elements.find((e) => e.tag === 0x7fe00010);
  const implicit = elements.some((e) => e.implicit);
  switch (kind) {
    case 'bit-flips':
      for (let i = 1 + int(r, 16); i > 0; i--) {
        const at = int(r, out.length);
        out[at] = (out[at] as number) ^ (1 << int(r, 8));
      }
      return out;
    case 'header-bit-flips': {
      const end = Math.min(out.length, pixel?.valueAt ?? out.length);
      for (let i = 1 + int(r, 8); i > 0; i--) {
        const at = 128 + int(r, Math.max(1, end - 128));
        out[at] = (out[at] as number) ^ (1 << int(r, 8));
      }
      return out;
    }
    case 'truncation':
      return out.subarray(0, int(r, out.length));
    case 'lying-length': {
      if (elements.length === 0) return mutate(seed, 'bit-flips', r);
      const e = pick(r, elements);
      const lie = pick(r, [0, 1, 3, e.length + 1, e.length + 2, e.length * 2 + 1, 0xfffe, 0xffff, 0x7fffffff, 0xfffffffe, int(r, 0x100000000), out.length]);
      writeLength(out, e.lengthAt, e.lengthWidth, lie);
      return out;
    }
    case 'undefined-length': {
      const wide = elements.filter((e) => e.lengthWidth === 4);
      if (wide.length === 0) return mutate(seed, 'bit-flips', r);
      const e = pick(r, wide);
      writeLength(out, e.lengthAt, 4, 0xffffffff);
      // sometimes an item header where a value was, with undefined length and no delimiter
      if (r() < 0.5 && e.valueAt + 8 <= out.length) out.set([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff], e.valueAt);
      return out;
    }
    case 'deep-nesting': {
      const at = pixel !== undefined ? pixel.headerAt : out.length;
      const depth = pick(r, [16, 256, 4096, 65536]);
      return insert(out, Math.max(132, at), deepSequence(depth, implicit, r() < 0.5));
    }
    case 'huge-dimensions': {
      const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
      const set16 = (tag: number, value: number): void => {
        const e = elements.find((x) => x.tag === tag);
        if (e !== undefined && e.length >= 2 && e.valueAt + 2 <= out.length) view.setUint16(e.valueAt, value, true);
      };
      const targets = [0x00280010, 0x00280011, 0x00280100, 0x00280101, 0x00280102, 0x00280002];
      const tag = pick(r, targets);
      const values = tag === 0x00280010 || tag === 0x00280011 ? [0, 1, 0x7fff, 0xffff, 40000] : [0, 1, 7, 24, 32, 64, 255, 0xffff];
      set16(tag, pick(r, values));
      if (r() < 0.3) {
        set16(0x00280010, 0xffff);
        set16(0x00280011, 0xffff);
      }
      const frames = elements.find((x) => x.tag === 0x00280008);
      if (frames !== undefined && r() < 0.5) out.set(new TextEncoder().encode('99999999'.slice(0, frames.length).padEnd(frames.length, ' ')), frames.valueAt);
      return out;
    }
    case 'bad-fragments': {
      if (pixel === undefined || pixel.fragments.length === 0) return mutate(seed, 'lying-length', r);
      const f = pick(r, pixel.fragments);
      const choice = int(r, 5);
      if (choice === 0) writeLength(out, f.at - 4, 4, pick(r, [0, 1, f.length + 1, 0x7fffffff, 0xffffffff, out.length]));
      else if (choice === 1 && f.at >= 8) out.set([0x00, 0x00, 0x00, 0x00], f.at - 8); // item tag destroyed
      else if (choice === 2) out = out.subarray(0, f.at + int(r, Math.max(1, f.length))); // no delimiter, cut inside
      else if (choice === 3) {
        // basic offset table entries out of range
        const bot = pixel.valueAt + 8;
        writeLength(out, pixel.valueAt + 4, 4, 8);
        if (bot + 8 <= out.length) {
          writeLength(out, bot, 4, 0x7fffffff);
          writeLength(out, bot + 4, 4, int(r, 0x100000000));
        }
      } else writeLength(out, f.at - 4, 4, 0); // empty fragment
      return out;
    }
    case 'codec-payload': {
      const region = pixel?.fragments.length ? pick(r, pixel.fragments) : pixel !== undefined ? { at: pixel.valueAt, length: Math.min(pixel.length, out.length - pixel.valueAt) } : undefined;
      if (region === undefined || region.length <= 0) return mutate(seed, 'bit-flips', r);
      const how = int(r, 3);
      if (how === 0) for (let i = 1 + int(r, 24); i > 0; i--) {
        const at = region.at + int(r, region.length);
        if (at < out.length) out[at] = (out[at] as number) ^ (1 << int(r, 8));
      }
      else if (how === 1) out.fill(pick(r, [0x00, 0xff]), region.at + int(r, region.length), Math.min(out.length, region.at + region.length));
      else {
        // a marker-like run in the middle of the stream (0xFF xx for JPEG family, huge runs for RLE)
        const at = region.at + int(r, region.length);
        if (at + 4 <= out.length) out.set([0xff, pick(r, [0xc0, 0xc3, 0xd8, 0xd9, 0xda, 0xdd, 0x4f, 0x51, 0x90]), 0xff, 0xff], at);
      }
      return out;
    }
    case 'splice': {
      const at = 128 + int(r, Math.max(1, out.length - 128));
      const length = 1 + int(r, 64);
      for (let i = 0; i < length && at + i < out.length; i++) out[at + i] = int(r, 256);
      return out;
    }
  }
}

/** Case `index` of the run with `seed`: a seed file and one to three mutations, all from the seeded generator. */
export function fuzzCase(seeds: readonly Seed[], runSeed: number, index: number): FuzzCase {
  const r = rng((runSeed * 0x9e3779b1 + index * 0x85ebca6b) >>> 0);
  const seed = seeds[index % seeds.length] as Seed;
  const kinds: Mutation[] = [];
  let bytes = seed.bytes;
  for (let n = 1 + (r() < 0.25 ? 1 + int(r, 2) : 0); n > 0; n--) {
    const kind = pick(r, MUTATIONS);
    kinds.push(kind);
    bytes = mutate(bytes, kind, r);
  }
  return { index, label: `${seed.label} #${index}`, mutation: kinds[0] as string, bytes };
}

/** Lazily made cases, so 10,000 of them never sit in memory at once. */
export function* fuzzCases(seeds: readonly Seed[], runSeed: number, count: number, start = 0): Generator<FuzzCase> {
  for (let i = start; i < start + count; i++) yield fuzzCase(seeds, runSeed, i);
}
