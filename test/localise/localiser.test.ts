// The hip localiser on a small phantom cohort: trained on some patients, it finds the hip region of held-out
// patients' whole radiographs (a loose bound for a short run; bench/localiser.ts measures the real figure), and it
// survives a round trip through the checkpoint unchanged.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cachedPngPath, decodeGrey, importDataset, readManifestRows, splitByPatient, type ManifestRow, type RegionOfInterest } from '../../src/data/index.js';
import { augmentWithRegions, iou, LocaliserNet, loadLocaliser, localiseFiles, localiseGrey, predictRegions, saveLocaliser, trainLocaliser } from '../../src/localise/index.js';
import { narrow, tensor, tidy } from '../../src/torch/index.js';
import { Rng } from '../../src/util/index.js';
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
  const predicted = await localiseFiles(net, test.map((r) => cachedPngPath(dataset, r)), 1, test);
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
  const [a] = localiseGrey(net, pixels, row.cacheWidth, row.cacheHeight) as [RegionOfInterest];
  const [b] = localiseGrey(loaded.net, pixels, row.cacheWidth, row.cacheHeight) as [RegionOfInterest];
  a.forEach((v, k) => assert.ok(Math.abs(v - (b[k] as number)) < 1e-5, `coordinate ${k}: ${v} vs ${b[k]}`));
  net.dispose();
  loaded.net.dispose();
});

test('augmentation moves the region with the image (mirror, zoom about a random centre)', () => {
  const size = 64;
  const roi: RegionOfInterest = [0.2, 0.3, 0.45, 0.7];
  const plane = new Float32Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if (x >= roi[0] * size && x < roi[2] * size && y >= roi[1] * size && y < roi[3] * size) plane[y * size + x] = 1;
  const n = 8;
  const batch = new Float32Array(n * size * size);
  for (let i = 0; i < n; i++) batch.set(plane, i * size * size);
  tidy(() => {
    const { images, rois } = augmentWithRegions(tensor(batch, [n, 1, size, size]), new Array<RegionOfInterest>(n).fill(roi), new Rng(5));
    const data = images.toFloat32Array();
    let mirrored = 0;
    rois.forEach((moved, i) => {
      // The bright block's bounding box after resampling (pixels above half) against the moved region, in pixels.
      let x0 = size, y0 = size, x1 = 0, y1 = 0;
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if ((data[i * size * size + y * size + x] as number) > 0.5) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x + 1), Math.max(y1, y + 1)];
      moved.forEach((v, k) => assert.ok(Math.abs(v * size - ([x0, y0, x1, y1][k] as number)) <= 1.5, `image ${i}, edge ${k}: region ${(v * size).toFixed(1)} px, pixels ${[x0, y0, x1, y1][k]}`));
      if ((moved[0] + moved[2]) / 2 > 0.5) mirrored++;
    });
    assert.ok(mirrored > 0 && mirrored < n, `some images are mirrored (${mirrored} of ${n})`);
  });
});

test('the header picks the slot for a frontal view of one side; otherwise the slot logits; one-slot checkpoints still load', async () => {
  const net = new LocaliserNet(64);
  net.startAt([0.3, 0.5, 0.3, 0.3, 0.7, 0.5, 0.3, 0.3]);
  net.eval();
  const image = tensor(Float32Array.from({ length: 64 * 64 }, (_, i) => (i % 7) / 7), [1, 1, 64, 64]);
  tidy(() => {
    const out = net.call(image).toFloat32Array();
    const region = (o: number): number[] => [out[o]! - out[o + 2]! / 2, out[o + 1]! - out[o + 3]! / 2];
    const [left] = predictRegions(net, image, [{ view: 'AP', laterality: 'R' }]);
    const [right] = predictRegions(net, image, [{ view: 'AP', laterality: 'L' }]);
    const [lateral] = predictRegions(net, image, [{ view: 'lateral', laterality: 'L' }]);
    // The patient's right is on the image's left: slot 0; the left: slot 1; a lateral view: the logits decide.
    region(0).forEach((v, k) => assert.ok(Math.abs(v - (left as RegionOfInterest)[k]!) < 1e-5));
    region(4).forEach((v, k) => assert.ok(Math.abs(v - (right as RegionOfInterest)[k]!) < 1e-5));
    const bySlot = out[9]! > out[8]! ? 4 : 0;
    region(bySlot).forEach((v, k) => assert.ok(Math.abs(v - (lateral as RegionOfInterest)[k]!) < 1e-5));
    assert.equal(narrow(net.call(image), 1, 0, 10).shape[1], 10);
  });
  const ckpt = path.join(work, 'one-slot');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(ckpt, { recursive: true });
  writeFileSync(path.join(ckpt, 'model.json'), JSON.stringify({ architecture: 'resnet18' }));
  const old = new LocaliserNet(64, false);
  old.eval();
  await saveLocaliser(ckpt, old, { version: 1, dir: 'localiser', inputSize: 64, epochs: 1, trainedOn: 4 });
  const loaded = loadLocaliser(ckpt);
  assert.ok(loaded !== null && !loaded.net.sided);
  const a = tidy(() => predictRegions(old, image)[0] as RegionOfInterest);
  const b = tidy(() => predictRegions(loaded.net, image)[0] as RegionOfInterest);
  a.forEach((v, k) => assert.ok(Math.abs(v - (b[k] as number)) < 1e-5));
  image.dispose();
  net.dispose();
  old.dispose();
  loaded.net.dispose();
});
