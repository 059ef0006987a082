// `hipfrac predict --engine onnx` against `--engine libtorch` on one checkpoint and real FracAtlas radiographs
// (Abedeen et al., Scientific Data 10, 521, 2023; CC BY 4.0): the same probabilities (float32 rounding) and the same
// predicted classes and triage decisions; `hipfrac export` writes the graph predict then runs; heatmaps refuse onnx.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { exportCommand } from '../../src/cli/commands/export.js';
import { predictCommand } from '../../src/cli/commands/predict.js';
import { createClassifier, readOnnxFacts, saveCheckpoint } from '../../src/models/index.js';
import { manualSeed } from '../../src/torch/index.js';
import { fracAtlasFiles, spreadRunningVariances } from './onnxFixtures.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-onnx-predict-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Row {
  key: string;
  fractureProbability: number;
  predicted: string;
  decision: string;
  level: string;
}

async function quiet<T>(run: () => Promise<T>): Promise<{ result: T; stderr: string }> {
  const [log, error] = [console.log, console.error];
  const lines: string[] = [];
  console.log = () => undefined;
  console.error = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  try {
    return { result: await run(), stderr: lines.join('\n') };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

async function predict(args: string[], out: string): Promise<{ rows: Row[]; stderr: string }> {
  const { result, stderr } = await quiet(() => predictCommand.run([...args, '--out', out, '--format', 'json']));
  assert.equal(result, 0);
  return { rows: (JSON.parse(readFileSync(path.join(out, 'predictions.json'), 'utf8')) as { predictions: Row[] }).predictions, stderr };
}

describe('predict on ONNX Runtime', () => {
  const checkpoint = path.join(work, 'ckpt');
  const images = path.join(work, 'images');

  test('a checkpoint and 12 FracAtlas radiographs', () => {
    manualSeed(3);
    const model = createClassifier('resnet18', { head: 'fastai', weights: null });
    spreadRunningVariances(model);
    model.eval();
    // A cut-off inside the spread of this random model's confidences, so both decisions occur.
    saveCheckpoint(checkpoint, model, { classes: ['intact', 'fracture'], inputSize: 64, threshold: { cutoff: 0.82, method: 'given-cutoff' } });
    model.dispose();
    mkdirSync(images);
    for (const f of fracAtlasFiles(12)) symlinkSync(f, path.join(images, path.basename(f)));
  });

  test('--no-heatmaps runs on onnx by default; probabilities and decisions equal libtorch', async () => {
    const torch = await predict([images, '--model', checkpoint, '--no-heatmaps', '--engine', 'libtorch'], path.join(work, 'torch'));
    const onnx = await predict([images, '--model', checkpoint, '--no-heatmaps'], path.join(work, 'onnx'));
    assert.match(onnx.stderr, /engine: onnx \(fp32\), graph: exported in memory/);
    assert.equal(onnx.rows.length, 12);
    onnx.rows.forEach((r, i) => {
      const t = torch.rows[i] as Row;
      assert.equal(r.key, t.key);
      assert.ok(Math.abs(r.fractureProbability - t.fractureProbability) < 1e-5, `${r.key}: ${r.fractureProbability} vs ${t.fractureProbability}`);
      assert.equal(r.predicted, t.predicted);
      assert.equal(r.decision, t.decision);
      assert.equal(r.level, t.level);
    });
    assert.equal(new Set(torch.rows.map((r) => r.decision)).size, 2, 'both decisions occur, so their equality means something');
  });

  test('hipfrac export writes the graph predict --onnx runs, with the card inside', async () => {
    const file = path.join(work, 'model.onnx');
    const { result } = await quiet(() => exportCommand.run([checkpoint, '--format', 'onnx', '--out', file, '--triton', path.join(work, 'triton', 'hipfrac_resnet18')]));
    assert.equal(result, 0);
    const facts = readOnnxFacts(file);
    assert.equal(facts.card?.architecture, 'resnet18');
    assert.equal(facts.card?.threshold?.cutoff, 0.82);
    assert.deepEqual(readFileSync(path.join(work, 'triton', 'hipfrac_resnet18', '1', 'model.onnx')), readFileSync(file));
    const fromFile = await predict([images, '--model', checkpoint, '--no-heatmaps', '--engine', 'onnx', '--onnx', file], path.join(work, 'file'));
    const inMemory = JSON.parse(readFileSync(path.join(work, 'onnx', 'predictions.json'), 'utf8')) as { predictions: Row[] };
    assert.match(fromFile.stderr, /graph: .*model\.onnx/);
    assert.deepEqual(
      fromFile.rows.map((r) => [r.key, r.decision]),
      inMemory.predictions.map((r) => [r.key, r.decision]),
    );
  });

  test('--engine onnx with heatmaps is a usage error', async () => {
    await assert.rejects(
      () => quiet(() => predictCommand.run([images, '--model', checkpoint, '--engine', 'onnx', '--out', path.join(work, 'x')])),
      (e: Error & { code?: string }) => e.code === 'HF_CLI_BAD_OPTION' && /--no-heatmaps/.test(e.message),
    );
  });
});
