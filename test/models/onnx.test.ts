// Proof that the ONNX export computes what the model computes: for every architecture of the zoo with both heads,
// ONNX Runtime's fp32 logits equal hipfrac's eval logits (relative 1e-4 of the largest logit) on random and on real
// FracAtlas images (Abedeen et al., Scientific Data 10, 521, 2023; CC BY 4.0), the files pass ONNX's checker, the
// card travels in the metadata, the batch is dynamic, and a module without an emitter is refused by name. With the
// features option, a second output equals the body's pooled features (what the input gate scores) for every family.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { decodeGrey } from '../../src/data/index.js';
import { BatchNorm2d, BatchNorm1d, Module, type Sequential } from '../../src/nn/index.js';
import {
  createClassifier,
  createOnnxPredictor,
  decodeModel,
  exportOnnx,
  listModels,
  makeModelCard,
  readOnnxFacts,
  writeOnnxFile,
  writeTritonRepository,
  type Classifier,
  type HeadKind,
} from '../../src/models/index.js';
import { gateFeatures } from '../../src/gate/index.js';
import { manualSeed, noGrad, rand, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { needs, PYTHON } from '../helpers/references.js';

const SIZE = 64;
const TOLERANCE = 1e-4;
const FRACATLAS = path.join(process.cwd(), '..', 'shared', 'datasets', 'fracatlas-nonhip', 'images');
const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-onnx-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Trained-looking BatchNorm statistics, so folding and normalisation are actually exercised. */
function randomiseNorms(model: Module): void {
  noGrad(() => {
    for (const [, m] of model.namedModules()) {
      if (!(m instanceof BatchNorm2d || m instanceof BatchNorm1d)) continue;
      const n = m.numFeatures;
      const set = (t: Tensor | null, lo: number, hi: number): void => {
        if (t === null) return;
        const r = rand([n]);
        t.copy_(r.mul(hi - lo).add(lo));
        r.dispose();
      };
      set(m.buffer('running_mean'), -0.2, 0.2);
      set(m.buffer('running_var'), 0.5, 1.5);
      set(m.paramOrNull('weight'), 0.5, 1.5);
      set(m.paramOrNull('bias'), -0.2, 0.2);
    }
  });
}

function maxRelative(expected: Float32Array, actual: Float32Array): number {
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs((expected[i] as number) - (actual[i] as number)) / scale);
  return worst;
}

/** Three random images and three FracAtlas radiographs, grey [6, 1, SIZE, SIZE] in [0, 1]. */
async function testImages(): Promise<Float32Array> {
  const plane = SIZE * SIZE;
  const images = new Float32Array(6 * plane);
  manualSeed(7);
  const noise = rand([3 * plane]);
  images.set(noise.toFloat32Array(), 0);
  noise.dispose();
  const files = readdirSync(FRACATLAS).filter((f) => f.endsWith('.jpg')).sort().slice(0, 3);
  for (const [i, f] of files.entries()) {
    const pixels = await decodeGrey(path.join(FRACATLAS, f), { width: SIZE, height: SIZE }, 'squish');
    images.set(Float32Array.from(pixels, (v) => v / 65535), (3 + i) * plane);
  }
  return images;
}

function hipfracLogits(model: Classifier, images: Float32Array, count: number): Float32Array {
  const x = tensor(images, [count, 1, SIZE, SIZE]);
  const y = noGrad(() => model.call(x));
  const out = y.toFloat32Array();
  x.dispose();
  y.dispose();
  return out;
}

const written: string[] = [];

describe('ONNX export: ONNX Runtime fp32 logits equal hipfrac eval logits', () => {
  test('the FracAtlas images are there', () => assert.ok(existsSync(FRACATLAS), `missing ${FRACATLAS}`));

  // Every architecture with the study's fastai head; the linear head (the same emitters after the body) once per
  // family. The checker reads one file per family: variants of a family differ in depth and width, not in operators.
  const families = new Set<string>();
  for (const spec of listModels()) {
    const firstOfFamily = !families.has(spec.family);
    families.add(spec.family);
    for (const head of (firstOfFamily ? ['fastai', 'linear'] : ['fastai']) as HeadKind[]) {
      test(`${spec.name} with the ${head} head`, async () => {
        manualSeed(1);
        const model = createClassifier(spec.name, { head, weights: null });
        randomiseNorms(model);
        model.eval();
        const file = path.join(dir, `${spec.name}-${head}.onnx`);
        try {
          writeOnnxFile(file, exportOnnx(model, { inputSize: SIZE, card: makeModelCard(model, { classes: ['intact', 'fracture'] }) }));
          written.push(file);
          const images = await testImages();
          const expected = hipfracLogits(model, images, 6);
          const predictor = await createOnnxPredictor(file, { threads: 2 });
          try {
            const { logits, probabilities } = await predictor.predictBatch(images, 6);
            const error = maxRelative(expected, logits);
            assert.ok(error <= TOLERANCE, `max relative logit error ${error.toExponential(2)} > ${TOLERANCE}`);
            assert.ok(Math.abs((probabilities[0] as number) + (probabilities[1] as number) - 1) < 1e-6);
            // Dynamic batch: one image alone gives the same logits as inside the batch.
            const single = await predictor.predictBatch(images.subarray(4 * SIZE * SIZE, 5 * SIZE * SIZE), 1);
            assert.ok(maxRelative(expected.subarray(8, 10), single.logits) <= TOLERANCE);
          } finally {
            await predictor.dispose();
          }
        } finally {
          model.dispose();
        }
        if (!firstOfFamily || (head === 'linear' && spec.name !== 'resnet18')) rmSync(file);
      });
    }
  }

  test('the exported files pass ONNX checker (full check, opset 17)', needs('onnx'), () => {
    const kept = written.filter((f) => existsSync(f));
    assert.ok(kept.length >= new Set(listModels().map((s) => s.family)).size, 'the parity tests wrote one file per family');
    const script = 'import sys, onnx\nfor f in sys.argv[1:]:\n    m = onnx.load(f)\n    onnx.checker.check_model(m, full_check=True)\n    assert m.opset_import[0].version == 17, f\nprint(len(sys.argv) - 1)';
    const run = spawnSync(PYTHON, ['-c', script, ...kept], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(Number(run.stdout.trim()), kept.length);
  });
});

describe('ONNX export with a features output: the body\'s pooled features, as the input gate computes them', () => {
  const files: string[] = [];
  const families = new Set<string>();
  for (const spec of listModels()) {
    if (families.has(spec.family)) continue;
    families.add(spec.family);
    test(`${spec.name}: logits and pooled features equal LibTorch's`, async () => {
      manualSeed(3);
      const model = createClassifier(spec.name, { head: 'fastai', weights: null });
      randomiseNorms(model);
      model.eval();
      const file = path.join(dir, `${spec.name}-features.onnx`);
      try {
        writeOnnxFile(file, exportOnnx(model, { inputSize: SIZE, features: true }));
        files.push(file);
        const images = await testImages();
        const expected = tidy(() => gateFeatures(model, tensor(images, [6, 1, SIZE, SIZE])));
        const facts = readOnnxFacts(file);
        assert.equal(facts.featureSize, expected.features[0]?.length);
        const predictor = await createOnnxPredictor(file, { threads: 2 });
        try {
          assert.equal(predictor.featureSize, facts.featureSize);
          const { logits, features } = await predictor.predictBatch(images, 6);
          assert.ok(maxRelative(hipfracLogits(model, images, 6), logits) <= TOLERANCE);
          assert.ok(features !== undefined, 'the graph gives features');
          const c = facts.featureSize;
          const flat = new Float32Array(6 * c);
          expected.features.forEach((f, i) => flat.set(f, i * c));
          const error = maxRelative(flat, features);
          assert.ok(error <= TOLERANCE, `max relative feature error ${error.toExponential(2)} > ${TOLERANCE}`);
        } finally {
          await predictor.dispose();
        }
      } finally {
        model.dispose();
      }
    });
  }

  test('a graph without the option has no features output', async () => {
    const model = createClassifier('resnet18', { head: 'linear', weights: null }).eval();
    try {
      const predictor = await createOnnxPredictor(exportOnnx(model, { inputSize: SIZE }), { threads: 1 });
      assert.equal(predictor.featureSize, 0);
      assert.equal((await predictor.predictBatch(new Float32Array(SIZE * SIZE), 1)).features, undefined);
      await predictor.dispose();
    } finally {
      model.dispose();
    }
  });

  test('the graphs with features pass ONNX checker (full check)', needs('onnx'), () => {
    assert.equal(files.length, families.size, 'one graph per family');
    const script = 'import sys, onnx\nfor f in sys.argv[1:]:\n    m = onnx.load(f)\n    onnx.checker.check_model(m, full_check=True)\n    assert [o.name for o in m.graph.output] == ["logits", "features"], f\nprint(len(sys.argv) - 1)';
    const run = spawnSync(PYTHON, ['-c', script, ...files], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(Number(run.stdout.trim()), files.length);
  });
});

describe('ONNX export: metadata, Triton folder, refusals', () => {
  test('grey → RGB and the normalisation live in the first convolution (parity above proves them exact)', () => {
    for (const [file, channels] of [['resnet18-fastai.onnx', 2], ['squeezenet1_0-fastai.onnx', 1]] as const) {
      const model = decodeModel(readFileSync(path.join(dir, file)));
      const ops = model.graph.node.map((n) => n.op_type);
      assert.ok(!ops.includes('Sub') && !ops.includes('Div'), `${file}: no full-size Sub / Div on the image`);
      const conv = model.graph.node.find((n) => n.op_type === 'Conv');
      const weight = model.graph.initializer.find((t) => t.name === conv?.input[1]);
      // Padded (ResNet): the grey image and a ones channel its zero padding turns into the inside indicator; unpadded (SqueezeNet 1.0): the grey image alone.
      assert.equal(Number(weight?.dims[1]), channels, `${file}: first convolution reads ${channels} channel(s)`);
    }
  });

  test('the model card, precision and input shape are in the file', () => {
    const file = path.join(dir, 'resnet18-fastai.onnx');
    const facts = readOnnxFacts(file);
    assert.equal(facts.card?.architecture, 'resnet18');
    assert.deepEqual(facts.card?.classes, ['intact', 'fracture']);
    assert.equal(facts.card?.inputSize, SIZE);
    assert.equal(facts.precision, 'fp32');
    assert.deepEqual(facts.inputShape, [1, SIZE, SIZE]);
    const model = decodeModel(readFileSync(file));
    assert.equal(model.graph.input[0]?.type.tensor_type.shape?.dim[0] && 'dim_param' in model.graph.input[0].type.tensor_type.shape.dim[0] ? model.graph.input[0].type.tensor_type.shape.dim[0].dim_param : '', 'batch');
    assert.equal(model.opset_import[0]?.version, 17);
  });

  test('--triton writes config.pbtxt and 1/model.onnx named after the folder', () => {
    const bytes = readFileSync(path.join(dir, 'resnet18-fastai.onnx'));
    const out = writeTritonRepository(path.join(dir, 'triton', 'hipfrac_resnet18'), bytes, { inputSize: SIZE, classes: 2 });
    const config = readFileSync(out.config, 'utf8');
    assert.match(config, /name: "hipfrac_resnet18"/);
    assert.match(config, /platform: "onnxruntime_onnx"/);
    assert.match(config, new RegExp(`dims: \\[ 1, ${SIZE}, ${SIZE} \\]`));
    assert.deepEqual(readFileSync(out.model), bytes);
  });

  test('a module without an ONNX emitter is refused, naming its class and path', () => {
    class Mystery extends Module {
      forward(x: Tensor): Tensor {
        return x.mul(2);
      }
    }
    const model = createClassifier('squeezenet1_1', { head: 'linear', weights: null });
    const inner = model.head as Sequential;
    inner.append(new Mystery());
    model.eval();
    try {
      assert.throws(
        () => exportOnnx(model, { inputSize: SIZE }),
        (e: Error & { code?: string }) => e.code === 'HF_MODELS_ONNX_UNSUPPORTED' && /Mystery/.test(e.message) && /head\.4/.test(e.message),
      );
      model.train();
      assert.throws(() => exportOnnx(model, { inputSize: SIZE }), /training mode/);
    } finally {
      model.dispose();
    }
  });
});
