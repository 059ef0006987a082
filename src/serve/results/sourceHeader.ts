// The source image's attributes up to its pixel data (patient, study, series, SOP), as dcmjs's natural data set:
// what a result object copies to stay in the study's own context.
import dcmjs, { type NaturalDataset } from 'dcmjs';
import { patientStudyAttributes } from '../../dicom/index.js';

export function sourceHeader(bytes: Uint8Array): NaturalDataset {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const dict = dcmjs.data.DicomMessage.readFile(ab, { untilTag: '7FE00010', ignoreErrors: true });
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict);
}

/**
 * What a result object copies from its source: the patient/study attributes and the source's SOP class and instance
 * (for the reference), as plain data (dcmjs's person-name values carry accessor functions, which cannot cross a
 * thread: written through JSON they become the plain { Alphabetic } form dcmjs writes the same way).
 */
export function resultContext(header: NaturalDataset): NaturalDataset {
  return JSON.parse(JSON.stringify({ ...patientStudyAttributes(header), SOPClassUID: header['SOPClassUID'], SOPInstanceUID: header['SOPInstanceUID'] })) as NaturalDataset;
}
