// Decoding proof: fixtures in every transfer syntax are made by dcmtk and GDCM at test time, and hipfrac's
// stored values must equal the source and GDCM's decode exactly for lossless syntaxes (closely for lossy).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readDicom, type DicomImage } from '../../src/dicom/index.js';
import { convert, gdcmStoredValues, makeDicom, makeHtj2k, maxAbsDiff, pattern, pixelBytes, tempDir } from './fixtures.js';

const W = 97; // odd sizes exercise partial JPEG blocks and MCUs
const H = 83;

interface Source {
  readonly name: string;
  readonly bitsAllocated: number;
  readonly bitsStored: number;
  readonly signed: boolean;
  readonly values: Int32Array;
  readonly file: string;
}

const { dir, cleanup } = tempDir('decode');
const sources: Source[] = [];

// Sources are made synchronously at load time so every suite below can use them.
{
  for (const [name, bitsAllocated, bitsStored, signed] of [
    ['u12', 16, 12, false],
    ['s16', 16, 16, true],
    ['u8', 8, 8, false],
  ] as const) {
    const values = pattern(W, H, bitsStored, signed, bitsStored);
    const file = makeDicom(dir, name, { width: W, height: H, bitsAllocated, bitsStored, signed, pixels: pixelBytes(values, bitsAllocated) });
    sources.push({ name, bitsAllocated, bitsStored, signed, values, file });
  }
}
// Removed at process exit: a root-level after() hook can run before describe() suites finish.
process.on('exit', cleanup);

function source(name: string): Source {
  const s = sources.find((x) => x.name === name);
  if (s === undefined) throw new Error(`no source ${name}`);
  return s;
}

async function stored(file: string): Promise<DicomImage & { stored: Int32Array }> {
  const image = await readDicom(file, { keepIntermediate: true, voi: 'none' });
  assert.ok(image.stored !== undefined);
  return image as DicomImage & { stored: Int32Array };
}

const lossless: readonly { syntax: string; uid: string; command: string; args: readonly string[]; sources: readonly string[] }[] = [
  { syntax: 'explicit VR little endian', uid: '1.2.840.10008.1.2.1', command: 'dcmconv', args: ['+te'], sources: ['u12', 's16', 'u8'] },
  { syntax: 'implicit VR little endian', uid: '1.2.840.10008.1.2', command: 'dcmconv', args: ['+ti'], sources: ['u12', 's16', 'u8'] },
  { syntax: 'explicit VR big endian', uid: '1.2.840.10008.1.2.2', command: 'dcmconv', args: ['+tb'], sources: ['u12', 's16', 'u8'] },
  { syntax: 'deflated explicit VR little endian', uid: '1.2.840.10008.1.2.1.99', command: 'dcmconv', args: ['+td'], sources: ['u12', 's16'] },
  { syntax: 'RLE lossless', uid: '1.2.840.10008.1.2.5', command: 'dcmcrle', args: [], sources: ['u12', 's16', 'u8'] },
  { syntax: 'JPEG lossless SV1 (process 14)', uid: '1.2.840.10008.1.2.4.70', command: 'dcmcjpeg', args: ['+e1'], sources: ['u12', 's16', 'u8'] },
  { syntax: 'JPEG lossless process 14 (SV6)', uid: '1.2.840.10008.1.2.4.57', command: 'dcmcjpeg', args: ['+el', '+sv', '6'], sources: ['u12'] },
  { syntax: 'JPEG-LS lossless', uid: '1.2.840.10008.1.2.4.80', command: 'dcmcjpls', args: ['+el'], sources: ['u12', 's16', 'u8'] },
  { syntax: 'JPEG 2000 lossless', uid: '1.2.840.10008.1.2.4.90', command: 'gdcmconv', args: ['--j2k'], sources: ['u12', 's16', 'u8'] },
];

describe('lossless transfer syntaxes decode to the exact stored values', () => {
  for (const t of lossless) {
    for (const name of t.sources) {
      it(`${t.syntax}, ${name}: equals the source and GDCM's decode`, async () => {
        const s = source(name);
        const file = convert(s.file, join(dir, `${name}-${t.uid}.dcm`), t.command, t.args);
        const image = await stored(file);
        assert.equal(image.header.transferSyntaxUid, t.uid, 'the tool wrote the intended transfer syntax');
        assert.equal(image.width, W);
        assert.equal(image.height, H);
        assert.deepEqual(Array.from(image.stored), Array.from(s.values), 'stored values equal the source pixels');
        const reference = gdcmStoredValues(file, dir, s.bitsAllocated, s.bitsStored, s.signed, W * H);
        assert.deepEqual(Array.from(image.stored), Array.from(reference), "stored values equal GDCM's decode");
      });
    }
  }
});

describe('lossy transfer syntaxes decode like the reference decoder', () => {
  it('JPEG baseline 8-bit (dcmcjpeg +eb): libjpeg-turbo equals GDCM (IJG) within 1', async () => {
    const s = source('u8');
    const file = convert(s.file, join(dir, 'u8-baseline.dcm'), 'dcmcjpeg', ['+eb', '+q', '85']);
    const image = await stored(file);
    assert.equal(image.header.transferSyntaxUid, '1.2.840.10008.1.2.4.50');
    const reference = gdcmStoredValues(file, dir, 8, 8, false, W * H);
    assert.ok(maxAbsDiff(image.stored, reference) <= 1, `max diff ${maxAbsDiff(image.stored, reference)}`);
    assert.ok(maxAbsDiff(image.stored, s.values) <= 40, 'close to the source');
  });

  it('JPEG extended 12-bit (dcmcjpeg +ee): our sequential decoder equals GDCM (IJG 12-bit) within 2', async () => {
    const s = source('u12');
    const file = convert(s.file, join(dir, 'u12-extended.dcm'), 'dcmcjpeg', ['+ee', '+q', '90']);
    const image = await stored(file);
    assert.equal(image.header.transferSyntaxUid, '1.2.840.10008.1.2.4.51');
    const reference = gdcmStoredValues(file, dir, 16, 12, false);
    const diff = maxAbsDiff(image.stored, reference);
    assert.ok(diff <= 2, `max diff to GDCM ${diff}`);
    assert.ok(maxAbsDiff(image.stored, s.values) <= 400, 'close to the source');
  });

  it('JPEG-LS near-lossless (NEAR=2): equals GDCM (CharLS) exactly and the source within 2', async () => {
    const s = source('u12');
    const file = convert(s.file, join(dir, 'u12-nearlossless.dcm'), 'dcmcjpls', ['+en', '+md', '2']);
    const image = await stored(file);
    assert.equal(image.header.transferSyntaxUid, '1.2.840.10008.1.2.4.81');
    assert.deepEqual(Array.from(image.stored), Array.from(gdcmStoredValues(file, dir, 16, 12, false)));
    assert.ok(maxAbsDiff(image.stored, s.values) <= 2);
  });

  it('JPEG 2000 lossy (gdcmconv --lossy -r 5): equals GDCM (OpenJPEG) within 1', async () => {
    const s = source('u12');
    const file = convert(s.file, join(dir, 'u12-j2k-lossy.dcm'), 'gdcmconv', ['--j2k', '--lossy', '-r', '5']);
    const image = await stored(file);
    assert.equal(image.header.transferSyntaxUid, '1.2.840.10008.1.2.4.91');
    const reference = gdcmStoredValues(file, dir, 16, 16, false);
    assert.ok(maxAbsDiff(image.stored, reference) <= 1, `max diff ${maxAbsDiff(image.stored, reference)}`);
    assert.ok(maxAbsDiff(image.stored, s.values) <= 200, 'close to the source');
  });
});

describe('files without preamble or meta header', () => {
  for (const [label, args] of [
    ['explicit VR, no meta header', ['-F', '+te']],
    ['implicit VR, no meta header', ['-F', '+ti']],
  ] as const) {
    it(`reads a bare data set (${label})`, async () => {
      const s = source('u12');
      const file = convert(s.file, join(dir, `bare-${args[1]}.dcm`), 'dcmconv', args);
      const image = await stored(file);
      assert.deepEqual(Array.from(image.stored), Array.from(s.values));
      assert.ok(image.issues.some((i) => i.code === 'HF_DICOM_W_NO_PART10_HEADER'));
    });
  }
});

describe('High-Throughput JPEG 2000', () => {
  it('an HTJ2K lossless codestream made by OpenJPH decodes to the source pixels', async () => {
    const s = source('u12');
    const file = await makeHtj2k(dir, 'ht', W, H, 12, pixelBytes(s.values, 16));
    const image = await stored(file);
    assert.equal(image.header.transferSyntaxUid, '1.2.840.10008.1.2.4.201');
    assert.deepEqual(Array.from(image.stored), Array.from(s.values));
  });
});
