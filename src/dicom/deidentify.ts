// De-identifies a DICOM file by the PS3.15 Basic Application Level Confidentiality Profile and writes it as
// Part 10 (explicit VR little endian, or the original encapsulated syntax), UIDs replaced by keyed hashes.
import { DicomError } from './errors.js';
import { parseDicomBytes, type DataSet, type ParsedDicom } from './parse.js';
import { profileAction, BASIC_PROFILE } from './profile.js';
import { pseudonymKey, pseudonymousUid } from './pseudonym.js';
import { EXPLICIT_VR_LITTLE_ENDIAN } from './uids.js';

export interface DeidentifyOptions {
  readonly salt: Uint8Array;
}

interface OutElement {
  readonly tag: number;
  readonly vr: string;
  readonly value?: Uint8Array;
  readonly items?: OutElement[][];
  readonly encapsulated?: Uint8Array[];
}

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const STRING_VRS = new Set(['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UI', 'UR', 'UT']);
const SWAP_SIZE: Record<string, number> = { US: 2, SS: 2, OW: 2, AT: 2, UL: 4, SL: 4, FL: 4, OF: 4, OL: 4, FD: 8, OD: 8, SV: 8, UV: 8, OV: 8 };

// VRs for implicit-VR input, where the file does not say: the image attributes hipfrac keeps and reads back.
const IMPLICIT_VRS: Record<number, string> = {
  0x00080005: 'CS', 0x00080008: 'CS', 0x00080016: 'UI', 0x00080060: 'CS', 0x00080070: 'LO', 0x00081090: 'LO', 0x00180015: 'CS',
  0x00185101: 'CS', 0x00181164: 'DS', 0x00200013: 'IS', 0x00200020: 'CS', 0x00200060: 'CS', 0x00200062: 'CS', 0x00280002: 'US',
  0x00280004: 'CS', 0x00280006: 'US', 0x00280008: 'IS', 0x00280010: 'US', 0x00280011: 'US', 0x00280030: 'DS', 0x00280100: 'US',
  0x00280101: 'US', 0x00280102: 'US', 0x00280103: 'US', 0x00280120: 'US', 0x00281050: 'DS', 0x00281051: 'DS', 0x00281052: 'DS',
  0x00281053: 'DS', 0x00281054: 'LO', 0x00281056: 'CS', 0x00283000: 'SQ', 0x00283002: 'US', 0x00283006: 'OW', 0x00283010: 'SQ',
};

const KEYWORD = new Map(BASIC_PROFILE.map((e) => [e.tag, e.keyword]));

function guessVr(tag: number): string {
  const known = IMPLICIT_VRS[tag];
  if (known !== undefined) return known;
  const keyword = KEYWORD.get(tag) ?? '';
  if (keyword.endsWith('Sequence')) return 'SQ';
  if (/UID(List|InFile)?$/.test(keyword)) return 'UI';
  if (keyword.endsWith('DateTime')) return 'DT';
  if (keyword.endsWith('Date')) return 'DA';
  if (keyword.endsWith('Time')) return 'TM';
  if (/(Patient|Physician|Operators|Person|Performer|Observer|Creator|Reviewer)s?Name/.test(keyword) || keyword === 'PhysiciansOfRecord' || keyword === 'NameOfPhysiciansReadingStudy') return 'PN';
  return 'UN';
}

function text(value: string, vr: string): Uint8Array {
  const bytes = Buffer.from(value, 'latin1');
  if (bytes.length % 2 === 0) return bytes;
  const padded = new Uint8Array(bytes.length + 1);
  padded.set(bytes);
  padded[bytes.length] = vr === 'UI' ? 0 : 0x20;
  return padded;
}

function dummy(tag: number, vr: string, patientKey: string): Uint8Array {
  if (tag === 0x00100020 || tag === 0x00100010) return text(patientKey, vr);
  switch (vr) {
    case 'PN':
      return text('ANONYMOUS', vr);
    case 'DA':
      return text('19000101', vr);
    case 'TM':
      return text('000000', vr);
    case 'DT':
      return text('19000101000000', vr);
    case 'DS':
    case 'IS':
      return text('0', vr);
    case 'US':
    case 'SS':
      return new Uint8Array(2);
    case 'UL':
    case 'SL':
    case 'FL':
      return new Uint8Array(4);
    case 'FD':
      return new Uint8Array(8);
    case 'AS':
      return text('000Y', vr);
    default:
      return STRING_VRS.has(vr) || vr === 'UN' ? text('ANONYMIZED', vr) : new Uint8Array(0);
  }
}

function tagOf(key: string): number {
  return parseInt(key.slice(1), 16) >>> 0;
}

function readValue(dataSet: DataSet, offset: number, length: number, vr: string, bigEndian: boolean): Uint8Array {
  const bytes = Uint8Array.from(dataSet.byteArray.subarray(offset, offset + length));
  const size = SWAP_SIZE[vr];
  if (bigEndian && size !== undefined) {
    for (let i = 0; i + size <= bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  }
  return bytes;
}

function uidString(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1').replace(/[\0 ]+$/g, '');
}

function transform(dataSet: DataSet, ctx: { salt: Uint8Array; patientKey: string; bigEndian: boolean; pixelVr: string }): OutElement[] {
  const out: OutElement[] = [];
  for (const [key, element] of Object.entries(dataSet.elements)) {
    const tag = tagOf(key);
    if (tag >>> 16 === 0x0002) continue; // the meta header is rebuilt
    let vr = element.vr ?? (tag === 0x7fe00010 ? ctx.pixelVr : guessVr(tag));
    if (element.items !== undefined && vr === 'UN') vr = 'SQ';
    const action = profileAction(tag);
    if (action === 'X') continue;
    if (action === 'Z') {
      out.push(vr === 'SQ' ? { tag, vr, items: [] } : { tag, vr, value: new Uint8Array(0) });
      continue;
    }
    if (action === 'D' || action === 'C') {
      out.push(vr === 'SQ' ? { tag, vr, items: [] } : { tag, vr, value: dummy(tag, vr, ctx.patientKey) });
      continue;
    }
    if (action === 'U') {
      const original = uidString(readValue(dataSet, element.dataOffset, element.length, 'UI', false));
      const uids = original === '' ? [] : original.split('\\').map((u) => pseudonymousUid(ctx.salt, u));
      out.push({ tag, vr: 'UI', value: text(uids.join('\\'), 'UI') });
      continue;
    }
    if (vr === 'SQ' || element.items !== undefined) {
      out.push({ tag, vr: 'SQ', items: (element.items ?? []).map((item) => (item.dataSet === undefined ? [] : transform(item.dataSet, ctx))) });
      continue;
    }
    if (tag === 0x7fe00010 && element.fragments !== undefined) {
      const table = new Uint8Array(4 * (element.basicOffsetTable?.length ?? 0));
      const view = new DataView(table.buffer);
      (element.basicOffsetTable ?? []).forEach((offset, i) => view.setUint32(4 * i, offset, true));
      const fragments = element.fragments.map((f) => Uint8Array.from(dataSet.byteArray.subarray(f.position, f.position + f.length)));
      out.push({ tag, vr: 'OB', encapsulated: [table, ...fragments] });
      continue;
    }
    const length = Math.min(element.length, dataSet.byteArray.length - element.dataOffset);
    out.push({ tag, vr, value: readValue(dataSet, element.dataOffset, length, vr, ctx.bigEndian) });
  }
  return out;
}

function writeElements(elements: OutElement[], chunks: Uint8Array[]): number {
  let total = 0;
  const sorted = elements.slice().sort((a, b) => a.tag - b.tag);
  for (const el of sorted) total += writeElement(el, chunks);
  return total;
}

function header(tag: number, vr: string, length: number): Uint8Array {
  const long = LONG_VRS.has(vr);
  const out = new Uint8Array(long ? 12 : 8);
  const view = new DataView(out.buffer);
  view.setUint16(0, tag >>> 16, true);
  view.setUint16(2, tag & 0xffff, true);
  out[4] = vr.charCodeAt(0);
  out[5] = vr.charCodeAt(1);
  if (long) view.setUint32(8, length >>> 0, true);
  else view.setUint16(6, length, true);
  return out;
}

function itemHeader(tag: number, length: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0xfffe, true);
  view.setUint16(2, tag, true);
  view.setUint32(4, length >>> 0, true);
  return out;
}

function writeElement(el: OutElement, chunks: Uint8Array[]): number {
  if (el.items !== undefined) {
    const body: Uint8Array[] = [];
    let length = 0;
    for (const item of el.items) {
      const itemChunks: Uint8Array[] = [];
      const itemLength = writeElements(item, itemChunks);
      body.push(itemHeader(0xe000, itemLength), ...itemChunks);
      length += 8 + itemLength;
    }
    const h = header(el.tag, 'SQ', length);
    chunks.push(h, ...body);
    return h.length + length;
  }
  if (el.encapsulated !== undefined) {
    const h = header(el.tag, 'OB', 0xffffffff);
    chunks.push(h);
    let length = h.length;
    for (const fragment of el.encapsulated) {
      chunks.push(itemHeader(0xe000, fragment.length), fragment);
      length += 8 + fragment.length;
    }
    chunks.push(itemHeader(0xe0dd, 0));
    return length + 8;
  }
  let value = el.value ?? new Uint8Array(0);
  let vr = el.vr;
  if (!LONG_VRS.has(vr) && value.length > 0xffff) vr = 'UN';
  if (value.length % 2 === 1) {
    const padded = new Uint8Array(value.length + 1);
    padded.set(value);
    padded[value.length] = STRING_VRS.has(vr) && vr !== 'UI' ? 0x20 : 0;
    value = padded;
  }
  const h = header(el.tag, vr, value.length);
  chunks.push(h, value);
  return h.length + value.length;
}

/** The patient key used in place of Patient ID / Name in de-identified output. */
export function patientKeyOf(salt: Uint8Array, patientId: string | undefined, fallback: string): string {
  return pseudonymKey(salt, 'patient', patientId ?? `no-patient-id:${fallback}`);
}

/** Returns a de-identified Part 10 file. Throws DicomError as parseDicomBytes does. */
export function deidentifyDicom(bytes: Uint8Array, file: string, options: DeidentifyOptions): Uint8Array {
  const parsed: ParsedDicom = parseDicomBytes(bytes, file);
  const { dataSet, transferSyntax } = parsed;
  const patientId = dataSet.string('x00100020')?.trim();
  const sopInstanceUid = dataSet.string('x00080018')?.replace(/\0/g, '').trim();
  const sopClassUid = dataSet.string('x00080016')?.replace(/\0/g, '').trim() ?? '';
  if (sopInstanceUid === undefined) {
    throw new DicomError('HF_DICOM_MISSING_ATTRIBUTE', 'SOP Instance UID (0008,0018) is missing; the de-identified copy needs one.', { file, tag: '(0008,0018)', fix: 'Add a UID with `dcmodify -gin file.dcm`.' });
  }
  const patientKey = patientKeyOf(options.salt, patientId === '' ? undefined : patientId, sopInstanceUid);
  const bitsAllocated = dataSet.uint16('x00280100') ?? 16;
  const elements = transform(dataSet, {
    salt: options.salt,
    patientKey,
    bigEndian: !transferSyntax.littleEndian,
    pixelVr: bitsAllocated > 8 ? 'OW' : 'OB',
  });
  elements.push({ tag: 0x00120062, vr: 'CS', value: text('YES', 'CS') });
  elements.push({ tag: 0x00120063, vr: 'LO', value: text('hipfrac: PS3.15 Basic Application Level Confidentiality Profile', 'LO') });
  const outSyntax = transferSyntax.encoding === 'native' ? EXPLICIT_VR_LITTLE_ENDIAN : transferSyntax.uid;
  const body: Uint8Array[] = [];
  writeElements(elements, body);
  const meta: OutElement[] = [
    { tag: 0x00020001, vr: 'OB', value: new Uint8Array([0, 1]) },
    { tag: 0x00020002, vr: 'UI', value: text(sopClassUid, 'UI') },
    { tag: 0x00020003, vr: 'UI', value: text(pseudonymousUid(options.salt, sopInstanceUid), 'UI') },
    { tag: 0x00020010, vr: 'UI', value: text(outSyntax, 'UI') },
    { tag: 0x00020012, vr: 'UI', value: text('2.25.229580437410404390419497536539227893733', 'UI') },
    { tag: 0x00020013, vr: 'SH', value: text('HIPFRAC', 'SH') },
  ];
  const metaChunks: Uint8Array[] = [];
  const metaLength = writeElements(meta, metaChunks);
  const groupLength = header(0x00020000, 'UL', 4);
  const lengthValue = new Uint8Array(4);
  new DataView(lengthValue.buffer).setUint32(0, metaLength, true);
  const preamble = new Uint8Array(132);
  preamble.set([0x44, 0x49, 0x43, 0x4d], 128);
  return Buffer.concat([preamble, groupLength, lengthValue, ...metaChunks, ...body]);
}
