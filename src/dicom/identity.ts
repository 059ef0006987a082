// Who an object is, without decoding its pixels: the UIDs, patient/study context and whether it carries pixel
// data. The DICOM node reads this from every received object before it stores it.
import { AttributeReader, Tag } from './header.js';
import { parseDicomBytes } from './parse.js';

export interface DicomIdentity {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly transferSyntaxUid: string;
  readonly patientId: string;
  readonly patientName: string;
  readonly accessionNumber: string;
  readonly studyDate: string;
  readonly hasPixelData: boolean;
}

/** Reads the identity of Part 10 bytes; throws a DicomError (code names the problem) when it is not readable DICOM or lacks its UIDs. */
export function readDicomIdentity(bytes: Uint8Array, file: string): DicomIdentity {
  const parsed = parseDicomBytes(bytes, file);
  const a = new AttributeReader(parsed.dataSet, file);
  const required = (tag: number, name: string): string => {
    const v = a.string(tag);
    if (v === undefined) a.requireUint16(tag, name); // throws HF_DICOM_MISSING_ATTRIBUTE naming the tag
    return v as string;
  };
  return {
    sopClassUid: required(Tag.SopClassUid, 'SOP Class UID'),
    sopInstanceUid: required(Tag.SopInstanceUid, 'SOP Instance UID'),
    studyInstanceUid: required(Tag.StudyInstanceUid, 'Study Instance UID'),
    seriesInstanceUid: a.string(Tag.SeriesInstanceUid) ?? '',
    transferSyntaxUid: parsed.transferSyntax.uid,
    patientId: a.string(Tag.PatientId) ?? '',
    patientName: a.string(Tag.PatientName) ?? '',
    accessionNumber: a.string(Tag.AccessionNumber) ?? '',
    studyDate: a.string(Tag.StudyDate) ?? '',
    hasPixelData: a.has(Tag.PixelData),
  };
}
