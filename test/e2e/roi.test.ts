// The hip region of interest from phantom to prediction: the phantom places it from the anatomy (same in both
// classes, holding the fracture), import carries it into the manifest as fractions, `train --crop roi` records
// it in the model card with the trained input size, train stores a hip localiser in the checkpoint so predict cuts
// each image by itself, and --rois overrides it (a checkpoint without a localiser needs --rois); explain, attack and
// triage-calibrate cut to the same localiser region by themselves, and --rois overrides it there too.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { cropGrey, importDataset, modelInput, parseCsv, readManifestRows, readRadiograph, type Radiograph } from '../../src/data/index.js';
import { checkpointLocator } from '../../src/localise/index.js';
import { loadCheckpoint } from '../../src/models/index.js';
import { noGrad, tidy } from '../../src/torch/index.js';
import { cohortLabelSpec, generateCohort, hipRoi, planCohort } from '../../src/phantom/index.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-roi-'));
const saltFile = path.join(work, 'salt.key');
const cohortDir = path.join(work, 'cohort');
const datasetDir = path.join(work, 'dataset');
const runDir = path.join(work, 'run');
after(() => rmSync(work, { recursive: true, force: true }));

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

test('phantom → import → train --crop roi → predict/explain with --rois', { timeout: 600_000 }, async () => {
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

/** The radiograph cut to a region given as fractions of its size, as the commands cut it (cropGrey at whole pixels). */
function cutTo(whole: Radiograph, region: readonly [number, number, number, number]): Radiograph['original'] {
  const { width, height, data, maxValue } = whole.original;
  const c = cropGrey(data, width, height, region);
  return { width: c.width, height: c.height, data: c.pixels, maxValue };
}

async function rgbOf(file: string): Promise<{ width: number; height: number; data: Buffer }> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return { width: info.width, height: info.height, data };
}

/** Largest difference between an RGB image's red channel and expected 0–255 grey values. */
function maxGreyDifference(rgb: { data: Buffer }, grey: ArrayLike<number>): number {
  let diff = 0;
  for (let i = 0; i < grey.length; i++) diff = Math.max(diff, Math.abs((rgb.data[3 * i] as number) - (grey[i] as number)));
  return diff;
}

test('explain, attack and triage-calibrate cut each image to the localiser region by themselves; --rois overrides it', { timeout: 300_000 }, async () => {
  const modelDir = path.join(runDir, 'model');
  assert.ok(existsSync(path.join(modelDir, 'model.json')), 'the training test above ran first');
  const locate = checkpointLocator(modelDir);
  assert.ok(locate !== undefined, 'the checkpoint has a hip localiser');
  // An image the localiser gives one region (a bilateral view gets two, and the classifier picks between them).
  let file: string | undefined;
  let whole: Radiograph | undefined;
  let region: readonly [number, number, number, number] | undefined;
  for (const row of await readManifestRows(datasetDir)) {
    const candidate = path.join(cohortDir, 'images', row.sourcePath);
    const r = await readRadiograph(candidate);
    const regions = locate(r.original, r);
    if (regions.length === 1) {
      [file, whole, region] = [candidate, r, regions[0] as readonly [number, number, number, number]];
      break;
    }
  }
  assert.ok(file !== undefined && whole !== undefined && region !== undefined, 'an image with one localised region');
  const byLocaliser = cutTo(whole, region);
  // --rois names another region: the top-left quarter, nowhere near a hip.
  const { width: W, height: H } = whole.original;
  const roisFile = path.join(work, 'other-rois.csv');
  writeFileSync(roisFile, `file,hip_roi_x0,hip_roi_y0,hip_roi_x1,hip_roi_y1\n${path.basename(file)},0,0,${W / 2},${H / 2}\n`);
  const byRois = cutTo(whole, [0, 0, 0.5, 0.5]);
  assert.ok(byLocaliser.width < W && byLocaliser.height < H, `the localiser region ${region} is smaller than the ${W} × ${H} image`);
  assert.ok(byLocaliser.width !== byRois.width || byLocaliser.height !== byRois.height || Math.round(region[0] * W) !== 0 || Math.round(region[1] * H) !== 0, 'the --rois region differs from the localiser\'s');
  const grey255 = (g: Radiograph['original']): number[] => Array.from(g.data, (v) => 255 * Math.min(1, Math.max(0, v / g.maxValue)));

  // explain: at opacity 0 the overlay is the grey image the model saw, at its own resolution.
  for (const [name, extra, expected] of [['localiser', [], byLocaliser], ['rois', ['--rois', roisFile], byRois]] as const) {
    const out = path.join(work, `explain-${name}`);
    const r = runCli(['explain', file, '--model', modelDir, '--opacity', '0', '--out', out, ...extra]);
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    const overlay = await rgbOf(path.join(out, `${path.parse(file).name}.png`));
    assert.deepEqual([overlay.width, overlay.height], [expected.width, expected.height], `explain (${name}): the overlay has the region's size`);
    assert.ok(maxGreyDifference(overlay, grey255(expected)) <= 1, `explain (${name}): the overlay shows the region's pixels`);
  }

  // attack: the gallery's clean panel is the model input, the region resized to the checkpoint's input size.
  const { model, card } = loadCheckpoint(modelDir);
  try {
    const inputOf = (g: Radiograph['original']): number[] => tidy(() => Array.from(modelInput([{ ...whole, original: g }], card.inputSize).toFloat32Array().subarray(0, card.inputSize ** 2), (v) => 255 * v));
    const wholeInput = inputOf(whole.original);
    for (const [name, extra, expected] of [['localiser', [], byLocaliser], ['rois', ['--rois', roisFile], byRois]] as const) {
      const out = path.join(work, `attack-${name}`);
      const r = runCli(['attack', file, '--model', modelDir, '--eps', '1', '--gallery', '1', '--out', out, ...extra]);
      assert.equal(r.status, 0, r.stderr.slice(-2000));
      const clean = await rgbOf(path.join(out, 'gallery', 'case0-clean.png'));
      assert.deepEqual([clean.width, clean.height], [card.inputSize, card.inputSize]);
      assert.ok(maxGreyDifference(clean, inputOf(expected)) <= 1, `attack (${name}): the attacked input is the region`);
      assert.ok(maxGreyDifference(clean, wholeInput) > 20, `attack (${name}): not the whole image`);
    }

    // triage-calibrate: with one image and no temperature, the risk-coverage curve's one threshold is the model's
    // confidence on the region.
    const confidence = (g: Radiograph['original']): number => {
      const logits = tidy(() => noGrad(() => model.call(modelInput([{ ...whole, original: g }], card.inputSize)).toFloat32Array()));
      const top = Math.max(...logits);
      const sum = Array.from(logits).reduce((s, z) => s + Math.exp(z - top), 0);
      return 1 / sum;
    };
    const expectedConfidence = { localiser: confidence(byLocaliser), rois: confidence(byRois), whole: confidence(whole.original) };
    assert.ok(Math.abs(expectedConfidence.localiser - expectedConfidence.whole) > 1e-4 && Math.abs(expectedConfidence.rois - expectedConfidence.localiser) > 1e-4,
      `the three inputs give distinct confidences (${JSON.stringify(expectedConfidence)})`);
    const labels = path.join(work, 'one-label.csv');
    writeFileSync(labels, `file,label\n${path.basename(file)},${card.classes[0]}\n`);
    for (const [name, extra] of [['localiser', []], ['rois', ['--rois', roisFile]]] as const) {
      const out = path.join(work, `triage-${name}.json`);
      const r = runCli(['triage-calibrate', file, '--model', modelDir, '--labels', labels, '--method', 'given', '--temperature', 'none', '--out', out, ...extra]);
      assert.equal(r.status, 0, r.stderr.slice(-2000));
      const { riskCoverage } = JSON.parse(readFileSync(out, 'utf8')) as { riskCoverage: { points: { threshold: number }[] } };
      assert.equal(riskCoverage.points.length, 1);
      const measured = riskCoverage.points[0]?.threshold as number;
      assert.ok(Math.abs(measured - expectedConfidence[name]) < 1e-5, `triage-calibrate (${name}): confidence ${measured}, expected ${expectedConfidence[name]} (whole image ${expectedConfidence.whole})`);
    }
  } finally {
    model.dispose();
  }
});
