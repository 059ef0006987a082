// The importer on a messy export: several images per patient, exact duplicates, damaged files, a label CSV
// with bad rows; then resume, interruption, patient-level split, leakage check and "no PHI written out".
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decode } from 'fast-png';
import { checkLeakage, contactSheetHtml, importDataset, loadManifest, readCachedFloat, readCachedImage, cachedPngPath, readManifestRows, splitByPatient, writeJsonAtomic, splitPath, type ManifestRow, type SplitFile } from '../../src/data/index.js';
import { makeDicom, pattern, pixelBytes, tempDir } from '../dicom/fixtures.js';

const { dir, cleanup } = tempDir('import');
process.on('exit', cleanup);
const input = join(dir, 'export');
const out = join(dir, 'dataset');
const saltFile = join(dir, 'secret', 'salt');
mkdirSync(input, { recursive: true });

// 10 patients with 1–3 images each; names, IDs and UIDs carry "PHI" so any leak is findable.
interface Planted {
  readonly file: string;
  readonly sop: string;
  readonly patient: string;
  readonly label: number;
}
const planted: Planted[] = [];
let seed = 1;
for (let p = 0; p < 10; p++) {
  const images = 1 + (p % 3);
  const patientDir = join(input, `study${p}`);
  mkdirSync(patientDir, { recursive: true });
  for (let k = 0; k < images; k++) {
    const sop = `1.2.826.0.1.3680043.2.1143.4242.${p}.${k}`;
    const file = makeDicom(patientDir, `img${k}`, {
      width: 96,
      height: 64,
      bitsAllocated: 16,
      bitsStored: 12,
      signed: false,
      pixels: pixelBytes(pattern(96, 64, 12, false, seed++), 16),
      sopInstanceUid: sop,
      patientId: `PHIID${p}`,
      patientName: `PHINAME${p}^PHIGIVEN`,
      studyInstanceUid: `1.2.826.0.1.3680043.2.1143.4242.${p}`,
      extra: [`(0008,0050) SH [PHIACC${p}]`, `(0018,5101) CS [${k === 0 ? 'AP' : 'LL'}]`, '(0028,1050) DS [2048]', '(0028,1051) DS [4096]'],
    });
    planted.push({ file, sop, patient: `PHIID${p}`, label: p % 2 });
  }
}
// exact duplicates: the same file copied under another name (same patient), which the split must keep together
copyFileSync((planted[0] as Planted).file, join(input, 'study0', 'copy-of-img0.dcm'));
// damaged and non-image files
writeFileSync(join(input, 'empty.dcm'), '');
// A file without extension that is no DICOM fails; a side file (a phantom's annotations.json) is skipped as such.
writeFileSync(join(input, 'NOTES'), 'not an image\n'.repeat(10));
writeFileSync(join(input, 'annotations.json'), '{"images": []}\n');
const truncatedPath = join(input, 'study9', 'truncated.dcm');
const truncatedSource = makeDicom(dir, 'whole', { width: 96, height: 64, bitsAllocated: 16, bitsStored: 12, signed: false, pixels: pixelBytes(pattern(96, 64, 12, false, 777), 16), sopInstanceUid: '1.2.826.0.1.3680043.2.1143.4242.9.99', patientId: 'PHIID9', patientName: 'PHINAME9' });
const wholeBytes = readFileSync(truncatedSource);
writeFileSync(truncatedPath, wholeBytes.subarray(0, wholeBytes.length - 2000));
makeDicom(input, 'report', { width: 1, height: 1, bitsAllocated: 8, bitsStored: 8, signed: false, sopClassUid: '1.2.840.10008.5.1.4.1.1.88.22', pixels: null, patientId: 'PHIID0' });
// dump2dcm leaves its inputs beside the outputs: remove them so they count as neither images nor failures
for (const sub of ['', ...readdirSync(input).filter((d) => d.startsWith('study'))]) {
  for (const f of readdirSync(join(input, sub))) if (f.endsWith('.dump') || f.endsWith('.raw')) spawnSync('rm', [join(input, sub, f)]);
}

// labels by SOP Instance UID, with one row per planted image except the last, and bad rows
const labelLines = ['sop_instance_uid,label'];
for (const p of planted.slice(0, -1)) labelLines.push(`${p.sop},${p.label}`);
labelLines.push('1.2.3.4.no.such.image,1', 'only-one-field', `${(planted[1] as Planted).sop}x,maybe`, ',1');
labelLines.push(`1.2.826.0.1.3680043.2.1143.4242.9.99,1`);
const labelsFile = join(dir, 'labels.csv');
writeFileSync(labelsFile, labelLines.join('\n') + '\n');

const run = () => importDataset({ inputDir: input, outDir: out, layout: 'dicom', labels: { file: labelsFile, join: 'sop' }, saltFile, maxSide: 48, workers: 2 });

describe('import of a messy DICOM export', () => {
  let rows: ManifestRow[] = [];

  it('imports every good image, skips the SR and side files and names a reason for each failure', async () => {
    const report = await run();
    assert.equal(report.imported, planted.length + 1, 'all planted images plus the copy');
    assert.deepEqual(report.skipped, { HF_DICOM_NOT_AN_IMAGE: 1, HF_DATA_SIDE_FILE: 1 });
    assert.deepEqual(report.failed, { HF_DICOM_EMPTY_FILE: 1, HF_DICOM_NOT_DICOM: 1, HF_DICOM_TRUNCATED: 1 });
    const byPath = new Map(report.problems.map((p) => [p.path, p]));
    assert.equal(byPath.get('study9/truncated.dcm')?.code, 'HF_DICOM_TRUNCATED');
    assert.ok((byPath.get('empty.dcm')?.message ?? '').length > 10);
    assert.equal(report.duplicates, 1);
    rows = await readManifestRows(out);
    assert.equal(rows.length, planted.length + 1);
  });

  it('joins labels by SOP Instance UID and reports unmatched rows on both sides and bad rows', async () => {
    const report = JSON.parse(readFileSync(join(out, 'import-report.json'), 'utf8'));
    assert.equal(report.labels.badRows.length, 3, JSON.stringify(report.labels.badRows));
    assert.deepEqual(report.labels.unmatchedLabelRows.map((r: { line: number }) => r.line), [labelLines.indexOf('1.2.3.4.no.such.image,1') + 1, labelLines.length]);
    assert.deepEqual(report.labels.unlabelledImages, [planted.at(-1)?.file.slice(input.length + 1)]);
    for (const p of planted.slice(0, -1)) {
      const row = rows.find((r) => r.sourcePath === p.file.slice(input.length + 1));
      assert.equal(row?.label, p.label, p.file);
    }
  });

  it('fills view, keys and cache: aspect kept at working size, 16-bit grey PNG', async () => {
    const row = rows.find((r) => r.sourcePath === 'study0/img0.dcm') as ManifestRow;
    assert.equal(row.view, 'AP');
    assert.equal(rows.find((r) => r.sourcePath === 'study1/img1.dcm')?.view, 'lateral');
    assert.equal(row.width, 96);
    assert.equal(row.cacheWidth, 48);
    assert.equal(row.cacheHeight, 32);
    const png = decode(readFileSync(cachedPngPath(out, row)));
    assert.equal(png.depth, 16);
    assert.equal(png.channels, 1);
    assert.equal(png.width, 48);
    const image = await readCachedFloat(out, row);
    assert.equal(image.data.length, 48 * 32);
    assert.ok(Math.max(...image.data) <= 1 && Math.min(...image.data) >= 0);
    const sameId = rows.filter((r) => r.patientKey === row.patientKey).length;
    assert.equal(sameId, 2, 'patient 0 has its one image and the copy');
  });

  it('writes no identifier: no name, ID, accession or UID in manifest, report, split, QC sheet or PNGs', async () => {
    const split = splitByPatient(await readManifestRows(out), { seed: 3 });
    await writeJsonAtomic(splitPath(out), split);
    const html = await contactSheetHtml(
      (await readManifestRows(out)).map((r) => ({ ...r, qc: ['tiny'] })),
      (r) => readCachedImage(cachedPngPath(out, r)),
    );
    writeFileSync(join(out, 'qc.html'), html);
    const written = [join(out, 'manifest.jsonl'), join(out, 'import-report.json'), join(out, 'split.json'), join(out, 'qc.html'), ...readdirSync(join(out, 'cache')).map((f) => join(out, 'cache', f))];
    for (const file of written) {
      const text = readFileSync(file).toString('latin1');
      assert.ok(!text.includes('PHI'), `${file} contains a PHI marker`);
      assert.ok(!text.includes('1.2.826.0.1.3680043.2.1143.4242'), `${file} contains an original UID`);
    }
    assert.ok(!readFileSync(saltFile, 'utf8').includes('PHI'));
    assert.equal((await import('node:fs')).statSync(saltFile).mode & 0o777, 0o600, 'the salt is readable by its owner only');
  });

  it('a second run imports only the repaired file; nothing else is redone', async () => {
    writeFileSync(truncatedPath, wholeBytes);
    const report = await run();
    assert.equal(report.imported, 1);
    assert.equal(report.alreadyImported, planted.length + 1);
    assert.deepEqual(report.failed, { HF_DICOM_EMPTY_FILE: 1, HF_DICOM_NOT_DICOM: 1 });
    const repaired = (await readManifestRows(out)).find((r) => r.sourcePath === 'study9/truncated.dcm');
    assert.equal(repaired?.label, 1, 'the repaired image found its label row');
  });

  it('an interrupted run (torn last manifest line) loses nothing: the next run redoes just that file', async () => {
    const manifest = join(out, 'manifest.jsonl');
    const lines = readFileSync(manifest, 'utf8').trimEnd().split('\n');
    const last = lines.pop() as string;
    writeFileSync(manifest, `${lines.join('\n')}\n${last.slice(0, 40)}`);
    assert.equal((await readManifestRows(out)).length, lines.length);
    const report = await run();
    assert.equal(report.imported, 1);
    const after = await readManifestRows(out);
    assert.equal(after.length, lines.length + 1);
    assert.ok(after.some((r) => r.id === (JSON.parse(last) as ManifestRow).id));
  });
});

describe('patient-level split on a cohort made to tempt it', () => {
  it('keeps every patient and every duplicate in one set, near 80/20, seeded', async () => {
    const rows = await readManifestRows(out);
    const split = splitByPatient(rows, { seed: 11 });
    const report = checkLeakage(rows, split);
    assert.equal(report.ok, true, JSON.stringify(report.leaks));
    assert.equal(report.unassigned, 0);
    const val = report.setSizes['val'] ?? 0;
    assert.ok(val >= 2 && val <= 8, `val has ${val} of ${rows.length}`);
    assert.deepEqual(splitByPatient(rows, { seed: 11 }).assignments, split.assignments, 'same seed, same split');
    const differs = [1, 2, 3, 4, 5].some((s) => JSON.stringify(splitByPatient(rows, { seed: s }).assignments) !== JSON.stringify(split.assignments));
    assert.ok(differs, 'other seeds give other splits');
  });

  it('stratifies by label: both sets hold both labels', async () => {
    const rows = (await readManifestRows(out)).filter((r) => r.label !== null);
    const split = splitByPatient(rows, { seed: 5, valFraction: 0.3 });
    for (const set of ['train', 'val']) {
      const labels = new Set(rows.filter((r) => split.assignments[r.id] === set).map((r) => r.label));
      assert.deepEqual([...labels].sort(), [0, 1], `${set} has labels ${[...labels]}`);
    }
  });

  it('k-fold: every image in exactly one fold, no patient across folds', async () => {
    const rows = await readManifestRows(out);
    const split = splitByPatient(rows, { folds: 3, seed: 2 });
    const report = checkLeakage(rows, split);
    assert.equal(report.ok, true);
    assert.equal(Object.keys(report.setSizes).length, 3);
  });

  it('the leakage check catches a planted patient leak and a planted duplicate leak, and the CLI exits 1', async () => {
    const rows = await readManifestRows(out);
    const split = splitByPatient(rows, { seed: 11 });
    const patientRows = rows.filter((r) => r.patientKey === rows.find((x) => x.sourcePath === 'study2/img0.dcm')?.patientKey);
    assert.ok(patientRows.length >= 2);
    const moved: SplitFile = { ...split, assignments: { ...split.assignments, [(patientRows[0] as ManifestRow).id]: split.assignments[(patientRows[0] as ManifestRow).id] === 'val' ? 'train' : 'val' } };
    const leak = checkLeakage(rows, moved);
    assert.equal(leak.ok, false);
    assert.ok(leak.leaks.some((l) => l.kind === 'patient'));
    // a duplicate with a different patient key: only the content hash ties it
    const copy = rows.find((r) => r.sourcePath === 'study0/copy-of-img0.dcm') as ManifestRow;
    const fake = rows.map((r) => (r.id === copy.id ? { ...r, patientKey: 'someone-else' } : r));
    const dupSplit: SplitFile = { ...split, assignments: { ...split.assignments, [copy.id]: split.assignments[copy.id] === 'val' ? 'train' : 'val' } };
    assert.ok(checkLeakage(fake, dupSplit).leaks.some((l) => l.kind === 'duplicate'));
    assert.equal(checkLeakage(fake, splitByPatient(fake, { seed: 11 })).ok, true, 'the splitter itself keeps such duplicates together');

    const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
    await writeJsonAtomic(splitPath(out), split);
    assert.equal(spawnSync(process.execPath, [cli, 'check-leakage', out], { encoding: 'utf8' }).status, 0);
    await writeJsonAtomic(splitPath(out), moved);
    const bad = spawnSync(process.execPath, [cli, 'check-leakage', out], { encoding: 'utf8' });
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /LEAK patient/);
    const withSplit = await loadManifest(out);
    assert.ok(withSplit.every((r) => r.split === 'train' || r.split === 'val'));
    appendFileSync(join(out, 'import-report.json'), '');
  });
});

describe('hipfrac import (CLI) with labels joined by accession number', () => {
  it('prints a summary by reason, writes the dataset, and exits 0', () => {
    const csv = join(dir, 'by-accession.csv');
    writeFileSync(csv, ['accession_number,fractured', 'PHIACC0,yes', 'PHIACC1,no', 'PHIACC404,yes', ''].join('\n'));
    const target = join(dir, 'dataset-accession');
    const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
    const result = spawnSync(process.execPath, [cli, 'import', input, '--out', target, '--labels', csv, '--join', 'accession', '--salt-file', saltFile, '--max-side', '32'], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /Imported 21 file\(s\)/);
    assert.match(result.stdout, /skipped 1 × HF_DICOM_NOT_AN_IMAGE/);
    assert.match(result.stdout, /failed {2}1 × HF_DICOM_EMPTY_FILE/);
    assert.match(result.stdout, /1 label row\(s\) matched no image/);
    const report = JSON.parse(readFileSync(join(target, 'import-report.json'), 'utf8'));
    assert.deepEqual(report.labels.unmatchedLabelRows, [{ line: 4, key: null }], 'an accession number is not echoed into the report');
    const rows = readFileSync(join(target, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ManifestRow);
    assert.equal(rows.find((r) => r.sourcePath === 'study0/img0.dcm')?.label, 1);
    assert.equal(rows.find((r) => r.sourcePath === 'study1/img1.dcm')?.label, 0, 'every image of the study with that accession');
    assert.equal(rows.find((r) => r.sourcePath === 'study2/img0.dcm')?.label, null);
  });
});

describe('hipfrac split and hipfrac qc (CLI)', () => {
  it('split writes a leak-free split.json; qc prints the table and writes a self-contained qc.html without identifiers', () => {
    const target = join(dir, 'dataset-accession');
    const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
    const split = spawnSync(process.execPath, [cli, 'split', target, '--val', '0.25', '--seed', '9', '--by-view'], { encoding: 'utf8' });
    assert.equal(split.status, 0, split.stderr);
    assert.match(split.stdout, /train \d+, val \d+/);
    const file = JSON.parse(readFileSync(join(target, 'split.json'), 'utf8')) as SplitFile;
    assert.equal(file.seed, 9);
    assert.equal(file.stratifyByView, true);
    assert.equal(spawnSync(process.execPath, [cli, 'check-leakage', target], { encoding: 'utf8' }).status, 0);
    const qc = spawnSync(process.execPath, [cli, 'qc', target], { encoding: 'utf8' });
    assert.equal(qc.status, 0, qc.stderr);
    assert.match(qc.stdout, /\| tiny \| 21 \| 100\.0 % \|/, 'every 96×64 fixture is tiny');
    const html = readFileSync(join(target, 'qc.html'), 'utf8');
    assert.equal((html.match(/<img /g) ?? []).length, 21);
    assert.ok(html.includes('src="data:image/png;base64,'));
    assert.ok(!/src="(?!data:)/.test(html), 'no external image references');
    assert.ok(!html.includes('PHI') && !html.includes('study0/'), 'no identifiers or paths');
  });
});
