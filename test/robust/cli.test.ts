// The predict, explain, attack and triage-calibrate commands end to end on a small checkpoint (SqueezeNet 1.1,
// random weights) and 16-bit PNGs: outputs written, the cut-off stored in the card and used, clear errors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode } from 'fast-png';
import sharp from 'sharp';
import { attackCommand } from '../../src/cli/commands/attack.js';
import { explainCommand } from '../../src/cli/commands/explain.js';
import { predictCommand } from '../../src/cli/commands/predict.js';
import { triageCalibrateCommand } from '../../src/cli/commands/triage-calibrate.js';
import { createClassifier, saveCheckpoint } from '../../src/models/index.js';
import { manualSeed, noGrad, rand, randn, setNumThreads, tidy } from '../../src/torch/index.js';
import { HipfracError } from '../../src/util/index.js';

setNumThreads(1);

let dir: string;
let ckpt: string;
let images: string;
const isCode = (code: string) => (e: unknown): boolean => e instanceof HipfracError && e.code === code;

// Commands print their results with console.log; keep the test output readable (the test reporter does not use it).
async function quietly(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => { lines.push(args.join(' ')); };
  try {
    return { code: await fn(), out: lines.join('\n') };
  } finally {
    console.log = log;
  }
}

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-cli-'));
  ckpt = path.join(dir, 'ckpt');
  images = path.join(dir, 'images');
  manualSeed(0);
  const model = createClassifier('squeezenet1_1', { weights: null });
  saveCheckpoint(ckpt, model, { classes: ['intact', 'fracture'] });
  model.dispose();
  const labels = ['file,label'];
  for (let i = 0; i < 4; i++) {
    const width = 120;
    const height = 100;
    const data = new Uint16Array(width * height);
    for (let p = 0; p < data.length; p++) data[p] = (p * 131 + i * 4099) % 65536;
    writeFileSync(path.join(dir, `img${i}.png`), encode({ width, height, data, depth: 16, channels: 1 }));
    labels.push(`img${i}.png,${i % 2 === 0 ? 'intact' : 'fracture'}`);
  }
  images = dir;
  writeFileSync(path.join(dir, 'labels.csv'), `${labels.join('\n')}\n`);
  writeFileSync(path.join(dir, 'boxes.csv'), 'file,x0,y0,x1,y1\nimg1.png,10,10,60,50\n');
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('predict without a cut-off gives probabilities and sends every case to review, saying why; triage-calibrate writes one into the card; predict then routes and writes heatmaps', async () => {
  const uncalibrated = await quietly(() => predictCommand.run([images, '--model', ckpt, '--out', path.join(dir, 'p0'), '--no-heatmaps']));
  assert.equal(uncalibrated.code, 0);
  const first = JSON.parse(readFileSync(path.join(dir, 'p0', 'predictions.json'), 'utf8')) as { policy: { method: string; cutoff: number | null }; warning: string; predictions: { decision: string; reason: string; fractureProbability: number }[] };
  assert.equal(first.policy.method, 'uncalibrated');
  assert.equal(first.policy.cutoff, null);
  assert.match(first.warning, /no calibrated cut-off.*triage-calibrate/);
  assert.equal(first.predictions.length, 4);
  for (const p of first.predictions) {
    assert.ok(p.fractureProbability > 0 && p.fractureProbability < 1, 'a probability is given');
    assert.equal(p.decision, 'radiologist-review');
    assert.match(p.reason, /no calibrated cut-off/);
  }
  const cal = await quietly(() => triageCalibrateCommand.run([images, '--model', ckpt, '--labels', path.join(dir, 'labels.csv'), '--method', 'given', '--cutoff', '0.5', '--write']));
  assert.equal(cal.code, 0);
  const card = JSON.parse(readFileSync(path.join(ckpt, 'model.json'), 'utf8')) as { threshold: { method: string; cutoff: number; coverage: number; n: number } };
  assert.equal(card.threshold.method, 'given-cutoff');
  assert.equal(card.threshold.cutoff, 0.5);
  assert.equal(card.threshold.n, 4);
  const out = path.join(dir, 'p1');
  const run = await quietly(() => predictCommand.run([images, '--model', ckpt, '--out', out]));
  assert.equal(run.code, 0);
  const result = JSON.parse(readFileSync(path.join(out, 'predictions.json'), 'utf8')) as { predictions: { decision: string; heatmap: string; fractureProbability: number }[] };
  assert.equal(result.predictions.length, 4);
  for (const p of result.predictions) {
    assert.ok(p.fractureProbability >= 0 && p.fractureProbability <= 1);
    assert.equal(p.decision, 'auto-report', 'every confidence clears a 0.5 cut-off');
    const meta = await sharp(p.heatmap).metadata();
    assert.deepEqual([meta.width, meta.height], [120, 100], 'heatmaps at the original resolution');
  }
  const csv = await quietly(() => predictCommand.run([path.join(images, 'img0.png'), '--model', ckpt, '--out', out, '--format', 'csv', '--cutoff', '1', '--no-heatmaps']));
  assert.match(csv.out, /^file,key,fracture_probability/m);
  assert.match(csv.out, /radiologist-review/);
});

test('predict --fast (BatchNorm folded, channels-last) gives the plain model\'s probabilities; with heatmaps it is refused', async () => {
  // A ResNet-18 with non-trivial BatchNorm statistics, so the folding changes every convolution's weights.
  const resnet = path.join(dir, 'ckpt-resnet18');
  manualSeed(3);
  const model = createClassifier('resnet18', { weights: null });
  noGrad(() => {
    for (const [key, t] of model.stateDict()) {
      // Small head weights keep the probabilities away from 0 and 1, where rounding would hide a difference.
      if (key.startsWith('head.') && t.shape.length === 2) tidy(() => void t.copy_(t.mul(0.02)));
      if (!key.startsWith('body.')) continue;
      if (key.endsWith('running_var')) tidy(() => void t.copy_(rand(t.shape).add(0.5)));
      else if (key.endsWith('running_mean') || (key.endsWith('.bias') && key.includes('bn'))) tidy(() => void t.copy_(randn(t.shape).mul(0.1)));
    }
  });
  saveCheckpoint(resnet, model, { classes: ['intact', 'fracture'] });
  model.dispose();
  const read = (out: string): number[] =>
    (JSON.parse(readFileSync(path.join(out, 'predictions.json'), 'utf8')) as { predictions: { fractureProbability: number }[] }).predictions.map((p) => p.fractureProbability);
  await quietly(() => predictCommand.run([images, '--model', resnet, '--out', path.join(dir, 'plain'), '--cutoff', '0.5', '--no-heatmaps']));
  await quietly(() => predictCommand.run([images, '--model', resnet, '--out', path.join(dir, 'fast'), '--cutoff', '0.5', '--no-heatmaps', '--fast']));
  const plain = read(path.join(dir, 'plain'));
  const fast = read(path.join(dir, 'fast'));
  assert.equal(fast.length, 4);
  assert.ok(Math.max(...plain) - Math.min(...plain) > 1e-4, `the images give different probabilities: ${plain.join(', ')}`);
  for (let i = 0; i < plain.length; i++) assert.ok(Math.abs((fast[i] as number) - (plain[i] as number)) < 1e-5, `image ${i}: ${fast[i]} vs ${plain[i]}`);
  await assert.rejects(predictCommand.run([images, '--model', resnet, '--out', path.join(dir, 'p2'), '--cutoff', '0.5', '--fast']), (e: unknown) => isCode('HF_CLI_BAD_OPTION')(e) && /--no-heatmaps/.test((e as Error).message));
});

test('explain writes overlays and localisation scores; an unknown layer lists valid ones', async () => {
  const out = path.join(dir, 'heat');
  const run = await quietly(() => explainCommand.run([images, '--model', ckpt, '--out', out, '--boxes', path.join(dir, 'boxes.csv'), '--method', 'gradcam++', '--colormap', 'cividis']));
  assert.equal(run.code, 0);
  assert.ok(existsSync(path.join(out, 'img3.png')));
  const loc = JSON.parse(readFileSync(path.join(out, 'localisation.json'), 'utf8')) as { n: number; randomBaseline: number };
  assert.equal(loc.n, 1);
  assert.ok(Math.abs(loc.randomBaseline - (50 * 40) / (120 * 100)) < 1e-9);
  // The phantom cohort's annotations.json works as well (two boxed images here).
  writeFileSync(path.join(dir, 'annotations.json'), JSON.stringify({ images: [{ file: 'img0.png', fractures: [] }, { file: 'img1.png', fractures: [{ box: [10, 10, 60, 50] }] }, { file: 'img2.png', fractures: [{ box: [0, 0, 120, 100] }] }] }));
  const fromJson = path.join(dir, 'heat-json');
  await quietly(() => explainCommand.run([images, '--model', ckpt, '--out', fromJson, '--boxes', path.join(dir, 'annotations.json')]));
  const locJson = JSON.parse(readFileSync(path.join(fromJson, 'localisation.json'), 'utf8')) as { n: number; perImage: ({ hit: boolean } | null)[]; files: string[] };
  assert.equal(locJson.n, 2);
  const whole = locJson.files.findIndex((f) => f.endsWith('img2.png'));
  assert.equal(locJson.perImage[whole]?.hit, true, 'a box covering the whole image always holds the peak');
  assert.equal(locJson.perImage[locJson.files.findIndex((f) => f.endsWith('img0.png'))], null, 'no box, no score');
  await assert.rejects(explainCommand.run([images, '--model', ckpt, '--layer', 'features.99']), (e: unknown) => isCode('HF_MODELS_UNKNOWN_LAYER')(e) && /body\.features\.12/.test((e as Error).message));
});

test('attack reports accuracy per ε and writes a gallery; ε out of range is refused', async () => {
  const out = path.join(dir, 'attack');
  const run = await quietly(() => attackCommand.run([images, '--model', ckpt, '--labels', path.join(dir, 'labels.csv'), '--eps', '0,8', '--gallery', '1', '--out', out]));
  assert.equal(run.code, 0);
  const result = JSON.parse(readFileSync(path.join(out, 'attack.json'), 'utf8')) as { sweep: { eps: number; accuracy: number }[]; gallery: { files: Record<string, string> }[] };
  assert.equal(result.sweep.length, 2);
  assert.ok((result.sweep[1]?.accuracy as number) <= (result.sweep[0]?.accuracy as number));
  assert.ok(existsSync(result.gallery[0]?.files['perturbation'] as string));
  await assert.rejects(attackCommand.run([images, '--model', ckpt, '--eps', '0,300']), isCode('HF_CLI_BAD_OPTION'));
});
