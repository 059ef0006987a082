// The hip region of interest from phantom to prediction: the phantom places it from the anatomy (same in both
// classes, holding the fracture), import carries it into the manifest as fractions, `train --crop roi` records
// it in the model card with the trained input size, train stores a hip localiser in the checkpoint so predict cuts
// each image by itself, and --rois overrides it (a checkpoint without a localiser needs --rois).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { importDataset, parseCsv, readManifestRows } from '../../src/data/index.js';
import { cohortLabelSpec, generateCohort, hipRoi, planCohort } from '../../src/phantom/index.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-roi-'));
const saltFile = path.join(work, 'salt.key');
const cohortDir = path.join(work, 'cohort');
const datasetDir = path.join(work, 'dataset');

function runCli(args: readonly string[]): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, HIPFRAC_SALT_FILE: saltFile } });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

test('the hip ROI depends on the anatomy only: the same with or without the fracture, square', () => {
  for (const patient of planCohort({ patients: 40, seed: 3, difficulty: 'easy', size: 256, prevalence: 1 })) {
    for (const image of patient.images) {
      const roi = hipRoi(image.spec);
      assert.deepEqual(hipRoi({ ...image.spec, fractureApplied: false, fracture: null }), roi, 'the same region without the fracture');
      assert.ok(roi[2] - roi[0] > 20 && Math.abs(roi[2] - roi[0] - (roi[3] - roi[1])) < 0.5, `square region ${roi}`);
    }
  }
});

test('phantom → import → train --crop roi → predict/explain with --rois', { timeout: 600_000 }, async (t) => {
  t.after(() => rmSync(work, { recursive: true, force: true }));
  await generateCohort({ out: cohortDir, patients: 16, seed: 5, difficulty: 'easy', size: 128, workers: 2 });
  const annotations = JSON.parse(readFileSync(path.join(cohortDir, 'annotations.json'), 'utf8')) as { images: { file: string; hip_roi: number[]; fractures: { box: number[] }[] }[] };
  // Every fracture box overlaps its image's ROI, and most lie wholly inside it.
  let wholly = 0;
  let total = 0;
  for (const im of annotations.images) {
    const [rx0, ry0, rx1, ry1] = im.hip_roi as [number, number, number, number];
    for (const { box } of im.fractures) {
      const [x0, y0, x1, y1] = box as [number, number, number, number];
      total++;
      assert.ok(x1 > rx0 && x0 < rx1 && y1 > ry0 && y0 < ry1, `${im.file}: box ${box} outside ROI ${im.hip_roi}`);
      if (x0 >= rx0 && x1 <= rx1 && y0 >= ry0 && y1 <= ry1) wholly++;
    }
  }
  assert.ok(total > 0 && wholly / total >= 0.8, `${wholly} of ${total} boxes wholly inside the ROI`);

  const report = await importDataset({
    inputDir: path.join(cohortDir, 'images'),
    outDir: datasetDir,
    labels: cohortLabelSpec(cohortDir),
    saltFile,
    workers: 2,
  });
  assert.equal(Object.keys(report.failed).length, 0);
  const rows = await readManifestRows(datasetDir);
  const byFile = new Map(annotations.images.map((im) => [im.file.replace(/^images\//, ''), im.hip_roi]));
  for (const row of rows) {
    const roi = byFile.get(row.sourcePath) as number[];
    assert.ok(row.roi !== undefined && row.roi !== null, `${row.sourcePath} has a ROI`);
    row.roi.forEach((v, k) => assert.ok(Math.abs(v - (roi[k] as number) / 128) < 1e-4, `${row.sourcePath}: ${row.roi} vs ${roi}`));
  }

  const runDir = path.join(work, 'run');
  const train = runCli(['train', '--data', datasetDir, '--out', runDir, '--arch', 'resnet18', '--scratch', '--head', 'linear', '--crop', 'roi', '--input-size', '32', '--batch-size', '8', '--unfrozen-epochs', '1', '--no-lr-find', '--lr', '0.001', '--unfrozen-lr', '0.001', '--seed', '1', '--workers', '1']);
  assert.equal(train.status, 0, train.stderr.slice(-2000));
  const card = JSON.parse(readFileSync(path.join(runDir, 'model', 'model.json'), 'utf8')) as { crop: string; inputSize: number };
  assert.equal(card.crop, 'roi');
  assert.equal(card.inputSize, 32, 'the card keeps the trained input size, not the architecture default');
  // The phantom has several images per patient: the split made by train is by patient, and the report says so.
  assert.equal((JSON.parse(readFileSync(path.join(runDir, 'results.json'), 'utf8')) as { splitUnit: string }).splitUnit, 'patient');
  assert.match(readFileSync(path.join(runDir, 'report.html'), 'utf8'), /patient-level, stratified by label: no patient in two sets/);
  assert.equal((JSON.parse(readFileSync(path.join(datasetDir, 'split.json'), 'utf8')) as { unit?: string }).unit, 'patient');
  // compare reuses the finished run (same options, same dataset) and its subtitle names the same patient-level split.
  const compareDir = path.join(work, 'compare');
  cpSync(runDir, path.join(compareDir, 'resnet18'), { recursive: true });
  const compared = runCli(['compare', '--data', datasetDir, '--out', compareDir, '--archs', 'resnet18', '--scratch', '--head', 'linear', '--crop', 'roi', '--input-size', '32', '--batch-size', '8', '--unfrozen-epochs', '1', '--no-lr-find', '--lr', '0.001', '--unfrozen-lr', '0.001', '--seed', '1', '--workers', '1']);
  assert.equal(compared.status, 0, compared.stderr.slice(-2000));
  assert.match(compared.stderr, /resnet18: finished earlier, reusing/);
  const compareHtml = readFileSync(path.join(compareDir, 'compare.html'), 'utf8');
  assert.match(compareHtml, /1 architecture, same protocol, same patient-level split/);
  assert.doesNotMatch(compareHtml, /image-level/);

  const one = path.join(cohortDir, 'images', rows[0]?.sourcePath as string);
  // The checkpoint's own localiser cuts the image without --rois: the overlay shows a region, not the whole image.
  assert.ok((card as { localiser?: { dir: string } }).localiser?.dir === 'localiser', 'train stores a hip localiser with a crop roi model');
  const auto = runCli(['predict', one, '--model', path.join(runDir, 'model'), '--cutoff', '0.995', '--out', path.join(work, 'p-auto')]);
  assert.equal(auto.status, 0, auto.stderr.slice(-2000));
  const autoMeta = await sharp(path.join(work, 'p-auto', 'heatmaps', readdirSync(path.join(work, 'p-auto', 'heatmaps'))[0] as string)).metadata();
  assert.ok((autoMeta.width as number) > 0 && (autoMeta.width as number) < 128, `the localiser cut the 128-px image to ${autoMeta.width} px`);
  // Without a localiser a crop roi model needs --rois.
  const bare = path.join(work, 'model-no-localiser');
  cpSync(path.join(runDir, 'model'), bare, { recursive: true });
  const bareCard = JSON.parse(readFileSync(path.join(bare, 'model.json'), 'utf8')) as Record<string, unknown>;
  delete bareCard['localiser'];
  writeFileSync(path.join(bare, 'model.json'), JSON.stringify(bareCard));
  const missing = runCli(['predict', one, '--model', bare, '--out', path.join(work, 'p0')]);
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /HF_DATA_NEEDS_ROI/);
  assert.match(missing.stderr, /--rois/);

  const out = path.join(work, 'p1');
  const predicted = runCli(['predict', one, '--model', path.join(runDir, 'model'), '--rois', path.join(cohortDir, 'labels.csv'), '--cutoff', '0.995', '--out', out]);
  assert.equal(predicted.status, 0, predicted.stderr.slice(-2000));
  const roi = byFile.get(rows[0]?.sourcePath as string) as number[];
  const heatmap = readdirSync(path.join(out, 'heatmaps'))[0] as string;
  const meta = await sharp(path.join(out, 'heatmaps', heatmap)).metadata();
  assert.equal(meta.width, Math.round(roi[2] as number) - Math.round(roi[0] as number), 'the overlay shows the region the model saw');

  // explain with boxes: the boxes move into the region, so the scored images are the fractured ones of the folder.
  const fractured = annotations.images.find((im) => im.fractures.length > 0);
  assert.ok(fractured !== undefined, 'the cohort has a fracture');
  const folder = path.dirname(path.join(cohortDir, fractured.file));
  const expected = annotations.images.filter((im) => path.dirname(path.join(cohortDir, im.file)) === folder && im.fractures.length > 0).length;
  const heatDir = path.join(work, 'heat');
  const explained = runCli(['explain', folder, '--model', path.join(runDir, 'model'), '--rois', path.join(cohortDir, 'labels.csv'), '--boxes', path.join(cohortDir, 'annotations.json'), '--out', heatDir]);
  assert.equal(explained.status, 0, explained.stderr.slice(-2000));
  const localisation = JSON.parse(readFileSync(path.join(heatDir, 'localisation.json'), 'utf8')) as { n: number; randomBaseline: number };
  assert.equal(localisation.n, expected);
  assert.ok(localisation.randomBaseline > 0 && localisation.randomBaseline < 1);

  const badRois = path.join(work, 'bad.csv');
  writeFileSync(badRois, 'file,hip_roi_x0,hip_roi_y0,hip_roi_x1,hip_roi_y1\nx.dcm,10,10,5,20\n');
  const bad = runCli(['predict', one, '--model', path.join(runDir, 'model'), '--rois', badRois, '--cutoff', '0.995', '--out', path.join(work, 'p2')]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /HF_DATA_BAD_ROIS/);

  // A dataset without ROIs cannot train with --crop roi: the error names the fix.
  const labels = parseCsv(readFileSync(path.join(cohortDir, 'labels.csv'), 'utf8'));
  const header = labels[0]?.fields ?? [];
  const keep = header.map((h, i) => (h.startsWith('hip_roi') ? -1 : i)).filter((i) => i >= 0);
  writeFileSync(path.join(work, 'labels-noroi.csv'), `${labels.map((r) => keep.map((i) => r.fields[i]).join(',')).join('\n')}\n`);
  const plain = path.join(work, 'dataset-noroi');
  await importDataset({ inputDir: path.join(cohortDir, 'images'), outDir: plain, labels: cohortLabelSpec(cohortDir, path.join(work, 'labels-noroi.csv')), saltFile, workers: 2 });
  const noRoi = runCli(['train', '--data', plain, '--out', path.join(work, 'run2'), '--arch', 'resnet18', '--scratch', '--crop', 'roi', '--input-size', '32', '--unfrozen-epochs', '1', '--no-lr-find', '--workers', '1']);
  assert.notEqual(noRoi.status, 0);
  assert.match(noRoi.stderr, /HF_TRAIN_NO_ROI/);
  assert.match(noRoi.stderr, /hip_roi_x0/);
});
