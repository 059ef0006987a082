// A stored FracAtlas run's predictions (bench/lib/scriptRuns.ts): read from the run folder while it exists, kept
// beside the stored result so the reference stands without its folder, and refused when the kept ones belong to
// another run of the same file.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { keepPredictions, runPredictions, storedPredictionsPath, type StoredRun } from '../../bench/lib/scriptRuns.js';

const work = mkdtempSync(path.join(tmpdir(), 'hipfrac-script-runs-'));
after(() => rmSync(work, { recursive: true, force: true }));

const run = (modelDir: string, date = '2026-12-07', auc = 0.905): StoredRun => ({
  benchmark: 'scripts/fracatlas.sh end to end (issue 16)', date, minutes: 54.5, load: '', device: 'cpu', epochKept: 17,
  validationByEpoch: [{ epoch: 17, rocAuc: 0.86 }], gate: { validation: { passRate: 0.95 }, test: { passRate: 0.94 } },
  result: { recipe: {}, testImages: 2, rocAuc: { estimate: auc, lower: 0.8, upper: 1 }, ece: { before: 0, after: 0 }, pointingGame: { n: 1, hitRate: 0, randomBaseline: 0.01 }, modelDir },
  audit: { masking: { auc: 0, aucMasked: 0, aucChange: 0 }, localisation: null },
});

const test = [{ id: 'IMG0000001.jpg', label: 1, probability: 0.8125, file: '/elsewhere/IMG0000001.jpg' }, { id: 'IMG0000002.jpg', label: 0, probability: 0.1 / 3 }];
const validation = [{ id: 'IMG0000003.jpg', label: 0, probability: 0.25 }];

describe('stored run predictions', () => {
  const runDir = path.join(work, 'runs', 'fa', 'run');
  mkdirSync(path.join(runDir, 'model'), { recursive: true });
  writeFileSync(path.join(runDir, 'results.json'), JSON.stringify({ evaluatedOn: 'test', predictions: test, validation: { predictions: validation }, temperature: 1.25, calibrationBias: -1.5 }));
  const stored = path.join(work, 'fracatlas.json');

  it('reads the run folder, then keeps its predictions lean beside the stored result', () => {
    const fromFolder = runPredictions(stored, run(path.join(runDir, 'model')));
    assert.equal(fromFolder.temperature, 1.25);
    assert.equal(fromFolder.bias, -1.5);
    const kept = keepPredictions(stored, run(path.join(runDir, 'model')), fromFolder);
    assert.equal(kept, path.join(work, 'fracatlas.predictions.json'));
    assert.equal(storedPredictionsPath('bench/results/fracatlas-seed1.json'), 'bench/results/fracatlas-seed1.predictions.json');
    // Only ID, label and probability leave the run folder.
    assert.ok(!readFileSync(kept, 'utf8').includes('/elsewhere/'));
  });

  it('stands in for the folder once it is gone, to the last bit of every probability', () => {
    const fromKept = runPredictions(stored, run('/gone/run/model'));
    assert.deepEqual(fromKept.test, test.map(({ id, label, probability }) => ({ id, label, probability })));
    assert.deepEqual(fromKept.validation, validation);
    assert.equal(fromKept.test[1]?.probability, 0.1 / 3);
    assert.equal(fromKept.temperature, 1.25);
    assert.equal(fromKept.bias, -1.5);
  });

  it('refuses kept predictions of another run of the same file, and names the run to make again when none are kept', () => {
    assert.throws(() => runPredictions(stored, run('/gone/run/model', '2026-12-08')), (e: Error) => /another run than .*fracatlas\.json/.test(e.message) && /RESULT=.*fracatlas\.json/.test(e.message));
    assert.throws(() => runPredictions(stored, run('/gone/run/model', '2026-12-07', 0.9)), /another run/);
    assert.throws(() => runPredictions(path.join(work, 'fracatlas-seed1.json'), run('/gone/run/model')), (e: Error) => /is missing and .*fracatlas-seed1\.predictions\.json is not there either/.test(e.message) && /OUT=\/gone/.test(e.message));
  });
});
