// `hipfrac audit-shortcuts` on a small phantom cohort (128 px images, a ResNet-18 trained here for a few epochs at
// 64 px): the marker detector finds the phantom's known markers (recall ≥ 0.7, precision ≥ 0.5 at the cache's 128 px),
// the probes report accuracy beside the majority baseline and balanced accuracy and AUC beside chance (held out and
// cross-validated), and the body-part probe (HIP / PELVIS headers) beats both; each nuisance label's fracture signal
// is measured on the same images as the masking's AUC; masking changes predictions, the random heatmap scores near the
// boxes' area share, the files are written, and the run's report.html gains a "Shortcut audit" section.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cachedPngPath, ImageLoader, importDataset, loadManifest, readManifestRows, splitByPatient, splitPath, writeJsonAtomic, type Sample } from '../../src/data/index.js';
import { createClassifier, saveCheckpoint } from '../../src/models/index.js';
import { paragraph, renderReport } from '../../src/report/index.js';
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
// A run folder as `hipfrac train --out` leaves it: model/ and report.html.
const runDir = path.join(work, 'run');
const SIZE = 64;
let audit: ShortcutAudit;
let markdown = '';
let html = '';
let runReport = '';
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
  saveCheckpoint(path.join(runDir, 'model'), model, { classes: ['no fracture', 'fracture'], inputSize: SIZE });
  model.dispose();
  writeFileSync(path.join(runDir, 'report.html'), renderReport({ title: 'hipfrac — resnet18', sections: [{ id: 'summary', title: 'Summary', html: paragraph('Trained on the phantom.') }] }));
  const out = path.join(work, 'audit');
  const run = spawnSync(process.execPath, [CLI, 'audit-shortcuts', '--model', path.join(runDir, 'model'), '--data', datasetDir, '--out', out, '--marker-truth', path.join(cohortDir, 'annotations.json')], { encoding: 'utf8', timeout: 600_000 });
  assert.equal(run.status, 0, run.stderr);
  audit = JSON.parse(readFileSync(path.join(out, 'audit.json'), 'utf8')) as ShortcutAudit;
  markdown = readFileSync(path.join(out, 'audit.md'), 'utf8');
  html = readFileSync(path.join(out, 'audit.html'), 'utf8');
  runReport = readFileSync(path.join(runDir, 'report.html'), 'utf8');
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

  it('scores each probe against chance, on the held-out images and cross-validated on the training images', () => {
    for (const p of audit.probes) {
      const cv = p.crossValidated ?? assert.fail(`${p.label}: no cross-validation`);
      assert.equal(p.chance?.rocAuc, 0.5);
      // View and body part have every class in the test set; the detector's verdict may have one only.
      if (p.label !== 'markers') assert.equal(p.chance?.balancedAccuracy, 1 / p.classes.length, p.label);
      assert.equal(cv.folds, 5);
      assert.equal(cv.images, p.trainImages);
      for (const v of [p.balancedAccuracy, p.rocAuc, cv.balancedAccuracy, cv.rocAuc]) assert.ok(v !== undefined && v >= 0 && v <= 1, `${p.label}: ${v}`);
    }
    const part = audit.probes.find((p) => p.label === 'bodyPart') ?? assert.fail('no body-part probe');
    assert.ok((part.balancedAccuracy as number) >= 0.5 + 0.15, `body-part balanced accuracy ${part.balancedAccuracy}`);
    assert.ok((part.crossValidated?.balancedAccuracy as number) >= 0.5 + 0.15, `body-part cross-validated ${part.crossValidated?.balancedAccuracy}`);
    assert.ok((part.rocAuc as number) >= 0.75, `body-part AUC ${part.rocAuc}`);
  });

  it('measures the fracture signal each nuisance label carries', () => {
    const signals = audit.fractureSignal ?? assert.fail('no fracture signal');
    assert.deepEqual(signals.map((s) => s.label).filter((l) => l !== 'markers'), ['view', 'bodyPart']);
    for (const s of signals) {
      assert.ok(s.groups.length >= 2, s.label);
      assert.ok(s.withinGroupPairs > 0 && s.withinGroupPairs <= s.allPairs, `${s.label}: ${s.withinGroupPairs} of ${s.allPairs}`);
      for (const v of [s.labelOnlyAuc, s.modelAuc, s.withinGroupAuc]) assert.ok(v >= 0 && v <= 1, `${s.label}: ${v}`);
      // Every test image has a body part (the DICOM header): the model's AUC is the masking table's.
      if (s.label === 'bodyPart') {
        assert.equal(s.groups.reduce((a, g) => a + g.images, 0), audit.images);
        assert.ok(Math.abs(s.modelAuc - audit.masking.auc) < 1e-12, `${s.modelAuc} vs ${audit.masking.auc}`);
      }
    }
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
    for (const title of ['Nuisance labels read from the features', 'Fracture signal carried by the nuisance labels', 'Burned-in markers masked', 'Heat inside the fracture boxes', 'Marker detector against known markers']) {
      assert.ok(markdown.includes(`### ${title}`), title);
      assert.ok(html.includes(`<h3>${title}</h3>`), title);
    }
    assert.match(html, /^<section id="shortcut-audit">/);
  });

  it('adds the audit to the run\'s report, beside what was there', () => {
    assert.match(runReport, /<li><a href="#summary">Summary<\/a><\/li><li><a href="#shortcut-audit">Shortcut audit<\/a><\/li>/);
    assert.ok(runReport.includes('Trained on the phantom.'));
    for (const title of ['Nuisance labels read from the features', 'Fracture signal carried by the nuisance labels', 'Burned-in markers masked', 'Heat inside the fracture boxes']) {
      assert.ok(runReport.includes(`<h3>${title}</h3>`), title);
    }
    assert.ok(runReport.includes(`measured on the ${audit.images} test images`));
  });
});
