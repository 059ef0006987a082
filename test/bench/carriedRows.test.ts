// Carrying recipe rows over (bench/lib/carriedRows.ts): a row whose run folder is gone keeps its stored figures only
// when they were computed from the same stored run against the same reference predictions; anything else is an
// error that names the run to train again.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CarryOver, type StoredRecipeRows } from '../../bench/lib/carriedRows.js';
import type { StoredRun } from '../../bench/lib/scriptRuns.js';

const floor = { median: 0.028, upper: 0.043, shareAtGoal: 0.46, draws: 200 };
const repartitioned = { median: 0.028, upper: 0.041, shareAtGoal: 0.55, draws: 200 };
const reference = { file: 'bench/results/fracatlas.json', protocolFloor: floor, repartitioned };

const storedRow = (file: string, extra: Record<string, unknown> = {}) => ({ file, date: '2026-12-01', minutes: 54.5, rocAuc: { estimate: 0.9 }, protocolFloor: floor, repartitioned, eceAfterCalibration: 0.04, ...extra });

const previous: StoredRecipeRows = {
  reference: reference.file,
  date: '2026-12-07',
  rows: [storedRow(reference.file), storedRow('bench/results/fracatlas-seed1.json', { minutes: 55.1, rocAuc: { estimate: 0.903 } })],
  pairs: [{ a: 'bench/results/fracatlas-seed1.json', b: 'bench/results/fracatlas.json', rocAucDifference: { estimate: -0.002, lower: -0.025, upper: 0.017 } }],
  seeds: [{ change: 'reference', seeds: [42, 1], ensemble: { members: 2 } }],
};

const run = (date: string, minutes: number, auc: number): StoredRun => ({
  benchmark: 'scripts/fracatlas.sh end to end (issue 16)', date, minutes, load: '', device: 'cpu', epochKept: 17,
  validationByEpoch: [{ epoch: 17, rocAuc: 0.86 }], gate: { validation: { passRate: 0.95 }, test: { passRate: 0.94 } },
  result: { recipe: {}, testImages: 553, rocAuc: { estimate: auc, lower: 0, upper: 1 }, ece: { before: 0, after: 0 }, pointingGame: { n: 98, hitRate: 0, randomBaseline: 0.01 }, modelDir: '/gone/run/model' },
  audit: { masking: { auc: 0, aucMasked: 0, aucChange: 0 }, localisation: null },
});

describe('carrying recipe rows over', () => {
  it('keeps the stored figures of an unchanged run against the same reference, with the day they were computed', () => {
    const carry = CarryOver.from(previous, reference);
    const row = carry.row('bench/results/fracatlas-seed1.json', run('2026-12-01', 55.1, 0.903));
    assert.equal(row.eceAfterCalibration, 0.04);
    assert.equal(row.computedOn, '2026-12-07');
    assert.deepEqual(carry.pair('bench/results/fracatlas-seed1.json', 'bench/results/fracatlas.json'), { estimate: -0.002, lower: -0.025, upper: 0.017 });
    assert.deepEqual(carry.ensemble('reference', [42, 1]), { members: 2 });
  });

  it('refuses a run stored again since, a row or pair never computed, and an ensemble of other seeds', () => {
    const carry = CarryOver.from(previous, reference);
    assert.throws(() => carry.row('bench/results/fracatlas-seed1.json', run('2026-12-08', 54.0, 0.903)), /fracatlas-seed1\.json has changed since.*RESULT=bench\/results\/fracatlas-seed1\.json/);
    assert.throws(() => carry.row('bench/results/fracatlas-seed2.json', run('2026-12-01', 55.1, 0.914)), /\/gone\/run\/model .*has no row for it/);
    assert.throws(() => carry.pair('bench/results/fracatlas.json', 'bench/results/fracatlas-seed1.json'), /no such pair/);
    assert.throws(() => carry.ensemble('reference', [42, 1, 2]), /seeds 42, 1, 2/);
  });

  it('carries nothing when the reference predictions differ or no table is stored', () => {
    const other = CarryOver.from(previous, { ...reference, repartitioned: { ...repartitioned, median: 0.029 } });
    assert.throws(() => other.row('bench/results/fracatlas-seed1.json', run('2026-12-01', 55.1, 0.903)), /predictions differ/);
    const elsewhere = CarryOver.from(previous, { ...reference, file: 'bench/results/fracatlas-mask.json' });
    assert.throws(() => elsewhere.row('bench/results/fracatlas-seed1.json', run('2026-12-01', 55.1, 0.903)), /computed against bench\/results\/fracatlas\.json/);
    assert.throws(() => CarryOver.from(null, reference).ensemble('reference', [42, 1]), /no stored recipe-rows\.json/);
  });
});
