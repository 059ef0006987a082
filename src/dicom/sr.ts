// The triage result of one study as a DICOM Comprehensive SR: the finding, P(fracture) per image with a reference
// to the image it was inferred from, the decision and its reason, the operating point, the model's name, version
// and data fingerprint, and the statement that it is not a diagnosis. dsrdump renders it; dciodvfy checks it.
import type { NaturalDataset } from 'dcmjs';
import { AttributeReader } from './header.js';
import { parseDicomBytes } from './parse.js';
import { writeDicom } from './write.js';

export const COMPREHENSIVE_SR_STORAGE = '1.2.840.10008.5.1.4.1.1.88.33';
/** hipfrac's local coding scheme for concepts DICOM and LOINC do not name. */
export const HIPFRAC_SCHEME = '99HIPFRAC';

export interface SrImageResult {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly seriesInstanceUid: string;
  /** null when the image could not be processed. */
  readonly fractureProbability: number | null;
  /** 'auto-report', 'radiologist-review' or 'not-processed'. */
  readonly decision: string;
  readonly reason: string;
  /**
   * Predicted fracture boxes (a model with a box head): [x0, y0, x1, y1] in the image's pixels (x1/y1 exclusive) and a
   * score; each becomes a NUM score inferred from a closed POLYLINE SCOORD selected from the image.
   */
  readonly boxes?: readonly { readonly box: readonly [number, number, number, number]; readonly score: number }[];
}

export interface TriageSrInput {
  /** Patient and study attributes copied from the source (PatientName, PatientID, PatientBirthDate, PatientSex, StudyInstanceUID, StudyDate, StudyTime, ReferringPhysicianName, StudyID, AccessionNumber). */
  readonly source: NaturalDataset;
  readonly sopInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly seriesNumber: number;
  readonly instanceNumber: number;
  /** Human-readable finding: 'Fracture suspected', 'No fracture', 'Needs radiologist review', 'Not processed'. */
  readonly finding: string;
  readonly decision: string;
  readonly reason: string;
  readonly operatingPoint: string;
  readonly model: { readonly name: string; readonly version: string; readonly dataFingerprint: string };
  readonly images: readonly SrImageResult[];
  readonly created: Date;
}

/** The statement every hipfrac SR carries. */
export const NOT_A_DIAGNOSIS = 'AI result - not a diagnosis. Produced by hipfrac for triage; a radiologist makes the diagnosis.';

const code = (value: string, scheme: string, meaning: string): NaturalDataset => ({ CodeValue: value, CodingSchemeDesignator: scheme, CodeMeaning: meaning });
const local = (value: string, meaning: string): NaturalDataset => code(value, HIPFRAC_SCHEME, meaning);

/** The SR is written in the default repertoire (ASCII): the few symbols hipfrac's reasons use are spelled out. */
export function asciiText(value: string): string {
  return value.replace(/≥/g, '>=').replace(/≤/g, '<=').replace(/[—–]/g, '-').replace(/[^\x20-\x7e]/g, '?');
}

function text(relationship: string, concept: NaturalDataset, value: string): NaturalDataset {
  return { RelationshipType: relationship, ValueType: 'TEXT', ConceptNameCodeSequence: [concept], TextValue: asciiText(value).slice(0, 1024) };
}

function imageRef(relationship: string, image: SrImageResult): NaturalDataset {
  return {
    RelationshipType: relationship,
    ValueType: 'IMAGE',
    ReferencedSOPSequence: [{ ReferencedSOPClassUID: image.sopClassUid, ReferencedSOPInstanceUID: image.sopInstanceUid }],
  };
}

/**
 * One predicted fracture box: its score (NUM) inferred from the region, a closed POLYLINE SCOORD (column\row pairs,
 * 0\0 the top-left corner of the top-left pixel) selected from the image.
 */
function fractureRegion(image: SrImageResult, [x0, y0, x1, y1]: readonly [number, number, number, number], score: number): NaturalDataset {
  return {
    RelationshipType: 'CONTAINS',
    ValueType: 'NUM',
    ConceptNameCodeSequence: [local('FRACBOXSCORE', 'Fracture region score')],
    MeasuredValueSequence: [{ NumericValue: score.toFixed(4), MeasurementUnitsCodeSequence: [code('1', 'UCUM', 'no units')] }],
    ContentSequence: [{
      RelationshipType: 'INFERRED FROM',
      ValueType: 'SCOORD',
      ConceptNameCodeSequence: [local('FRACBOX', 'Fracture region')],
      GraphicType: 'POLYLINE',
      GraphicData: [x0, y0, x1, y0, x1, y1, x0, y1, x0, y0],
      ContentSequence: [imageRef('SELECTED FROM', image)],
    }],
  };
}

function imageContainer(image: SrImageResult, index: number): NaturalDataset {
  const children: NaturalDataset[] = [];
  if (image.fractureProbability !== null) {
    children.push({
      RelationshipType: 'CONTAINS',
      ValueType: 'NUM',
      ConceptNameCodeSequence: [local('FRACPROB', 'Probability of fracture')],
      MeasuredValueSequence: [{ NumericValue: image.fractureProbability.toFixed(4), MeasurementUnitsCodeSequence: [code('1', 'UCUM', 'no units')] }],
      ContentSequence: [imageRef('INFERRED FROM', image)],
    });
  } else {
    children.push(imageRef('CONTAINS', image));
  }
  for (const { box, score } of image.boxes ?? []) children.push(fractureRegion(image, box, score));
  children.push(text('CONTAINS', local('IMGDECISION', 'Image decision'), image.decision));
  children.push(text('CONTAINS', local('IMGREASON', 'Image decision reason'), image.reason));
  return {
    RelationshipType: 'CONTAINS',
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: [local('IMGRESULT', `Image result ${index + 1}`)],
    ContinuityOfContent: 'SEPARATE',
    ContentSequence: children,
  };
}

/** The Patient and General Study module attributes of a source object, for a result placed in its study. */
export function patientStudyAttributes(s: NaturalDataset): NaturalDataset {
  return {
    PatientName: s['PatientName'] ?? '',
    PatientID: s['PatientID'] ?? '',
    PatientBirthDate: s['PatientBirthDate'] ?? '',
    PatientSex: s['PatientSex'] ?? '',
    StudyInstanceUID: s['StudyInstanceUID'],
    StudyDate: s['StudyDate'] ?? '',
    StudyTime: s['StudyTime'] ?? '',
    ReferringPhysicianName: s['ReferringPhysicianName'] ?? '',
    StudyID: s['StudyID'] ?? '',
    AccessionNumber: s['AccessionNumber'] ?? '',
  };
}

/** The attributes patientStudyAttributes copies, by tag. */
const PATIENT_STUDY_TAGS: readonly (readonly [number, string])[] = [
  [0x00100010, 'PatientName'], [0x00100020, 'PatientID'], [0x00100030, 'PatientBirthDate'], [0x00100040, 'PatientSex'],
  [0x0020000d, 'StudyInstanceUID'], [0x00080020, 'StudyDate'], [0x00080030, 'StudyTime'], [0x00080090, 'ReferringPhysicianName'],
  [0x00200010, 'StudyID'], [0x00080050, 'AccessionNumber'],
];

/**
 * patientStudyAttributes of a source's encoded header (Part 10 bytes, pixel data may be cut off), read with this
 * room's parser, for a source whose values there are plain: printable ASCII, one value each, no person-name component
 * groups. Such text reads the same in every character set, and the SR written from it has the bytes of the SR written
 * from dcmjs's reading of the same header (test/serve/results/sourceHeader.test.ts). Undefined for anything else (other characters, several
 * values, a missing Study Instance UID, an unreadable header): the caller then reads the header with dcmjs.
 */
export function plainPatientStudyAttributes(header: Uint8Array, file: string): NaturalDataset | undefined {
  let a: AttributeReader;
  try {
    a = new AttributeReader(parseDicomBytes(header, file).dataSet, file);
  } catch {
    return undefined;
  }
  const out: NaturalDataset = {};
  for (const [tag, keyword] of PATIENT_STUDY_TAGS) {
    const raw = a.bytes(tag);
    if (raw === undefined || raw.length === 0) continue;
    let end = raw.length;
    // Padding to an even length: one trailing space (text) or NUL (UIDs); more trailing spaces are trimmed the same way.
    while (end > 0 && (raw[end - 1] === 0x20 || raw[end - 1] === 0x00)) end--;
    for (let i = 0; i < end; i++) {
      const b = raw[i] as number;
      // Printable ASCII only; a backslash separates values and '=' a person name's component groups.
      if (b < 0x20 || b > 0x7e || b === 0x5c || b === 0x3d) return undefined;
    }
    if (end > 0 && raw[0] === 0x20) return undefined;
    if (end > 0) out[keyword] = Buffer.from(raw.buffer, raw.byteOffset, end).toString('latin1');
  }
  return out['StudyInstanceUID'] === undefined ? undefined : patientStudyAttributes(out);
}

const da = (d: Date): string => d.toISOString().slice(0, 10).replace(/-/g, '');
const tm = (d: Date): string => d.toISOString().slice(11, 19).replace(/:/g, '');

/** Builds the SR as Part 10 bytes (explicit VR little endian) through writeDicom. */
export function buildTriageSr(input: TriageSrInput): Buffer {
  return writeDicom(triageSrDataset(input));
}

/** The SR's data set, named by DICOM keywords. */
export function triageSrDataset(input: TriageSrInput): NaturalDataset {
  const s = input.source;
  const bySeries = new Map<string, SrImageResult[]>();
  for (const image of input.images) bySeries.set(image.seriesInstanceUid, [...(bySeries.get(image.seriesInstanceUid) ?? []), image]);
  const dataset: NaturalDataset = {
    SOPClassUID: COMPREHENSIVE_SR_STORAGE,
    SOPInstanceUID: input.sopInstanceUid,
    InstanceCreationDate: da(input.created),
    InstanceCreationTime: tm(input.created),
    CodingSchemeIdentificationSequence: [{ CodingSchemeDesignator: HIPFRAC_SCHEME, CodingSchemeName: 'hipfrac local codes', CodingSchemeResponsibleOrganization: 'hipfrac' }],
    ...patientStudyAttributes(s),
    Modality: 'SR',
    SeriesInstanceUID: input.seriesInstanceUid,
    SeriesNumber: input.seriesNumber,
    SeriesDescription: 'hipfrac AI triage result',
    ReferencedPerformedProcedureStepSequence: [],
    Manufacturer: 'hipfrac',
    ManufacturerModelName: input.model.name,
    SoftwareVersions: input.model.version,
    InstanceNumber: input.instanceNumber,
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    ContentDate: da(input.created),
    ContentTime: tm(input.created),
    PerformedProcedureCodeSequence: [],
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: [code('18748-4', 'LN', 'Diagnostic imaging report')],
    ContinuityOfContent: 'SEPARATE',
    ContentSequence: [
      text('CONTAINS', code('121071', 'DCM', 'Finding'), input.finding),
      text('CONTAINS', local('DECISION', 'Study decision'), input.decision),
      text('CONTAINS', local('REASON', 'Decision reason'), input.reason),
      text('CONTAINS', local('OPPOINT', 'Operating point'), input.operatingPoint),
      text('CONTAINS', code('111001', 'DCM', 'Algorithm Name'), input.model.name),
      text('CONTAINS', code('111003', 'DCM', 'Algorithm Version'), input.model.version),
      text('CONTAINS', local('DATAFP', 'Training data fingerprint'), input.model.dataFingerprint),
      ...input.images.map(imageContainer),
      text('CONTAINS', code('121106', 'DCM', 'Comment'), NOT_A_DIAGNOSIS),
    ],
  };
  // Evidence (Type 1C): the images the result was inferred from, when there are any.
  if (input.images.length > 0) {
    dataset['CurrentRequestedProcedureEvidenceSequence'] = [{
      StudyInstanceUID: s['StudyInstanceUID'],
      ReferencedSeriesSequence: [...bySeries].map(([series, images]) => ({
        SeriesInstanceUID: series,
        ReferencedSOPSequence: images.map((i) => ({ ReferencedSOPClassUID: i.sopClassUid, ReferencedSOPInstanceUID: i.sopInstanceUid })),
      })),
    }];
  }
  return dataset;
}
