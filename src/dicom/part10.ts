// A Part 10 file split into its meta header's facts and the encoded data set that follows it, byte for byte:
// what a C-STORE sends (the data set, in the transfer syntax the meta header names) without decoding and
// re-encoding the object. The inverse of `part10FromEncodedDataset` (write.ts).
import { createRequire } from 'node:module';
import type * as DicomParserModule from 'dicom-parser';
import { DicomError, formatTag } from './errors.js';
import type { Part10Meta } from './write.js';

const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof DicomParserModule;

export interface SplitPart10 {
  readonly meta: Omit<Part10Meta, 'sourceAeTitle'>;
  /** The data set after the meta header, encoded in `meta.transferSyntaxUid` (a view of the input bytes). */
  readonly dataset: Uint8Array;
}

/** Splits Part 10 bytes (128-byte preamble, "DICM", group 0002); throws DicomError naming `file` when they are not that. */
export function splitPart10(bytes: Uint8Array, file: string): SplitPart10 {
  if (bytes.length < 132 || String.fromCharCode(...bytes.subarray(128, 132)) !== 'DICM') {
    throw new DicomError('HF_DICOM_NOT_DICOM', 'not a Part 10 file (no "DICM" after the 128-byte preamble).', { file, fix: 'write the object with its Part 10 header (hipfrac writes one).' });
  }
  let header: DicomParserModule.DataSet;
  try {
    header = dicomParser.readPart10Header(bytes);
  } catch (thrown) {
    const message = thrown instanceof Error ? thrown.message : String(thrown);
    throw new DicomError('HF_DICOM_MALFORMED', `the Part 10 meta header cannot be read (${message}).`, { file, fix: 'write the object again; its header is damaged.' });
  }
  let end = 132;
  for (const element of Object.values(header.elements)) end = Math.max(end, element.dataOffset + element.length);
  const uid = (tag: number, name: string): string => {
    const value = header.string(`x${tag.toString(16).padStart(8, '0')}`)?.replace(/\0/g, '').trim();
    if (value === undefined || value === '') throw new DicomError('HF_DICOM_MISSING_ATTRIBUTE', `the meta header has no ${name}.`, { file, tag: formatTag(tag), fix: 'write the object with a complete meta header.' });
    return value;
  };
  return {
    meta: { sopClassUid: uid(0x00020002, 'Media Storage SOP Class UID'), sopInstanceUid: uid(0x00020003, 'Media Storage SOP Instance UID'), transferSyntaxUid: uid(0x00020010, 'Transfer Syntax UID') },
    dataset: bytes.subarray(end),
  };
}
