// The input gate on a small phantom model trained here: what must fail (blank, uniform, a photograph-like scene,
// a CT/MR-like slice, an inverted MONOCHROME1 image, a chest film, a colour photograph) fails and says why; what
// must pass (held-out phantom radiographs) mostly passes; the gate travels in the checkpoint; predict never
// auto-reports an image that fails it; a view probe restricted to AP refuses lateral views.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { cachedPngPath, decodeGrey, importDataset, loadManifest, readManifestRows, splitByPatient, splitPath, writeJsonAtomic, type ManifestRow } from '../../src/data/index.js';
import { colourfulness, fitMahalanobis, fitProbe, gateFeatures, InputGate, mahalanobisScore, polarityCues, probeProbabilities, type GateFeatures, type GateVerdict } from '../../src/gate/index.js';
import { loadCheckpoint, type Classifier } from '../../src/models/index.js';
import { cohortLabelSpec, generateCohort } from '../../src/phantom/index.js';
import { tensor, tidy } from '../../src/torch/index.js';
import { configFromFlags } from '../../src/cli/commands/train.js';
import { trainRun } from '../../src/cli/pipeline/trainRun.js';
import { blank, chestFilm, crossSection, inverted, photograph, uniform, type Plane } from './fixtures.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-gate-'));
const datasetDir = path.join(work, 'dataset');
const SIZE = 64;
let model: Classifier;
let gate: InputGate;
let testRows: ManifestRow[] = [];
let checkpointDir = '';

async function plane(row: ManifestRow): Promise<Plane> {
  // As the loaders and predict see it: squished to the input size.
  return Float32Array.from(await decodeGrey(cachedPngPath(datasetDir, row), { width: SIZE, height: SIZE }, 'squish', null), (v) => v / 65535);
}

const verdicts = (planes: readonly Plane[]): ReturnType<InputGate['check']> => {
  const data = new Float32Array(planes.length * SIZE * SIZE);
  planes.forEach((p, i) => data.set(p, i * SIZE * SIZE));
  return tidy(() => gate.check(model, tensor(data, [planes.length, 1, SIZE, SIZE])));
};

before(async () => {
  await generateCohort({ out: path.join(work, 'cohort'), patients: 80, seed: 8, difficulty: 'easy', size: 128, workers: 2 });
  // A fixed salt: the same patient keys on every run, so the trained model and its gate are the same every time.
  writeFileSync(path.join(work, 'salt.key'), `${'5a'.repeat(32)}\n`, { mode: 0o600 });
  await importDataset({ inputDir: path.join(work, 'cohort', 'images'), outDir: datasetDir, labels: cohortLabelSpec(path.join(work, 'cohort')), saltFile: path.join(work, 'salt.key'), workers: 2 });
  const rows = await readManifestRows(datasetDir);
  await writeJsonAtomic(splitPath(datasetDir), splitByPatient(rows, { valFraction: 0.25, testFraction: 0.2, seed: 3 }));
  const config = configFromFlags({ arch: 'resnet18', scratch: true, head: 'linear', 'input-size': String(SIZE), 'batch-size': '16', 'unfrozen-epochs': '3', 'unfrozen-lr': '0.002', 'no-lr-find': true, 'no-augment': true, seed: '2' });
  const run = await trainRun({ datasetDir, outDir: path.join(work, 'run'), config, resume: false, workers: 1, log: () => {} });
  run.model.dispose();
  checkpointDir = run.checkpointDir;
  model = loadCheckpoint(checkpointDir).model;
  const loaded = InputGate.load(checkpointDir);
  assert.ok(loaded !== null, 'train stores a gate in the checkpoint');
  gate = loaded;
  testRows = run.testRows;
});

after(() => {
  model?.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe('input gate', { timeout: 600_000 }, () => {
  it('is calibrated on validation near the asked pass rate and passes most held-out test radiographs', async () => {
    const card = gate.card;
    assert.equal(card.passRate, 0.95);
    assert.ok(card.measured.validation.passRate >= 0.85, `validation pass rate ${card.measured.validation.passRate}`);
    const passed = verdicts(await Promise.all(testRows.map(plane))).filter((v) => v.pass).length;
    assert.ok(passed / testRows.length >= 0.7, `${passed} of ${testRows.length} test radiographs pass`);
    assert.ok(Math.abs(passed / testRows.length - (card.measured.test?.passRate ?? -1)) < 0.05, 'the card records the test pass rate');
  });

  it('refuses blank, uniform, photograph-like, CT/MR-like, inverted (MONOCHROME1) and chest-film inputs, naming why', async () => {
    const radiograph = await plane(testRows[0] as ManifestRow);
    const cases: [string, Plane][] = [
      ['blank', blank(SIZE)],
      ['uniform', uniform(SIZE)],
      ['photograph', photograph(SIZE)],
      ['CT/MR slice', crossSection(SIZE)],
      ['inverted MONOCHROME1', inverted(radiograph)],
      ['chest film', chestFilm(SIZE)],
    ];
    const results = verdicts(cases.map(([, p]) => p));
    results.forEach((v, i) => {
      const name = (cases[i] as [string, Plane])[0];
      assert.equal(v.pass, false, `${name} passed the gate (scores ${JSON.stringify(v.scores)}, thresholds ${JSON.stringify(gate.card.thresholds)})`);
      assert.ok(v.reasons.length > 0, `${name}: no reason given`);
    });
    assert.match((results[0]?.reasons ?? []).join(), /blank or uniform/);
    // Polarity is scored on the image against its own inversion: the two scores sum to one, so the inversion of a
    // radiograph that reads the right way up fails as inverted, whatever one odd validation image did.
    const [asIs, flipped] = verdicts([radiograph, inverted(radiograph)]) as [GateVerdict, GateVerdict];
    assert.ok(Math.abs(asIs.scores.inverted + flipped.scores.inverted - 1) < 1e-9, `${asIs.scores.inverted} + ${flipped.scores.inverted}`);
    assert.ok(asIs.scores.inverted < 0.5, `the radiograph itself reads as inverted (${asIs.scores.inverted})`);
    assert.match(flipped.reasons.join(), /grey scale looks inverted/);
  });

  it('predict sends an image that fails the gate to review with the reason; a colour photograph fails as colour', async () => {
    const inputs = path.join(work, 'inputs');
    mkdirSync(inputs, { recursive: true });
    await sharp(Buffer.from(blank(SIZE).map(() => 0)), { raw: { width: SIZE, height: SIZE, channels: 1 } }).png().toFile(path.join(inputs, 'blank.png'));
    const rgb = Buffer.alloc(SIZE * SIZE * 3);
    photograph(SIZE).forEach((v, i) => {
      rgb[i * 3] = Math.round(255 * v * 0.6);
      rgb[i * 3 + 1] = Math.round(255 * v * 0.9);
      rgb[i * 3 + 2] = Math.round(255 * Math.min(1, v * 1.3));
    });
    await sharp(rgb, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(path.join(inputs, 'photo.png'));
    assert.ok((await colourfulness(path.join(inputs, 'photo.png'))) > 0.04);
    assert.equal(await colourfulness(path.join(inputs, 'blank.png')), 0);
    const out = path.join(work, 'predictions');
    const r = spawnSync(process.execPath, [CLI, 'predict', inputs, '--model', checkpointDir, '--out', out, '--no-heatmaps', '--cutoff', '0.5'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const rows = (JSON.parse(readFileSync(path.join(out, 'predictions.json'), 'utf8')) as { predictions: { key: string; decision: string; reason: string; gate: { pass: boolean } }[] }).predictions;
    for (const row of rows) {
      assert.equal(row.decision, 'radiologist-review', `${row.key} was auto-reported`);
      assert.equal(row.gate.pass, false);
      assert.match(row.reason, /^input gate: /);
    }
    assert.match(rows.find((x) => x.key === 'photo.png')?.reason ?? '', /colour image/);
  });

  it('predict on ONNX Runtime scores the gate on the graph\'s features output, as LibTorch\'s pass does', async () => {
    // The held-out test radiographs and a blank image: the same verdicts on both engines (images whose scores sit on
    // a threshold excepted: float rounding differs between engines, and the thresholds are validation images' scores).
    const inputs = path.join(work, 'engines');
    mkdirSync(inputs, { recursive: true });
    for (const row of testRows) await sharp(cachedPngPath(datasetDir, row)).toFile(path.join(inputs, `${row.id}.png`));
    await sharp(Buffer.from(blank(SIZE).map(() => 0)), { raw: { width: SIZE, height: SIZE, channels: 1 } }).png().toFile(path.join(inputs, 'blank.png'));
    type Row = { key: string; decision: string; gate: GateVerdict };
    const run = (engine: string): { rows: Row[]; stderr: string } => {
      const out = path.join(work, `engine-${engine}`);
      const r = spawnSync(process.execPath, [CLI, 'predict', inputs, '--model', checkpointDir, '--out', out, '--no-heatmaps', '--engine', engine, '--cutoff', '0.5'], { encoding: 'utf8', timeout: 300_000 });
      assert.equal(r.status, 0, r.stderr);
      return { rows: (JSON.parse(readFileSync(path.join(out, 'predictions.json'), 'utf8')) as { predictions: Row[] }).predictions, stderr: r.stderr };
    };
    const onnx = run('onnx');
    assert.match(onnx.stderr, /graph: exported in memory \(fp32, with features\)/);
    const torch = run('libtorch');
    assert.equal(onnx.rows.length, testRows.length + 1);
    const thresholds: Record<string, number> = gate.card.thresholds;
    let compared = 0;
    for (const row of onnx.rows) {
      const twin = torch.rows.find((x) => x.key === row.key);
      assert.ok(twin !== undefined, row.key);
      for (const [name, score] of Object.entries(row.gate.scores)) assert.ok(Math.abs(score - (twin.gate.scores[name as keyof typeof row.gate.scores] as number)) <= 1e-4 * Math.max(1, Math.abs(score)), `${row.key} ${name}`);
      const onThreshold = Object.entries(thresholds).some(([name, t]) => Math.abs((row.gate.scores[name as keyof typeof row.gate.scores] ?? Infinity) - t) <= 1e-4 * Math.max(1, Math.abs(t)));
      if (onThreshold) continue;
      compared++;
      assert.equal(row.gate.pass, twin.gate.pass, row.key);
      assert.deepEqual(row.gate.reasons, twin.gate.reasons, row.key);
      assert.equal(row.decision, twin.decision, row.key);
    }
    assert.ok(compared >= onnx.rows.length / 2, `only ${compared} of ${onnx.rows.length} images were off the thresholds`);
    assert.equal(onnx.rows.find((x) => x.key === 'blank.png')?.gate.pass, false);
  });

  it('a view probe where labels exist: restricted to AP, the gate refuses lateral radiographs', async () => {
    // Every image of the small cohort, AP and lateral interleaved so both halves hold both views.
    const all = (await loadManifest(datasetDir)).filter((r) => r.view === 'AP' || r.view === 'lateral');
    const ap = all.filter((r) => r.view === 'AP');
    const lat = all.filter((r) => r.view === 'lateral');
    const rows = ap.flatMap((r, i) => (i < lat.length ? [r, lat[i] as ManifestRow] : [r]));
    assert.ok(new Set(rows.map((r) => r.view)).size === 2, 'the phantom has AP and lateral views');
    const planes = await Promise.all(rows.map(plane));
    const data = new Float32Array(planes.length * SIZE * SIZE);
    planes.forEach((p, i) => data.set(p, i * SIZE * SIZE));
    const f = tidy(() => gateFeatures(model, tensor(data, [planes.length, 1, SIZE, SIZE])));
    // Pairs of positions alternate between fitting and held out (rows alternate AP, lateral): both hold both views.
    const pick = <T>(xs: readonly T[], parity: number): T[] => xs.filter((_, i) => Math.floor(i / 2) % 2 === parity);
    const part = (parity: number): GateFeatures => ({ features: pick(f.features, parity), logits: pick(f.logits, parity), pixels: pick(f.pixels, parity), polarity: pick(f.polarity, parity), invertedPolarity: pick(f.invertedPolarity, parity) });
    const trainPart = part(0);
    const heldOut = part(1);
    const fitRows = pick(rows, 0);
    const heldRows = pick(rows, 1);
    const apOnly = InputGate.fit({ ...trainPart, labels: fitRows.map((r) => r.label ?? 0), bodyParts: fitRows.map(() => null), views: fitRows.map((r) => r.view) }, heldOut, { acceptViews: ['AP'] });
    assert.deepEqual(apOnly.card.view?.accepted, ['AP']);
    let lateralRefused = 0, lateral = 0, viewRight = 0;
    heldRows.forEach((r, i) => {
      const v = apOnly.verdictOf(heldOut, i);
      if (v.view?.name === r.view) viewRight++;
      if (r.view === 'lateral') {
        lateral++;
        if (v.reasons.some((x) => x.startsWith("view looks like 'lateral'"))) lateralRefused++;
      }
    });
    assert.ok(viewRight / heldRows.length >= 0.75, `view probe right on ${viewRight} of ${heldRows.length} held-out images`);
    assert.ok(lateral > 0 && lateralRefused / lateral >= 0.75, `${lateralRefused} of ${lateral} lateral views refused`);
  });

  it('Mahalanobis scores a far point above the training cloud', () => {
    const cloud = Array.from({ length: 50 }, (_, i) => [Math.sin(i), Math.cos(i * 1.3), (i % 7) / 7]);
    const m = fitMahalanobis(cloud, null);
    assert.ok(mahalanobisScore(m, [5, 5, 5]) > 10 * mahalanobisScore(m, [0, 0, 0.4]));
  });

  it('a probe keeps a feature that never varied in training from deciding alone where it does vary', () => {
    // Feature 1 is a near-dead channel in training (0 but once, in a 'b' image, 1e-4) and fires at 0.05 on a new
    // image: it must not swamp feature 0, which separates the classes.
    const vectors = Array.from({ length: 40 }, (_, i) => [i % 2 === 0 ? -1 + 0.01 * i : 1 - 0.01 * i, i === 1 ? 1e-4 : 0]);
    const probe = fitProbe(vectors, vectors.map((_, i) => (i % 2 === 0 ? 'a' : 'b')));
    assert.ok(probe !== null);
    const p = probeProbabilities(probe, [-1, 0.05]);
    assert.ok((p[0] as number) > 0.5, `dead channel decided: ${JSON.stringify(p)}`);
    assert.ok((probe.scale[1] as number) >= 0.004, `scale of the near-dead channel ${probe.scale[1]}`);
  });

  it('the polarity cues change sign with the grey scale and read a textured bright bone on a flat dark ground the right way up', () => {
    // A bright disc with fine texture (bone) on a flat dark ground (air) and a bright flat border (collimator).
    const size = 48;
    let seed = 5;
    const noise = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2;
    const plane = Float32Array.from({ length: size * size }, (_, i) => {
      const x = i % size, y = Math.floor(i / size);
      if (x < 4 || y < 4) return 0.95;
      return (x - 26) ** 2 + (y - 26) ** 2 < 12 ** 2 ? 0.7 + noise() : 0.15;
    });
    const cues = polarityCues(plane, size);
    const flipped = polarityCues(Float32Array.from(plane, (v) => 1 - v), size);
    assert.ok((cues[0] as number) > 0.01, `bright texture minus dark texture ${cues[0]}`);
    assert.ok((cues[1] as number) > 0.1, `texture-weighted mean minus mean ${cues[1]}`);
    cues.forEach((c, j) => assert.ok(Math.abs(c + (flipped[j] as number)) < 0.02 * Math.max(1, Math.abs(c)), `cue ${j}: ${c} and ${flipped[j]} after inversion`));
  });

  it('shrinking towards the diagonal keeps a small-scale entry of a mixed-unit descriptor informative', () => {
    // Entry 0 varies by ~1, entry 1 by ~0.01 (a share next to a skewness): an image 20 spreads off in entry 1 is
    // far, but a common variance target adds ~0.5 to entry 1's variance and hides it.
    const cloud = Array.from({ length: 40 }, (_, i) => [Math.sin(i * 2.1), 0.01 * Math.cos(i * 0.7)]);
    const scaled = fitMahalanobis(cloud, null);
    const diagonal = fitMahalanobis(cloud, null, { target: 'diagonal' });
    const far = [0, 0.2];
    assert.ok(mahalanobisScore(diagonal, far) > 100, `diagonal target: ${mahalanobisScore(diagonal, far)}`);
    assert.ok(mahalanobisScore(scaled, far) < 5, `scaled identity: ${mahalanobisScore(scaled, far)}`);
    assert.ok(mahalanobisScore(diagonal, [0, 0]) < 1);
  });
});
