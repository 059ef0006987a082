// The one DICOM writer: a dataset named by DICOM keywords becomes Part 10 bytes through dcmjs's writer and
// dictionary. Every object hipfrac creates (phantom images, de-identified copies, SR, Secondary Capture) goes through here.
import dcmjs from 'dcmjs';
import type { NaturalDataset } from 'dcmjs';
import { DicomError } from './errors.js';

export type { NaturalDataset } from 'dcmjs';

/** Transfer syntaxes hipfrac writes, by their DICOM UIDs. */
export const WRITE_TRANSFER_SYNTAXES = {
  implicitVrLittleEndian: '1.2.840.10008.1.2',
  explicitVrLittleEndian: '1.2.840.10008.1.2.1',
} as const;

/** hipfrac's Implementation Class UID (a 2.25 UUID-derived root) and version name, written in every file meta. */
export const IMPLEMENTATION_CLASS_UID = '2.25.203990617261311474522473640766187720466';
export const IMPLEMENTATION_VERSION_NAME = 'HIPFRAC';

export interface WriteDicomOptions {
  /** Default explicit VR little endian. Encapsulated syntaxes need PixelData already as fragments. */
  readonly transferSyntaxUid?: string;
  readonly implementationVersionName?: string;
}

/**
 * Encodes `dataset` (keywords → values; SOPClassUID and SOPInstanceUID required) as a Part 10 file with its
 * file meta group. Binary values (OB/OW) are ArrayBuffers in an array, as dcmjs expects; `_vrMap` may name VRs
 * for elements whose dictionary VR is ambiguous (PixelData: 'OB' or 'OW').
 */
export function writeDicom(dataset: NaturalDataset, options: WriteDicomOptions = {}): Buffer {
  const sopClassUid = dataset['SOPClassUID'];
  const sopInstanceUid = dataset['SOPInstanceUID'];
  if (typeof sopClassUid !== 'string' || typeof sopInstanceUid !== 'string') {
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
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return Buffer.from(dict.write());
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
