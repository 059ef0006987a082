// End to end: phantom DICOM imports cleanly; a small folder-per-class radiograph-like set goes through
// import → train (CLI) → checkpoint + report. Proves accuracy rises well above chance and that a run
// killed with SIGKILL and resumed ends with exactly the predictions of an uninterrupted run.
// (A CNN trained from scratch on ~200 tiny phantom images does not generalise yet, so the learning check
// uses a simpler synthetic fracture: a lucent gap across a bone-like band.)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cohortLabelSpec, generateCohort } from '../../src/phantom/index.js';
import { writeFolderDataset } from '../helpers/folders.js';
import { importDataset } from '../../src/data/index.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-e2e-'));
const saltFile = path.join(work, 'salt.key');
const cohortDir = path.join(work, 'cohort');
const phantomDataset = path.join(work, 'phantom-dataset');
const foldersDir = path.join(work, 'folders');
const datasetDir = path.join(work, 'dataset');

// Small enough for CI's 2 cores: 240 images at 48 px, resnet18 from scratch, linear head.
const TRAIN_ARGS = ['--arch', 'resnet18', '--scratch', '--head', 'linear', '--input-size', '48', '--batch-size', '16', '--frozen-epochs', '1', '--unfrozen-epochs', '5', '--patience', '10', '--lr', '0.003', '--unfrozen-lr', '0.002', '--no-lr-find', '--no-augment', '--seed', '5', '--workers', '1'];

interface Results {
  metrics: { accuracy: number; rocAuc: number };
  predictions: { id: string; label: number; probability: number }[];
  history: unknown[];
}
const readResults = (dir: string): Results => JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')) as Results;

function runCli(args: readonly string[]): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, HIPFRAC_SALT_FILE: saltFile } });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

after(() => rmSync(work, { recursive: true, force: true }));

test('e2e: synthetic cohort → import → train → report; resume after SIGKILL equals an uninterrupted run', { timeout: 1_500_000 }, async () => {
  // The phantom cohort's DICOM (several transfer syntaxes, MONOCHROME1/2) imports without a failure.
  const cohort = await generateCohort({ out: cohortDir, patients: 12, seed: 11, difficulty: 'easy', size: 128, workers: 2 });
  const phantomReport = await importDataset({
    inputDir: path.join(cohortDir, 'images'),
    outDir: phantomDataset,
    labels: cohortLabelSpec(cohortDir),
    saltFile,
    workers: 2,
  });
  assert.equal(phantomReport.imported, cohort.images.length);
  assert.equal(phantomReport.labels.labelled, cohort.images.length);
  assert.equal(Object.keys(phantomReport.failed).length, 0, JSON.stringify(phantomReport.failed));

  await writeFolderDataset(foldersDir, 120, 11);
  const report = await importDataset({ inputDir: foldersDir, outDir: datasetDir, layout: 'folders', saltFile, workers: 2 });
  assert.equal(report.imported, 240);

  // Uninterrupted run.
  const runA = path.join(work, 'runA');
  const a = runCli(['train', '--data', datasetDir, '--out', runA, ...TRAIN_ARGS]);
  assert.equal(a.status, 0, a.stderr.slice(-2000));
  const resultsA = readResults(runA);
  const positives = resultsA.predictions.filter((p) => p.label === 1).length / resultsA.predictions.length;
  const chance = Math.max(positives, 1 - positives);
  assert.ok(resultsA.metrics.accuracy > chance + 0.15, `accuracy ${resultsA.metrics.accuracy} vs chance ${chance}`);
  assert.ok(resultsA.metrics.rocAuc > 0.8, `AUC ${resultsA.metrics.rocAuc}`);
  for (const f of ['model/model.safetensors', 'model/model.json', 'report.html', 'log.jsonl']) assert.ok(existsSync(path.join(runA, f)), f);
  const html = readFileSync(path.join(runA, 'report.html'), 'utf8');
  assert.match(html, /Learning curves/);
  assert.match(html, /validation ROC AUC/, 'the learning curves show the validation ROC AUC beside the accuracy');
  assert.match(html, /the epoch kept has the best validation accuracy/, 'the caption names the monitor (accuracy by default)');
  assert.doesNotMatch(html, /img0\d{3}\.png/, 'no source file names in the report');

  // The same run killed with SIGKILL after 3 epochs, then resumed.
  const runB = path.join(work, 'runB');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'train', '--data', datasetDir, '--out', runB, ...TRAIN_ARGS], { env: { ...process.env, HIPFRAC_SALT_FILE: saltFile }, stdio: 'ignore' });
    const poll = setInterval(() => {
      const log = path.join(runB, 'log.jsonl');
      if (existsSync(log) && readFileSync(log, 'utf8').trim().split('\n').length >= 3) child.kill('SIGKILL');
    }, 200);
    child.on('exit', (_code, signal) => {
      clearInterval(poll);
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`the run ended before it could be killed (signal ${String(signal)})`));
    });
  });
  assert.ok(!existsSync(path.join(runB, 'results.json')), 'the killed run did not finish');
  // A run started before the box-peak loss and the fine box head existed has neither key in its config.json: it resumes.
  const configFile = path.join(runB, 'config.json');
  const saved = JSON.parse(readFileSync(configFile, 'utf8')) as { config: Record<string, unknown> };
  assert.equal(saved.config['boxPeakWeight'], 0);
  delete saved.config['boxPeakWeight'];
  delete saved.config['boxHead'];
  writeFileSync(configFile, JSON.stringify(saved));
  const b = runCli(['train', '--data', datasetDir, '--out', runB, '--resume', ...TRAIN_ARGS]);
  assert.equal(b.status, 0, b.stderr.slice(-2000));
  assert.match(b.stderr, /resuming at stage/);
  const resultsB = readResults(runB);
  assert.equal(resultsB.history.length, resultsA.history.length);
  assert.equal(resultsB.predictions.length, resultsA.predictions.length);
  resultsA.predictions.forEach((p, i) => {
    const q = resultsB.predictions[i];
    assert.equal(q?.id, p.id);
    assert.ok(Math.abs((q?.probability ?? Number.NaN) - p.probability) < 1e-5, `prediction ${i}: ${q?.probability} vs ${p.probability}`);
  });
  assert.equal(resultsB.metrics.accuracy, resultsA.metrics.accuracy);
});

test('e2e: compare trains two architectures on the same split, writes compare.html, and reuses finished runs', { timeout: 900_000 }, () => {
  // Needs the folder dataset the test above imported.
  assert.ok(existsSync(datasetDir), 'the import test ran first');
  const out = path.join(work, 'compare');
  // TRAIN_ARGS without its --arch and --unfrozen-epochs pairs (compare names the architectures; one epoch each).
  const dropped = new Set(['--arch', '--unfrozen-epochs']);
  const trainArgs = TRAIN_ARGS.filter((a, i) => !dropped.has(a) && !dropped.has(TRAIN_ARGS[i - 1] ?? ''));
  const args = ['compare', '--data', datasetDir, '--out', out, '--archs', 'resnet18,squeezenet1_1', ...trainArgs, '--unfrozen-epochs', '1'];
  const first = runCli(args);
  assert.equal(first.status, 0, first.stderr.slice(-2000));
  assert.match(first.stdout, /^resnet18 +accuracy \d+\.\d %$/m);
  assert.match(first.stdout, /^squeezenet1_1 +accuracy \d+\.\d %$/m);
  const html = readFileSync(path.join(out, 'compare.html'), 'utf8');
  // A folder dataset has no patient keys: its split is by image, and the subtitle says so.
  assert.match(html, /2 architectures, same protocol, same image-level split \(\d+ validation images\)/);
  for (const arch of ['resnet18', 'squeezenet1_1']) {
    assert.ok(existsSync(path.join(out, arch, 'model', 'model.json')), `${arch} checkpoint`);
    assert.equal(readResults(path.join(out, arch)).predictions.length, readResults(path.join(out, 'resnet18')).predictions.length, 'same validation images');
  }
  // A second call trains nothing: both runs are finished, and the comparison is rebuilt from their results.
  const again = runCli(args);
  assert.equal(again.status, 0, again.stderr.slice(-2000));
  assert.match(again.stderr, /resnet18: finished earlier, reusing/);
  assert.match(again.stderr, /squeezenet1_1: finished earlier, reusing/);
  assert.equal(again.stdout, first.stdout, 'the same table from the stored results');
});
