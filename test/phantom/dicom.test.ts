// DICOM proof: every phantom file passes dcmtk's dcmdump and dicom3tools' dciodvfy without errors, says SYNTHETIC
// in its header, and its pixels decode (with hipfrac's own reader) to exactly the values the phantom rendered.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readDicom } from '../../src/dicom/index.js';
import { TransferSyntax, generateCohort, renderImage, type CohortResult } from '../../src/phantom/index.js';
import { needs } from '../helpers/references.js';

const root = mkdtempSync(join(tmpdir(), 'hipfrac-phantom-dicom-'));
after(() => rmSync(root, { recursive: true, force: true }));


let cohort: CohortResult | null = null;
async function theCohort(): Promise<CohortResult> {
  // All four transfer syntaxes, DX and CR, MONOCHROME1 and 2, several bit depths.
  cohort ??= await generateCohort({
    patients: 14,
    seed: 31,
    difficulty: 'standard',
    size: 64,
    out: join(root, 'cohort'),
    workers: 0,
    transferSyntaxes: Object.values(TransferSyntax),
  });
  return cohort;
}

/** dciodvfy's error lines (it prints warnings too, which are allowed). */
function dciodvfyErrors(file: string): string[] {
  const r = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
  return `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /\bError\b/.test(l));
}

describe('phantom DICOM files', () => {
  it('cover every transfer syntax, both modalities and both photometric interpretations', async () => {
    const c = await theCohort();
    const ts = new Set(c.images.map((i) => i.planned.transferSyntax));
    assert.equal(ts.size, 4, `transfer syntaxes: ${[...ts].join(', ')}`);
    assert.equal(new Set(c.images.map((i) => i.planned.modality)).size, 2);
    assert.equal(new Set(c.images.map((i) => i.photometric)).size, 2);
  });

  it('pass dcmdump without errors', needs('dcmtk'), async () => {
    for (const image of (await theCohort()).images) {
      const r = spawnSync('dcmdump', [join(root, 'cohort', image.file)], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${image.file}: ${r.stderr}`);
      assert.ok(!/^E:/m.test(r.stderr), `${image.file}: ${r.stderr}`);
      for (const needle of ['SYNTHETIC^PATIENT', 'PatientComments', 'ImageComments', 'BurnedInAnnotation', 'ViewPosition', 'ImageLaterality', 'PixelSpacing', 'ImagerPixelSpacing', 'DeidentificationMethod']) {
        assert.ok(r.stdout.includes(needle), `${image.file}: no ${needle} in the header`);
      }
      assert.match(r.stdout, /\(0010,4000\) LT \[SYNTHETIC/);
      assert.match(r.stdout, /\(0028,0301\) CS \[NO\]/);
    }
  });

  it('pass dciodvfy without errors (deflated files are checked after dcmconv inflates them: this dciodvfy has no zlib)', needs('dcmtk', 'dicom3tools'), async () => {
    for (const image of (await theCohort()).images) {
      let file = join(root, 'cohort', image.file);
      if (image.planned.transferSyntax === TransferSyntax.deflatedExplicitVrLittleEndian) {
        const inflated = join(root, `inflated-${image.planned.index}.dcm`);
        const r = spawnSync('dcmconv', ['+te', file, inflated], { encoding: 'utf8' });
        assert.equal(r.status, 0, `dcmconv could not read ${image.file}: ${r.stderr}`);
        file = inflated;
      }
      assert.deepEqual(dciodvfyErrors(file), [], `${image.file} (${image.planned.modality}, ${image.planned.transferSyntax})`);
    }
  });

  it('decode with hipfrac’s reader to exactly the rendered stored values, with the written header', async () => {
    for (const image of (await theCohort()).images) {
      const decoded = await readDicom(join(root, 'cohort', image.file), { keepIntermediate: true });
      const rendered = renderImage(image.planned.spec);
      assert.ok(decoded.stored !== undefined);
      assert.equal(decoded.width, rendered.width);
      assert.deepEqual(Array.from(decoded.stored), Array.from(rendered.pixels), `${image.file} (${image.planned.transferSyntax})`);
      assert.equal(decoded.header.sopInstanceUid, image.sopInstanceUid);
      assert.equal(decoded.header.patientId, image.patientId);
      assert.match(decoded.header.patientName ?? '', /^SYNTHETIC\^PATIENT\d{4}$/);
      const expectedLaterality = image.planned.spec.view.kind === 'AP_PELVIS' ? 'B' : image.planned.spec.view.side;
      assert.equal(decoded.header.imageLaterality, expectedLaterality);
    }
  });
});
