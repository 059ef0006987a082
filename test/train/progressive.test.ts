// Progressive resizing: which size each epoch trains at, the config's checks, the CLI flag, and a real fit through
// the study's protocol whose batches change size on schedule, validated only at the input size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configFromFlags } from '../../src/cli/commands/train.js';
import { Adam } from '../../src/nn/index.js';
import { manualSeed } from '../../src/torch/index.js';
import { CancelFit, checkConfig, describeSizeSteps, EarlyStopping, fineTune, Learner, parseSizeSteps, ProgressiveSource, resolveConfig, sizeAtEpoch, type Batch, type ClosableSource, type ValidationResult } from '../../src/train/index.js';
import { HipfracError } from '../../src/util/index.js';
import { ToyNet, ToySource, toyData } from './toy.js';

test('sizeAtEpoch walks the steps in order, then the input size', () => {
  const steps = [
    { size: 160, epochs: 2 },
    { size: 224, epochs: 1 },
  ];
  assert.deepEqual([0, 1, 2, 3, 4].map((e) => sizeAtEpoch(steps, 320, e)), [160, 160, 224, 320, 320]);
  assert.equal(sizeAtEpoch([], 320, 0), 320);
});

test('parseSizeSteps reads SIZE:EPOCHS pairs and names a bad one', () => {
  assert.deepEqual(parseSizeSteps('160:4, 224:4'), [
    { size: 160, epochs: 4 },
    { size: 224, epochs: 4 },
  ]);
  assert.deepEqual(parseSizeSteps(''), []);
  assert.throws(() => parseSizeSteps('160:4,224'), (e: unknown) => e instanceof HipfracError && e.code === 'HF_TRAIN_BAD_CONFIG' && /'224'/.test(e.message) && /SIZE:EPOCHS/.test(e.fix ?? ''));
  assert.throws(() => parseSizeSteps('160x4'), /invalid progressive step '160x4'/);
});

test('describeSizeSteps states every epoch range and where validation runs', () => {
  assert.equal(describeSizeSteps(parseSizeSteps('160:4,224:4'), 320, 13), 'progressive resizing: epochs 1-4 at 160 px, epochs 5-8 at 224 px, epochs 9-13 at 320 px (validated at 320 px: epochs 9-13)');
  assert.equal(describeSizeSteps(parseSizeSteps('64:2'), 96, 3), 'progressive resizing: epochs 1-2 at 64 px, epoch 3 at 96 px (validated at 96 px: epoch 3)');
});

test('the config refuses steps at or above the input size, empty steps and schedules with no epoch left at the input size', () => {
  const paths = (input: Record<string, unknown>): string[] => checkConfig(input).map((i) => i.path);
  assert.deepEqual(paths({ inputSize: 320, unfrozenEpochs: 13, progressive: [{ size: 160, epochs: 4 }, { size: 224, epochs: 4 }] }), []);
  assert.deepEqual(paths({ inputSize: 320, unfrozenEpochs: 13, progressive: [{ size: 320, epochs: 4 }] }), ['progressive[0].size']);
  assert.deepEqual(paths({ inputSize: 320, unfrozenEpochs: 13, progressive: [{ size: 16, epochs: 0 }] }), ['progressive[0].size', 'progressive[0].epochs']);
  assert.deepEqual(paths({ inputSize: 320, unfrozenEpochs: 8, progressive: [{ size: 160, epochs: 4 }, { size: 224, epochs: 4 }] }), ['progressive']);
  assert.deepEqual(paths({ progressive: '160:4' }), ['progressive']);
  assert.deepEqual(resolveConfig({}).progressive, []);
});

test('hipfrac train --progressive: parsed into the config; a malformed value is a usage error naming the flag', () => {
  const config = configFromFlags({ arch: 'resnet18', scratch: true, 'input-size': '320', 'unfrozen-epochs': '13', progressive: '160:4,224:4' });
  assert.deepEqual(config.progressive, [
    { size: 160, epochs: 4 },
    { size: 224, epochs: 4 },
  ]);
  assert.throws(
    () => configFromFlags({ arch: 'resnet18', scratch: true, 'input-size': '320', 'unfrozen-epochs': '13', progressive: '160-4' }),
    (e: unknown) => e instanceof HipfracError && e.code === 'HF_CLI_BAD_OPTION' && /^--progressive: /.test(e.message) && e.fix !== undefined,
  );
  assert.throws(
    () => configFromFlags({ arch: 'resnet18', scratch: true, 'input-size': '320', 'unfrozen-epochs': '8', progressive: '160:4,224:4' }),
    (e: unknown) => e instanceof HipfracError && e.code === 'HF_CLI_BAD_OPTION' && /leave at least one at the input size/.test(e.message),
  );
});

/** A ToySource that records the image size of every batch it yields and whether it was closed. */
class Recording extends ToySource implements ClosableSource {
  closed = false;
  constructor(
    data: ReturnType<typeof toyData>,
    private readonly seen: number[],
  ) {
    super(data, 16, true);
  }
  override async *epoch(seed: number): AsyncGenerator<Batch> {
    for await (const batch of super.epoch(seed)) {
      this.seen.push(batch.images.shape[3] as number);
      yield batch;
    }
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

test('a protocol fit trains each epoch at its size, validates only the epochs at the input size, and closes sources it is done with', async () => {
  manualSeed(5);
  const seen: number[] = [];
  const small = new Recording(toyData(48, 1, 32), seen);
  const full = new Recording(toyData(48, 1, 48), seen);
  const source = new ProgressiveSource(new Map([[32, small], [48, full]]), [{ size: 32, epochs: 2 }], 48);
  const validSizes: number[] = [];
  const valid = new Recording(toyData(32, 2, 48), validSizes);
  const learner = new Learner({ model: new ToyNet(), train: source, valid, optimizer: (groups) => new Adam(groups.map((params) => ({ params }))), seed: 5, callbacks: [source.resize] });
  const closedWhen: boolean[] = [];
  const config = resolveConfig({ arch: 'toy', frozenEpochs: 1, unfrozenEpochs: 4, lrMult: 1, patience: 4, lrFind: false, lr: 1e-3, unfrozenLr: 1e-3, inputSize: 48, progressive: [{ size: 32, epochs: 2 }] });
  await fineTune(learner, config, { stateDir: null, resume: false, callbacks: [{ name: 'probe', afterEpoch: () => void closedWhen.push(small.closed) }] });
  const perEpoch = (sizes: number[]): number[] => Array.from({ length: sizes.length / 3 }, (_, e) => sizes[e * 3] as number);
  // 48 images in batches of 16: 3 batches per epoch. The head-only epoch at 48, then 2 all-layer epochs at 32 and 2 at 48.
  assert.equal(seen.length, 5 * 3);
  assert.deepEqual(perEpoch(seen), [48, 32, 32, 48, 48]);
  assert.ok(seen.every((s, i) => s === seen[i - (i % 3)]), 'every batch of an epoch has one size');
  assert.ok(validSizes.every((s) => s === 48));
  // 32 validation images in batches of 16: 2 batches for each validated epoch (head-only, and the two at 48 px).
  assert.equal(validSizes.length, 3 * 2);
  const validated = learner.history.map((h) => !Number.isNaN(h.validLoss));
  assert.deepEqual(validated, [true, false, false, true, true]);
  // The 32 px source is closed before the first epoch at 48 px that follows it; the input size's source stays open.
  assert.deepEqual(closedWhen, [false, false, false, true, true]);
  assert.equal(full.closed, false);
  await source.close();
  assert.equal(full.closed, true);
  assert.deepEqual(learner.history.map((h) => h.stage), ['frozen', 'unfrozen', 'unfrozen', 'unfrozen', 'unfrozen']);
});

test('a ProgressiveSource refuses sources with different batch counts (the one-cycle schedule counts batches)', () => {
  const a = new Recording(toyData(48, 1, 12), []);
  const b = new Recording(toyData(64, 1, 16), []);
  assert.throws(() => new ProgressiveSource(new Map([[12, a], [16, b]]), [{ size: 12, epochs: 1 }], 16), /4 batches per epoch|same count/);
  assert.throws(() => new ProgressiveSource(new Map([[12, a]]), [{ size: 12, epochs: 1 }], 16), /no source at the input size 16 px/);
});

test('an epoch whose validation was cancelled neither improves nor exhausts early stopping\'s patience', () => {
  const stopping = new EarlyStopping(1, 0, 'accuracy');
  const epoch = (lastValidation: ValidationResult | null): void => stopping.afterEpoch({ lastValidation } as Learner);
  epoch({ accuracy: 0.5 } as ValidationResult);
  epoch(null);
  epoch(null);
  assert.equal(stopping.wait, 0);
  assert.throws(() => epoch({ accuracy: 0.4 } as ValidationResult), CancelFit);
});
