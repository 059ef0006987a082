// The three-way split: a held-out test set beside train and validation, by patient (several images of one patient
// never cross sets) or by image where the data carry no patient keys, stratified by label, seeded, leak-free.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkLeakage, rowsOf, splitByPatient, type ManifestRow } from '../../src/data/index.js';
import { Rng } from '../../src/util/index.js';

/** Rows carrying what the splitter reads (id, patient key, content hash, label, view). */
function rows(patients: number, imagesPerPatient: (p: number) => number, seed: number): ManifestRow[] {
  const rng = new Rng(seed);
  const out: ManifestRow[] = [];
  for (let p = 0; p < patients; p++) {
    const label = rng.next() < 0.3 ? 1 : 0;
    for (let i = 0; i < imagesPerPatient(p); i++) {
      out.push({ id: `row-${p}-${i}`, patientKey: `patient-${p}`, contentHash: `hash-${p}-${i}`, label, view: i % 2 === 0 ? 'AP' : 'lateral' } as unknown as ManifestRow);
    }
  }
  return out;
}

const share = (part: number, whole: number): number => part / whole;

describe('train / validation / test split', () => {
  it('holds out ~15 % as test, ~20 % as validation, each stratified by label, by patient', () => {
    const data = rows(300, (p) => 1 + (p % 3), 1);
    const split = splitByPatient(data, { valFraction: 0.2, testFraction: 0.15, seed: 7 });
    const report = checkLeakage(data, split);
    assert.equal(report.ok, true, JSON.stringify(report.leaks.slice(0, 3)));
    assert.equal(split.unit, 'patient');
    assert.equal(split.testFraction, 0.15);
    const test = rowsOf(data, split, 'test');
    const val = rowsOf(data, split, 'val');
    const train = rowsOf(data, split, 'train');
    assert.equal(test.length + val.length + train.length, data.length);
    assert.ok(Math.abs(share(test.length, data.length) - 0.15) < 0.02, `test ${test.length} of ${data.length}`);
    assert.ok(Math.abs(share(val.length, data.length) - 0.2) < 0.02, `val ${val.length} of ${data.length}`);
    const positives = (r: readonly ManifestRow[]): number => share(r.filter((x) => x.label === 1).length, r.length);
    for (const [name, set] of [['test', test], ['val', val]] as const) {
      assert.ok(Math.abs(positives(set) - positives(data)) < 0.04, `${name} prevalence ${positives(set)} vs ${positives(data)}`);
    }
    // No patient in two sets.
    const setOfPatient = new Map<string, string>();
    for (const r of data) {
      const set = split.assignments[r.id] as string;
      assert.equal(setOfPatient.get(r.patientKey) ?? set, set, `patient ${r.patientKey} in two sets`);
      setOfPatient.set(r.patientKey, set);
    }
  });

  it('splits by image when every image is its own patient, and says so', () => {
    const data = rows(200, () => 1, 2);
    const split = splitByPatient(data, { testFraction: 0.15, seed: 3 });
    assert.equal(split.unit, 'image');
    assert.equal(rowsOf(data, split, 'test').length, 30);
  });

  it('is seeded: the same seed gives the same test set, another seed another one', () => {
    const data = rows(120, () => 2, 4);
    const a = splitByPatient(data, { testFraction: 0.15, seed: 11 });
    assert.deepEqual(splitByPatient(data, { testFraction: 0.15, seed: 11 }).assignments, a.assignments);
    assert.notDeepEqual(splitByPatient(data, { testFraction: 0.15, seed: 12 }).assignments, a.assignments);
  });

  it('without --test keeps the two-way split; with folds the test set is held out of every fold', () => {
    const data = rows(100, () => 1, 5);
    const two = splitByPatient(data, { seed: 1 });
    assert.equal(rowsOf(data, two, 'test').length, 0);
    const folded = splitByPatient(data, { folds: 4, testFraction: 0.2, seed: 1 });
    const test = rowsOf(data, folded, 'test');
    assert.equal(test.length, 20);
    for (const r of test) assert.equal(folded.foldOf[r.id], undefined, 'a test row has no fold');
    for (let f = 0; f < 4; f++) {
      const inFold = [...rowsOf(data, folded, 'train', f), ...rowsOf(data, folded, 'val', f)];
      assert.equal(inFold.length, 80);
      assert.ok(!inFold.some((r) => folded.assignments[r.id] === 'test'));
    }
    assert.equal(checkLeakage(data, folded).ok, true);
  });

  it('rejects fractions that leave nothing for training', () => {
    const data = rows(20, () => 1, 6);
    assert.throws(() => splitByPatient(data, { valFraction: 0.5, testFraction: 0.5 }), /HF_DATA_SPLIT_OPTION|leave images for training/);
    assert.throws(() => splitByPatient(data, { testFraction: -0.1 }), /Test fraction/);
  });
});
