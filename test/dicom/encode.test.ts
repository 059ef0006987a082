// The direct explicit VR little endian encoder against dcmjs's writer: the same bytes for every VR it takes, for
// the triage SR, and for random data sets; undefined (dcmjs writes) for what it leaves to dcmjs.
import assert from 'node:assert/strict';
import test from 'node:test';
import dcmjs, { type DenaturalizedDataset } from 'dcmjs';
import { encodeExplicitLittleEndian } from '../../src/dicom/encode.js';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, triageSrDataset, writeDicom, writeDicomDict, WRITE_TRANSFER_SYNTAXES, type NaturalDataset } from '../../src/dicom/index.js';
import { Rng } from '../../src/util/index.js';

const EXPLICIT = WRITE_TRANSFER_SYNTAXES.explicitVrLittleEndian;

/** dcmjs's own encoding of the data set (the reference). */
function dcmjsEncoding(dict: DenaturalizedDataset, allowInvalidVRLength = false): Buffer {
  const stream = new dcmjs.data.WriteBufferStream(4096, true);
  dcmjs.data.DicomMessage.write(dict, stream, EXPLICIT, { allowInvalidVRLength, fragmentMultiframe: false });
  return Buffer.from(stream.getBuffer());
}

const denaturalize = (d: NaturalDataset): DenaturalizedDataset => dcmjs.data.DicomMetaDictionary.denaturalizeDataset(d);

function assertSameAsDcmjs(dict: DenaturalizedDataset, what: string, allowInvalid = false): void {
  const direct = encodeExplicitLittleEndian(dict, allowInvalid);
  assert.ok(direct !== undefined, `${what}: left to dcmjs (${JSON.stringify(dict).slice(0, 2000)})`);
  assert.deepEqual(direct, dcmjsEncoding(dict, allowInvalid), what);
}

test('encodes every text, number and sequence VR as dcmjs does: padding, multiple values, empty values, UTF-8, 32-bit lengths', () => {
  const dict: DenaturalizedDataset = {
    '00080005': { vr: 'CS', Value: ['ISO_IR 192'] },
    '00080008': { vr: 'CS', Value: ['DERIVED', 'SECONDARY', 'ODD'] },
    '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.7'] },
    '00080018': { vr: 'UI', Value: ['1.2.3.45'] },
    '00080020': { vr: 'DA', Value: ['20260101'] },
    '00080030': { vr: 'TM', Value: ['101010.5'] },
    '0008002A': { vr: 'DT', Value: ['20260101101010'] },
    '00080050': { vr: 'SH', Value: ['A1'] },
    '00080054': { vr: 'AE', Value: ['HIPFRAC'] },
    '00080090': { vr: 'PN', Value: [] },
    '00081030': { vr: 'LO', Value: ['Hüfte links, a.p.'] },
    '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Müller^Anna', Ideographic: '', Phonetic: 'Mueller^Anna' }] },
    '00100020': { vr: 'LO', Value: ['P-1'] },
    '00101010': { vr: 'AS', Value: ['082Y'] },
    '00101020': { vr: 'DS', Value: ['1.62', 0.5, 1e-3, -12] },
    '00181030': { vr: 'LO', Value: ['a longer protocol name than sixty-four characters, which dcmjs only logs about'] },
    '00200011': { vr: 'IS', Value: [9901] },
    '00200013': { vr: 'IS', Value: ['7'] },
    '00204000': { vr: 'LT', Value: ['line one\r\nline two'] },
    '00280002': { vr: 'US', Value: [1] },
    '00280010': { vr: 'US', Value: [256, 65535] },
    '00281052': { vr: 'DS', Value: [''] },
    '00189219': { vr: 'SS', Value: [-3, 4] },
    '00189220': { vr: 'SL', Value: [-70000] },
    '00189221': { vr: 'UL', Value: [4294967295] },
    '00189222': { vr: 'FL', Value: [0.1, -2.5] },
    '00189223': { vr: 'FD', Value: [Math.PI] },
    '0040A160': { vr: 'UT', Value: ['x'.repeat(70_001)] },
    '0040A124': { vr: 'UI', Value: [] },
    '00081190': { vr: 'UR', Value: ['https://pacs.example/wado?x=1'] },
    '00080119': { vr: 'UC', Value: ['long code value'] },
    '00400275': { vr: 'SQ', Value: [] },
    '0040A730': { vr: 'SQ', Value: [
      { '0040A010': { vr: 'CS', Value: ['CONTAINS'] }, '0040A043': { vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: ['121071'] }, '00080104': { vr: 'LO', Value: ['Finding'] } }] } },
      {},
      { '0040A30A': { vr: 'DS', Value: ['0.8731'] }, '00700022': { vr: 'FL', Value: [1, 2, 3, 4] } },
    ] },
  };
  assertSameAsDcmjs(dict, 'every VR');
});

test('the triage SR encodes to the bytes dcmjs writes, and writeDicom gives the same file both ways', () => {
  const dataset = triageSrDataset({
    source: { PatientName: { Alphabetic: 'Phantom^One' }, PatientID: 'P1', StudyInstanceUID: '1.2.3.4', StudyDate: '20260101', StudyTime: '101010', AccessionNumber: 'A1', PatientSex: 'F', PatientBirthDate: '19400101' },
    sopInstanceUid: '2.25.1234',
    seriesInstanceUid: '2.25.5678',
    seriesNumber: 9901,
    instanceNumber: 3,
    finding: 'Needs radiologist review',
    decision: 'radiologist-review',
    reason: 'input gate: intensities unlike the training radiographs — ≥ 3 sd',
    operatingPoint: 'given-cutoff: confidence cut-off 99.50 %',
    model: { name: 'resnet18', version: '0.1.0', dataFingerprint: 'abc123' },
    images: [
      { sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', sopInstanceUid: '1.2.3.4.5.1', seriesInstanceUid: '1.2.3.4.5', fractureProbability: 0.8731, decision: 'radiologist-review', reason: 'confidence 87.31 %', boxes: [{ box: [12.5, 20, 64, 80.5], score: 0.9123 }] },
      { sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', sopInstanceUid: '1.2.3.4.5.2', seriesInstanceUid: '1.2.3.4.6', fractureProbability: null, decision: 'not-processed', reason: 'pixel data not decodable' },
    ],
    created: new Date('2026-01-02T03:04:05Z'),
  });
  const dict = denaturalize(dataset);
  assertSameAsDcmjs(dict, 'triage SR');
  // The whole file: the direct encoding behind hipfrac's meta group equals dcmjs's DicomDict output.
  const viaDcmjs = new dcmjs.data.DicomDict(denaturalize({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: dataset['SOPClassUID'],
    MediaStorageSOPInstanceUID: dataset['SOPInstanceUID'],
    TransferSyntaxUID: EXPLICIT,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
  }));
  viaDcmjs.dict = denaturalize(dataset);
  assert.deepEqual(writeDicom(dataset), Buffer.from(viaDcmjs.write({ allowInvalidVRLength: false, fragmentMultiframe: false })));
});

test('random data sets of text, numbers and nested sequences encode to the bytes dcmjs writes', () => {
  const rng = new Rng(7);
  const random = (): number => rng.next();
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const chars = 'ABCxyz019 ^.-_=éü漢\\';
  const word = (max: number): string => Array.from({ length: Math.floor(random() * max) }, () => pick([...chars])).join('');
  const ascii = (max: number): string => Array.from({ length: Math.floor(random() * max) }, () => pick([...'ABCXYZ0189 _'])).join('');
  const tags = Object.values(dcmjs.data.DicomMetaDictionary.nameMap).filter((e) => /^\([0-9A-F]{4},[0-9A-F]{4}\)$/.test(e.tag) && !e.tag.startsWith('(0002'));
  const byVr = (vr: string): string[] => tags.filter((e) => e.vr === vr).map((e) => e.tag.replace(/[(),]/g, ''));
  const values: Record<string, () => unknown> = {
    CS: () => ascii(16).toUpperCase(), SH: () => word(16), LO: () => word(64), ST: () => word(200), LT: () => word(300), UT: () => word(400), UC: () => word(50),
    PN: () => pick([word(20), { Alphabetic: word(20) }, { Alphabetic: word(10), Phonetic: word(10) }]),
    UI: () => `1.2.${Math.floor(random() * 1e9)}`, DA: () => '20261204', TM: () => pick(['1010', '101010.123']), DT: () => '20261204101010',
    AE: () => ascii(16), AS: () => '045Y', IS: () => pick([String(Math.floor(random() * 1000)), Math.floor(random() * 1e6) - 5e5]),
    DS: () => pick([(random() * 100).toFixed(3), Math.round(random() * 1e4) / 100]), UR: () => `http://x/${ascii(20)}`,
    US: () => Math.floor(random() * 65536), UL: () => Math.floor(random() * 2 ** 32), SS: () => Math.floor(random() * 65536) - 32768,
    SL: () => Math.floor(random() * 2 ** 32) - 2 ** 31, FL: () => Math.fround(random() * 10), FD: () => random() * 1e6,
  };
  const vrs = Object.keys(values);
  const dataset = (depth: number): DenaturalizedDataset => {
    const out: DenaturalizedDataset = {};
    for (let i = 0; i < 12; i++) {
      if (depth < 3 && random() < 0.15) {
        out[pick(byVr('SQ'))] = { vr: 'SQ', Value: Array.from({ length: Math.floor(random() * 3) }, () => dataset(depth + 1)) };
        continue;
      }
      const vr = pick(vrs);
      const candidates = byVr(vr);
      if (candidates.length === 0) continue;
      out[pick(candidates)] = { vr, Value: Array.from({ length: Math.floor(random() * 4) }, values[vr] as () => unknown) };
    }
    return out;
  };
  for (let i = 0; i < 200; i++) assertSameAsDcmjs(dataset(0), `random data set ${i}`);
});

test('what the encoder leaves to dcmjs: binary values, values dcmjs rejects or reformats, values over a 16-bit length', () => {
  const leaves = (dict: DenaturalizedDataset, allowInvalid = false): void => assert.equal(encodeExplicitLittleEndian(dict, allowInvalid), undefined, JSON.stringify(dict).slice(0, 120));
  leaves({ '7FE00010': { vr: 'OW', Value: [new ArrayBuffer(4)] } });
  leaves({ '00080060': { vr: 'CS', Value: ['A CODE STRING LONGER THAN 16'] } });
  leaves({ '00100010': { vr: 'PN', Value: [{ Alphabetic: 'x'.repeat(65) }] } });
  leaves({ '00101030': { vr: 'DS', Value: [Math.PI] } });
  leaves({ '00280010': { vr: 'US', Value: ['not a number'] } });
  leaves({ '00280010': { vr: 'US', Value: [70000] } });
  leaves({ '00080020': { vr: 'DA', Value: ['20260101-20260102'] } });
  leaves({ '00324000': { vr: 'LT', Value: ['x'.repeat(70_000)] } });
  leaves({ '00100010': { vr: 'PN' } });
  // A value dcmjs would refuse is written as it is when invalid lengths are allowed (de-identified copies).
  assertSameAsDcmjs({ '00080060': { vr: 'CS', Value: ['A CODE STRING LONGER THAN 16'] } }, 'long CS, invalid lengths allowed', true);
  // Numbers given as text are read as dcmjs reads them (parseInt, parseFloat).
  assertSameAsDcmjs({ '00280010': { vr: 'US', Value: ['256', '7.9'] }, '00700022': { vr: 'FL', Value: ['1.25', '-3'] } }, 'numbers as text');
  // writeDicomDict writes those through dcmjs, to a file all the same.
  const file = writeDicomDict({ '00080016': { vr: 'UI', Value: ['1.2.3'] }, '00080018': { vr: 'UI', Value: ['1.2.3.4'] }, '00101030': { vr: 'DS', Value: [Math.PI] } });
  assert.equal(file.subarray(128, 132).toString('latin1'), 'DICM');
});
