// Self-supervised pretraining (SimCLR): NT-Xent equals PyTorch's formulation of it; on a small phantom cohort a
// short run lowers the loss; the written body loads through `train --weights`' path (createClassifier with a
// weights file) unchanged. Whether the body helps a classifier is not something a CPU test of minutes can show.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cachedPngPath, importDataset, readManifestRows, splitByPatient } from '../../src/data/index.js';
import { createClassifier } from '../../src/models/index.js';
import { cohortLabelSpec, generateCohort } from '../../src/phantom/index.js';
import { tensor, tidy } from '../../src/torch/index.js';
import { ntXent, pretrainSimclr, saveSimclrBody } from '../../src/train/index.js';
import { needs } from '../helpers/references.js';
import { runPython } from '../helpers/python.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-simclr-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('NT-Xent', () => {
  const n = 6, d = 5;
  const a = Float32Array.from({ length: n * d }, (_, i) => Math.sin(i * 1.7) + 0.1 * (i % 3));
  const b = Float32Array.from({ length: n * d }, (_, i) => Math.sin(i * 1.7) + 0.3 * Math.cos(i));

  it('equals PyTorch\'s SimCLR formulation (normalise, similarities over τ, own similarity masked, cross-entropy)', needs('torch'), () => {
    const ours = tidy(() => ntXent(tensor(a, [n, d]), tensor(b, [n, d]), 0.2).item());
    const py = runPython(
      `import torch.nn.functional as F
z = F.normalize(torch.cat([inputs['a'], inputs['b']]), dim=1)
sim = z @ z.T / 0.2
sim.fill_diagonal_(float('-inf'))
n = inputs['a'].shape[0]
target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
outputs['loss'] = float(F.cross_entropy(sim, target))`,
      { a: { data: a, shape: [n, d] }, b: { data: b, shape: [n, d] } },
    );
    const reference = py.values['loss'] as number;
    assert.ok(Math.abs(ours - reference) < 1e-5 * Math.max(1, reference), `ours ${ours}, PyTorch ${reference}`);
  });

  it('gives the analytic value for orthogonal views that agree', () => {
    // One-hot rows: the positive's similarity is 1/τ, the 2n − 2 negatives' 0: loss = −log(e^{1/τ} / (e^{1/τ} + 2n − 2)).
    const k = 4;
    const eye = Float32Array.from({ length: k * k }, (_, i) => (i % (k + 1) === 0 ? 1 : 0));
    tidy(() => {
      const loss = ntXent(tensor(eye, [k, k]), tensor(eye, [k, k]), 0.5).item();
      const expected = -Math.log(Math.exp(2) / (Math.exp(2) + 2 * k - 2));
      assert.ok(Math.abs(loss - expected) < 1e-5, `loss ${loss}, expected ${expected}`);
    });
  });
});

it('pretraining on phantom training images lowers NT-Xent (in float32 and in bf16) and the written body loads as --weights unchanged', { timeout: 900_000 }, async () => {
  await generateCohort({ out: path.join(work, 'cohort'), patients: 40, seed: 12, difficulty: 'easy', size: 96, workers: 2 });
  const dataset = path.join(work, 'dataset');
  await importDataset({ inputDir: path.join(work, 'cohort', 'images'), outDir: dataset, labels: cohortLabelSpec(path.join(work, 'cohort')), saltFile: path.join(work, 'salt.key'), workers: 2 });
  const rows = await readManifestRows(dataset);
  const split = splitByPatient(rows, { valFraction: 0.3, seed: 1 });
  const train = rows.filter((r) => split.assignments[r.id] === 'train').map((r) => cachedPngPath(dataset, r));
  const run = await pretrainSimclr(train, { arch: 'resnet18', inputSize: 64, epochs: 8, batchSize: 16, seed: 3, workers: 1 });
  try {
    const last = (run.losses.at(-1) as number) + (run.losses.at(-2) as number);
    assert.ok(last / 2 < (run.losses[0] as number), `NT-Xent falls: ${run.losses.map((l) => l.toFixed(3)).join(' ')}`);
    assert.equal(run.images, train.length);
    const file = path.join(work, 'body.safetensors');
    saveSimclrBody(file, run.model, { method: 'SimCLR' });
    const loaded = createClassifier('resnet18', { weights: file });
    const want = run.model.body.stateDict();
    for (const [key, t] of loaded.body.stateDict()) {
      const w = want.get(key);
      assert.ok(w !== undefined, `${key} in the written body`);
      const x = t.toFloat32Array(), y = w.toFloat32Array();
      assert.ok(x.every((v, i) => v === y[i]), `${key} loads unchanged`);
    }
    loaded.dispose();
  } finally {
    run.model.dispose();
    run.projection.dispose();
  }
  // The same pretraining with the forward passes in bfloat16 autocast: NT-Xent falls too, the body stays float32.
  const half = await pretrainSimclr(train, { arch: 'resnet18', inputSize: 64, epochs: 8, batchSize: 16, seed: 3, workers: 1, precision: 'bf16' });
  try {
    const last = (half.losses.at(-1) as number) + (half.losses.at(-2) as number);
    assert.ok(last / 2 < (half.losses[0] as number), `NT-Xent falls in bf16: ${half.losses.map((l) => l.toFixed(3)).join(' ')}`);
    assert.notDeepEqual(half.losses, run.losses, 'the bf16 run is another computation');
    assert.deepEqual(new Set(half.model.parameters().map((p) => p.dtype)), new Set(['float32']));
  } finally {
    half.model.dispose();
    half.projection.dispose();
  }
});
