// The one DICOM writer: a dataset named by DICOM keywords becomes Part 10 bytes through dcmjs's writer and
// dictionary. Every object hipfrac creates (phantom images, de-identified copies, SR, Secondary Capture) goes through here.
import { deflateRawSync } from 'node:zlib';
import dcmjs from 'dcmjs';
import type { DenaturalizedDataset, NaturalDataset } from 'dcmjs';
import { encodeExplicitLittleEndian } from './encode.js';
import { DicomError } from './errors.js';

export type { DenaturalizedDataset, NaturalDataset } from 'dcmjs';

/** Transfer syntaxes hipfrac writes, by their DICOM UIDs. */
export const WRITE_TRANSFER_SYNTAXES = {
  implicitVrLittleEndian: '1.2.840.10008.1.2',
  explicitVrLittleEndian: '1.2.840.10008.1.2.1',
  /** The data set after the file meta is deflated (RFC 1951) around dcmjs's explicit VR LE output. */
  deflatedExplicitVrLittleEndian: '1.2.840.10008.1.2.1.99',
  /** PixelData given as RLE-encoded frames (PS3.5 Annex G), one fragment each. */
  rleLossless: '1.2.840.10008.1.2.5',
} as const;

/** hipfrac's Implementation Class UID (a 2.25 UUID-derived root) and version name, written in every file meta. */
export const IMPLEMENTATION_CLASS_UID = '2.25.203990617261311474522473640766187720466';
export const IMPLEMENTATION_VERSION_NAME = 'HIPFRAC';

export interface WriteDicomOptions {
  /** Default explicit VR little endian. Encapsulated syntaxes need PixelData already as fragments. */
  readonly transferSyntaxUid?: string;
  readonly implementationVersionName?: string;
  /** zlib level for the deflated syntax (default 6). */
  readonly deflateLevel?: number;
  /** Copy values whose length exceeds their VR's limit as they are (de-identified copies of others' files). */
  readonly allowInvalidVRLength?: boolean;
}

/**
 * Encodes `dataset` (keywords → values; SOPClassUID and SOPInstanceUID required) as a Part 10 file with its
 * file meta group. Binary values (OB/OW) are ArrayBuffers in an array, as dcmjs expects; `_vrMap` may name VRs
 * for elements whose dictionary VR is ambiguous (PixelData: 'OB' or 'OW').
 */
export function writeDicom(dataset: NaturalDataset, options: WriteDicomOptions = {}): Buffer {
  return writeDicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset(declaringUtf8(dataset)), options);
}

/** UTF-8 (ISO_IR 192), the encoding dcmjs writes text in; declared only where some text is not ASCII. */
const UTF8_CHARACTER_SET = 'ISO_IR 192';

/**
 * Text values are written as UTF-8: a data set with any non-ASCII text (a patient name copied from a Latin-1 or
 * UTF-8 source, which dcmjs reads into JavaScript strings) declares Specific Character Set ISO_IR 192, whatever it
 * said before. ASCII-only data sets are left as they are (the default repertoire needs no declaration).
 */
function declaringUtf8(dataset: NaturalDataset): NaturalDataset {
  return hasNonAscii(dataset) ? { ...dataset, SpecificCharacterSet: UTF8_CHARACTER_SET } : dataset;
}

function hasNonAscii(value: unknown): boolean {
  if (typeof value === 'string' || value instanceof String) return /[\u0080-\uffff]/.test(value.valueOf());
  if (Array.isArray(value)) return value.some(hasNonAscii);
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return false;
  return Object.entries(value).some(([k, v]) => k !== '_vrMap' && hasNonAscii(v));
}

const text = (entry: { Value?: unknown[] } | undefined): string | undefined => (typeof entry?.Value?.[0] === 'string' ? entry.Value[0] : undefined);

/**
 * Encodes a dataset in dcmjs's tag-keyed form ("00080018": { vr, Value }), for callers that carry VRs
 * themselves (de-identification copies elements by tag). Encapsulated syntaxes take PixelData as one
 * ArrayBuffer per frame, written one fragment per frame with a basic offset table.
 */
export function writeDicomDict(dict: DenaturalizedDataset, options: WriteDicomOptions = {}): Buffer {
  const sopClassUid = text(dict['00080016']);
  const sopInstanceUid = text(dict['00080018']);
  if (sopClassUid === undefined || sopInstanceUid === undefined) {
    throw new DicomError('HF_DICOM_WRITE', 'cannot write a DICOM object without SOPClassUID and SOPInstanceUID', {
      file: '(dataset being written)',
      fix: 'set both before writing',
    });
  }
  const transferSyntaxUid = options.transferSyntaxUid ?? WRITE_TRANSFER_SYNTAXES.explicitVrLittleEndian;
  const implementationVersionName = options.implementationVersionName ?? IMPLEMENTATION_VERSION_NAME;
  const deflated = transferSyntaxUid === WRITE_TRANSFER_SYNTAXES.deflatedExplicitVrLittleEndian;
  // Text, numbers and sequences (an SR) are encoded directly, to the same bytes; the rest through dcmjs. An image's
  // Pixel Data (sorted last) would send it to dcmjs only after its header was encoded: images go there at once.
  const explicit = deflated || transferSyntaxUid === WRITE_TRANSFER_SYNTAXES.explicitVrLittleEndian;
  const direct = explicit && dict['7FE00010'] === undefined ? encodeExplicitLittleEndian(dict, options.allowInvalidVRLength ?? false) : undefined;
  const bytes = direct === undefined
    ? writeThroughDcmjs(dict, sopClassUid, sopInstanceUid, transferSyntaxUid, implementationVersionName, options.allowInvalidVRLength ?? false)
    : part10FromEncodedDataset(direct, { sopClassUid, sopInstanceUid, transferSyntaxUid, implementationVersionName });
  if (!deflated) return bytes;
  // dcmjs writes the data set of a deflated syntax as plain explicit VR LE; deflate what follows the meta group
  // (preamble 128 + "DICM" 4 + group length element 12 + the group length's value).
  const metaEnd = 144 + bytes.readUInt32LE(140);
  return Buffer.concat([bytes.subarray(0, metaEnd), deflateRawSync(bytes.subarray(metaEnd), { level: options.deflateLevel ?? 6 })]);
}

function writeThroughDcmjs(dict: DenaturalizedDataset, sopClassUid: string, sopInstanceUid: string, transferSyntaxUid: string, implementationVersionName: string, allowInvalidVRLength: boolean): Buffer {
  const meta: NaturalDataset = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: transferSyntaxUid,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: implementationVersionName,
  };
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const out = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  out.dict = dict;
  return Buffer.from(out.write({ allowInvalidVRLength, fragmentMultiframe: false }));
}

export interface Part10Meta {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  /** Source Application Entity Title (0002,0016): the AE that sent the data set. */
  readonly sourceAeTitle?: string;
  /** Implementation Version Name (0002,0013); default hipfrac's. */
  readonly implementationVersionName?: string;
}

/** One explicit VR little endian element of group 0002: tag, VR, length (2 bytes, or 2 reserved + 4 for OB), value. */
function metaElement(element: number, vr: 'OB' | 'UI' | 'SH' | 'AE' | 'UL', value: Uint8Array): Buffer {
  const long = vr === 'OB';
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(0x0002, 0);
  head.writeUInt16LE(element, 2);
  head.write(vr, 4, 'latin1');
  if (long) head.writeUInt32LE(value.length, 8);
  else head.writeUInt16LE(value.length, 6);
  return Buffer.concat([head, value]);
}

/** A text value padded to even length: UIDs with NUL, other VRs with a space (PS3.5 6.2). */
function metaText(text: string, vr: 'UI' | 'SH' | 'AE'): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.from(vr === 'UI' ? [0] : [0x20])]);
}

/**
 * Puts a data set already encoded in `meta.transferSyntaxUid` (as a C-STORE delivers it) behind the preamble and
 * a file meta group, byte for byte unchanged (given whole or as the pieces it arrived in, copied once): the DICOM
 * node keeps what it received. The group is the one dcmjs writes for these values (a test holds them equal),
 * encoded here directly: this runs for every received object.
 */
export function part10FromEncodedDataset(encodedDataset: Uint8Array | readonly Uint8Array[], meta: Part10Meta): Buffer {
  const elements = [
    metaElement(0x0001, 'OB', Uint8Array.from([0, 1])),
    metaElement(0x0002, 'UI', metaText(meta.sopClassUid, 'UI')),
    metaElement(0x0003, 'UI', metaText(meta.sopInstanceUid, 'UI')),
    metaElement(0x0010, 'UI', metaText(meta.transferSyntaxUid, 'UI')),
    metaElement(0x0012, 'UI', metaText(IMPLEMENTATION_CLASS_UID, 'UI')),
    metaElement(0x0013, 'SH', metaText(meta.implementationVersionName ?? IMPLEMENTATION_VERSION_NAME, 'SH')),
    ...(meta.sourceAeTitle === undefined ? [] : [metaElement(0x0016, 'AE', metaText(meta.sourceAeTitle, 'AE'))]),
  ];
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(elements.reduce((n, e) => n + e.length, 0));
  const preamble = Buffer.alloc(132);
  preamble.write('DICM', 128, 'latin1');
  return Buffer.concat([preamble, metaElement(0x0000, 'UL', groupLength), ...elements, ...(encodedDataset instanceof Uint8Array ? [encodedDataset] : encodedDataset)]);
}
