// The figures of FracAtlas recipe rows whose run folders are gone (a fresh checkout keeps bench/results/ but not
// runs/), carried over from the stored bench/results/recipe-rows.json into a new one. A row, pair or seed ensemble is
// carried only when what it was computed from is unchanged: the same stored run (date, minutes, test ROC-AUC), and
// the reference's predictions the same (its validation-and-test calibration figures, which depend on every one of its
// probabilities, equal to the stored ones). Anything else needs its run folder back.
import { isDeepStrictEqual } from 'node:util';
import type { Interval, StoredRun } from './scriptRuns.js';

/** The parts of a stored recipe-rows.json that carrying over reads. */
export interface StoredRecipeRows {
  readonly reference: string;
  readonly date: string;
  readonly rows: readonly CarriedRow[];
  readonly pairs: readonly { readonly a: string; readonly b: string; readonly rocAucDifference: Interval }[];
  readonly seeds: readonly { readonly change: string; readonly seeds: readonly number[]; readonly ensemble: unknown }[];
}

/** A stored row: its stored run's identity, the figures computed from its predictions, the day they were computed. */
export interface CarriedRow {
  readonly file: string;
  readonly date: string;
  readonly minutes: number;
  readonly rocAuc: { readonly estimate: number };
  readonly protocolFloor: unknown;
  readonly repartitioned: unknown;
  /** Absent in tables written before rows were carried: the table's own date. */
  readonly computedOn?: string;
  readonly [key: string]: unknown;
}

export class CarryOver {
  private constructor(private readonly previous: StoredRecipeRows | null, private readonly why: string) {}

  /**
   * `previous`: the stored table (null: none). `reference`: the reference's file and its figures computed now from
   * its predictions; the stored table's figures are usable only if its reference row has the same ones.
   */
  static from(previous: StoredRecipeRows | null, reference: { readonly file: string; readonly protocolFloor: unknown; readonly repartitioned: unknown }): CarryOver {
    if (previous === null) return new CarryOver(null, 'no stored recipe-rows.json to carry it from');
    const ref = previous.rows.find((r) => r.file === reference.file);
    if (previous.reference !== reference.file || ref === undefined) return new CarryOver(null, `the stored recipe-rows.json was computed against ${previous.reference}, not ${reference.file}`);
    if (!isDeepStrictEqual(ref.protocolFloor, reference.protocolFloor) || !isDeepStrictEqual(ref.repartitioned, reference.repartitioned)) {
      return new CarryOver(null, `${reference.file}'s predictions differ from those the stored recipe-rows.json was computed with`);
    }
    return new CarryOver(previous, '');
  }

  /** The stored figures of `file`'s row, if they were computed from this stored run; otherwise an error naming the fix. */
  row(file: string, run: StoredRun): CarriedRow {
    if (this.previous === null) throw missing(file, run, this.why);
    const stored = this.previous.rows.find((r) => r.file === file);
    if (stored === undefined) throw missing(file, run, 'the stored recipe-rows.json has no row for it');
    if (stored.date !== run.date || stored.minutes !== run.minutes || stored.rocAuc.estimate !== run.result.rocAuc.estimate) {
      throw missing(file, run, `${file} has changed since the stored recipe-rows.json was computed`);
    }
    return { ...stored, computedOn: stored.computedOn ?? this.previous.date };
  }

  /** The stored paired difference A − B. */
  pair(a: string, b: string): Interval {
    const stored = this.previous?.pairs.find((p) => p.a === a && p.b === b);
    if (stored === undefined) throw new Error(`--pairs ${a}:${b}: a run folder is missing and the stored recipe-rows.json has no such pair (${this.previous === null ? this.why : 'not computed before'}); run the missing rows' scripts/fracatlas.sh again.`);
    return stored.rocAucDifference;
  }

  /** The stored ensemble of one recipe's seeds, if the stored table had the same recipe with the same seeds. */
  ensemble(change: string, seeds: readonly number[]): unknown {
    const stored = this.previous?.seeds.find((g) => g.change === change && isDeepStrictEqual([...g.seeds], [...seeds]));
    if (stored === undefined) throw new Error(`the ensemble of "${change}" (seeds ${seeds.join(', ')}): a member's run folder is missing and the stored recipe-rows.json has no ensemble of these seeds (${this.previous === null ? this.why : 'not computed before'}); run the missing members' scripts/fracatlas.sh again.`);
    return stored.ensemble;
  }
}

function missing(file: string, run: StoredRun, reason: string): Error {
  return new Error(`${run.result.modelDir} (the run behind ${file}) is missing and its figures cannot be carried over: ${reason}. Run scripts/fracatlas.sh again with RESULT=${file}.`);
}
