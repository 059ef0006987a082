// De-identification proof: a file carrying every attribute of the PS3.15 Basic Profile table (VRs from
// dcmtk's data dictionary, values marked "PHI…") comes out with each attribute removed, emptied or replaced; a file
// carrying every text-like and sequence attribute of dcmtk's dictionary, private blocks and nested sequences keeps
// only an explicit keep-list, in explicit and implicit VR.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BASIC_PROFILE, deidentifyDicom, readDicom } from '../../src/dicom/index.js';
import { needs } from '../helpers/references.js';
import { convert, dcmtkRender16, makeDicom, pattern, pixelBytes, tempDir, tool } from './fixtures.js';

const { dir, cleanup } = tempDir('deid');
process.on('exit', cleanup);
const salt = Buffer.from('0123456789abcdef0123456789abcdef-test-salt');

/** dcmtk's data dictionary file (the Debian package names its folder by the library's version). */
function dictionaryFile(): string {
  const folder = readdirSync('/usr/share').find((name) => /^libdcmtk\d+$/.test(name));
  return `/usr/share/${folder ?? 'libdcmtk17'}/dicom.dic`;
}

function dictionary(): Map<number, string> {
  const vrs = new Map<number, string>();
  const text = readFileSync(dictionaryFile(), 'latin1');
  for (const line of text.split('\n')) {
    const m = /^\(([0-9A-F]{4}),([0-9A-F]{4})\)\t(\S+)\t/.exec(line);
    if (m !== null) vrs.set(parseInt(`${m[1]}${m[2]}`, 16), m[3] as string);
  }
  return vrs;
}

const hex = (tag: number): string => tag.toString(16).padStart(8, '0');
const dumpTag = (tag: number): string => `(${hex(tag).slice(0, 4)},${hex(tag).slice(4)})`;

/** A value of the given VR that carries a findable marker where the VR allows text. */
function markedValue(tag: number, vr: string, n: number): string | undefined {
  const marker = `PHI${hex(tag).toUpperCase()}`;
  switch (vr) {
    case 'UI':
      return `[1.2.826.0.1.3680043.2.1143.77.${n}]`;
    case 'DA':
      return '[19650412]';
    case 'TM':
      return '[101112]';
    case 'DT':
      return '[19650412101112]';
    case 'AS':
      return '[061Y]';
    case 'DS':
    case 'IS':
      return `[${1000 + n}]`;
    case 'US':
    case 'SS':
    case 'UL':
    case 'SL':
    case 'FL':
    case 'FD':
      return `${n}`;
    case 'AE':
    case 'CS':
      return `[PHI${n}]`;
    case 'PN':
    case 'LO':
    case 'SH':
    case 'LT':
    case 'ST':
    case 'UT':
    case 'UC':
      return `[${marker}]`;
    default:
      return undefined;
  }
}

/** A 12-bit image with marked patient identity, SOP Instance UID `${uidRoot}.1`, Study UID `${uidRoot}.2`. */
function markedImage(name: string, width: number, height: number, seed: number, uidRoot: string, extra: string[]): string {
  return makeDicom(dir, name, {
    width,
    height,
    bitsAllocated: 16,
    bitsStored: 12,
    signed: false,
    pixels: pixelBytes(pattern(width, height, 12, false, seed), 16),
    sopInstanceUid: `${uidRoot}.1`,
    studyInstanceUid: `${uidRoot}.2`,
    patientId: 'PHIPATIENTID',
    patientName: 'PHIDOE^PHIJOHN',
    extra,
  });
}

interface Planted {
  readonly tag: number;
  readonly action: string;
  readonly vr: string;
  readonly value: string;
}

function buildPhiFile(name: string): { file: string; planted: Planted[] } {
  const vrs = dictionary();
  const lines: string[] = [];
  const planted: Planted[] = [];
  BASIC_PROFILE.forEach((entry, n) => {
    // group 0000 is DIMSE command data, illegal in a stored data set; the meta header is rebuilt; FFFx are special
    if (entry.tag >>> 16 === 0x0000 || entry.tag >>> 16 === 0x0002 || entry.tag >>> 16 >= 0xfffa) return;
    if ([0x00080018, 0x0020000d, 0x0020000e, 0x00100010, 0x00100020].includes(entry.tag)) return; // set by makeDicom below
    let vr = vrs.get(entry.tag);
    if (vr === undefined) return;
    if (vr.includes('/')) vr = vr.split('/')[0] as string;
    if (vr === 'SQ') {
      lines.push(`${dumpTag(entry.tag)} SQ (Sequence with undefined length #=1)`, '(fffe,e000) na (Item with undefined length #=1)', `(0008,0100) SH [PHI${hex(entry.tag).toUpperCase()}]`, '(fffe,e00d) na (ItemDelimitationItem)', '(fffe,e0dd) na (SequenceDelimitationItem)');
      planted.push({ tag: entry.tag, action: entry.action, vr, value: `PHI${hex(entry.tag).toUpperCase()}` });
      return;
    }
    const value = markedValue(entry.tag, vr, n);
    if (value === undefined) return;
    lines.push(`${dumpTag(entry.tag)} ${vr} ${value}`);
    planted.push({ tag: entry.tag, action: entry.action, vr, value: value.replace(/^\[|\]$/g, '') });
  });
  // a private block: removed by the profile's rule for private attributes
  lines.push('(0009,0010) LO [PHIPRIVATECREATOR]', '(0009,1001) LO [PHIPRIVATEVALUE]');
  const file = markedImage(name, 40, 30, 5, '1.2.826.0.1.3680043.2.1143.55', lines);
  planted.push({ tag: 0x00100020, action: 'Z', vr: 'LO', value: 'PHIPATIENTID' }, { tag: 0x00100010, action: 'Z', vr: 'PN', value: 'PHIDOE^PHIJOHN' });
  planted.push({ tag: 0x00080018, action: 'U', vr: 'UI', value: '1.2.826.0.1.3680043.2.1143.55.1' }, { tag: 0x0020000d, action: 'U', vr: 'UI', value: '1.2.826.0.1.3680043.2.1143.55.2' });
  return { file, planted };
}

/** Top-level elements of a file as dcmdump prints them: tag → raw value text. */
function topLevel(file: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of tool('dcmdump', ['-q', '+L', file]).split('\n')) {
    const m = /^\(([0-9a-f]{4}),([0-9a-f]{4})\) (\S\S) (.*?)\s+#/.exec(line);
    if (m !== null) out.set(parseInt(`${m[1]}${m[2]}`, 16), m[4] as string);
  }
  return out;
}

describe('PS3.15 Basic Application Level Confidentiality Profile', needs('dcmtk'), () => {
  const { file, planted } = buildPhiFile('phi');

  it('the fixture really carries the profile attributes (the test could fail)', () => {
    const before = topLevel(file);
    assert.ok(planted.length > 150, `${planted.length} attributes planted`);
    const present = planted.filter((p) => before.has(p.tag)).length;
    assert.ok(present >= planted.length - 5, `${present} of ${planted.length} planted attributes readable by dcmdump`);
    assert.ok(readFileSync(file).includes('PHIPATIENTID'));
  });

  it('every attribute of the profile is removed, emptied or replaced; no marker survives', () => {
    const out = join(dir, 'phi-deid.dcm');
    writeFileSync(out, deidentifyDicom(readFileSync(file), file, { salt }));
    const after = topLevel(out);
    const failures: string[] = [];
    for (const p of planted) {
      const value = after.get(p.tag);
      if (p.action === 'X' && value !== undefined) failures.push(`${dumpTag(p.tag)} X but present: ${value}`);
      if (p.action === 'Z' && value !== undefined && !/^(\(no value available\)|\[\])$/.test(value) && value.includes(p.value)) failures.push(`${dumpTag(p.tag)} Z but kept: ${value}`);
      if ((p.action === 'D' || p.action === 'C') && value !== undefined && value.includes(p.value)) failures.push(`${dumpTag(p.tag)} D but kept: ${value}`);
      if (p.action === 'U' && (value === undefined || value.includes(p.value) || !value.includes('2.25.'))) failures.push(`${dumpTag(p.tag)} U not replaced: ${value}`);
    }
    assert.deepEqual(failures, []);
    const bytes = readFileSync(out).toString('latin1');
    assert.ok(!bytes.includes('PHI'), `a PHI marker survives in the output: …${bytes.slice(Math.max(0, bytes.indexOf('PHI') - 20), bytes.indexOf('PHI') + 30)}…`);
    assert.ok(!bytes.includes('1.2.826.0.1.3680043.2.1143.55.1'), 'the original SOP Instance UID survives');
    assert.equal(after.get(0x00120062), '[YES]', 'Patient Identity Removed is set');
  });

  it('the de-identified file is valid DICOM with the same pixels (dcmtk renders it identically)', async () => {
    const out = join(dir, 'phi-deid2.dcm');
    writeFileSync(out, deidentifyDicom(readFileSync(file), file, { salt }));
    tool('dcmdump', ['-q', '-E', out]);
    assert.deepEqual(Array.from(dcmtkRender16(out, ['+Wm']).data), Array.from(dcmtkRender16(file, ['+Wm']).data));
    const image = await readDicom(out, { voi: 'none', keepIntermediate: true });
    const original = await readDicom(file, { voi: 'none', keepIntermediate: true });
    assert.deepEqual(Array.from(image.stored ?? []), Array.from(original.stored ?? []));
  });

  it('UIDs map consistently under one salt and differently under another', () => {
    const a = topLevel(join(dir, 'phi-deid.dcm'));
    const again = join(dir, 'phi-deid3.dcm');
    writeFileSync(again, deidentifyDicom(readFileSync(file), file, { salt }));
    assert.equal(topLevel(again).get(0x0020000d), a.get(0x0020000d));
    const other = join(dir, 'phi-deid4.dcm');
    writeFileSync(other, deidentifyDicom(readFileSync(file), file, { salt: Buffer.from('another-secret-salt-of-enough-length!!') }));
    assert.notEqual(topLevel(other).get(0x0020000d), a.get(0x0020000d));
  });

  for (const [label, command, args] of [
    ['implicit VR', 'dcmconv', ['+ti']],
    ['big endian', 'dcmconv', ['+tb']],
    ['JPEG-LS (encapsulated pixel data kept)', 'dcmcjpls', []],
  ] as const) {
    it(`works on ${label} input: no marker survives, pixels identical`, async () => {
      const input = convert(file, join(dir, `phi-${command}-${args.join('')}.dcm`), command, args);
      const out = `${input}.deid.dcm`;
      writeFileSync(out, deidentifyDicom(readFileSync(input), input, { salt }));
      assert.ok(!readFileSync(out).toString('latin1').includes('PHI'));
      const image = await readDicom(out, { voi: 'none', keepIntermediate: true });
      const original = await readDicom(input, { voi: 'none', keepIntermediate: true });
      assert.deepEqual(Array.from(image.stored ?? []), Array.from(original.stored ?? []));
      // dcmtk decodes it too (dcmdjpls for JPEG-LS, which dcmj2pnm lacks)
      if (command === 'dcmcjpls') tool('dcmdjpls', [out, `${out}.raw.dcm`]);
      else tool('dcmj2pnm', ['+Wm', out, `${out}.pgm`]);
    });
  }
});

// ---- every attribute of the dictionary: only the keep-list survives ----

/** What a de-identified copy may keep unchanged; written out here, apart from the implementation's own list. */
const KEEP = new Set([
  0x00080005, 0x00080008, 0x00080016, 0x00080060, 0x00080064, 0x00080068, 0x00180015, 0x00181164, 0x00185101, 0x00200013,
  0x00200020, 0x00200060, 0x00200062, 0x00280002, 0x00280004, 0x00280006, 0x00280008, 0x00280010, 0x00280011, 0x00280030,
  0x00280034, 0x00280100, 0x00280101, 0x00280102, 0x00280103, 0x00280120, 0x00280121, 0x00280301, 0x00281040, 0x00281041,
  0x00281050, 0x00281051, 0x00281052, 0x00281053, 0x00281054, 0x00281056, 0x00282110, 0x00282112, 0x00282114, 0x00283000,
  0x00283002, 0x00283004, 0x00283006, 0x00283010, 0x20500020, 0x7fe00010,
  0x00120062, 0x00120063, // Patient Identity Removed, De-identification Method: written by the de-identifier
]);

/** Table E.1-1 from the independent copy: tag → the actions it allows (X alone: must not survive). */
function referenceActions(): Map<number, Set<string>> {
  const out = new Map<number, Set<string>>();
  const file = new URL('../../../test/dicom/reference/ps3.15-table-e1-1.tsv', import.meta.url);
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [tag, action] = line.split('\t');
    if (tag === undefined || action === undefined || !/^\([0-9A-F]{4},[0-9A-F]{4}\)$/.test(tag)) continue;
    out.set(parseInt(tag.replace(/[(),]/g, ''), 16) >>> 0, new Set(action.split('/').map((a) => a.replace('*', ''))));
  }
  return out;
}

const TEXT_VRS = new Set(['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UI', 'UR', 'UT']);

/** A sequence of `depth` nested items, each with a marked text value and a private block. */
function nested(tag: number, depth: number, marker: string): string[] {
  const lines = [`${dumpTag(tag)} SQ (Sequence with undefined length #=1)`, '(fffe,e000) na (Item with undefined length #=1)'];
  lines.push(`(0008,0104) LO [${marker}D${depth}]`, '(0029,0010) LO [PHIPRIVCREATOR]', `(0029,1001) LO [${marker}PRIV${depth}]`);
  if (depth > 1) lines.push(...nested(0x00081032, depth - 1, marker));
  lines.push('(fffe,e00d) na (ItemDelimitationItem)', '(fffe,e0dd) na (SequenceDelimitationItem)');
  return lines;
}

function buildEveryAttributeFile(name: string): { file: string; planted: number } {
  const skip = new Set([0x00080005, 0x00080016, 0x00080018, 0x00080060, 0x00100010, 0x00100020, 0x0020000d, 0x0020000e, 0x00280008]);
  const lines: string[] = [];
  let n = 0;
  for (const line of readFileSync(dictionaryFile(), 'latin1').split('\n')) {
    const m = /^\(([0-9A-F]{4}),([0-9A-F]{4})\)\t(\S+)\t/.exec(line);
    if (m === null) continue;
    const tag = parseInt(`${m[1]}${m[2]}`, 16) >>> 0;
    const group = tag >>> 16;
    const vr = m[3] as string;
    if (group <= 0x0002 || group >= 0xfffa || skip.has(tag) || (group & 0xff00) === 0x6000 || KEEP.has(tag)) continue;
    if (vr === 'SQ') lines.push(...nested(tag, 1, `PHI${hex(tag).toUpperCase()}`));
    else if (TEXT_VRS.has(vr)) {
      const value = markedValue(tag, vr, n);
      if (value === undefined) continue;
      lines.push(`${dumpTag(tag)} ${vr} ${value}`);
    } else continue;
    n++;
  }
  // private blocks at the top level, one holding a sequence
  lines.push('(0009,0010) LO [PHIPRIVATECREATOR]', '(0009,1001) LO [PHIPRIVATEVALUE]', '(0011,0010) LO [PHIOTHERCREATOR]');
  lines.push(...nested(0x00111001, 3, 'PHIPRIVSQ'));
  // a kept sequence with identifying content nested three deep inside it
  lines.push('(0028,3010) SQ (Sequence with undefined length #=1)', '(fffe,e000) na (Item with undefined length #=1)');
  lines.push('(0028,3002) US 4\\0\\16', '(0028,3003) LO [PHILUTEXPLANATION]', '(0028,3006) US 0\\100\\200\\4095', '(0010,0010) PN [PHIINNER^NAME]');
  lines.push('(0008,1155) UI [1.2.826.0.1.3680043.2.1143.66.6]', '(0009,0010) LO [PHIINNERPRIVATE]', '(0009,1002) LO [PHIINNERPRIVATEVALUE]');
  lines.push(...nested(0x00081032, 3, 'PHIINNERSQ'));
  lines.push('(fffe,e00d) na (ItemDelimitationItem)', '(fffe,e0dd) na (SequenceDelimitationItem)');
  const file = markedImage(name, 16, 12, 9, '1.2.826.0.1.3680043.2.1143.66', lines);
  return { file, planted: n };
}

interface DumpedElement {
  readonly tag: number;
  readonly vr: string;
  readonly value: string;
  readonly depth: number;
}

/** Every element at every depth, as dcmdump prints it. */
function allElements(file: string): DumpedElement[] {
  const out: DumpedElement[] = [];
  for (const line of tool('dcmdump', ['-q', '+L', file]).split('\n')) {
    const m = /^( *)\(([0-9a-f]{4}),([0-9a-f]{4})\) (\S\S) (.*?)\s+#/.exec(line);
    if (m !== null) out.push({ tag: parseInt(`${m[2]}${m[3]}`, 16) >>> 0, vr: m[4] as string, value: m[5] as string, depth: (m[1] as string).length / 2 });
  }
  return out;
}

/** Why an element of a de-identified file may not be there, or undefined when it may. */
function survivorProblem(el: DumpedElement, actions: Map<number, Set<string>>): string | undefined {
  if (el.tag >>> 16 === 0xfffe || el.tag >>> 16 === 0x0002) return undefined;
  if (el.value.includes('PHI')) return 'carries a PHI marker';
  if (KEEP.has(el.tag)) return undefined;
  const allowed = actions.get(el.tag);
  const uidsReplaced = el.vr === 'UI' && el.value.replace(/[[\]]/g, '').split('\\').every((u) => u === '' || u === '(no value available)' || u.startsWith('2.25.'));
  if (el.vr === 'UI' && uidsReplaced) return undefined; // U: keyed hashes (also rows of older editions)
  if (allowed === undefined) return 'not in the keep-list and not in Table E.1-1';
  if (allowed.size === 1 && allowed.has('X')) return 'Table E.1-1 says X (remove)';
  return undefined;
}

describe('every dictionary attribute, private blocks and nested sequences: only the keep-list survives', needs('dcmtk'), () => {
  const { file, planted } = buildEveryAttributeFile('every');
  const actions = referenceActions();
  const vrs = dictionary();

  it('the fixture carries thousands of dictionary attributes, private blocks and sequences three deep', () => {
    const before = allElements(file);
    assert.ok(planted > 3000, `${planted} attributes planted`);
    assert.ok(before.filter((e) => e.depth === 0).length > 3000, `${before.length} elements readable by dcmdump`);
    assert.ok(before.some((e) => e.depth >= 3 && e.value.includes('PHIINNERSQ')), 'nested three deep');
    assert.ok(before.some((e) => e.tag === 0x00091001 && e.value.includes('PHIPRIVATEVALUE')), 'private block present');
  });

  for (const [label, args] of [
    ['explicit VR little endian', null],
    ['implicit VR little endian (VRs from the dictionary)', ['+ti']],
    ['explicit VR big endian', ['+tb']],
  ] as const) {
    it(`${label}: no attribute outside the keep-list or Table E.1-1's D/Z/U rows survives, at any depth`, () => {
      const input = args === null ? file : convert(file, join(dir, `every-${args.join('')}.dcm`), 'dcmconv', args);
      const out = `${input}.deid.dcm`;
      writeFileSync(out, deidentifyDicom(readFileSync(input), input, { salt }));
      const after = allElements(out);
      const problems = after.map((el) => [el, survivorProblem(el, actions)] as const).filter(([, p]) => p !== undefined);
      assert.deepEqual(problems.map(([el, p]) => `${dumpTag(el.tag)} ${el.vr} ${el.value.slice(0, 40)}: ${p}`), []);
      assert.ok(!readFileSync(out).toString('latin1').includes('PHI'), 'no PHI marker anywhere in the bytes');
      // what survives carries its dictionary VR (implicit input: taken from the dictionary, not guessed)
      const wrongVr = after.filter((el) => el.tag >>> 16 !== 0xfffe && el.tag >>> 16 !== 0x0002 && vrs.get(el.tag) !== undefined && !(vrs.get(el.tag) as string).includes(el.vr) && !['ox', 'xs', 'lt', 'px'].includes(vrs.get(el.tag) as string));
      assert.deepEqual(wrongVr.map((el) => `${dumpTag(el.tag)} ${el.vr} (dictionary ${vrs.get(el.tag)})`), []);
      // the kept sequence survives with only its kept content
      const lut = after.filter((el) => el.depth === 2); // dcmdump indents items by 2 spaces and their elements by 4
      assert.deepEqual([...new Set(lut.map((el) => el.tag))].sort(), [0x00100010, 0x00081155, 0x00283002, 0x00283006].sort());
      // LUT Data is US or OW by the dictionary: implicit input comes out OW (dcmdump prints hex words), same values
      const lutData = after.find((el) => el.tag === 0x00283006);
      const words = (lutData?.value ?? '').split('\\').map((v) => (lutData?.vr === 'OW' ? parseInt(v, 16) : Number(v)));
      assert.deepEqual(words, [0, 100, 200, 4095]);
    });
  }
});
