// Reads the bytes of a DICOM file into a data set (dicom-parser underneath): Part 10 files, files whose
// meta header has no preamble, and bare data sets with no meta header at all (implicit or explicit VR).
import { createRequire } from 'node:module';
import type * as DicomParserModule from 'dicom-parser';
import { implicitVrCallback } from './dictionary.js';
import { DicomError, type DicomIssue } from './errors.js';
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, transferSyntax, type TransferSyntax } from './uids.js';

// dicom-parser ships a UMD bundle; require() gives the module object its .d.ts describes.
const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof DicomParserModule;

export type DataSet = DicomParserModule.DataSet;
export type Element = DicomParserModule.Element;

export interface ParsedDicom {
  readonly file: string;
  readonly bytes: Uint8Array;
  readonly dataSet: DataSet;
  readonly transferSyntax: TransferSyntax;
  readonly issues: DicomIssue[];
}

/** dicom-parser keys elements as 'xggggeeee'. */
export function tagKey(tag: number): string {
  return `x${(tag >>> 0).toString(16).padStart(8, '0')}`;
}

function ascii(bytes: Uint8Array, start: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(start, start + length));
}

function looksLikeVr(bytes: Uint8Array, at: number): boolean {
  const a = bytes[at] ?? 0;
  const b = bytes[at + 1] ?? 0;
  return a >= 0x41 && a <= 0x5a && b >= 0x41 && b <= 0x5a;
}

/** The group number of the first tag of a bare data set, little endian. */
function firstGroup(bytes: Uint8Array): number {
  return (bytes[0] ?? 0) | ((bytes[1] ?? 0) << 8);
}

function messageOf(thrown: unknown): string {
  if (typeof thrown === 'string') return thrown;
  if (thrown instanceof Error) return thrown.message;
  if (typeof thrown === 'object' && thrown !== null && 'exception' in thrown) return String((thrown as { exception: unknown }).exception);
  return String(thrown);
}

/**
 * Parses DICOM bytes. Throws DicomError: HF_DICOM_EMPTY_FILE, HF_DICOM_NOT_DICOM, HF_DICOM_TRUNCATED,
 * HF_DICOM_MALFORMED, HF_DICOM_UNSUPPORTED_TRANSFER_SYNTAX.
 */
export function parseDicomBytes(bytes: Uint8Array, file: string): ParsedDicom {
  const issues: DicomIssue[] = [];
  if (bytes.length === 0) {
    throw new DicomError('HF_DICOM_EMPTY_FILE', 'The file is empty (0 bytes).', { file, fix: 'Re-export the file from the PACS; an interrupted copy leaves empty files.' });
  }
  // dicom-parser inflates deflated data sets with Buffer methods: a plain Uint8Array is viewed as a Buffer (no copy).
  let input: Uint8Array = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let options: DicomParserModule.ParseDicomOptions = {};
  const hasPreamble = bytes.length >= 132 && ascii(bytes, 128, 4) === 'DICM';
  if (!hasPreamble) {
    const group = firstGroup(bytes);
    if (bytes.length >= 4 && ascii(bytes, 0, 4) === 'DICM') {
      // Meta header with the "DICM" prefix but no 128-byte preamble.
      input = withPreamble(bytes.subarray(4));
      issues.push({ code: 'HF_DICOM_W_NO_PART10_HEADER', message: `${file}: no 128-byte preamble before "DICM"; read anyway.` });
    } else if (group === 0x0002 && bytes.length >= 8) {
      input = withPreamble(bytes);
      issues.push({ code: 'HF_DICOM_W_NO_PART10_HEADER', message: `${file}: meta header without preamble; read anyway.` });
    } else if (bytes.length >= 8 && (group === 0x0008 || group === 0x0010 || group === 0x0018 || group === 0x0020 || group === 0x0028)) {
      // A bare data set (ACR-NEMA style or stripped export): guess the VR encoding from the first element.
      const explicit = looksLikeVr(bytes, 4);
      options = { TransferSyntaxUID: explicit ? EXPLICIT_VR_LITTLE_ENDIAN : IMPLICIT_VR_LITTLE_ENDIAN };
      issues.push({
        code: 'HF_DICOM_W_NO_PART10_HEADER',
        message: `${file}: no preamble and no meta header; read as ${explicit ? 'explicit' : 'implicit'} VR little endian.`,
      });
    } else {
      throw new DicomError('HF_DICOM_NOT_DICOM', `Not a DICOM file: no "DICM" marker at byte 128 and no DICOM tag at the start (first bytes ${hexStart(bytes)}).`, {
        file,
        fix: 'Remove non-DICOM files from the import folder, or use --layout folders for PNG/JPEG images.',
      });
    }
  }
  checkNesting(input, file);
  let dataSet: DataSet;
  try {
    // Implicit-VR data sets: the dictionary tells which elements are sequences (dicom-parser asks per element).
    dataSet = dicomParser.parseDicom(input, { ...options, vrCallback: implicitVrCallback });
  } catch (thrown) {
    const message = messageOf(thrown);
    const truncated = /past end|overrun|overread|beyond|end of buffer/i.test(message) || /cannot be greater than or equal to/.test(message);
    throw new DicomError(
      truncated ? 'HF_DICOM_TRUNCATED' : 'HF_DICOM_MALFORMED',
      truncated
        ? `The file ends before its data does (${bytes.length} bytes): an element's length runs past the end of the file (parser: ${message}).`
        : `The file is not well-formed DICOM (parser: ${message}).`,
      { file, fix: truncated ? 'Copy the file again from its source; it was cut short or an element length is wrong.' : 'Check the file with dciodvfy or dcmdump; re-export it from the source.', cause: thrown },
    );
  }
  const uid = (dataSet.string(tagKey(0x00020010)) ?? options.TransferSyntaxUID ?? IMPLICIT_VR_LITTLE_ENDIAN).replace(/\0/g, '').trim();
  const syntax = transferSyntax(uid);
  if (syntax === undefined) {
    throw new DicomError('HF_DICOM_UNSUPPORTED_TRANSFER_SYNTAX', 'Unsupported transfer syntax: hipfrac cannot decode this pixel encoding.', {
      file,
      tag: '(0002,0010)',
      value: uid,
      fix: 'Convert the file first, e.g. `dcmconv +te in.dcm out.dcm` or `gdcmconv --raw in.dcm out.dcm`.',
    });
  }
  return { file, bytes: input, dataSet, transferSyntax: syntax, issues };
}

/** Deeper than any real object (SR content trees stay in the tens); dicom-parser's recursion must not see more. */
export const MAX_SEQUENCE_DEPTH = 128;

/**
 * Refuses items of undefined length nested deeper than MAX_SEQUENCE_DEPTH before dicom-parser recurses into
 * them: unclosed nesting makes every level search the rest of the file (quadratic time, found by
 * bench/fuzz-dicom.ts), and deep nesting exhausts the stack. Counts item starts with undefined length
 * (FFFE,E000 FFFFFFFF) against item delimiters (FFFE,E00D), little endian.
 */
function checkNesting(bytes: Uint8Array, file: string): void {
  let depth = 0;
  for (let at = bytes.indexOf(0xfe); at >= 0 && at + 8 <= bytes.length; at = bytes.indexOf(0xfe, at + 1)) {
    if (bytes[at + 1] !== 0xff || bytes[at + 3] !== 0xe0) continue;
    if (bytes[at + 2] === 0x00 && bytes[at + 4] === 0xff && bytes[at + 5] === 0xff && bytes[at + 6] === 0xff && bytes[at + 7] === 0xff) {
      if (++depth > MAX_SEQUENCE_DEPTH) {
        throw new DicomError('HF_DICOM_MALFORMED', `Sequences are nested more than ${MAX_SEQUENCE_DEPTH} items deep (at byte ${at}); no real object nests that deep.`, {
          file,
          fix: 'Check the file with dciodvfy or dcmdump; it is damaged or built to attack readers.',
        });
      }
    } else if (bytes[at + 2] === 0x0d && depth > 0) depth--;
  }
}

/**
 * Pixel Data's representations in explicit VR (OB, OW, or UN when the sender did not know it): each has a 12-byte
 * element header, tag, VR, two reserved bytes and a 32-bit length (PS3.5 7.1.2).
 */
const PIXEL_DATA_VRS = new Set(['OB', 'OW', 'UN']);

/**
 * How many leading bytes of a Part 10 file come before its Pixel Data element: the file meta and every attribute
 * before the pixels, what a reader of the header needs. `head` may be the file's first bytes only. Undefined when
 * they do not reach the Pixel Data element (the header runs on, or the object has no pixels), when the file has
 * no preamble, when its data set is deflated (offsets then refer to the inflated bytes), or when Pixel Data has a
 * representation it may not have: read the whole file.
 */
export function bytesBeforePixelData(head: Uint8Array): number | undefined {
  if (head.length < 132 || ascii(head, 128, 4) !== 'DICM') return undefined;
  const input = Buffer.isBuffer(head) ? head : Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  let dataSet: DataSet;
  try {
    checkNesting(input, '(file head)');
    dataSet = dicomParser.parseDicom(input, { untilTag: tagKey(0x7fe00010), vrCallback: implicitVrCallback });
  } catch {
    return undefined;
  }
  const syntax = transferSyntax((dataSet.string(tagKey(0x00020010)) ?? '').replace(/\0/g, '').trim());
  const pixels = dataSet.elements[tagKey(0x7fe00010)];
  if (syntax === undefined || syntax.deflated || pixels === undefined || dataSet.byteArray !== input) return undefined;
  if (!syntax.explicitVr) return pixels.dataOffset - 8;
  return PIXEL_DATA_VRS.has(pixels.vr ?? '') ? pixels.dataOffset - 12 : undefined;
}

function withPreamble(meta: Uint8Array): Uint8Array {
  const out = Buffer.alloc(meta.length + 132);
  out.set([0x44, 0x49, 0x43, 0x4d], 128);
  out.set(meta, 132);
  return out;
}

function hexStart(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

export { dicomParser };
