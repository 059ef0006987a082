// The source image's attributes up to its pixel data (patient, study, series, SOP), as dcmjs's natural data set:
// what a result object copies to stay in the study's own context.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import dcmjs, { type NaturalDataset } from 'dcmjs';
import { bytesBeforePixelData, patientStudyAttributes, plainPatientStudyAttributes } from '../../dicom/index.js';

export function sourceHeader(bytes: Uint8Array): NaturalDataset {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const dict = dcmjs.data.DicomMessage.readFile(ab, { untilTag: '7FE00010', ignoreErrors: true });
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict);
}

/** The first bytes of a source file read for its header: a radiograph's attributes take a few KiB. */
export const HEADER_READ_BYTES = 64 * 1024;

/**
 * `sourceHeader` of a stored file, reading only the bytes before its pixel data when the header ends within its
 * first HEADER_READ_BYTES (the whole file otherwise: a longer header, no pixels, a deflated data set). Synchronous:
 * it runs on the SR thread, where waiting on the page cache costs less than a round trip through libuv's pool.
 */
export function readSourceHeader(file: string): NaturalDataset {
  return sourceHeader(headerBytes(file));
}

/**
 * What the SR copies from a stored source (patientStudyAttributes): read by src/dicom's parser when its values are
 * plain ASCII (plainPatientStudyAttributes: the same SR bytes, a fraction of dcmjs's time), else through dcmjs.
 */
export function readSrSource(file: string): NaturalDataset {
  const header = headerBytes(file);
  return plainPatientStudyAttributes(header, file) ?? patientStudyAttributes(sourceHeader(header));
}

/** The bytes of a stored file before its pixel data (the whole file when they run past HEADER_READ_BYTES). */
function headerBytes(file: string): Buffer {
  const fd = openSync(file, 'r');
  let head: Buffer;
  try {
    const buffer = Buffer.allocUnsafe(HEADER_READ_BYTES);
    head = buffer.subarray(0, readSync(fd, buffer, 0, HEADER_READ_BYTES, 0));
  } finally {
    closeSync(fd);
  }
  const end = bytesBeforePixelData(head);
  return end === undefined ? readFileSync(file) : head.subarray(0, end);
}

/**
 * What a result object copies from its source: the patient/study attributes and the source's SOP class and instance
 * (for the reference), as plain data (dcmjs's person-name values carry accessor functions, which cannot cross a
 * thread: written through JSON they become the plain { Alphabetic } form dcmjs writes the same way).
 */
export function resultContext(header: NaturalDataset): NaturalDataset {
  return JSON.parse(JSON.stringify({ ...patientStudyAttributes(header), SOPClassUID: header['SOPClassUID'], SOPInstanceUID: header['SOPInstanceUID'] })) as NaturalDataset;
}
