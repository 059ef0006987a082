// The FracAtlas ablation's bookkeeping (bench/lib/ablation.ts): each row changes one factor of the base, the
// pretraining row keeps the base's image passes, the train/pretrain arguments say what the recipe says, boxes
// become source pixels of the right set, and a row's summary reads the run's test figures and nothing else.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ablationRows, ablationTable, bestRow, boxRows, measuredNote, mergeRows, pretrainArgs, rowResult, trainArgs, validationByEpoch, wilsonInterval, type LocalisationJson, type Recipe, type RunResultsJson } from '../../bench/lib/ablation.js';
import type { ManifestRow } from '../../src/data/index.js';

const base: Recipe = { arch: 'resnet18', inputSize: 96, epochs: 4, batchSize: 32, lr: 2e-3, balanced: true, augment: true, boxLossWeight: 0, maskMarkers: false, pretrainEpochs: 0, seed: 42 };
const rows = ablationRows(base, { higherInputSize: 160, archs: ['resnet34', 'efficientnet_b0'], pretrainEpochs: 1 });

/** The recipe fields in which a row differs from the base. */
const changed = (r: Recipe): string[] => (Object.keys(base) as (keyof Recipe)[]).filter((k) => r[k] !== base[k]);

describe('ablation rows', () => {
  it('has the base first and changes exactly one factor in every other row', () => {
    assert.equal(rows[0]?.name, 'base');
    assert.deepEqual(changed(rows[0]?.recipe as Recipe), []);
    assert.deepEqual(rows.map((r) => r.name), ['base', 'unbalanced', 'noaug', 'box', 'mask', 'simclr', 'resnet34', 'efficientnet_b0', 'res160']);
    for (const r of rows.slice(1)) {
      const diff = changed(r.recipe);
      // The pretraining row moves epochs from supervised training to SimCLR; every other row changes one field.
      if (r.name === 'simclr') assert.deepEqual(diff.sort(), ['epochs', 'pretrainEpochs']);
      else assert.equal(diff.length, 1, `${r.name} changes ${diff.join(', ')}`);
    }
    assert.equal(new Set(rows.map((r) => r.name)).size, rows.length);
  });

  it('gives the pretraining row the base row\'s image passes (a SimCLR epoch counts twice)', () => {
    const simclr = rows.find((r) => r.name === 'simclr')?.recipe as Recipe;
    assert.equal(simclr.epochs + 2 * simclr.pretrainEpochs, base.epochs);
    assert.throws(() => ablationRows(base, { higherInputSize: 160, archs: [], pretrainEpochs: 2 }), RangeError);
    assert.throws(() => ablationRows(base, { higherInputSize: 160, archs: [], pretrainEpochs: 0 }), RangeError);
  });

  it('turns a recipe into the train flags it stands for', () => {
    const args = trainArgs(base, '/d', '/o');
    assert.deepEqual(args.slice(0, 5), ['train', '--data', '/d', '--out', '/o']);
    const flag = (a: readonly string[], name: string): string | undefined => a[a.indexOf(name) + 1];
    assert.equal(flag(args, '--input-size'), '96');
    assert.equal(flag(args, '--unfrozen-epochs'), '4');
    // patience equal to the epochs: no row stops before its budget, the best epoch is still chosen on validation
    assert.equal(flag(args, '--patience'), '4');
    assert.ok(args.includes('--scratch') && args.includes('--balanced') && args.includes('--no-lr-find'));
    assert.ok(!args.includes('--no-augment') && !args.includes('--mask-markers') && !args.includes('--box-loss-weight') && !args.includes('--weights'));
    const get = (name: string): Recipe => rows.find((r) => r.name === name)?.recipe as Recipe;
    assert.ok(!trainArgs(get('unbalanced'), '/d', '/o').includes('--balanced'));
    assert.ok(trainArgs(get('noaug'), '/d', '/o').includes('--no-augment'));
    assert.equal(flag(trainArgs(get('box'), '/d', '/o'), '--box-loss-weight'), '1');
    assert.ok(trainArgs(get('mask'), '/d', '/o').includes('--mask-markers'));
    assert.equal(flag(trainArgs(get('resnet34'), '/d', '/o'), '--arch'), 'resnet34');
    assert.equal(flag(trainArgs(get('res160'), '/d', '/o'), '--input-size'), '160');
    // the epoch kept follows train's default (accuracy) unless the recipe names a monitor
    assert.ok(!args.includes('--monitor'));
    assert.equal(flag(trainArgs({ ...base, monitor: 'roc-auc' }, '/d', '/o'), '--monitor'), 'roc-auc');
    // progressive resizing only when the recipe has steps (the script's PROGRESSIVE may be empty)
    assert.ok(!args.includes('--progressive'));
    assert.ok(!trainArgs({ ...base, progressive: '' }, '/d', '/o').includes('--progressive'));
    assert.equal(flag(trainArgs({ ...base, progressive: '160:4,224:4' }, '/d', '/o'), '--progressive'), '160:4,224:4');
    // the pretraining row: the body from SimCLR, the from-scratch schedule, the remaining epochs
    const fine = trainArgs(get('simclr'), '/d', '/o', '/o/pretrain/body.safetensors');
    assert.equal(flag(fine, '--weights'), '/o/pretrain/body.safetensors');
    assert.ok(fine.includes('--scratch'));
    assert.equal(flag(fine, '--unfrozen-epochs'), '2');
    assert.equal(pretrainArgs(base, '/d', '/p', 64), null);
    const pre = pretrainArgs(get('simclr'), '/d', '/p', 64) as string[];
    assert.equal(pre[0], 'pretrain');
    assert.equal(flag(pre, '--epochs'), '1');
    assert.equal(flag(pre, '--input-size'), '96');
    assert.equal(flag(pre, '--batch-size'), '64');
  });
});

describe('test-set boxes', () => {
  const row = (id: string, label: number, boxes: [number, number, number, number][] | undefined): ManifestRow => ({ id, sourcePath: `images/${id}.jpg`, label, width: 200, height: 100, ...(boxes === undefined ? {} : { boxes }) }) as unknown as ManifestRow;
  it('writes source pixels for the fractured images of the asked set only', () => {
    const manifest = [row('a', 1, [[0.1, 0.2, 0.5, 0.6], [0.9, 0.9, 1.2, 1.0]]), row('b', 1, []), row('c', 0, []), row('d', 1, [[0.1, 0.1, 0.2, 0.2]]), row('e', 1, undefined), row('f', 1, [[0.3, 0.3, 0.3, 0.5]])];
    const split = { a: 'test', b: 'test', c: 'test', d: 'val', e: 'test', f: 'test' };
    const { images, lines } = boxRows(manifest, split, 'test', (r) => `fractured/${r.id}.jpg`);
    assert.deepEqual(images.map((r) => r.id), ['a']);
    // a box past the edge is clipped to the image; an empty one (f) is dropped with its image
    assert.deepEqual(lines, ['file,x0,y0,x1,y1', 'fractured/a.jpg,20,20,100,60', 'fractured/a.jpg,180,90,200,100']);
  });
});

describe('row summary', () => {
  const results = (evaluatedOn: string, auc: number): RunResultsJson => ({
    evaluatedOn,
    images: { train: 10, valid: 5, test: 7 },
    metrics: { rocAuc: auc, accuracy: 0.7, sensitivity: 0.6, specificity: 0.8 },
    intervals: { intervals: { rocAuc: { estimate: auc, lower: auc - 0.05, upper: auc + 0.04 }, accuracy: { estimate: 0.7, lower: 0.6, upper: 0.8 } } },
    ece: { before: 0.08, after: 0.04 },
    temperature: 1.3,
    bestEpoch: 2,
    history: [{}, {}, {}],
    seconds: 100,
  });
  const loc: LocalisationJson = { method: 'gradcam', layer: 'layer4', n: 20, pointingGame: 0.25, energyInBoxes: 0.1, randomBaseline: 0.04 };
  it('reads the test figures, the pointing game with its interval and the stage times', () => {
    const r = rowResult(rows[0] as (typeof rows)[number], results('test', 0.8), loc, { pretrain: 0, train: 150, explain: 20 }, '/runs/base/run/model');
    assert.equal(r.rocAuc.estimate, 0.8);
    assert.equal(r.rocAuc.lower, 0.75);
    assert.deepEqual(r.ece, { before: 0.08, after: 0.04 });
    assert.equal(r.epochsRun, 3);
    assert.equal(r.pointingGame.hitRate, 0.25);
    assert.ok(r.pointingGame.lower < 0.25 && r.pointingGame.upper > 0.25);
    assert.deepEqual(r.seconds, { pretrain: 0, train: 150, trainLoop: 100, explain: 20 });
    assert.equal(r.pointingGameFine, undefined);
    const table = ablationTable([r]);
    assert.match(table, /\| base \| base \|/);
    assert.match(table, /0\.800 \[0\.750, 0\.840\]/);
    assert.match(table, /25\.0 % \[/);
    // a finer layer's pointing game gets its own column, with its layer named
    const fine = rowResult(rows[0] as (typeof rows)[number], results('test', 0.8), loc, { pretrain: 0, train: 150, explain: 20 }, '/m', { ...loc, layer: 'body.layer3', pointingGame: 0.5 });
    assert.equal(fine.pointingGameFine?.hitRate, 0.5);
    assert.match(ablationTable([fine]), /50\.0 % \[[0-9.]+ %, [0-9.]+ %\] \(body\.layer3\)/);
    assert.match(ablationTable([r]), /\(n = 20\) \| — \|/);
  });
  it('refuses a run whose figures are not on the test split', () => {
    assert.throws(() => rowResult(rows[0] as (typeof rows)[number], results('validation', 0.8), loc, { pretrain: 0, train: 1, explain: 1 }, '/m'), /not the test split/);
  });
  it('picks the row with the highest test ROC-AUC', () => {
    const a = rowResult(rows[0] as (typeof rows)[number], results('test', 0.7), loc, { pretrain: 0, train: 1, explain: 1 }, '/a');
    const b = rowResult(rows[1] as (typeof rows)[number], results('test', 0.75), loc, { pretrain: 0, train: 1, explain: 1 }, '/b');
    assert.equal(bestRow([a, b])?.name, 'unbalanced');
    assert.equal(bestRow([]), null);
  });
  it('keeps stored rows that were not run again, in their order, each with when it was measured, and refuses another split', () => {
    const row = (i: number, auc: number, measured?: string) => rowResult(rows[i] as (typeof rows)[number], results('test', auc), loc, { pretrain: 0, train: 1, explain: 1 }, `/m${i}`, undefined, measured);
    const stored = [row(0, 0.7), row(1, 0.72), row(2, 0.74)];
    const merged = mergeRows(stored, [row(1, 0.8, '2026-12-03, load 0.2'), row(8, 0.6, '2026-12-03, load 0.2')], '2026-12-02, load 6.0');
    assert.deepEqual(merged.map((r) => r.name), ['base', 'unbalanced', 'noaug', 'res160']);
    // the row run again replaces its stored figures
    assert.equal(merged[1]?.rocAuc.estimate, 0.8);
    assert.deepEqual(merged.map((r) => r.measured), ['2026-12-02, load 6.0', '2026-12-03, load 0.2', '2026-12-02, load 6.0', '2026-12-03, load 0.2']);
    assert.equal(measuredNote(merged), 'base, noaug: 2026-12-02, load 6.0; unbalanced, res160: 2026-12-03, load 0.2');
    assert.deepEqual(mergeRows([], [], 'x'), []);
    assert.deepEqual(mergeRows(stored, [], 'x').map((r) => r.name), ['base', 'unbalanced', 'noaug']);
    const otherSplit = { ...row(8, 0.6), testImages: 99 };
    assert.throws(() => mergeRows(stored, [otherSplit], 'x'), /not the same split; re-run it \(--rows base\)/);
  });
  it('gives the Wilson interval of a proportion', () => {
    const half = wilsonInterval(5, 10);
    assert.ok(Math.abs(half.lower - 0.2366) < 1e-3 && Math.abs(half.upper - 0.7634) < 1e-3);
    const none = wilsonInterval(0, 10);
    assert.equal(none.lower, 0);
    assert.ok(Math.abs(none.upper - 0.2775) < 1e-3);
  });
});

describe('validation by epoch', () => {
  it('numbers the epochs from 1 and keeps a missing or NaN ROC-AUC as null', () => {
    const history = [
      { trainLoss: 5, validLoss: 2, validAccuracy: 0.46 },
      { trainLoss: 4, validLoss: 1, validAccuracy: 0.52, validRocAuc: Number.NaN },
      { trainLoss: 3, validLoss: 0.5, validAccuracy: 0.75, validRocAuc: 0.8, seconds: 106.4 },
    ];
    assert.deepEqual(validationByEpoch(history), [
      { epoch: 1, accuracy: 0.46, rocAuc: null },
      { epoch: 2, accuracy: 0.52, rocAuc: null },
      { epoch: 3, accuracy: 0.75, rocAuc: 0.8, seconds: 106 },
    ]);
  });
});
