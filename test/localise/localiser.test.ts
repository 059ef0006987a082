// The hip localiser on a small phantom cohort: trained on some patients, it finds the hip region of held-out
// patients' whole radiographs (a loose bound for a short run; bench/localiser.ts measures the real figure), and it
// survives a round trip through the checkpoint unchanged.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cachedPngPath, decodeGrey, importDataset, readManifestRows, splitByPatient, type ManifestRow, type RegionOfInterest } from '../../src/data/index.js';
import { iou, loadLocaliser, localiseFiles, localiseGrey, saveLocaliser, trainLocaliser } from '../../src/localise/index.js';
import { cohortLabelSpec, generateCohort } from '../../src/phantom/index.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-localiser-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('iou of boxes', () => {
  assert.equal(iou([0, 0, 1, 1], [0, 0, 1, 1]), 1);
  assert.equal(iou([0, 0, 1, 1], [2, 2, 3, 3]), 0);
  assert.ok(Math.abs(iou([0, 0, 2, 1], [1, 0, 3, 1]) - 1 / 3) < 1e-12);
});

test('the localiser finds held-out patients\' hip regions and round-trips through the checkpoint', { timeout: 900_000 }, async () => {
  await generateCohort({ out: path.join(work, 'cohort'), patients: 60, seed: 4, difficulty: 'easy', size: 128, workers: 2 });
  const dataset = path.join(work, 'dataset');
  await importDataset({ inputDir: path.join(work, 'cohort', 'images'), outDir: dataset, labels: cohortLabelSpec(path.join(work, 'cohort')), saltFile: path.join(work, 'salt.key'), workers: 2 });
  const rows = (await readManifestRows(dataset)).filter((r): r is ManifestRow & { roi: RegionOfInterest } => r.roi !== undefined && r.roi !== null);
  const split = splitByPatient(rows, { valFraction: 0.1, testFraction: 0.25, seed: 2 });
  const train = rows.filter((r) => split.assignments[r.id] !== 'test');
  const test = rows.filter((r) => split.assignments[r.id] === 'test');
  const { net, card, losses } = await trainLocaliser(train.map((r) => ({ imagePath: cachedPngPath(dataset, r), roi: r.roi })), { inputSize: 64, epochs: 15, seed: 1, workers: 1 });
  assert.ok((losses.at(-1) as number) < (losses[0] as number), `the loss falls: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  const predicted = await localiseFiles(net, test.map((r) => cachedPngPath(dataset, r)));
  const ious = test.map((r, i) => iou(predicted[i] as RegionOfInterest, r.roi)).sort((a, b) => a - b);
  const median = ious[Math.floor((ious.length - 1) / 2)] as number;
  assert.ok(median >= 0.5, `median IoU ${median.toFixed(3)} on ${ious.length} held-out images (${ious.map((v) => v.toFixed(2)).join(' ')})`);

  // Stored beside a classifier card and loaded back: the same region for the same image.
  const ckpt = path.join(work, 'checkpoint');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(ckpt, { recursive: true });
  writeFileSync(path.join(ckpt, 'model.json'), JSON.stringify({ architecture: 'resnet18' }));
  await saveLocaliser(ckpt, net, card);
  const loaded = loadLocaliser(ckpt);
  assert.ok(loaded !== null);
  const row = test[0] as ManifestRow;
  const pixels = await decodeGrey(cachedPngPath(dataset, row), { width: row.cacheWidth, height: row.cacheHeight }, 'squish');
  const a = localiseGrey(net, pixels, row.cacheWidth, row.cacheHeight);
  const b = localiseGrey(loaded.net, pixels, row.cacheWidth, row.cacheHeight);
  a.forEach((v, k) => assert.ok(Math.abs(v - (b[k] as number)) < 1e-5, `coordinate ${k}: ${v} vs ${b[k]}`));
  net.dispose();
  loaded.net.dispose();
});
