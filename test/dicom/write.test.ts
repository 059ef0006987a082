// The one DICOM writer: what it writes reads back through hipfrac's own reader and passes dcmtk's dcmdump.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { readDicomBytes, writeDicom, DicomError } from '../../src/dicom/index.js';
import { greyImage12 } from '../helpers/greyImage.js';

test('writeDicom: a 16-bit image reads back with its pixels and attributes, and dcmdump parses it', async () => {
  const pixels = new Uint16Array([0, 1000, 2000, 4095, 17, 33]);
  const bytes = writeDicom({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.1.1',
    SOPInstanceUID: '2.25.1234',
    Modality: 'DX',
    PatientID: 'P1',
    ...greyImage12(3, 2, pixels),
  });
  const image = await readDicomBytes(bytes, 'written.dcm', { keepIntermediate: true });
  assert.equal(image.width, 3);
  assert.equal(image.height, 2);
  assert.deepEqual(Array.from(image.stored ?? []), Array.from(pixels));
  assert.equal(image.header.patientId, 'P1');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-write-'));
  try {
    const file = path.join(dir, 'x.dcm');
    writeFileSync(file, bytes);
    const dump = spawnSync('dcmdump', [file], { encoding: 'utf8' });
    assert.equal(dump.status, 0, dump.stderr);
    assert.match(dump.stdout, /\(0002,0010\) UI =LittleEndianExplicit/);
    assert.match(dump.stdout, /\(0010,0020\) LO \[P1\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeDicom refuses a dataset without SOP Class or Instance UID, with a coded error', () => {
  assert.throws(() => writeDicom({ Modality: 'DX' }), (e: unknown) => e instanceof DicomError && e.code === 'HF_DICOM_WRITE');
});
