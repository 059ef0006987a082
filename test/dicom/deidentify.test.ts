// De-identification proof: a file carrying every attribute of the PS3.15 Basic Profile table (VRs from
// dcmtk's data dictionary, values marked "PHI…") comes out with each attribute removed, emptied or replaced.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BASIC_PROFILE, deidentifyDicom, readDicom } from '../../src/dicom/index.js';
import { convert, dcmtkRender16, makeDicom, pattern, pixelBytes, tempDir, tool } from './fixtures.js';

const { dir, cleanup } = tempDir('deid');
process.on('exit', cleanup);
const salt = Buffer.from('0123456789abcdef0123456789abcdef-test-salt');

function dictionary(): Map<number, string> {
  const vrs = new Map<number, string>();
  const text = readFileSync('/usr/share/libdcmtk17/dicom.dic', 'latin1');
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
  const values = pattern(40, 30, 12, false, 5);
  const file = makeDicom(dir, name, {
    width: 40,
    height: 30,
    bitsAllocated: 16,
    bitsStored: 12,
    signed: false,
    pixels: pixelBytes(values, 16),
    sopInstanceUid: '1.2.826.0.1.3680043.2.1143.55.1',
    studyInstanceUid: '1.2.826.0.1.3680043.2.1143.55.2',
    patientId: 'PHIPATIENTID',
    patientName: 'PHIDOE^PHIJOHN',
    extra: lines,
  });
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

describe('PS3.15 Basic Application Level Confidentiality Profile', () => {
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
