// End to end on a tiny synthetic cohort: phantom DICOM → import → train (CLI) → checkpoint + report.
// Proves that accuracy rises well above chance and that a run killed with SIGKILL and resumed ends
// with exactly the predictions of an uninterrupted run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateCohort } from '../../src/phantom/index.js';
import { importDataset } from '../../src/data/index.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-e2e-'));
const saltFile = path.join(work, 'salt.key');
const cohortDir = path.join(work, 'cohort');
const datasetDir = path.join(work, 'dataset');

// Small enough for CI's 2 cores, large enough to learn: ~250 images at 64 px, resnet18 from scratch.
const TRAIN_ARGS = ['--arch', 'resnet18', '--scratch', '--input-size', '64', '--batch-size', '16', '--frozen-epochs', '1', '--unfrozen-epochs', '6', '--patience', '10', '--lr', '0.003', '--unfrozen-lr', '0.002', '--no-lr-find', '--seed', '5', '--workers', '1'];

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

test('e2e: synthetic cohort → import → train → report; resume after SIGKILL equals an uninterrupted run', { timeout: 1_500_000 }, async (t) => {
  t.after(() => rmSync(work, { recursive: true, force: true }));
  await generateCohort({ out: cohortDir, patients: 120, seed: 11, difficulty: 'easy', size: 128, workers: 2 });
  const report = await importDataset({
    inputDir: path.join(cohortDir, 'images'),
    outDir: datasetDir,
    labels: { file: path.join(cohortDir, 'labels.csv'), join: 'sop', keyColumn: 'sop_instance_uid', labelColumn: 'label' },
    saltFile,
    workers: 2,
  });
  assert.ok(report.imported > 200, `imported ${report.imported}`);
  assert.equal(Object.keys(report.failed).length, 0, JSON.stringify(report.failed));

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
  assert.doesNotMatch(html, /PHANTOM-S11-P/, 'no patient IDs in the report');

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
