// Patient-level train/validation/test splits (or k folds beside a held-out test set), stratified by label and
// optionally view, seeded. Images sharing a patient or a content hash form one group that always lands in one set;
// without patient keys (each image its own key at import) the unit is the image.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng } from '../util/index.js';
import { DataError } from './errors.js';
import type { ManifestRow, SplitName } from './manifest.js';

export interface SplitOptions {
  /** Fraction of images for validation (default 0.2, the paper's 80/20). */
  readonly valFraction?: number;
  /**
   * Fraction of images held out as the test set (default 0: no test set). Test images never reach training,
   * epoch choice, thresholds or temperature; every reported figure is measured on them.
   */
  readonly testFraction?: number;
  readonly seed?: number;
  /** Stratify by label (default) and optionally by view. */
  readonly stratifyByView?: boolean;
  /** k-fold: when set (≥ 2), each group gets a fold 0..k-1 instead of train/val. */
  readonly folds?: number;
}

export interface SplitFile {
  readonly version: 1;
  readonly seed: number;
  readonly valFraction: number;
  /** Absent in files written before test sets existed (read as 0). */
  readonly testFraction?: number;
  /** 'patient' when some patient has several images, 'image' when every image is its own group. */
  readonly unit?: 'patient' | 'image';
  readonly stratifyByView: boolean;
  readonly folds: number | null;
  readonly createdAt: string;
  /** Row id → set (train/val/test split; with folds, only the test rows). */
  readonly assignments: Readonly<Record<string, SplitName>>;
  /** Row id → fold (k-fold split). */
  readonly foldOf: Readonly<Record<string, number>>;
}

export const SPLIT_FILE = 'split.json';

/** Groups rows that must stay together: same patient key or same content hash (union–find). */
export function leakageGroups(rows: readonly Pick<ManifestRow, 'id' | 'patientKey' | 'contentHash'>[]): string[][] {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    while (parent.get(root) !== root) root = parent.get(root) as string;
    let node = x;
    while (node !== root) {
      const next = parent.get(node) as string;
      parent.set(node, root);
      node = next;
    }
    return root;
  };
  const union = (a: string, b: string): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(ra, rb);
  };
  const firstByPatient = new Map<string, string>();
  const firstByHash = new Map<string, string>();
  for (const row of rows) {
    parent.set(row.id, row.id);
    const p = firstByPatient.get(row.patientKey);
    if (p === undefined) firstByPatient.set(row.patientKey, row.id);
    else union(row.id, p);
    const h = firstByHash.get(row.contentHash);
    if (h === undefined) firstByHash.set(row.contentHash, row.id);
    else union(row.id, h);
  }
  const groups = new Map<string, string[]>();
  for (const row of rows) {
    const root = find(row.id);
    const list = groups.get(root);
    if (list === undefined) groups.set(root, [row.id]);
    else list.push(row.id);
  }
  return [...groups.values()];
}

/** Splits rows by patient; deterministic for the same rows, options and seed. */
export function splitByPatient(rows: readonly ManifestRow[], options: SplitOptions = {}): SplitFile {
  const valFraction = options.valFraction ?? 0.2;
  const testFraction = options.testFraction ?? 0;
  const seed = options.seed ?? 42;
  const folds = options.folds ?? null;
  if (!(valFraction > 0 && valFraction < 1)) throw new DataError('HF_DATA_SPLIT_OPTION', `Validation fraction must lie strictly between 0 and 1.`, { input: String(valFraction), fix: 'Use e.g. --val 0.2.' });
  if (!(testFraction >= 0 && testFraction < 1) || (folds === null && valFraction + testFraction >= 1)) {
    throw new DataError('HF_DATA_SPLIT_OPTION', `Test fraction must lie in [0, 1) and leave images for training (validation ${valFraction} + test ${testFraction} < 1).`, { input: String(testFraction), fix: 'Use e.g. --val 0.15 --test 0.15.' });
  }
  if (folds !== null && (!Number.isInteger(folds) || folds < 2)) throw new DataError('HF_DATA_SPLIT_OPTION', 'The number of folds must be an integer ≥ 2.', { input: String(folds), fix: 'Use e.g. --folds 5.' });
  const byId = new Map(rows.map((r) => [r.id, r]));
  // Sort so the result does not depend on manifest order.
  const groups = leakageGroups(rows)
    .map((ids) => ids.sort())
    .sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1));
  const strata = new Map<string, string[][]>();
  for (const ids of groups) {
    const members = ids.map((id) => byId.get(id) as ManifestRow);
    const labels = members.map((r) => (r.label === null ? 'none' : String(r.label)));
    const majority = mode(labels);
    const key = options.stratifyByView === true ? `${majority}|${mode(members.map((r) => r.view))}` : majority;
    const list = strata.get(key);
    if (list === undefined) strata.set(key, [ids]);
    else list.push(ids);
  }
  const rng = new Rng(seed);
  const assignments: Record<string, SplitName> = {};
  const foldOf: Record<string, number> = {};
  for (const key of [...strata.keys()].sort()) {
    const shuffled = rng.shuffle(strata.get(key) as string[][]);
    const total = shuffled.reduce((n, ids) => n + ids.length, 0);
    // The test set is drawn first, from the same shuffled order, so adding a test set never moves a test group.
    const testTarget = Math.round(total * testFraction);
    let inTest = 0;
    const rest: string[][] = [];
    for (const ids of shuffled) {
      // A group goes to a set when that brings the set's count closer to its target.
      if (testTarget > 0 && Math.abs(inTest + ids.length - testTarget) < Math.abs(inTest - testTarget)) {
        inTest += ids.length;
        for (const id of ids) assignments[id] = 'test';
      } else rest.push(ids);
    }
    if (folds !== null) {
      // Largest groups first into the currently smallest fold keeps folds balanced in images.
      const counts = new Array<number>(folds).fill(0);
      const ordered = rest.slice().sort((a, b) => b.length - a.length);
      for (const ids of ordered) {
        let best = 0;
        for (let f = 1; f < folds; f++) if ((counts[f] as number) < (counts[best] as number)) best = f;
        counts[best] = (counts[best] as number) + ids.length;
        for (const id of ids) foldOf[id] = best;
      }
    } else {
      const valTarget = Math.round(total * valFraction);
      let inVal = 0;
      for (const ids of rest) {
        const toVal = Math.abs(inVal + ids.length - valTarget) < Math.abs(inVal - valTarget);
        if (toVal) inVal += ids.length;
        for (const id of ids) assignments[id] = toVal ? 'val' : 'train';
      }
    }
  }
  const unit = new Set(rows.map((r) => r.patientKey)).size < rows.length ? 'patient' : 'image';
  return { version: 1, seed, valFraction, testFraction, unit, stratifyByView: options.stratifyByView === true, folds, createdAt: new Date().toISOString(), assignments, foldOf };
}

function mode(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = '';
  let bestCount = -1;
  for (const [v, c] of [...counts.entries()].sort()) {
    if (c > bestCount) {
      best = v;
      bestCount = c;
    }
  }
  return best;
}

export function splitPath(datasetDir: string): string {
  return join(datasetDir, SPLIT_FILE);
}

/** Reads split.json, or undefined when the dataset has not been split yet. */
export async function loadSplit(datasetDir: string): Promise<SplitFile | undefined> {
  try {
    return JSON.parse(await readFile(splitPath(datasetDir), 'utf8')) as SplitFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DataError('HF_DATA_SPLIT_CORRUPT', 'split.json cannot be read.', { input: splitPath(datasetDir), fix: 'Run `hipfrac split` again.', cause: error });
  }
}

/** Rows of one set: 'train'/'val'/'test', or for k-fold the training or validation rows of fold k (test rows: no fold). */
export function rowsOf(rows: readonly ManifestRow[], split: SplitFile, set: SplitName, fold?: number): ManifestRow[] {
  if (set === 'test') return rows.filter((r) => split.assignments[r.id] === 'test');
  if (split.folds !== null) {
    if (fold === undefined) throw new DataError('HF_DATA_SPLIT_OPTION', 'This split has folds; name the fold.', { input: `folds=${split.folds}`, fix: 'Pass a fold index 0..k-1.' });
    return rows.filter((r) => (split.foldOf[r.id] === fold) === (set === 'val') && split.foldOf[r.id] !== undefined);
  }
  return rows.filter((r) => split.assignments[r.id] === set);
}
