// Damaged and unusual inputs get a coded error that names the file (and the tag where there is one):
// empty, non-DICOM, truncated, lying lengths, missing pixel data, short pixel data, non-image SOP classes.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DicomError, readDicom, tryReadDicom } from '../../src/dicom/index.js';
import { makeDicom, pattern, pixelBytes, tempDir, tool } from './fixtures.js';

const { dir, cleanup } = tempDir('damaged');
process.on('exit', cleanup);
const good = makeDicom(dir, 'good', { width: 32, height: 32, bitsAllocated: 16, bitsStored: 12, signed: false, pixels: pixelBytes(pattern(32, 32, 12, false), 16) });

async function expectCode(file: string, codes: readonly string[]): Promise<DicomError> {
  const result = await tryReadDicom(file);
  assert.equal(result.ok, false, `${file} should not decode`);
  if (result.ok) throw new Error('unreachable');
  assert.ok(codes.includes(result.error.code), `got ${result.error.code}: ${result.error.message}`);
  assert.ok(result.error.message.includes(file), 'the message names the file');
  assert.ok(result.error.fix !== undefined && result.error.fix.length > 10, 'the error says what to do');
  await assert.rejects(readDicom(file), (e: unknown) => e instanceof DicomError && e.code === result.error.code);
  return result.error;
}

describe('damaged input', () => {
  it('a zero-byte file → HF_DICOM_EMPTY_FILE', async () => {
    const file = join(dir, 'empty.dcm');
    writeFileSync(file, '');
    await expectCode(file, ['HF_DICOM_EMPTY_FILE']);
  });

  it('a text file → HF_DICOM_NOT_DICOM', async () => {
    const file = join(dir, 'notes.txt');
    writeFileSync(file, 'patient notes, not an image\n'.repeat(20));
    await expectCode(file, ['HF_DICOM_NOT_DICOM']);
  });

  it('a file cut in its pixel data → HF_DICOM_TRUNCATED', async () => {
    const bytes = readFileSync(good);
    const file = join(dir, 'truncated.dcm');
    writeFileSync(file, bytes.subarray(0, bytes.length - 700));
    await expectCode(file, ['HF_DICOM_TRUNCATED']);
  });

  it('a file cut inside its header → HF_DICOM_TRUNCATED or HF_DICOM_MALFORMED', async () => {
    const bytes = readFileSync(good);
    const file = join(dir, 'cut-header.dcm');
    writeFileSync(file, bytes.subarray(0, 300));
    await expectCode(file, ['HF_DICOM_TRUNCATED', 'HF_DICOM_MALFORMED']);
  });

  it('an element whose length lies (Patient Name claims 60000 bytes) → a coded parse error', async () => {
    const bytes = Buffer.from(readFileSync(good));
    const at = bytes.indexOf(Buffer.from([0x10, 0x00, 0x10, 0x00, 0x50, 0x4e])); // (0010,0010) PN
    assert.ok(at > 0);
    bytes.writeUInt16LE(60000, at + 6);
    const file = join(dir, 'lying-length.dcm');
    writeFileSync(file, bytes);
    await expectCode(file, ['HF_DICOM_TRUNCATED', 'HF_DICOM_MALFORMED', 'HF_DICOM_NO_PIXEL_DATA']);
  });

  it('no Pixel Data element → HF_DICOM_NO_PIXEL_DATA naming (7FE0,0010)', async () => {
    const file = makeDicom(dir, 'nopixels', { width: 32, height: 32, bitsAllocated: 16, bitsStored: 12, signed: false, pixels: null });
    const error = await expectCode(file, ['HF_DICOM_NO_PIXEL_DATA']);
    assert.equal(error.tag, '(7FE0,0010)');
  });

  it('Rows larger than the pixel data → HF_DICOM_PIXEL_DATA_SHORT', async () => {
    const file = join(dir, 'short.dcm');
    writeFileSync(file, readFileSync(good));
    tool('dcmodify', ['-nb', '-m', '(0028,0010)=64', file]);
    await expectCode(file, ['HF_DICOM_PIXEL_DATA_SHORT']);
  });

  it('a Structured Report → HF_DICOM_NOT_AN_IMAGE, a skip not a failure', async () => {
    const file = makeDicom(dir, 'report', { width: 1, height: 1, bitsAllocated: 8, bitsStored: 8, signed: false, sopClassUid: '1.2.840.10008.5.1.4.1.1.88.22', pixels: null });
    const error = await expectCode(file, ['HF_DICOM_NOT_AN_IMAGE']);
    assert.equal(error.isSkip, true);
  });

  it('an unreadable path → HF_DICOM_READ_FAILED', async () => {
    await expectCode(join(dir, 'does-not-exist.dcm'), ['HF_DICOM_READ_FAILED']);
  });
});
