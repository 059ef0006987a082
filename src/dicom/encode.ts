// A data set of text, integers, floats and sequences encoded in explicit VR little endian directly: the bytes dcmjs's
// writer produces for it (test/dicom/encode.test.ts holds them equal on every VR and on random data sets), without
// its stream object per element (several milliseconds for an SR of a few hundred elements). The VR rules (padding,
// length limits, 16- or 32-bit length, multiplicity) are read from dcmjs's own value representations. Anything
// else (binary OB/OW/UN values, a value dcmjs would reformat, reject or encode as UN) returns undefined: the caller
// writes through dcmjs.
import dcmjs, { type DenaturalizedDataset } from 'dcmjs';

interface VrRules {
  readonly utf8: boolean;
  readonly padByte: number;
  /** Bytes per value above which dcmjs refuses to write (unless told to allow invalid lengths). */
  readonly maxLength: number | null;
  readonly length32: boolean;
  readonly multiple: boolean;
}

/** String VRs dcmjs writes as UTF-8 (its EncodedStringRepresentation); the other string VRs byte per UTF-16 unit. */
const UTF8_VRS = new Set(['LO', 'LT', 'PN', 'SH', 'ST', 'UC', 'UT']);
const STRING_VRS = ['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UI', 'UR', 'UT'];
const NUMBER_VRS = { US: 2, UL: 4, SS: 2, SL: 4, FL: 4, FD: 8 } as const;
type NumberVr = keyof typeof NUMBER_VRS;

const RULES: ReadonlyMap<string, VrRules> = new Map(
  [...STRING_VRS, ...Object.keys(NUMBER_VRS), 'SQ'].map((type) => {
    const vr = dcmjs.data.ValueRepresentation.createByTypeString(type);
    return [type, { utf8: UTF8_VRS.has(type), padByte: vr.padByte, maxLength: vr.maxLength ?? null, length32: vr.isLength32(), multiple: vr.allowMultiple() }];
  }),
);

const TAG = /^[0-9A-Fa-f]{8}$/;
const PN_KEYS = new Set(['Alphabetic', 'Ideographic', 'Phonetic']);

/** Growing output: chunks of bytes, joined once. */
class Out {
  readonly chunks: Buffer[] = [];
  length = 0;
  push(bytes: Buffer): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }
}

/** Thrown inside the encoder for anything it leaves to dcmjs. */
class NotHere extends Error {}
const notHere = (): never => {
  throw new NotHere();
};

/**
 * The explicit VR little endian encoding of `dict` (dcmjs's tag-keyed form, without the file meta group), or
 * undefined when it holds an element this encoder leaves to dcmjs.
 */
export function encodeExplicitLittleEndian(dict: DenaturalizedDataset, allowInvalidVRLength = false): Buffer | undefined {
  const out = new Out();
  try {
    writeElements(out, dict, allowInvalidVRLength);
  } catch (error) {
    if (error instanceof NotHere) return undefined;
    throw error;
  }
  return Buffer.concat(out.chunks, out.length);
}

function writeElements(out: Out, dict: DenaturalizedDataset, allowInvalid: boolean): void {
  if (dict === null || typeof dict !== 'object' || Array.isArray(dict)) notHere();
  for (const key of Object.keys(dict).sort()) {
    if (!TAG.test(key)) notHere();
    const element = dict[key] as { vr?: unknown; Value?: unknown; _rawValue?: unknown };
    if (element === null || typeof element !== 'object' || element._rawValue !== undefined) notHere();
    const rules = typeof element.vr === 'string' ? RULES.get(element.vr) : undefined;
    const values = element.Value;
    if (rules === undefined || !Array.isArray(values)) return notHere();
    const vr = element.vr as string;
    const group = parseInt(key.slice(0, 4), 16);
    const number = parseInt(key.slice(4), 16);
    if (vr === 'SQ') writeSequence(out, group, number, values, allowInvalid);
    else {
      const value = vr in NUMBER_VRS ? numberValue(vr as NumberVr, values) : stringValue(vr, rules, values, allowInvalid);
      writeHeader(out, group, number, vr, rules, value.length);
      out.push(value);
    }
  }
}

function writeHeader(out: Out, group: number, number: number, vr: string, rules: VrRules, length: number): void {
  if (!rules.length32 && length >= 0x10000) notHere(); // dcmjs writes such a value as UN
  const head = Buffer.allocUnsafe(rules.length32 ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(number, 2);
  head.write(vr, 4, 'latin1');
  if (rules.length32) {
    head.writeUInt16LE(0, 6);
    head.writeUInt32LE(length, 8);
  } else head.writeUInt16LE(length, 6);
  out.push(head);
}

const ITEM = Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]);
const ITEM_END = Buffer.from([0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0]);
const SEQUENCE_END = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
const SQ_RULES = RULES.get('SQ') as VrRules;

/** A sequence of undefined length, each item of undefined length, as dcmjs writes them. */
function writeSequence(out: Out, group: number, number: number, items: readonly unknown[], allowInvalid: boolean): void {
  writeHeader(out, group, number, 'SQ', SQ_RULES, 0xffffffff);
  for (const item of items) {
    out.push(ITEM);
    writeElements(out, item as DenaturalizedDataset, allowInvalid);
    out.push(ITEM_END);
  }
  out.push(SEQUENCE_END);
}

function numberValue(vr: NumberVr, values: readonly unknown[]): Buffer {
  const size = NUMBER_VRS[vr];
  const bytes = Buffer.allocUnsafe(size * values.length);
  values.forEach((v, i) => {
    // dcmjs reads a string as a number first: parseFloat for FL/FD, parseInt for the integer VRs.
    const n = typeof v === 'string' ? (vr === 'FL' || vr === 'FD' ? parseFloat(v) : parseInt(v, 10)) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || (typeof v === 'string' && v.trim() === '')) return notHere();
    const at = i * size;
    if (vr === 'FL') bytes.writeFloatLE(n, at);
    else if (vr === 'FD') bytes.writeDoubleLE(n, at);
    else {
      const [min, max] = vr === 'US' ? [0, 0xffff] : vr === 'UL' ? [0, 0xffffffff] : vr === 'SS' ? [-0x8000, 0x7fff] : [-0x80000000, 0x7fffffff];
      if (!Number.isInteger(n) || n < min || n > max) notHere();
      if (vr === 'US') bytes.writeUInt16LE(n, at);
      else if (vr === 'UL') bytes.writeUInt32LE(n, at);
      else if (vr === 'SS') bytes.writeInt16LE(n, at);
      else bytes.writeInt32LE(n, at);
    }
  });
  return bytes;
}

/** The text of one value as dcmjs writes it: strings as they are, IS integers and short DS numbers in JavaScript's notation. */
function textOf(vr: string, v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) {
    if (vr === 'IS') return String(v);
    if (vr === 'DS' && String(v).length <= 16) return String(v);
  }
  return notHere();
}

/** A person name: a string, or the DICOM JSON form { Alphabetic, Ideographic, Phonetic } joined with '='. */
function personName(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof String) return v.valueOf(); // dcmjs boxes a name given as text
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return notHere();
  const parts = v as Record<string, unknown>;
  for (const k of Object.keys(parts)) if (!PN_KEYS.has(k) || (parts[k] !== undefined && typeof parts[k] !== 'string')) notHere();
  const text = [parts['Alphabetic'] ?? '', parts['Ideographic'] ?? '', parts['Phonetic'] ?? ''].join('=');
  return text.replace(/=*$/, '');
}

/** Date and time VRs whose length limit dcmjs widens for a range query ('-' in the value). */
const RANGE_VRS = new Set(['DA', 'DT', 'TM']);
const BACKSLASH = Buffer.from('\\', 'latin1');

function stringValue(vr: string, rules: VrRules, values: readonly unknown[], allowInvalid: boolean): Buffer {
  let texts: string[];
  if (vr === 'PN') {
    // dcmjs joins the names into one string (empty ones dropped) and refuses a component group over 64 characters.
    const joined = values.filter(Boolean).map(personName).join('\\');
    if (!allowInvalid && joined.split('\\').some((name) => name.split('=').some((group) => group.length > 64))) notHere();
    texts = [joined];
  } else texts = values.map((v) => textOf(vr, v));
  if (RANGE_VRS.has(vr) && texts.some((t) => t.includes('-'))) notHere();
  const encoded = texts.map((t) => Buffer.from(t, rules.utf8 ? 'utf8' : 'latin1'));
  if (!allowInvalid && rules.maxLength !== null && encoded.some((b) => b.length > (rules.maxLength as number))) notHere();
  const parts = rules.multiple ? encoded.flatMap((b, i) => (i === 0 ? [b] : [BACKSLASH, b])) : encoded;
  const length = parts.reduce((n, b) => n + b.length, 0);
  if (length % 2 === 0) return Buffer.concat(parts, length);
  return Buffer.concat([...parts, Buffer.from([rules.padByte])], length + 1);
}
