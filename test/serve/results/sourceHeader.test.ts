// The SR thread's header read: only the bytes before the pixels when the header ends within the first 64 KiB, the
// whole file otherwise; either way the attributes a result copies are those of the whole file. What the SR copies is
// read without dcmjs when its values are plain ASCII, with the same SR bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bytesBeforePixelData, buildTriageSr, plainPatientStudyAttributes, writeDicom, WRITE_TRANSFER_SYNTAXES, type NaturalDataset } from '../../../src/dicom/index.js';
import { HEADER_READ_BYTES, readSourceHeader, readSrSource, resultContext, sourceHeader } from '../../../src/serve/results/sourceHeader.js';
import { greyImage12 } from '../../helpers/greyImage.js';

const SIZE = 256;
/** A 256 × 256 16-bit radiograph: 128 KiB of pixels, so the header read stops well before the end of the file. */
const SOURCE: NaturalDataset = {
  SOPClassUID: '1.2.840.10008.5.1.4.1.1.1.1',
  SOPInstanceUID: '1.2.3.4.5.1',
  StudyInstanceUID: '1.2.3.4',
  SeriesInstanceUID: '1.2.3.4.5',
  PatientName: 'Müller^Jürgen',
  PatientID: 'P1',
  PatientBirthDate: '19400101',
  PatientSex: 'M',
  ReferringPhysicianName: 'Doe^Jane',
  StudyID: 'S1',
  AccessionNumber: 'A1',
  StudyDate: '20260101',
  StudyTime: '101010',
  Modality: 'DX',
  ...greyImage12(SIZE, SIZE, new Uint16Array(SIZE * SIZE).map((_, i) => i % 4096)),
};

/** The whole natural data set without its pixels, through JSON (dcmjs's person names carry accessor functions). */
function withoutPixels(header: NaturalDataset): unknown {
  const { PixelData: _pixels, ...rest } = header;
  return JSON.parse(JSON.stringify(rest));
}

const PIXEL_DATA_TAG_LE = [0xe0, 0x7f, 0x10, 0x00];

test('bytesBeforePixelData: where the Pixel Data element starts, from the head of the file alone', () => {
  for (const [name, transferSyntaxUid] of [['explicit VR', WRITE_TRANSFER_SYNTAXES.explicitVrLittleEndian], ['implicit VR', WRITE_TRANSFER_SYNTAXES.implicitVrLittleEndian]] as const) {
    const bytes = writeDicom(SOURCE, { transferSyntaxUid });
    assert.ok(bytes.length > HEADER_READ_BYTES, 'the test file is longer than the head read');
    const end = bytesBeforePixelData(bytes.subarray(0, HEADER_READ_BYTES));
    assert.ok(end !== undefined && end > 132, name);
    assert.deepEqual([...bytes.subarray(end, end + 4)], PIXEL_DATA_TAG_LE, `${name}: the Pixel Data tag starts there`);
    assert.equal(bytesBeforePixelData(bytes), end, `${name}: the same from the whole file`);
    assert.equal(bytesBeforePixelData(bytes.subarray(0, end)), undefined, `${name}: a head that stops before the tag does not reach it`);
    assert.equal(bytesBeforePixelData(bytes.subarray(0, end + 6)), undefined, `${name}: a head cut inside the element's header`);
  }
  const explicit = writeDicom(SOURCE);
  assert.equal(bytesBeforePixelData(explicit.subarray(128)), undefined, 'no preamble: read the whole file');
  assert.equal(bytesBeforePixelData(writeDicom(SOURCE, { transferSyntaxUid: WRITE_TRANSFER_SYNTAXES.deflatedExplicitVrLittleEndian })), undefined, 'deflated: offsets are not the file\'s');
  assert.equal(bytesBeforePixelData(Buffer.from('not DICOM at all')), undefined);
});

test('readSourceHeader gives the whole file\'s header: head only, or the whole file when the header is long, has no pixels or is deflated', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-sourceheader-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sr = buildTriageSr({
    sopInstanceUid: '2.25.1234', seriesInstanceUid: '2.25.5678', seriesNumber: 9901, instanceNumber: 1, finding: 'No fracture', decision: 'auto-report',
    reason: 'the most suspicious image decides', operatingPoint: 'given-cutoff', model: { name: 'resnet18', version: '0.1.0', dataFingerprint: 'abc' },
    images: [], created: new Date('2026-01-02T03:04:05Z'), source: sourceHeader(writeDicom(SOURCE)),
  });
  const cases: [string, Uint8Array][] = [
    ['explicit VR', writeDicom(SOURCE)],
    ['implicit VR', writeDicom(SOURCE, { transferSyntaxUid: WRITE_TRANSFER_SYNTAXES.implicitVrLittleEndian })],
    ['deflated', writeDicom(SOURCE, { transferSyntaxUid: WRITE_TRANSFER_SYNTAXES.deflatedExplicitVrLittleEndian })],
    ['a header longer than the head read', writeDicom({ ...SOURCE, TextValue: 'x'.repeat(HEADER_READ_BYTES + 1000) })],
    ['an SR (no pixels)', sr],
  ];
  for (const [name, bytes] of cases) {
    const file = path.join(dir, `${name.replace(/\W+/g, '-')}.dcm`);
    writeFileSync(file, bytes);
    const whole = sourceHeader(readFileSync(file));
    const read = readSourceHeader(file);
    assert.deepEqual(withoutPixels(read), withoutPixels(whole), name);
    assert.deepEqual(resultContext(read), resultContext(whole), name);
    assert.equal(String(resultContext(read)['PatientID']), 'P1', name);
  }
  const header = resultContext(readSourceHeader(path.join(dir, 'explicit-VR.dcm')));
  assert.equal(JSON.stringify(header['PatientName']), JSON.stringify([{ Alphabetic: 'Müller^Jürgen' }]), 'a name that is not ASCII reads back as written');
  assert.throws(() => readSourceHeader(path.join(dir, 'gone.dcm')), /ENOENT/);
});

test('readSrSource: plain ASCII headers are read without dcmjs, others through it, and every SR has the bytes of the SR from dcmjs\'s reading', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-srsource-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const plain: NaturalDataset = { ...SOURCE, PatientName: 'DOE^JOHN' };
  const { ReferringPhysicianName: _referrer, StudyTime: _time, AccessionNumber: _accession, ...missing } = plain;
  // [case, source, transfer syntax, read without dcmjs]
  const cases: [string, NaturalDataset, string, boolean][] = [
    ['plain ASCII', plain, WRITE_TRANSFER_SYNTAXES.explicitVrLittleEndian, true],
    ['plain ASCII, implicit VR', plain, WRITE_TRANSFER_SYNTAXES.implicitVrLittleEndian, true],
    ['odd lengths (padded)', { ...plain, PatientID: 'P12', StudyID: 'S', AccessionNumber: 'ACC' }, WRITE_TRANSFER_SYNTAXES.explicitVrLittleEndian, true],
    ['empty values', { ...plain, ReferringPhysicianName: '', AccessionNumber: '', PatientSex: '' }, WRITE_TRANSFER_SYNTAXES.explicitVrLittleEndian, true],
    ['missing attributes', missing, WRITE_TRANSFER_SYNTAXES.explicitVrLittleEndian, true],
    ['another character set, ASCII values', { ...plain, SpecificCharacterSet: 'ISO_IR 100' }, WRITE_TRANSFER_SYNTAXES.explicitVrLittleEndian, true],
    ['a name that is not ASCII', SOURCE, WRITE_TRANSFER_SYNTAXES.explicitVrLittleEndian, false],
    ['Latin-1 under ISO_IR 100', { ...SOURCE, SpecificCharacterSet: 'ISO_IR 100' }, WRITE_TRANSFER_SYNTAXES.explicitVrLittleEndian, false],
    ['a name with component groups', { ...plain, PatientName: 'YAMADA^TARO=TARO^YAMADA' }, WRITE_TRANSFER_SYNTAXES.explicitVrLittleEndian, false],
    ['two values', { ...plain, ReferringPhysicianName: ['DOE^JANE', 'ROE^RICHARD'] }, WRITE_TRANSFER_SYNTAXES.explicitVrLittleEndian, false],
    ['deflated', plain, WRITE_TRANSFER_SYNTAXES.deflatedExplicitVrLittleEndian, true],
  ];
  const input = {
    sopInstanceUid: '2.25.1234', seriesInstanceUid: '2.25.5678', seriesNumber: 9901, instanceNumber: 1, finding: 'No fracture', decision: 'auto-report',
    reason: 'the most suspicious image decides', operatingPoint: 'given-cutoff', model: { name: 'resnet18', version: '0.1.0', dataFingerprint: 'abc' },
    images: [], created: new Date('2026-01-02T03:04:05Z'),
  };
  for (const [name, source, transferSyntaxUid, direct] of cases) {
    const file = path.join(dir, `${name.replace(/\W+/g, '-')}.dcm`);
    const bytes = writeDicom(source, { transferSyntaxUid });
    writeFileSync(file, bytes);
    const head = bytes.subarray(0, bytesBeforePixelData(bytes) ?? bytes.length);
    assert.equal(plainPatientStudyAttributes(head, file) !== undefined, direct, `${name}: read ${direct ? 'without' : 'through'} dcmjs`);
    const expected = buildTriageSr({ ...input, source: sourceHeader(readFileSync(file)) });
    assert.ok(buildTriageSr({ ...input, source: readSrSource(file) }).equals(expected), `${name}: the same SR bytes`);
  }
  assert.equal(plainPatientStudyAttributes(Buffer.from('not DICOM at all'), 'x.dcm'), undefined, 'an unreadable header: dcmjs decides');
});
