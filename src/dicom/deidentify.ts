// De-identifies a DICOM file by the PS3.15 Basic Application Level Confidentiality Profile and writes it through
// the one DICOM writer (dcmjs): explicit VR little endian, or the original encapsulated syntax. Only the profile's
// D/Z/U attributes (dummied, emptied, UIDs replaced by keyed hashes) and the keep-list (RETAINED_ATTRIBUTES)
// survive; everything else, private and unknown attributes included, is removed. Implicit-VR input takes its VRs
// from the data dictionary.
import type { DenaturalizedDataset } from 'dcmjs';
import { resolveVr, type VrContext } from './dictionary.js';
import { DicomError } from './errors.js';
import { dicomParser, parseDicomBytes, type DataSet, type Element, type ParsedDicom } from './parse.js';
import { isRetained, profileAction } from './profile.js';
import { pseudonymKey, pseudonymousUid } from './pseudonym.js';
import { EXPLICIT_VR_LITTLE_ENDIAN } from './uids.js';
import { writeDicomDict } from './write.js';

export interface DeidentifyOptions {
  readonly salt: Uint8Array;
}

interface Context extends VrContext {
  readonly file: string;
  readonly salt: Uint8Array;
  readonly patientKey: string;
  readonly bigEndian: boolean;
  readonly numberOfFrames: number;
}

type Entry = DenaturalizedDataset[string];

const STRING_VRS = new Set(['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UI', 'UR', 'UT']);
const SINGLE_VALUE_TEXT = new Set(['LT', 'ST', 'UT', 'UR']);
const NUMBER_SIZE: Record<string, number> = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8, SV: 8, UV: 8 };
const SWAP_SIZE: Record<string, number> = { OW: 2, AT: 2, OF: 4, OL: 4, OD: 8, OV: 8 };
const PIXEL_DATA = 0x7fe00010;

function tagOf(key: string): number {
  return parseInt(key.slice(1), 16) >>> 0;
}

function dcmjsKey(tag: number): string {
  return (tag >>> 0).toString(16).padStart(8, '0').toUpperCase();
}

function dummy(tag: number, vr: string, patientKey: string): unknown[] {
  if (tag === 0x00100020 || tag === 0x00100010) return [patientKey];
  switch (vr) {
    case 'PN':
      return ['ANONYMOUS'];
    case 'DA':
      return ['19000101'];
    case 'TM':
      return ['000000'];
    case 'DT':
      return ['19000101000000'];
    case 'DS':
    case 'IS':
      return ['0'];
    case 'AS':
      return ['000Y'];
    case 'UI':
      return [];
    default:
      if (NUMBER_SIZE[vr] !== undefined) return [0];
      return STRING_VRS.has(vr) ? ['ANONYMIZED'] : [];
  }
}

function bytesOf(dataSet: DataSet, element: Element): Uint8Array {
  const end = Math.min(element.dataOffset + element.length, dataSet.byteArray.length);
  return Uint8Array.from(dataSet.byteArray.subarray(element.dataOffset, Math.max(element.dataOffset, end)));
}

function textOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1').replace(/[\0 ]+$/g, '');
}

/** An element's value the way dcmjs writes it: strings split on '\', numbers, or one ArrayBuffer of bytes. */
function valueOf(bytes: Uint8Array, vr: string, ctx: Context): unknown[] {
  if (STRING_VRS.has(vr)) {
    const text = textOf(bytes);
    if (text === '') return [];
    return SINGLE_VALUE_TEXT.has(vr) ? [text] : text.split('\\').map((v) => (vr === 'UI' ? v.trim() : v));
  }
  const size = NUMBER_SIZE[vr];
  if (size !== undefined) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const little = !ctx.bigEndian;
    const out: unknown[] = [];
    for (let at = 0; at + size <= bytes.length; at += size) {
      if (vr === 'US') out.push(view.getUint16(at, little));
      else if (vr === 'SS') out.push(view.getInt16(at, little));
      else if (vr === 'UL') out.push(view.getUint32(at, little));
      else if (vr === 'SL') out.push(view.getInt32(at, little));
      else if (vr === 'FL') out.push(view.getFloat32(at, little));
      else if (vr === 'FD') out.push(view.getFloat64(at, little));
      else out.push(little ? view.getBigUint64(at, true) : view.getBigUint64(at, false));
    }
    return out;
  }
  const swap = SWAP_SIZE[vr];
  if (ctx.bigEndian && swap !== undefined) {
    for (let i = 0; i + swap <= bytes.length; i += swap) bytes.subarray(i, i + swap).reverse();
  }
  return [bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)];
}

/** Encapsulated Pixel Data as one ArrayBuffer per frame (dcmjs writes a fragment each and the offset table). */
function framesOf(dataSet: DataSet, element: Element, ctx: Context): ArrayBuffer[] {
  const fragments = element.fragments ?? [];
  const copy = (bytes: Uint8Array): ArrayBuffer => Uint8Array.from(bytes).buffer;
  if (fragments.length === 0) return [];
  if (ctx.numberOfFrames <= 1) return [copy(dicomParser.readEncapsulatedPixelDataFromFragments(dataSet, element, 0, fragments.length))];
  if (fragments.length === ctx.numberOfFrames) return fragments.map((_, i) => copy(dicomParser.readEncapsulatedPixelDataFromFragments(dataSet, element, i, 1)));
  const table = (element.basicOffsetTable ?? []).length > 0 ? undefined : dicomParser.createJPEGBasicOffsetTable(dataSet, element);
  return Array.from({ length: ctx.numberOfFrames }, (_, i) => copy(dicomParser.readEncapsulatedImageFrame(dataSet, element, i, table)));
}

function transform(dataSet: DataSet, ctx: Context): DenaturalizedDataset {
  const out: DenaturalizedDataset = {};
  for (const [key, element] of Object.entries(dataSet.elements)) {
    const tag = tagOf(key);
    if (tag >>> 16 === 0x0002 || tag >>> 16 === 0xfffe) continue; // the meta header is rebuilt; item tags are structure
    const action = profileAction(tag);
    if (action === 'X' || (action === undefined && !isRetained(tag))) continue;
    let vr = resolveVr(tag, element.vr, ctx);
    if (element.items !== undefined) vr = 'SQ';
    let entry: Entry;
    if (action === 'Z') entry = { vr, Value: [] };
    else if (action === 'D' || action === 'C') entry = { vr, Value: vr === 'SQ' ? [] : dummy(tag, vr, ctx.patientKey) };
    else if (action === 'U') {
      const original = textOf(bytesOf(dataSet, element));
      entry = { vr: 'UI', Value: original === '' ? [] : original.split('\\').map((u) => pseudonymousUid(ctx.salt, u.trim())) };
    } else if (vr === 'SQ') entry = { vr, Value: (element.items ?? []).map((item) => (item.dataSet === undefined ? {} : transform(item.dataSet, ctx))) };
    else if (tag === PIXEL_DATA && element.fragments !== undefined) entry = { vr: 'OB', Value: framesOf(dataSet, element, ctx) };
    else entry = { vr, Value: valueOf(bytesOf(dataSet, element), vr, ctx) };
    out[dcmjsKey(tag)] = entry;
  }
  return out;
}

/** The patient key used in place of Patient ID / Name in de-identified output. */
export function patientKeyOf(salt: Uint8Array, patientId: string | undefined, fallback: string): string {
  return pseudonymKey(salt, 'patient', patientId ?? `no-patient-id:${fallback}`);
}

/** Returns a de-identified Part 10 file. Throws DicomError as parseDicomBytes does, and HF_DICOM_WRITE. */
export function deidentifyDicom(bytes: Uint8Array, file: string, options: DeidentifyOptions): Uint8Array {
  const parsed: ParsedDicom = parseDicomBytes(bytes, file);
  const { dataSet, transferSyntax } = parsed;
  const patientId = dataSet.string('x00100020')?.trim();
  const sopInstanceUid = dataSet.string('x00080018')?.replace(/\0/g, '').trim();
  if (sopInstanceUid === undefined || sopInstanceUid === '') {
    throw new DicomError('HF_DICOM_MISSING_ATTRIBUTE', 'SOP Instance UID (0008,0018) is missing; the de-identified copy needs one.', { file, tag: '(0008,0018)', fix: 'Add a UID with `dcmodify -gin file.dcm`.' });
  }
  if ((dataSet.string('x00080016') ?? '').replace(/\0/g, '').trim() === '') {
    throw new DicomError('HF_DICOM_MISSING_ATTRIBUTE', 'SOP Class UID (0008,0016) is missing; the de-identified copy needs one.', { file, tag: '(0008,0016)', fix: 'Re-export the file from its source.' });
  }
  const ctx: Context = {
    file,
    salt: options.salt,
    patientKey: patientKeyOf(options.salt, patientId === '' ? undefined : patientId, sopInstanceUid),
    bigEndian: !transferSyntax.littleEndian,
    bitsAllocated: dataSet.uint16('x00280100') ?? 16,
    pixelRepresentation: dataSet.uint16('x00280103') ?? 0,
    numberOfFrames: Math.max(1, Number.parseInt(dataSet.string('x00280008') ?? '1', 10) || 1),
  };
  const dict = transform(dataSet, ctx);
  dict['00120062'] = { vr: 'CS', Value: ['YES'] };
  dict['00120063'] = { vr: 'LO', Value: ['hipfrac: PS3.15 Basic Application Level Confidentiality Profile'] };
  const outSyntax = transferSyntax.encoding === 'native' ? EXPLICIT_VR_LITTLE_ENDIAN : transferSyntax.uid;
  try {
    return writeDicomDict(dict, { transferSyntaxUid: outSyntax, allowInvalidVRLength: true });
  } catch (error) {
    if (error instanceof DicomError) throw error;
    throw new DicomError('HF_DICOM_WRITE', `The de-identified copy could not be encoded (${error instanceof Error ? error.message : String(error)}).`, {
      file,
      fix: 'Check the file with dciodvfy; an attribute hipfrac keeps has a value its VR does not allow.',
      cause: error,
    });
  }
}
