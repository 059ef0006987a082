// The SR writer's thread: the same SR bytes as building it in line, the source's header, a clear error for a source
// that cannot be read (and the thread still answers afterwards), and no request taken once closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildTriageSr, writeDicom } from '../../../src/dicom/index.js';
import { SrWriter } from '../../../src/serve/results/srWriter.js';
import { resultContext, sourceHeader } from '../../../src/serve/results/sourceHeader.js';
import { HipfracError } from '../../../src/util/index.js';
import { greyImage12 } from '../../helpers/greyImage.js';

const SOURCE = {
  SOPClassUID: '1.2.840.10008.5.1.4.1.1.1.1',
  SOPInstanceUID: '1.2.3.4.5.1',
  StudyInstanceUID: '1.2.3.4',
  SeriesInstanceUID: '1.2.3.4.5',
  PatientName: 'Phantom^One',
  PatientID: 'P1',
  AccessionNumber: 'A1',
  StudyDate: '20260101',
  StudyTime: '101010',
  Modality: 'DX',
  ...greyImage12(2, 2, new Uint16Array([0, 100, 200, 4095])),
};

const INPUT = {
  sopInstanceUid: '2.25.1234',
  seriesInstanceUid: '2.25.5678',
  seriesNumber: 9901,
  instanceNumber: 1,
  finding: 'Fracture suspected',
  decision: 'auto-report',
  reason: 'the most suspicious image decides',
  operatingPoint: 'given-cutoff: confidence cut-off 50.00 %',
  model: { name: 'resnet18', version: '0.1.0', dataFingerprint: 'abc123' },
  images: [{ sopClassUid: SOURCE.SOPClassUID, sopInstanceUid: SOURCE.SOPInstanceUID, seriesInstanceUid: SOURCE.SeriesInstanceUID, fractureProbability: 0.91, decision: 'auto-report', reason: 'confidence 91.00 % >= cut-off 50.00 %' }],
  created: new Date('2026-01-02T03:04:05Z'),
};

test('the SR writer thread writes the SR buildTriageSr writes, reads headers, reports an unreadable source and keeps working', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-srwriter-'));
  const writer = new SrWriter();
  t.after(async () => {
    await writer.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const file = path.join(dir, 'source.dcm');
  writeFileSync(file, writeDicom(SOURCE));
  const expected = buildTriageSr({ ...INPUT, source: sourceHeader(readFileSync(file)) });
  const sr = await writer.sr(file, INPUT);
  assert.ok(Buffer.isBuffer(sr));
  assert.ok(sr.equals(expected), 'byte for byte what building it in line gives');
  const header = await writer.header(file);
  assert.deepEqual(header, resultContext(sourceHeader(readFileSync(file))));
  assert.equal(header['PatientID'], 'P1');
  assert.equal(header['SOPInstanceUID'], SOURCE.SOPInstanceUID);
  assert.equal(header['PixelData'], undefined);
  // Written again (as a Secondary Capture copies it), the person name reads back as it was.
  assert.equal(String(sourceHeader(writeDicom({ ...header, Modality: 'OT' }))['PatientName']), 'Phantom^One');

  const missing = path.join(dir, 'gone.dcm');
  await assert.rejects(writer.sr(missing, INPUT), (e: unknown) => e instanceof HipfracError && e.code === 'HF_SERVE_RESULT' && e.message.includes('ENOENT') && (e as HipfracError & { input?: string }).input === missing);
  assert.ok((await writer.sr(file, INPUT)).equals(expected), 'the thread answers after a failed request');

  await writer.close();
  await assert.rejects(writer.header(file), (e: unknown) => e instanceof HipfracError && e.code === 'HF_SERVE_RESULT' && /closing/.test(e.message));
});
