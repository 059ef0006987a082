// The run report's summary names the validation figure that kept the epoch (config.monitor), and its galleries draw
// the box head's predicted fracture boxes in yellow (and the data's boxes in green) over the Grad-CAM overlay.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decode } from 'fast-png';
import { caseGallery, summarySection, type SummaryRun } from '../../src/cli/pipeline/runReport.js';
import { importDataset, loadManifest, type ManifestRow } from '../../src/data/index.js';
import { createClassifier, type Classifier } from '../../src/models/index.js';
import { manualSeed, noGrad } from '../../src/torch/index.js';
import { resolveConfig, type ProtocolResult } from '../../src/train/index.js';
import { binaryMetrics, bootstrapMetrics } from '../../src/train/metrics/index.js';
import { writeFolderDataset } from '../helpers/folders.js';

describe('summary', () => {
  const labels = [0, 1, 0, 1, 1, 0, 0, 1, 0, 1];
  const probs = [0.1, 0.8, 0.3, 0.7, 0.4, 0.2, 0.6, 0.9, 0.35, 0.65];
  const protocol: ProtocolResult = { lrFinder: { frozen: null, unfrozen: null }, lrs: { frozen: 1e-3, unfrozen: [2e-3] }, bestScore: 0.9, bestEpoch: 2, stoppedEarly: true, epochsRun: 6 };
  const run: SummaryRun = {
    protocol,
    trainRows: [],
    validRows: [],
    history: [],
    seconds: 60,
    imagesPerSecond: { train: 10, inference: 40 },
    fromScratch: false,
    evaluation: { set: 'test', n: labels.length, threshold: 0.5, metrics: binaryMetrics(probs, labels), intervals: bootstrapMetrics(probs, labels, { resamples: 20, seed: 0 }) },
  };

  it('names the validation figure that kept the epoch: ROC AUC under --monitor roc-auc', () => {
    const html = summarySection(run, resolveConfig({ monitor: 'roc-auc' })).html;
    assert.match(html, /Best validation ROC AUC at epoch 3 of the unfrozen stage; early stopping ended training\./);
    assert.doesNotMatch(html, /validation accuracy/);
  });

  it('names validation accuracy under the default monitor', () => {
    const html = summarySection(run, resolveConfig({})).html;
    assert.match(html, /Best validation accuracy at epoch 3 of the unfrozen stage/);
  });
});

describe('case gallery', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-gallery-'));
  const datasetDir = path.join(work, 'dataset');
  let row: ManifestRow;
  let model: Classifier;
  const YELLOW = [255, 230, 0];
  const GREEN = [0, 220, 0];

  before(async () => {
    await writeFolderDataset(path.join(work, 'folders'), 1, 3);
    await importDataset({ inputDir: path.join(work, 'folders'), outDir: datasetDir, layout: 'folders', saltFile: path.join(work, 'salt.key'), workers: 1 });
    // One true fracture box in the middle of the image (fractions of the image).
    row = { ...((await loadManifest(datasetDir))[0] as ManifestRow), boxes: [[0.25, 0.25, 0.75, 0.75]] };
    manualSeed(1);
    model = createClassifier('resnet18', { weights: null, boxHead: 'last' });
  });
  after(() => {
    model.dispose();
    rmSync(work, { recursive: true, force: true });
  });

  /** The gallery's one tile as RGB pixels (224 × 224) with the box head's heat set to `logit` everywhere. */
  async function tile(logit: number): Promise<{ at: (x: number, y: number) => number[] }> {
    const head = model.boxHead as NonNullable<Classifier['boxHead']>;
    noGrad(() => {
      head.param('weight').zero_();
      head.param('bias').fill_(logit);
    });
    const html = await caseGallery([{ row, predicted: 1, caption: 'fracture/fracture/0.10/0.90' }], model, datasetDir, { inputSize: 64, crop: 'none' });
    const uri = /src="data:image\/png;base64,([^"]+)"/.exec(html)?.[1] ?? assert.fail('no image in the gallery');
    const png = decode(Buffer.from(uri, 'base64'));
    assert.equal(png.channels, 3);
    return { at: (x, y) => Array.from(png.data.slice(3 * (y * png.width + x), 3 * (y * png.width + x) + 3)) };
  }

  it('draws the predicted boxes in yellow and the data\'s boxes in green', async () => {
    // Heat above the threshold in every cell: one predicted box, the whole image; its 2-pixel outline is the border.
    const image = await tile(6);
    for (const i of [0, 1, 57, 111, 170, 222, 223]) {
      for (const [x, y] of [[i, 0], [i, 1], [i, 222], [i, 223], [0, i], [1, i], [222, i], [223, i]] as const) assert.deepEqual(image.at(x, y), YELLOW, `(${x}, ${y})`);
    }
    for (const [x, y] of [[56, 56], [100, 56], [56, 130], [167, 100], [100, 167]] as const) assert.deepEqual(image.at(x, y), GREEN, `true box at (${x}, ${y})`);
  });

  it('draws no yellow where the box head predicts nothing', async () => {
    const image = await tile(-10);
    for (const [x, y] of [[0, 0], [57, 1], [223, 111], [111, 223]] as const) assert.notDeepEqual(image.at(x, y), YELLOW, `(${x}, ${y})`);
    assert.deepEqual(image.at(56, 56), GREEN);
  });
});
