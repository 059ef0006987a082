// Stored runs of scripts/fracatlas.sh (issue 16), as bench/fracatlas.ts writes them, and their run folders' predictions:
// read by bench/recipe-rows.ts and bench/mirror-rows.ts; the goals for the best recipe.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';

export interface Interval { readonly estimate: number; readonly lower: number; readonly upper: number }

/** The parts of a bench/fracatlas.ts result the benches read. */
export interface StoredRun {
  readonly benchmark: string;
  readonly date: string;
  readonly minutes: number;
  readonly load: string;
  readonly device: string;
  readonly epochKept: number;
  /** Validation figures of every epoch (ROC-AUC null for the epochs below full size, which are not validated). */
  readonly validationByEpoch: readonly { readonly epoch: number; readonly rocAuc: number | null }[];
  /** The input gate's pass rates, its thresholds set on validation. */
  readonly gate: { readonly validation: { readonly passRate: number }; readonly test: { readonly passRate: number } };
  readonly result: {
    readonly recipe: Readonly<Record<string, string | number | boolean>>;
    readonly testImages: number;
    readonly rocAuc: Interval;
    readonly ece: { readonly before: number; readonly after: number; readonly perfectModel?: { readonly median: number; readonly upper: number } };
    readonly pointingGame: { readonly n: number; readonly hitRate: number; readonly randomBaseline: number };
    readonly modelDir: string;
  };
  readonly audit: {
    readonly masking: { readonly auc: number; readonly aucMasked: number; readonly aucChange: number };
    readonly localisation: { readonly boxHead: { readonly pointingGame: number } | null } | null;
  };
}

export interface Prediction { readonly id: string; readonly label: number; readonly probability: number }

/** Issue 16's goals for the best recipe: test ROC-AUC at least, pointing game at least, ECE after calibration at most. */
export const AUC_GOAL = 0.9;
export const PG_GOAL = 0.4;
export const ECE_GOAL = 0.03;

export const SCRIPT_BENCHMARK = 'scripts/fracatlas.sh end to end (issue 16)';

export function readStored(file: string): StoredRun {
  if (!existsSync(file)) throw new Error(`${file} is missing: run scripts/fracatlas.sh with RESULT=${file} first.`);
  const run = JSON.parse(readFileSync(file, 'utf8')) as StoredRun;
  if (run.benchmark !== SCRIPT_BENCHMARK) throw new Error(`${file} is not a scripts/fracatlas.sh result (benchmark "${run.benchmark}"): pass the JSON files that bench/fracatlas.ts writes.`);
  return run;
}

/** The results.json beside the run's model folder: its predictions (outside the repository, in the run folder). */
const runResults = (run: StoredRun): string => path.join(path.dirname(run.result.modelDir), 'results.json');

/** Whether the run folder behind a stored result is still here (a fresh checkout has bench/results/ but not runs/). */
export function runFolderPresent(run: StoredRun): boolean {
  return existsSync(runResults(run));
}

/** A run's validation and test predictions and the calibration (temperature, bias) fitted on validation. */
export interface RunPredictions { readonly test: Prediction[]; readonly validation: Prediction[]; readonly temperature: number; readonly bias: number }

/**
 * Where a stored result's predictions are kept in the repository, beside it (bench/results/fracatlas.json →
 * bench/results/fracatlas.predictions.json): FracAtlas image IDs, labels and probabilities, no pixels.
 */
export function storedPredictionsPath(file: string): string {
  return file.replace(/(\.json)?$/, '.predictions.json');
}

/** Which stored run a predictions file belongs to: the figures that change whenever the run is made again. */
function runIdentity(run: StoredRun): { date: string; minutes: number; rocAuc: number } {
  return { date: run.date, minutes: run.minutes, rocAuc: run.result.rocAuc.estimate };
}

/**
 * The run's validation and test predictions and its calibration: from the results.json beside its model folder, or,
 * when the run folder is gone, from the predictions kept beside the stored result (`keepPredictions`) if they belong
 * to this very run (same date, minutes and test ROC-AUC).
 */
export function runPredictions(file: string, run: StoredRun): RunPredictions {
  const results = runResults(run);
  if (!existsSync(results)) return keptPredictions(file, run, results);
  const parsed = JSON.parse(readFileSync(results, 'utf8')) as { evaluatedOn: string; predictions: Prediction[]; validation: { predictions: Prediction[] }; temperature: number; calibrationBias?: number };
  if (parsed.evaluatedOn !== 'test') throw new Error(`${results} is measured on ${parsed.evaluatedOn}, not test.`);
  return { test: parsed.predictions, validation: parsed.validation.predictions, temperature: parsed.temperature, bias: parsed.calibrationBias ?? 0 };
}

function keptPredictions(file: string, run: StoredRun, results: string): RunPredictions {
  const kept = storedPredictionsPath(file);
  const rerun = `run scripts/fracatlas.sh again with RESULT=${file} (and OUT=${path.dirname(path.dirname(run.result.modelDir))}), or bring the run folder back.`;
  if (!existsSync(kept)) throw new Error(`${results} (the test predictions behind ${file}) is missing and ${kept} is not there either: the paired differences need one of them; ${rerun}`);
  const parsed = JSON.parse(readFileSync(kept, 'utf8')) as { run: unknown } & RunPredictions;
  if (!isDeepStrictEqual(parsed.run, runIdentity(run))) {
    throw new Error(`${kept} holds the predictions of another run than ${file} (${JSON.stringify(parsed.run)} against ${JSON.stringify(runIdentity(run))}): ${rerun}`);
  }
  return { test: parsed.test, validation: parsed.validation, temperature: parsed.temperature, bias: parsed.bias };
}

/** Writes `predictions` beside the stored result `file` (storedPredictionsPath), tied to this run, so rows can be added without its run folder. */
export function keepPredictions(file: string, run: StoredRun, predictions: RunPredictions): string {
  const kept = storedPredictionsPath(file);
  const lean = (ps: readonly Prediction[]): Prediction[] => ps.map(({ id, label, probability }) => ({ id, label, probability }));
  const { temperature, bias } = predictions;
  writeFileSync(kept, `${JSON.stringify({ run: runIdentity(run), temperature, bias, validation: lean(predictions.validation), test: lean(predictions.test) })}\n`);
  return kept;
}
