// `hipfrac compare` on a split with a held-out test set, end to end: every run's predictions are the test images'
// (none of validation), compare.html says its figures are on test, and its McNemar column shows each p-value
// Holm-adjusted (holmAdjust of src/train/metrics) over the comparisons, the raw p in the cell's title. Holm needs two
// comparisons or more (one p-value is its own adjustment) and a p-value below 1 (models one epoch from scratch often
// all call the same class, b = c = 0): compare trains resnet18 on the split, then two more architectures are given
// to it as finished runs with chosen test predictions (one right on every image, one wrong on three), which compare
// reuses as it reuses any finished run with the same configuration.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatPValue } from '../../src/report/index.js';
import { holmAdjust, mcnemarTest } from '../../src/train/metrics/index.js';
import { splitFolderDataset } from '../helpers/folders.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-compare-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

const TRAIN_ARGS = ['--scratch', '--head', 'linear', '--input-size', '32', '--batch-size', '8', '--unfrozen-epochs', '1', '--lr', '0.003', '--unfrozen-lr', '0.002', '--no-lr-find', '--no-augment', '--seed', '5', '--workers', '1'];

interface Results {
  evaluatedOn: string;
  config: Record<string, unknown>;
  predictions: { id: string; label: number; probability: number }[];
}

/** `&lt;` and friends back to text (escapeHtml's five). */
const unescape = (s: string): string => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

test('compare on a split with a test set: figures on test, McNemar p-values Holm-adjusted over the comparisons', { timeout: 600_000 }, async () => {
  const { dataset, rows, split } = await splitFolderDataset(work, 'dataset', 24, 51, { valFraction: 0.25, testFraction: 0.3, seed: 1 });
  const testIds = new Set(rows.filter((r) => split.assignments[r.id] === 'test').map((r) => r.id));
  assert.ok(testIds.size >= 10, `${testIds.size} test images`);
  const out = path.join(work, 'compare');
  const compare = (archs: readonly string[]): string => {
    const r = spawnSync(process.execPath, [CLI, 'compare', '--data', dataset, '--out', out, '--archs', archs.join(','), ...TRAIN_ARGS], { encoding: 'utf8', env: { ...process.env, HIPFRAC_SALT_FILE: path.join(work, 'salt.key') } });
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    return r.stdout;
  };

  // The trained run's figures are the test images' own, and the printed accuracy is measured on them.
  const first = compare(['resnet18']);
  const trained = JSON.parse(readFileSync(path.join(out, 'resnet18', 'results.json'), 'utf8')) as Results;
  assert.equal(trained.evaluatedOn, 'test', 'results.json says its figures are on test');
  assert.deepEqual(new Set(trained.predictions.map((p) => p.id)), testIds, 'the predictions are the test images\'');
  const labels = trained.predictions.map((p) => p.label);
  const calls = (probabilities: readonly number[]): number[] => probabilities.map((p) => (p >= 0.5 ? 1 : 0));
  const accuracyOf = (c: readonly number[]): string => (100 * c.filter((v, i) => v === labels[i]).length / labels.length).toFixed(1);
  // The table compare builds from the run it has just trained is on the test images too.
  assert.match(first, new RegExp(`^resnet18 +accuracy ${accuracyOf(calls(trained.predictions.map((p) => p.probability)))} %$`, 'm'));
  assert.match(readFileSync(path.join(out, 'compare.html'), 'utf8'), new RegExp(`1 architecture, same protocol, same image-level split \\(${testIds.size} test images\\)`));

  // Two finished runs of other architectures on the same test images, with the same configuration.
  const chosen: Record<string, number[]> = {
    squeezenet1_1: labels.map((y) => (y === 1 ? 0.9 : 0.1)),
    squeezenet1_0: labels.map((y, i) => ((y === 1) !== (i < 3) ? 0.8 : 0.2)),
  };
  for (const [arch, probabilities] of Object.entries(chosen)) {
    mkdirSync(path.join(out, arch), { recursive: true });
    const stored = { ...trained, config: { ...trained.config, arch }, predictions: trained.predictions.map((p, i) => ({ ...p, probability: probabilities[i] as number })) };
    writeFileSync(path.join(out, arch, 'results.json'), JSON.stringify(stored));
  }
  const stdout = compare(['resnet18', ...Object.keys(chosen)]);
  const predicted: Record<string, number[]> = { resnet18: calls(trained.predictions.map((p) => p.probability)), ...Object.fromEntries(Object.entries(chosen).map(([a, p]) => [a, calls(p)])) };
  for (const [arch, c] of Object.entries(predicted)) assert.match(stdout, new RegExp(`^${arch} +accuracy ${accuracyOf(c)} %$`, 'm'), `${arch}: the table's accuracy is the test accuracy`);

  const html = readFileSync(path.join(out, 'compare.html'), 'utf8');
  assert.match(html, new RegExp(`3 architectures, same protocol, same image-level split \\(${testIds.size} test images\\)`));
  assert.match(html, new RegExp(`Every figure is measured on the ${testIds.size} test images \\(held out: epochs and temperature were chosen on validation\\)`));
  assert.match(html, /All models on the same test images\./);
  assert.doesNotMatch(html, /validation images/);
  assert.match(html, /McNemar p vs best \(Holm\)/);

  // The McNemar cells, row by row: the reference (best) and two tested models; each cell shows the Holm-adjusted p
  // and names the raw one in its title.
  const cells = [...html.matchAll(/<tr><th scope="row">([\w.]+)(?: <span class="badge">best<\/span>)?<\/th>.*?(<td class="num muted">reference<\/td>|<td class="num[^"]*" title="([^"]*)">([^<]*)<\/td>)<\/tr>/g)];
  assert.equal(cells.length, 3, 'one table row per architecture');
  const reference = cells.filter((c) => c[3] === undefined);
  assert.equal(reference.length, 1, 'one reference row');
  const best = reference[0]?.[1] as string;
  const tested = cells.filter((c) => c[3] !== undefined).map((c) => ({ arch: c[1] as string, title: unescape(c[3] as string), shown: unescape(c[4] as string) }));
  const raw = tested.map((t) => mcnemarTest(labels, predicted[best] as number[], predicted[t.arch] as number[]).pValue);
  const holm = holmAdjust(raw);
  tested.forEach((t, k) => {
    assert.match(t.title, new RegExp(`unadjusted p ${formatPValue(raw[k] as number).replace(/[.]/g, '\\.')}$`), `${t.arch}: the raw p of its test calls against ${best}'s`);
    assert.equal(t.shown, formatPValue(holm[k] as number), `${t.arch}: the cell shows holmAdjust of the raw p-values (raw ${raw.join(', ')})`);
  });
  // Not vacuous: one model is right on every image, another wrong on three, so one raw p is below 1 and Holm moves it.
  assert.ok(tested.some((t, k) => t.shown !== formatPValue(raw[k] as number)), `the adjustment shows (raw ${raw.join(', ')})`);
});
