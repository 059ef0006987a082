// The triage SR: dcmtk's dsrdump renders its finding, probabilities and fracture boxes (SCOORD); dciodvfy finds no errors in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildTriageSr } from '../../src/dicom/index.js';
import { needs } from '../helpers/references.js';
import { dciodvfyErrors } from './fixtures.js';

test('a triage SR parses in dsrdump with finding and P(fracture), and passes dciodvfy', needs('dcmtk', 'dicom3tools'), (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-sr-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bytes = buildTriageSr({
    source: { PatientName: 'Phantom^One', PatientID: 'P1', StudyInstanceUID: '1.2.3.4', StudyDate: '20260101', StudyTime: '101010', AccessionNumber: 'A1', PatientSex: 'F', PatientBirthDate: '19400101' },
    sopInstanceUid: '2.25.1234',
    seriesInstanceUid: '2.25.5678',
    seriesNumber: 9901,
    instanceNumber: 1,
    finding: 'Needs radiologist review',
    decision: 'radiologist-review',
    reason: 'the most suspicious image was below the cut-off',
    operatingPoint: 'given-cutoff: confidence cut-off 99.50 %',
    model: { name: 'resnet18', version: '0.1.0', dataFingerprint: 'abc123' },
    images: [
      { sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', sopInstanceUid: '1.2.3.4.5.1', seriesInstanceUid: '1.2.3.4.5', fractureProbability: 0.8731, decision: 'radiologist-review', reason: 'confidence 87.31 % < cut-off 99.50 %', boxes: [{ box: [12.5, 20, 64, 80.5], score: 0.9123 }, { box: [100, 8, 120, 30], score: 0.61 }] },
      { sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', sopInstanceUid: '1.2.3.4.5.2', seriesInstanceUid: '1.2.3.4.5', fractureProbability: null, decision: 'not-processed', reason: 'pixel data not decodable' },
    ],
    created: new Date('2026-01-02T03:04:05Z'),
  });
  const file = path.join(dir, 'sr.dcm');
  writeFileSync(file, bytes);
  const dump = spawnSync('dsrdump', ['+Pl', file], { encoding: 'utf8' });
  assert.equal(dump.status, 0, dump.stderr);
  assert.match(dump.stdout, /Comprehensive SR/);
  assert.match(dump.stdout, /Finding.*="Needs radiologist review"/);
  assert.match(dump.stdout, /Probability of fracture.*="0\.8731"/);
  assert.match(dump.stdout, /not a diagnosis/);
  assert.match(dump.stdout, /inferred from IMAGE/);
  // Each fracture box: its score, inferred from a closed POLYLINE region selected from the image.
  assert.match(dump.stdout, /Fracture region score.*="0\.9123"/);
  assert.match(dump.stdout, /Fracture region score.*="0\.6100"/);
  assert.match(dump.stdout, /inferred from SCOORD:\(.*Fracture region.*\)=\(POLYLINE,12\.5\/20,64\/20,64\/80\.5,12\.5\/80\.5,12\.5\/20\)/);
  assert.equal((dump.stdout.match(/selected from IMAGE/g) ?? []).length, 2);
  assert.deepEqual(dciodvfyErrors(file), []);
});

test('a patient name that is not ASCII reaches the SR as UTF-8 under Specific Character Set ISO_IR 192; an ASCII one declares none', needs('dcmtk'), (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-sr-charset-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sr = (patientName: unknown): Buffer => buildTriageSr({
    source: { PatientName: patientName, PatientID: 'P1', StudyInstanceUID: '1.2.3.4' },
    sopInstanceUid: '2.25.1', seriesInstanceUid: '2.25.2', seriesNumber: 9901, instanceNumber: 1,
    finding: 'No fracture', decision: 'no-fracture', reason: 'all images auto-reported intact', operatingPoint: 'given-cutoff',
    model: { name: 'resnet18', version: '0.1.0', dataFingerprint: 'abc' },
    images: [{ sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', sopInstanceUid: '1.2.3.4.5.1', seriesInstanceUid: '1.2.3.4.5', fractureProbability: 0.1, decision: 'auto-report', reason: 'confident' }],
    created: new Date('2026-01-02T03:04:05Z'),
  });
  const file = path.join(dir, 'sr.dcm');
  writeFileSync(file, sr([{ Alphabetic: 'Müller^Zoë' }]));
  const dump = spawnSync('dcmdump', ['+U8', '+P', '0008,0005', '+P', '0010,0010', file], { encoding: 'utf8' });
  assert.equal(dump.status, 0, dump.stderr);
  assert.match(dump.stdout, /\(0008,0005\) CS \[ISO_IR 192\]/);
  assert.match(dump.stdout, /\(0010,0010\) PN \[Müller\^Zoë\]/);
  const ascii = sr([{ Alphabetic: 'Muller^Zoe' }]);
  assert.equal(ascii.indexOf('ISO_IR'), -1);
});
