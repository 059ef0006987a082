// The one DICOM writer: a dataset named by DICOM keywords becomes Part 10 bytes through dcmjs's writer and
// dictionary. Every object hipfrac creates (phantom images, de-identified copies, SR, Secondary Capture) goes through here.
import { deflateRawSync } from 'node:zlib';
import dcmjs from 'dcmjs';
import type { DenaturalizedDataset, NaturalDataset } from 'dcmjs';
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
  return writeDicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset(dataset), options);
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
  const meta: NaturalDataset = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: options.transferSyntaxUid ?? WRITE_TRANSFER_SYNTAXES.explicitVrLittleEndian,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: options.implementationVersionName ?? IMPLEMENTATION_VERSION_NAME,
  };
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const out = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  out.dict = dict;
  const bytes = Buffer.from(out.write({ allowInvalidVRLength: options.allowInvalidVRLength ?? false, fragmentMultiframe: false }));
  if (meta['TransferSyntaxUID'] !== WRITE_TRANSFER_SYNTAXES.deflatedExplicitVrLittleEndian) return bytes;
  // dcmjs writes the data set of a deflated syntax as plain explicit VR LE; deflate what follows the meta group
  // (preamble 128 + "DICM" 4 + group length element 12 + the group length's value).
  const metaEnd = 144 + bytes.readUInt32LE(140);
  return Buffer.concat([bytes.subarray(0, metaEnd), deflateRawSync(bytes.subarray(metaEnd), { level: options.deflateLevel ?? 6 })]);
}

export interface Part10Meta {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  /** Source Application Entity Title (0002,0016): the AE that sent the data set. */
  readonly sourceAeTitle?: string;
}

/**
 * Puts a data set already encoded in `meta.transferSyntaxUid` (as a C-STORE delivers it) behind the preamble and
 * a file meta group written by dcmjs, byte for byte unchanged: the DICOM node keeps what it received.
 */
export function part10FromEncodedDataset(encodedDataset: Uint8Array, meta: Part10Meta): Buffer {
  const natural: NaturalDataset = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: meta.sopClassUid,
    MediaStorageSOPInstanceUID: meta.sopInstanceUid,
    TransferSyntaxUID: meta.transferSyntaxUid,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
    ...(meta.sourceAeTitle === undefined ? {} : { SourceApplicationEntityTitle: meta.sourceAeTitle }),
  };
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(natural));
  dict.dict = {};
  const head = Buffer.from(dict.write());
  return Buffer.concat([head, encodedDataset]);
}
