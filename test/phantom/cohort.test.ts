// Cohort proof: same seed → byte-identical files whatever the worker count; the mix (prevalence, views, implants,
// markers, encodings, label noise) is what was asked and the same in both classes; the CLI writes what it says.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { phantomCommand } from '../../src/cli/commands/phantom.js';
import { LABELS_COLUMNS, TransferSyntax, generateCohort, planCohort, type PlannedImage } from '../../src/phantom/index.js';

const root = mkdtempSync(join(tmpdir(), 'hipfrac-phantom-'));
after(() => rmSync(root, { recursive: true, force: true }));

function filesUnder(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

/** Two-proportion z statistic: how many standard errors apart two rates are. */
function zTwo(a: number, na: number, b: number, nb: number): number {
  const p = (a + b) / (na + nb);
  const se = Math.sqrt(p * (1 - p) * (1 / na + 1 / nb));
  return se === 0 ? 0 : (a / na - b / nb) / se;
}

describe('phantom cohort', () => {
  it('is byte-identical for the same seed, with 2 workers or none', async () => {
    const options = { patients: 5, seed: 77, difficulty: 'standard' as const, size: 96 };
    await generateCohort({ ...options, out: join(root, 'a'), workers: 2 });
    await generateCohort({ ...options, out: join(root, 'b'), workers: 0 });
    const a = filesUnder(join(root, 'a'));
    const b = filesUnder(join(root, 'b'));
    assert.deepEqual([...a.keys()], [...b.keys()]);
    assert.ok(a.size >= 5 + 2, `expected images plus labels.csv and annotations.json, got ${a.size} files`);
    for (const [name, bytes] of a) assert.ok(bytes.equals(b.get(name) as Buffer), `${name} differs between runs`);
    await generateCohort({ ...options, seed: 78, out: join(root, 'c'), workers: 0 });
    const c = filesUnder(join(root, 'c'));
    assert.ok(!(c.get('labels.csv') as Buffer).equals(a.get('labels.csv') as Buffer), 'another seed gives another cohort');
  });

  it('writes labels.csv with the documented columns and annotations.json that agree with it', async () => {
    const result = await generateCohort({ patients: 6, seed: 5, difficulty: 'easy', size: 64, prevalence: 0.5, out: join(root, 'd'), workers: 0 });
    const lines = readFileSync(join(root, 'd', 'labels.csv'), 'utf8').trim().split('\n');
    assert.deepEqual(lines[0]?.split(','), [...LABELS_COLUMNS]);
    assert.equal(lines.length - 1, result.images.length);
    const doc = JSON.parse(readFileSync(join(root, 'd', 'annotations.json'), 'utf8')) as { synthetic: boolean; images: { file: string; label: number; fractures: { box: number[] }[] }[] };
    assert.equal(doc.synthetic, true);
    doc.images.forEach((img, i) => {
      const row = (lines[i + 1] as string).split(',');
      assert.equal(row[0], img.file);
      assert.equal(Number(row[4]), img.label, 'true_label matches annotations');
      assert.equal(img.fractures.length, img.label, 'a fractured image has exactly one annotated fracture');
    });
  });

  it('has the asked prevalence, 1–3 images per patient, every view, and the same confounder mix in both classes', () => {
    const patients = planCohort({ patients: 3000, seed: 4242, difficulty: 'standard', size: 64 });
    const n = patients.length;
    const pos = patients.filter((p) => p.label === 1).length;
    const sigma = Math.sqrt((0.43 * 0.57) / n);
    assert.ok(Math.abs(pos / n - 0.43) < 4 * sigma, `prevalence ${(pos / n).toFixed(3)}`);
    for (const p of patients) assert.ok(p.images.length >= 1 && p.images.length <= 3, `patient ${p.index} has ${p.images.length} images`);
    const images = patients.flatMap((p) => p.images);
    for (const kind of ['AP_PELVIS', 'AP_HIP', 'LATERAL_HIP'] as const) assert.ok(images.filter((i) => i.spec.view.kind === kind).length > images.length * 0.15, `too few ${kind}`);
    for (const ts of [TransferSyntax.explicitVrLittleEndian, TransferSyntax.implicitVrLittleEndian, TransferSyntax.rleLossless]) assert.ok(images.some((i) => i.transferSyntax === ts), `no ${ts}`);
    const split = (f: (i: PlannedImage) => boolean): void => {
      const p1 = images.filter((i) => i.spec.fractureApplied);
      const p0 = images.filter((i) => !i.spec.fractureApplied);
      const z = zTwo(p1.filter(f).length, p1.length, p0.filter(f).length, p0.length);
      assert.ok(Math.abs(z) < 4, `confounder rate differs by class (z = ${z.toFixed(2)})`);
    };
    split((i) => i.spec.implants.some((m) => m.side === i.spec.view.side));
    split((i) => i.spec.implants.some((m) => m.side !== i.spec.view.side));
    split((i) => i.spec.markers.letter !== null);
    split((i) => i.spec.markers.ruler !== null);
    split((i) => i.spec.detector.motion !== null);
    split((i) => i.spec.detector.contrast < 0.5);
    split((i) => i.spec.detector.monochrome1);
    split((i) => i.spec.view.kind === 'LATERAL_HIP');
    split((i) => i.modality === 'DX');
    split((i) => i.transferSyntax === TransferSyntax.rleLossless);
    const implantRate = images.filter((i) => i.spec.implants.length > 0).length / images.length;
    assert.ok(implantRate > 0.15 && implantRate < 0.3, `implant rate ${implantRate.toFixed(3)}`);
  });

  it('flips the recorded label at the asked label-noise rate and nowhere else', () => {
    const images = planCohort({ patients: 3000, seed: 9, difficulty: 'easy', size: 64, labelNoise: 0.1 }).flatMap((p) => p.images);
    const flipped = images.filter((i) => i.recordedLabel !== (i.spec.fractureApplied ? 1 : 0)).length / images.length;
    const sigma = Math.sqrt((0.1 * 0.9) / images.length);
    assert.ok(Math.abs(flipped - 0.1) < 4 * sigma, `label noise ${flipped.toFixed(3)}`);
    const clean = planCohort({ patients: 300, seed: 9, difficulty: 'easy', size: 64 }).flatMap((p) => p.images);
    assert.ok(clean.every((i) => i.recordedLabel === (i.spec.fractureApplied ? 1 : 0)));
  });

  it('rejects bad options with one error naming each problem', () => {
    assert.throws(() => planCohort({ patients: 0, seed: -1, difficulty: 'easy', size: 10, prevalence: 2 }), (e: Error) => /patients/.test(e.message) && /seed/.test(e.message) && /size/.test(e.message) && /prevalence/.test(e.message));
  });

  it('the CLI writes the cohort and a contact sheet PNG', async () => {
    const out = join(root, 'cli');
    const log = console.log;
    console.log = () => {};
    let code: number;
    try {
      code = await phantomCommand.run(['--patients', '3', '--seed', '1', '--difficulty', 'easy', '--out', out, '--size', '64', '--workers', '0', '--sheet', '4']);
    } finally {
      console.log = log;
    }
    assert.equal(code, 0);
    const png = readFileSync(join(out, 'contact-sheet.png'));
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.ok(readFileSync(join(out, 'labels.csv'), 'utf8').startsWith('file,sop_instance_uid,patient_id,label'));
  });
});
