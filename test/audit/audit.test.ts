// `hipfrac audit-shortcuts` on a small phantom cohort (128 px images, a ResNet-18 trained here for a few epochs at
// 64 px): the marker detector finds the phantom's known markers (recall ≥ 0.7, precision ≥ 0.5 at the cache's 128 px),
// the probes report accuracy beside the majority baseline and the body-part probe (HIP / PELVIS headers) beats it, masking
// changes predictions, the random heatmap scores near the boxes' area share, and the files the report includes are written.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cachedPngPath, ImageLoader, importDataset, loadManifest, readManifestRows, splitByPatient, splitPath, writeJsonAtomic, type Sample } from '../../src/data/index.js';
import { createClassifier, saveCheckpoint } from '../../src/models/index.js';
import { AdamW } from '../../src/nn/index.js';
import { cohortLabelSpec, generateCohort } from '../../src/phantom/index.js';
import { defaultThreadCount, manualSeed, setNumThreads, type Tensor } from '../../src/torch/index.js';
import { Learner } from '../../src/train/index.js';
import type { ShortcutAudit } from '../../src/audit/index.js';

setNumThreads(defaultThreadCount());
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-audit-'));
const datasetDir = path.join(work, 'dataset');
const cohortDir = path.join(work, 'cohort');
const SIZE = 64;
let audit: ShortcutAudit;
let markdown = '';
let html = '';
let fracturedTestWithBoxes = 0;

before(async () => {
  await generateCohort({ out: cohortDir, patients: 50, seed: 5, difficulty: 'easy', size: 128, workers: 2 });
  await importDataset({ inputDir: path.join(cohortDir, 'images'), outDir: datasetDir, labels: cohortLabelSpec(cohortDir), saltFile: path.join(work, 'salt.key'), workers: 2 });
  await writeJsonAtomic(splitPath(datasetDir), splitByPatient(await readManifestRows(datasetDir), { valFraction: 0.2, testFraction: 0.3, seed: 3 }));
  const rows = (await loadManifest(datasetDir)).filter((r) => r.label !== null);
  fracturedTestWithBoxes = rows.filter((r) => r.split === 'test' && r.label === 1 && (r.boxes?.length ?? 0) > 0).length;
  const samples = (split: string): Sample[] => rows.filter((r) => r.split === split).map((r) => ({ imagePath: cachedPngPath(datasetDir, r), label: r.label as number }));
  manualSeed(2);
  const model = createClassifier('resnet18', { weights: null, head: 'linear' });
  const train = new ImageLoader(samples('train'), { batchSize: 16, imageSize: SIZE, workers: 0, dropLast: true, seed: 1 });
  const valid = new ImageLoader(samples('val'), { batchSize: 16, imageSize: SIZE, workers: 0, shuffle: false });
  try {
    const learner = new Learner({ model, train, valid, optimizer: (groups: Tensor[][]) => new AdamW(groups.filter((g) => g.length > 0).map((g) => ({ params: g })), { lr: 2e-3 }), seed: 4 });
    await learner.fitOneCycle(4, 2e-3);
  } finally {
    await train.close();
    await valid.close();
  }
  model.eval();
  saveCheckpoint(path.join(work, 'model'), model, { classes: ['no fracture', 'fracture'], inputSize: SIZE });
  model.dispose();
  const out = path.join(work, 'audit');
  const run = spawnSync(process.execPath, [CLI, 'audit-shortcuts', '--model', path.join(work, 'model'), '--data', datasetDir, '--out', out, '--marker-truth', path.join(cohortDir, 'annotations.json')], { encoding: 'utf8', timeout: 600_000 });
  assert.equal(run.status, 0, run.stderr);
  audit = JSON.parse(readFileSync(path.join(out, 'audit.json'), 'utf8')) as ShortcutAudit;
  markdown = readFileSync(path.join(out, 'audit.md'), 'utf8');
  html = readFileSync(path.join(out, 'audit.html'), 'utf8');
  console.log(markdown.replace(/^/gm, '# '));
});

after(() => rmSync(work, { recursive: true, force: true }));

describe('shortcut audit on the phantom', { timeout: 900_000 }, () => {
  it('checks the marker detector against the phantom\'s known markers', () => {
    const m = audit.markerDetector ?? assert.fail('no detector check');
    assert.ok(m.truthMarkers >= 40, `${m.truthMarkers} known markers`);
    assert.ok(m.recall >= 0.7, `recall ${m.recall}`);
    assert.ok(m.precision >= 0.5, `precision ${m.precision}`);
  });

  it('measures on the test set and probes nuisance labels against the majority baseline', () => {
    assert.equal(audit.evaluatedOn, 'test');
    const view = audit.probes.find((p) => p.label === 'view') ?? assert.fail('no view probe');
    assert.deepEqual([...view.classes].sort(), ['AP', 'lateral']);
    assert.equal(view.heldOutImages, audit.images);
    // The phantom's DICOM headers say HIP or PELVIS, and a pelvis film looks nothing like a hip film: the features carry it.
    const part = audit.probes.find((p) => p.label === 'bodyPart') ?? assert.fail('no body-part probe');
    assert.deepEqual([...part.classes].sort(), ['HIP', 'PELVIS']);
    assert.ok(part.accuracy >= part.majorityBaseline + 0.15, `body-part probe ${part.accuracy} vs majority ${part.majorityBaseline}`);
    const markers = audit.probes.find((p) => p.label === 'markers');
    if (markers !== undefined) assert.deepEqual([...markers.classes], ['absent', 'present']);
    for (const p of audit.probes) assert.ok(p.accuracy >= 0 && p.accuracy <= 1 && p.majorityBaseline > 0 && p.majorityBaseline <= 1);
  });

  it('compares AUC with markers masked against unmasked', () => {
    const m = audit.masking;
    for (const v of [m.auc, m.aucMasked]) assert.ok(v >= 0 && v <= 1);
    assert.ok(Math.abs(m.aucChange - (m.aucMasked - m.auc)) < 1e-12);
    assert.ok(m.imagesWithMarkers > 0 && m.imagesWithMarkers <= audit.images);
    assert.ok(m.meanAbsProbabilityChange > 0, 'masking the markers changes some predictions');
  });

  it('scores heat in the fracture boxes against a random heatmap', () => {
    const l = audit.localisation ?? assert.fail('no localisation');
    assert.equal(l.n, fracturedTestWithBoxes);
    // A uniform random map puts its heat in proportion to area.
    assert.ok(Math.abs(l.random.energyInBoxes - l.boxAreaShare) < 0.05, `random ${l.random.energyInBoxes} vs area ${l.boxAreaShare}`);
    for (const v of [l.gradCam.pointingGame, l.gradCam.energyInBoxes]) assert.ok(v >= 0 && v <= 1);
    assert.equal(l.boxHead, null, 'a model without a box head has no box-head row');
  });

  it('writes Markdown and HTML sections with every table', () => {
    for (const title of ['Nuisance labels read from the features', 'Burned-in markers masked', 'Heat inside the fracture boxes', 'Marker detector against known markers']) {
      assert.ok(markdown.includes(`### ${title}`), title);
      assert.ok(html.includes(`<h3>${title}</h3>`), title);
    }
    assert.match(html, /^<section id="shortcut-audit">/);
  });
});
