// The input gate on the DICOM node: a checkpoint that carries a gate (fitted on phantom images in its own process)
// and a cut-off of 0.5, so that without the gate every image would be auto-reported. A uniform image C-STORE'd into
// a phantom study goes to review with the gate's reason and a heatmap, its study is not reported, and the decision
// and reason of every image whose gate scores are not on a threshold equal `hipfrac predict`'s on the same files
// (one cascade, two ways in: the node on ONNX Runtime with the graph's pooled-features output, predict on LibTorch).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDicom } from '../dicom/fixtures.js';
import { needs } from '../helpers/references.js';
import { makeFixture, runTool, startNode, waitFor, type Fixture } from './fixtures.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(HERE, '..', '..', 'src', 'cli', 'main.js');

const tagOf = (file: string, keyword: string): string => new RegExp(`\\[([^\\]]*)\\]`).exec(spawnSync('dcmdump', ['+P', keyword, file], { encoding: 'utf8' }).stdout)?.[1] as string;

interface PredictRow { file: string; decision: string; reason: string; gate?: { pass: boolean; reasons: string[]; scores: Record<string, number> } }

/** Relative distance within which a gate score counts as on its threshold: the node batches images differently from predict, and LibTorch's float rounding depends on the batch. */
const ON_THRESHOLD = 1e-4;

describe('the input gate on the DICOM node', needs('dcmtk'), () => {
  let fx: Fixture;
  let gatedModel: string;
  let blank: string;
  const stops: (() => Promise<void> | void)[] = [];

  before(async () => {
    fx = await makeFixture(6, 9);
    gatedModel = path.join(fx.dir, 'model-gate');
    const r = spawnSync(process.execPath, [path.join(HERE, 'addGate.js'), fx.modelDir, gatedModel, ...fx.files], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
    // A uniform image in the first file's study (what a detector read-out without exposure looks like).
    const first = fx.files[0] as string;
    const dir = path.join(fx.dir, 'blank');
    mkdirSync(dir);
    blank = makeDicom(dir, 'blank', { width: 128, height: 128, bitsAllocated: 16, bitsStored: 12, signed: false, pixels: Buffer.alloc(128 * 128 * 2, 0x07), studyInstanceUid: tagOf(first, 'StudyInstanceUID'), patientId: tagOf(first, 'PatientID'), patientName: tagOf(first, 'PatientName') });
  });

  after(async () => {
    for (const stop of stops.reverse()) await stop();
    fx?.cleanup();
  });

  test('a uniform image goes to review with the gate\'s reason, and the node decides every image as predict does', async () => {
    const data = path.join(fx.dir, 'node');
    const lines: string[] = [];
    const node = await startNode({ ...fx, modelDir: gatedModel }, data, {}, lines);
    stops.push(() => node.close());
    // The worker predicts on ONNX Runtime with a graph that also gives the pooled features the gate scores.
    const ready = await waitFor('the inference worker ready', () => lines.find((l) => l.includes('inference worker ready')), 120_000);
    assert.match(ready, /onnx \(fp32, exported in memory \(fp32, with features\)\).*logits and pooled features within/);
    const files = [...fx.files, blank];
    const sent = await runTool('storescu', ['-xr', '-aet', 'STORESCU', '-aec', 'HIPFRAC', '127.0.0.1', String(node.dicomPort), ...files]);
    assert.equal(sent.status, 0, sent.stderr);
    const sops = files.map((f) => tagOf(f, 'SOPInstanceUID'));
    const studyOfBlank = await waitFor('the uniform image stored', () => node.store.getInstance(sops.at(-1) as string)?.studyInstanceUid, 30_000);
    const studies = [...new Set(await Promise.all(sops.map((sop) => waitFor('an image stored', () => node.store.getInstance(sop)?.studyInstanceUid, 30_000))))];
    await waitFor('every study decided', () => studies.every((s) => (node.store.getStudy(s)?.decision ?? null) !== null) || undefined, 180_000);

    const results = new Map(studies.flatMap((s) => node.store.resultsOfStudy(s)).map((r) => [r.sopInstanceUid, r]));
    const blankResult = results.get(sops.at(-1) as string);
    assert.ok(blankResult !== undefined);
    assert.equal(blankResult.decision, 'radiologist-review');
    assert.match(blankResult.reason, /^input gate: blank or uniform image/);
    assert.notEqual(blankResult.heatmap, '', 'a reviewed image gets its heatmap');
    assert.notEqual(node.store.getStudy(studyOfBlank)?.decision, 'no-fracture', 'a study with a gated image is not reported as without fracture');

    // predict on the same files with the same checkpoint: the same route and reason for every image.
    const out = path.join(fx.dir, 'predict');
    const predicted = await runTool(process.execPath, [CLI, 'predict', ...files, '--model', gatedModel, '--no-heatmaps', '--format', 'json', '--out', out], 300_000);
    assert.equal(predicted.status, 0, predicted.stderr);
    const rows = (JSON.parse(readFileSync(path.join(out, 'predictions.json'), 'utf8')) as { predictions: PredictRow[] }).predictions;
    assert.equal(rows.length, files.length);
    const thresholds = (JSON.parse(readFileSync(path.join(gatedModel, 'model.json'), 'utf8')) as { gate: { thresholds: Record<string, number> } }).gate.thresholds;
    let compared = 0;
    for (const [i, file] of files.entries()) {
      const row = rows.find((r) => path.resolve(r.file) === path.resolve(file));
      const got = results.get(sops[i] as string);
      assert.ok(row !== undefined && got !== undefined, file);
      assert.ok(row.gate !== undefined, 'predict ran the gate');
      // A score on its threshold (the thresholds are validation images' scores) may fall either way.
      const onEdge = Object.entries(row.gate.scores).some(([name, v]) => Math.abs(v - (thresholds[name] as number)) <= ON_THRESHOLD * Math.max(1, Math.abs(v)));
      if (onEdge) continue;
      compared++;
      assert.equal(got.decision, row.decision, `${path.basename(file)}: ${got.reason} vs ${row.reason}`);
      // Both routes come from the same gate; an image that passes it is routed by the cut-off (0.5: auto-reported).
      if (row.gate.pass) assert.equal(got.decision, 'auto-report');
      else assert.equal(got.reason.replace(/[\d.]+/g, '#'), row.reason.replace(/[\d.]+/g, '#'));
    }
    // The thresholds sit on validation images (every other file here), so a few images are on one.
    assert.ok(compared >= files.length / 2, `${compared} of ${files.length} images away from a threshold`);
  });
});
