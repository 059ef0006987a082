// The grey pipeline against dcmtk's renderer (dcmj2pnm, 16-bit output): Modality LUT (rescale or LUT
// sequence), VOI window (several, LINEAR/SIGMOID), VOI LUT sequence, MONOCHROME1, signed data, padding.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readDicom, windowValue } from '../../src/dicom/index.js';
import { countDifferent, dcmtkRender16, makeDicom, maxAbsDiff, pattern, pixelBytes, tempDir, type FixtureSpec } from './fixtures.js';

const W = 64;
const H = 48;
const { dir, cleanup } = tempDir('voi');
process.on('exit', cleanup);

const u12 = pattern(W, H, 12, false, 7);
const s16 = pattern(W, H, 16, true, 9);
const base12: FixtureSpec = { width: W, height: H, bitsAllocated: 16, bitsStored: 12, signed: false, pixels: pixelBytes(u12, 16) };

function lutFile(name: string, entries: number, fn: (i: number) => number): string {
  const data = Buffer.alloc(entries * 2);
  for (let i = 0; i < entries; i++) data.writeUInt16LE(fn(i), 2 * i);
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

function lutSequence(tag: string, descriptor: string, dataFile: string): string[] {
  return [`(${tag}) SQ (Sequence with undefined length #=1)`, '(fffe,e000) na (Item with undefined length #=2)', `(0028,3002) US ${descriptor}`, `(0028,3006) OW =${dataFile}`, '(fffe,e00d) na (ItemDelimitationItem)', '(fffe,e0dd) na (SequenceDelimitationItem)'];
}

async function compare(name: string, spec: FixtureSpec, options: Parameters<typeof readDicom>[1], dcmtkOptions: readonly string[]): Promise<void> {
  const file = makeDicom(dir, name, spec);
  const ours = await readDicom(file, options);
  const reference = dcmtkRender16(file, dcmtkOptions);
  assert.equal(reference.width, ours.width);
  assert.equal(reference.height, ours.height);
  const different = countDifferent(ours.display, reference.data);
  assert.equal(different, 0, `${different} of ${W * H} pixels differ from dcmtk (max diff ${maxAbsDiff(ours.display, reference.data)})`);
}

describe('VOI and Modality LUT equal dcmtk exactly', () => {
  it('first of two windows (LINEAR) = dcmj2pnm +Wi 1', () =>
    compare('win1', { ...base12, extra: ['(0028,1050) DS [1500\\2500]', '(0028,1051) DS [1000\\3001]'] }, { voi: 'window', voiIndex: 0 }, ['+Wi', '1']));

  it('second of two windows = dcmj2pnm +Wi 2', () =>
    compare('win2', { ...base12, extra: ['(0028,1050) DS [1500\\2500]', '(0028,1051) DS [1000\\3001]'] }, { voi: 'window', voiIndex: 1 }, ['+Wi', '2']));

  it('rescale slope/intercept then window = dcmj2pnm +Wi 1', () =>
    compare('rescale', { ...base12, extra: ['(0028,1050) DS [1500]', '(0028,1051) DS [5000]', '(0028,1052) DS [-1024]', '(0028,1053) DS [2]'] }, { voi: 'window' }, ['+Wi', '1']));

  it('fractional rescale slope: within half a modality unit of dcmtk (dcmtk rounds modality values)', async () => {
    const file = makeDicom(dir, 'rescale-half', { ...base12, extra: ['(0028,1050) DS [-300]', '(0028,1051) DS [1200]', '(0028,1052) DS [-1024]', '(0028,1053) DS [0.5]'] });
    const ours = await readDicom(file, { voi: 'window' });
    const reference = dcmtkRender16(file, ['+Wi', '1']);
    // half a modality unit through a 1200-wide window is 65535 × 0.5 / 1199 ≈ 27.3 output levels
    assert.ok(maxAbsDiff(ours.display, reference.data) <= 28, `max diff ${maxAbsDiff(ours.display, reference.data)}`);
  });

  it('SIGMOID VOI LUT function = dcmj2pnm +Wi 1 +Wfs', () =>
    compare('sigmoid', { ...base12, extra: ['(0028,1050) DS [2000]', '(0028,1051) DS [1500]', '(0028,1056) CS [SIGMOID]'] }, { voi: 'window' }, ['+Wi', '1', '+Wfs']));

  it('MONOCHROME1 is inverted after the window = dcmj2pnm +Wi 1', () =>
    compare('mono1', { ...base12, photometric: 'MONOCHROME1', extra: ['(0028,1050) DS [2048]', '(0028,1051) DS [4096]'] }, { voi: 'window' }, ['+Wi', '1']));

  it('signed 16-bit with a window = dcmj2pnm +Wi 1', () =>
    compare('signed', { width: W, height: H, bitsAllocated: 16, bitsStored: 16, signed: true, pixels: pixelBytes(s16, 16), extra: ['(0028,1050) DS [-2000]', '(0028,1051) DS [30000]'] }, { voi: 'window' }, ['+Wi', '1']));

  it('VOI LUT sequence = dcmj2pnm +Wl 1', () => {
    const lut = lutFile('voi.lut', 4096, (i) => Math.round(65535 * Math.sqrt(i / 4095)));
    return compare('voilut', { ...base12, extra: lutSequence('0028,3010', '4096\\0\\16', lut) }, { voi: 'voi-lut' }, ['+Wl', '1']);
  });

  it('Modality LUT sequence then an explicit window = dcmj2pnm +Ww', () => {
    const lut = lutFile('mod.lut', 4096, (i) => 4095 - i);
    return compare('modlut', { ...base12, extra: lutSequence('0028,3000', '4096\\0\\12', lut) }, { voi: { center: 1000, width: 2000 } }, ['+Ww', '1000', '2000']);
  });
});

describe('window functions follow PS3.3 C.11.2.1.2', () => {
  it('LINEAR: c=2048, w=4096 maps the ends to 0 and 65535, the centre to the middle', () => {
    assert.equal(windowValue(0, 2048, 4096, 'LINEAR'), 0);
    assert.equal(windowValue(4095, 2048, 4096, 'LINEAR'), 65535);
    assert.equal(windowValue(2047.5, 2048, 4096, 'LINEAR'), Math.floor(0.5 * 65535));
  });
  it('LINEAR_EXACT: x ≤ c − w/2 is 0, x > c + w/2 is 65535, linear in between', () => {
    assert.equal(windowValue(50, 100, 100, 'LINEAR_EXACT'), 0);
    assert.equal(windowValue(150.0001, 100, 100, 'LINEAR_EXACT'), 65535);
    assert.equal(windowValue(100, 100, 100, 'LINEAR_EXACT'), Math.floor(0.5 * 65535));
    assert.equal(windowValue(75, 100, 100, 'LINEAR_EXACT'), Math.floor(0.25 * 65535));
  });
  it('SIGMOID: the centre maps to half range', () => {
    assert.equal(windowValue(40, 40, 400, 'SIGMOID'), Math.floor(65535 / 2));
  });
});

describe('robustness of the pipeline', () => {
  it('a header window that saturates the image falls back to a percentile window and says so', async () => {
    const file = makeDicom(dir, 'badwindow', { ...base12, extra: ['(0028,1050) DS [60000]', '(0028,1051) DS [10]'] });
    const image = await readDicom(file);
    assert.equal(image.voi.source, 'percentile');
    assert.equal(image.voi.fallbackFrom?.center, 60000);
    assert.ok(image.issues.some((i) => i.code === 'HF_DICOM_W_VOI_FALLBACK'));
    const distinct = new Set(image.display).size;
    assert.ok(distinct > 100, `fallback render has ${distinct} grey levels`);
  });

  it('a fitting header window is kept (no fallback)', async () => {
    const file = makeDicom(dir, 'goodwindow', { ...base12, extra: ['(0028,1050) DS [2048]', '(0028,1051) DS [4096]'] });
    const image = await readDicom(file);
    assert.equal(image.voi.source, 'window');
    assert.ok(!image.issues.some((i) => i.code === 'HF_DICOM_W_VOI_FALLBACK'));
  });

  it('pixel padding is excluded and rendered black', async () => {
    const values = Int32Array.from(u12);
    for (let i = 0; i < W * 4; i++) values[i] = 4095; // the top rows are padding
    const file = makeDicom(dir, 'padding', { ...base12, pixels: pixelBytes(values, 16), extra: ['(0028,0120) US 4095'] });
    const image = await readDicom(file, { voi: 'minmax' });
    for (let i = 0; i < W * 4; i++) assert.equal(image.display[i], 0);
    assert.ok(Math.max(...image.display.subarray(W * 4)) === 65535, 'the window spans the unpadded pixels only');
  });

  it('multi-frame: the first frame is used and recorded', async () => {
    const second = pattern(W, H, 12, false, 99);
    const both = Buffer.concat([pixelBytes(u12, 16), pixelBytes(second, 16)]);
    const file = makeDicom(dir, 'multiframe', { ...base12, frames: 2, pixels: both });
    const image = await readDicom(file, { keepIntermediate: true, voi: 'none' });
    assert.deepEqual(Array.from(image.stored ?? []), Array.from(u12));
    assert.ok(image.issues.some((i) => i.code === 'HF_DICOM_W_FIRST_FRAME_ONLY'));
  });

  it('RGB becomes grey (BT.601 luma) and is recorded', async () => {
    const rgb = Buffer.alloc(W * H * 3);
    for (let i = 0; i < W * H; i++) rgb.set([200, 100, 50], 3 * i);
    const file = makeDicom(dir, 'rgb', { width: W, height: H, bitsAllocated: 8, bitsStored: 8, signed: false, samplesPerPixel: 3, photometric: 'RGB', pixels: rgb });
    const image = await readDicom(file, { keepIntermediate: true });
    assert.equal(image.stored?.[0], Math.round(0.299 * 200 + 0.587 * 100 + 0.114 * 50));
    assert.ok(image.issues.some((i) => i.code === 'HF_DICOM_W_COLOUR_TO_GREY'));
  });
});
