// FracAtlas recipe rows at the script's full budget (issue 16): stored `scripts/fracatlas.sh` results, each a run of
// the script with one setting changed (or another training seed), set beside the first one. Per row: what differs
// from the reference recipe, the run's minutes, test ROC-AUC with its interval, the test ROC-AUC difference to the
// reference with a paired bootstrap interval (the same test images resampled for both), ECE after calibration beside
// what a perfectly calibrated model shows on as many images, the box head's and Grad-CAM's pointing game and the
// shortcut audit's masking change. Per recipe trained with several seeds: the trainings' spread, how many meet each
// goal, and the trainings as one ensemble. The paired differences and calibration figures need each run's predictions
// (RUN/run/results.json, outside the repository); a row whose run folder is gone keeps the figures the stored
// bench/results/recipe-rows.json has for it, if they were computed from the same stored run against the same
// reference predictions (bench/lib/carriedRows.ts). The reference's predictions are needed for every row: read from
// its run folder, they are kept beside its stored result (bench/results/fracatlas.predictions.json), which stands in
// for the folder while it belongs to the same stored run. Writes bench/results/recipe-rows.json and its section of
// docs/benchmarks.md.
//   node dist/bench/recipe-rows.js --rows bench/results/fracatlas.json,bench/results/fracatlas-seed1.json,...
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bootstrapAuc, pairedAucDifference } from '../src/train/metrics/index.js';
import { marginsFromProbabilities, protocolEceFloor, repartitionedEce, scoreCalibration, type Labelled } from './lib/calibrationBias.js';
import { machineDescription, resultsPath, today, writeDocSection } from './lib/results.js';
import { CarryOver, type StoredRecipeRows } from './lib/carriedRows.js';
import { AUC_GOAL, ECE_GOAL, PG_GOAL, keepPredictions, readStored, runFolderPresent, runPredictions, type Interval, type Prediction, type StoredRun } from './lib/scriptRuns.js';

/** Settings results stored before they existed were run with (precision: float32 until --precision). */
const SETTING_DEFAULTS: Readonly<Record<string, string>> = { precision: 'fp32' };

/** The recipe settings in which `recipe` differs from `reference`, as "key value" (the reference itself: "reference"). */
function recipeChange(recipe: StoredRun['result']['recipe'], reference: StoredRun['result']['recipe']): string {
  const keys = [...new Set([...Object.keys(reference), ...Object.keys(recipe)])];
  // An empty setting (PROGRESSIVE= : every epoch at full size) reads "off".
  const value = (r: StoredRun['result']['recipe'], k: string): string => String(r[k] ?? SETTING_DEFAULTS[k] ?? '—').replace(/^$/, 'off');
  const changed = keys.filter((k) => value(recipe, k) !== value(reference, k)).map((k) => `${k} ${value(recipe, k)}`);
  return changed.length === 0 ? 'reference' : changed.join(', ');
}

interface Range { readonly min: number; readonly max: number }
const range = (v: readonly number[]): Range => ({ min: Math.min(...v), max: Math.max(...v) });

/**
 * What holds over every row, as docs/real-images.md quotes it: the input gate's test pass rate, the ECE after
 * calibration, what a perfectly calibrated model shows under the protocol, and how far the test ROC-AUC lies above
 * the validation ROC-AUC of the epoch kept (rows trained with augmentation and without: the validation images chose
 * that epoch, and on this split they are harder than the test images).
 */
function acrossRows(rows: readonly { readonly file: string; readonly eceAfterCalibration: number; readonly protocolFloor: { readonly median: number; readonly upper: number; readonly shareAtGoal: number } }[], stored: ReadonlyMap<string, StoredRun>) {
  const run = (file: string): StoredRun => stored.get(file) as StoredRun;
  const testAboveValidation = (augmented: boolean) => {
    const gaps = rows.filter((r) => (run(r.file).result.recipe.augment !== false) === augmented).map(({ file }) => {
      const r = run(file);
      const kept = r.validationByEpoch.find((e) => e.epoch === r.epochKept)?.rocAuc;
      if (kept === undefined || kept === null) throw new Error(`${file}: validationByEpoch has no validation ROC-AUC for the epoch kept (${r.epochKept}); store the run again with bench/fracatlas.ts.`);
      return r.result.rocAuc.estimate - kept;
    });
    return gaps.length === 0 ? null : { rows: gaps.length, ...range(gaps) };
  };
  return {
    rows: rows.length,
    gateTestPassRate: range(rows.map((r) => run(r.file).gate.test.passRate)),
    eceAfterCalibration: range(rows.map((r) => r.eceAfterCalibration)),
    perfectModelUnderProtocol: {
      median: range(rows.map((r) => r.protocolFloor.median)),
      upper: range(rows.map((r) => r.protocolFloor.upper)),
      shareAtGoal: range(rows.map((r) => r.protocolFloor.shareAtGoal)),
    },
    testAboveValidationRocAuc: { augmented: testAboveValidation(true), notAugmented: testAboveValidation(false) },
  };
}

interface RowFigures { readonly file: string; readonly rocAuc: Interval; readonly boxHeadPointingGame: number | null; readonly eceAfterCalibration: number; readonly repartitioned: { readonly median: number } }

/** A row's uncalibrated fracture margins (z₁ − z₀) on the validation and test images, in the reference's image order. */
interface RowMargins { readonly validation: Labelled; readonly test: Labelled }

/**
 * The trainings of one recipe as an ensemble (their margins averaged per image), with T and b fitted again on the
 * averaged validation margins: test ROC-AUC with its interval, the paired difference to the reference, ECE after
 * calibration and over re-partitions. It costs one training per member: more than the script's budget.
 */
function seedEnsemble(members: readonly RowMargins[], reference: readonly number[]) {
  const mean = (part: 'validation' | 'test'): Labelled => {
    const first = (members[0] as RowMargins)[part];
    return { margins: Float64Array.from(first.margins, (_, i) => members.reduce((s, m) => s + (m[part].margins[i] as number), 0) / members.length), labels: first.labels };
  };
  const validation = mean('validation');
  const test = mean('test');
  const calibrated = scoreCalibration(validation, test, true);
  const auc = bootstrapAuc(test.margins, test.labels, { seed: 0 });
  const difference = pairedAucDifference(test.margins, reference, test.labels, { seed: 0 });
  return {
    members: members.length,
    rocAuc: { estimate: auc.estimate, lower: auc.lower, upper: auc.upper },
    rocAucDifference: { estimate: difference.estimate, lower: difference.lower, upper: difference.upper },
    eceAfterCalibration: calibrated.ece,
    repartitioned: repartitionedEce(validation, test, { goal: ECE_GOAL }),
  };
}

/**
 * Rows that differ only in the training seed, as one recipe: how many trainings, the ROC-AUC mean and range, the
 * pointing game's and ECE's ranges, how many trainings meet each goal and all three, and the trainings as an
 * ensemble (`seedEnsemble`; carried over from the stored table when a member's run folder is gone). Only recipes with
 * two or more trainings; `recipes` holds each row's recipe, `margins` its margins (rows with a run folder), `reference`
 * the reference's test scores.
 */
function recipeSeeds(rows: readonly RowFigures[], recipes: ReadonlyMap<string, StoredRun['result']['recipe']>, referenceRecipe: StoredRun['result']['recipe'], margins: ReadonlyMap<string, RowMargins>, reference: readonly number[], carry: CarryOver) {
  const withoutSeed = (r: StoredRun['result']['recipe']): StoredRun['result']['recipe'] => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'seed'));
  const groups = new Map<string, { change: string; seeds: number[]; rows: RowFigures[] }>();
  for (const row of rows) {
    const recipe = recipes.get(row.file) ?? {};
    const change = recipeChange(withoutSeed(recipe), withoutSeed(referenceRecipe));
    const group = groups.get(change) ?? { change, seeds: [], rows: [] };
    group.seeds.push(Number(recipe.seed));
    group.rows.push(row);
    groups.set(change, group);
  }
  return [...groups.values()].filter((g) => g.rows.length >= 2).map(({ change, seeds, rows: rs }) => {
    const auc = rs.map((r) => r.rocAuc.estimate);
    // A recipe without box supervision has no box head to score: its range is null.
    const pg = rs.map((r) => r.boxHeadPointingGame);
    const ece = rs.map((r) => r.eceAfterCalibration);
    const meets = rs.map((r, i) => ({ auc: (auc[i] as number) >= AUC_GOAL, pg: (pg[i] ?? 0) >= PG_GOAL, ece: r.eceAfterCalibration <= ECE_GOAL }));
    return {
      change,
      seeds,
      trainings: rs.length,
      rocAuc: { mean: auc.reduce((a, b) => a + b, 0) / auc.length, ...range(auc) },
      boxHeadPointingGame: pg.every((v): v is number => v !== null) ? range(pg) : null,
      eceAfterCalibration: range(ece),
      repartitionedEceMedian: range(rs.map((r) => r.repartitioned.median)),
      meeting: {
        rocAuc: meets.filter((m) => m.auc).length,
        pointingGame: meets.filter((m) => m.pg).length,
        ece: meets.filter((m) => m.ece).length,
        all: meets.filter((m) => m.auc && m.pg && m.ece).length,
      },
      ensemble: rs.every((r) => margins.has(r.file))
        ? seedEnsemble(rs.map((r) => margins.get(r.file) as RowMargins), reference)
        // Written by this bench from the same trainings (CarryOver checks they are unchanged).
        : carry.ensemble(change, seeds) as ReturnType<typeof seedEnsemble>,
    };
  });
}

function main(): void {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: 'bench/results/fracatlas.json,bench/results/fracatlas-seed1.json' },
      // Further paired comparisons between two rows other than the reference: A:B,... (A − B).
      pairs: { type: 'string', default: '' },
    },
  });
  const files = values.rows.split(',').filter((f) => f !== '');
  if (files.length < 2) throw new Error('--rows needs the reference result and at least one more, comma-separated.');
  // --pairs names rows given in --rows; checked before any run is read.
  const pairNames = values.pairs.split(',').filter((x) => x !== '').map((pair) => {
    const [a, b, ...rest] = pair.split(':');
    if (a === undefined || b === undefined || rest.length > 0 || !files.includes(a) || !files.includes(b)) {
      throw new Error(`--pairs ${pair}: both sides must be files given in --rows (A:B, comma-separated).`);
    }
    return { a, b };
  });
  // Each stored result and its run's predictions (null: the run folder is gone), read once; the reference's are needed.
  const runs = files.map((file, i) => {
    const run = readStored(file);
    return { file, run, predictions: i === 0 || runFolderPresent(run) ? runPredictions(file, run) : null };
  });
  const ref = runs[0] as (typeof runs)[number];
  const refPredictions = ref.predictions as NonNullable<typeof ref.predictions>;
  if (runFolderPresent(ref.run)) console.log(`reference predictions kept in ${keepPredictions(ref.file, ref.run, refPredictions)}`);
  const refPreds = refPredictions.test;
  const labels = refPreds.map((p) => p.label);
  const refById = new Map(refPreds.map((p) => [p.id, p]));
  const refValidation = refPredictions.validation;
  const validationIds = new Set(refValidation.map((p) => p.id));
  /** Each row's test probabilities in the reference's image order. */
  const aligned = new Map<string, number[]>();
  /** Each row's validation and test margins in the reference's image order. */
  const marginsOf = new Map<string, RowMargins>();
  const inReferenceOrder = (l: Labelled, own: readonly Prediction[], order: readonly Prediction[]): Labelled => {
    const at = new Map(own.map((x, i) => [x.id, i]));
    return { margins: Float64Array.from(order, (o) => l.margins[at.get(o.id) as number] as number), labels: order.map((o) => o.label) };
  };
  const computeRow = (file: string, run: StoredRun, stored: ReturnType<typeof runPredictions>) => {
    const preds = stored.test;
    if (preds.length !== refPreds.length || preds.some((p) => refById.get(p.id)?.label !== p.label)) {
      throw new Error(`${file}'s test images are not ${ref.file}'s: every row must use the same split (hipfrac split --seed 42).`);
    }
    if (stored.validation.length !== refValidation.length || stored.validation.some((p) => !validationIds.has(p.id))) {
      throw new Error(`${file}'s validation images are not ${ref.file}'s: every row must use the same split (hipfrac split --seed 42).`);
    }
    const byId = new Map(preds.map((p) => [p.id, p.probability]));
    const scores = refPreds.map((p) => byId.get(p.id) as number);
    aligned.set(file, scores);
    const difference = pairedAucDifference(scores, refPreds.map((p) => p.probability), labels, { seed: 0 });
    // The ECE goal against what a perfectly calibrated model reaches under the same protocol (T and b refitted on
    // validation labels drawn from the calibrated probabilities, test labels drawn likewise).
    const labelled = (p: Prediction[]): Labelled => ({
      margins: marginsFromProbabilities(p.map((x) => x.probability), stored.temperature, stored.bias).margins,
      labels: p.map((x) => x.label),
    });
    const val = labelled(stored.validation);
    const test = labelled(preds);
    marginsOf.set(file, { validation: inReferenceOrder(val, stored.validation, refValidation), test: inReferenceOrder(test, preds, refPreds) });
    const protocolFloor = protocolEceFloor(val.margins, test.margins, stored, { goal: ECE_GOAL });
    // The same protocol on other partitions of the validation and test images: the stored split's luck, which every
    // row shares (the same test images), taken out.
    const repartitioned = repartitionedEce(val, test, { goal: ECE_GOAL });
    const r = run.result;
    return {
      file,
      change: recipeChange(r.recipe, ref.run.result.recipe),
      date: run.date,
      device: run.device,
      load: run.load,
      minutes: run.minutes,
      epochKept: run.epochKept,
      testImages: r.testImages,
      rocAuc: r.rocAuc,
      rocAucDifference: { estimate: difference.estimate, lower: difference.lower, upper: difference.upper },
      eceAfterCalibration: r.ece.after,
      perfectModelEce: r.ece.perfectModel ?? null,
      protocolFloor,
      repartitioned,
      boxHeadPointingGame: run.audit.localisation?.boxHead?.pointingGame ?? null,
      gradCamPointingGame: r.pointingGame.hitRate,
      randomPointingGame: r.pointingGame.randomBaseline,
      maskedAucChange: run.audit.masking.aucChange,
      computedOn: today(),
    };
  };
  type Row = ReturnType<typeof computeRow>;
  const refRow = computeRow(ref.file, ref.run, refPredictions);
  const storedTable = resultsPath('recipe-rows');
  const carry = CarryOver.from(existsSync(storedTable) ? JSON.parse(readFileSync(storedTable, 'utf8')) as StoredRecipeRows : null, refRow);
  // A carried row was written by this bench (CarryOver checks it is this stored run's); its change is recomputed.
  const rows: Row[] = runs.map(({ file, run, predictions }, i) => (i === 0 ? refRow
    : predictions !== null ? computeRow(file, run, predictions)
      : { ...carry.row(file, run) as unknown as Row, change: recipeChange(run.result.recipe, ref.run.result.recipe) }));
  const recipeOf = new Map(runs.map((r) => [r.file, r.run.result.recipe]));
  const pairs = pairNames.map(({ a, b }) => {
    const change = recipeChange(recipeOf.get(a) ?? {}, recipeOf.get(b) ?? {});
    const sa = aligned.get(a);
    const sb = aligned.get(b);
    if (sa === undefined || sb === undefined) return { a, b, change, rocAucDifference: carry.pair(a, b) };
    const d = pairedAucDifference(sa, sb, labels, { seed: 0 });
    return { a, b, change, rocAucDifference: { estimate: d.estimate, lower: d.lower, upper: d.upper } };
  });
  const seeds = recipeSeeds(rows, recipeOf, ref.run.result.recipe, marginsOf, refPreds.map((p) => p.probability), carry);
  const json = {
    benchmark: 'FracAtlas recipe rows at the full budget of scripts/fracatlas.sh (issue 16)',
    data: 'FracAtlas, non-hip part (Abedeen et al., Scientific Data 10, 521, 2023; CC BY 4.0), split by image, stratified, seed 42; every figure on the 553 test images',
    reference: ref.file,
    machine: machineDescription(),
    date: today(),
    command: `node dist/bench/recipe-rows.js --rows ${files.join(',')}${pairs.length > 0 ? ` --pairs ${values.pairs}` : ''}`,
    goals: { rocAuc: AUC_GOAL, boxHeadPointingGame: PG_GOAL, eceAfterCalibration: ECE_GOAL },
    rows,
    pairs,
    seeds,
    acrossRows: acrossRows(rows, new Map(runs.map((r) => [r.file, r.run]))),
  };
  writeFileSync(resultsPath('recipe-rows'), `${JSON.stringify(json, null, 2)}\n`);
  const f3 = (v: number): string => v.toFixed(3);
  const pct = (v: number | null): string => (v === null ? '—' : `${(100 * v).toFixed(1)} %`);
  const signed = (v: number): string => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)}`;
  const table = [
    `| row (stored result) | change from the reference | minutes | epoch kept | test ROC-AUC [95 % CI] | difference to the reference [paired 95 % CI] | ECE after calibration | perfect model under the protocol: median, 95th pct, share ≤ ${ECE_GOAL} | this model over re-partitions: median, 95th pct, share ≤ ${ECE_GOAL} | box head PG | Grad-CAM PG | AUC change with markers masked |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| \`${path.basename(r.file)}\` | ${r.change} | ${r.minutes.toFixed(1)} | ${r.epochKept} | ${f3(r.rocAuc.estimate)} [${f3(r.rocAuc.lower)}, ${f3(r.rocAuc.upper)}] | ${r.file === ref.file ? '—' : `${signed(r.rocAucDifference.estimate)} [${signed(r.rocAucDifference.lower)}, ${signed(r.rocAucDifference.upper)}]`} | ${f3(r.eceAfterCalibration)} | ${f3(r.protocolFloor.median)}, ${f3(r.protocolFloor.upper)}, ${pct(r.protocolFloor.shareAtGoal)} | ${f3(r.repartitioned.median)}, ${f3(r.repartitioned.upper)}, ${pct(r.repartitioned.shareAtGoal)} | ${pct(r.boxHeadPointingGame)} | ${pct(r.gradCamPointingGame)} | ${signed(r.maskedAucChange)} |`),
  ].join('\n');
  const pairTable = pairs.length === 0 ? '' : [
    '\n\nFurther pairs (A − B on the same test images, paired bootstrap):\n',
    '| A | B | A differs from B in | ROC-AUC difference [paired 95 % CI] |',
    '|---|---|---|---:|',
    ...pairs.map((q) => `| \`${path.basename(q.a)}\` | \`${path.basename(q.b)}\` | ${q.change} | ${signed(q.rocAucDifference.estimate)} [${signed(q.rocAucDifference.lower)}, ${signed(q.rocAucDifference.upper)}] |`),
  ].join('\n');
  const seedTable = seeds.length === 0 ? '' : [
    `\n\nRecipes trained with more than one seed (goals: test ROC-AUC ≥ ${AUC_GOAL.toFixed(2)}, box head PG ≥ ${pct(PG_GOAL)}, ECE ≤ ${ECE_GOAL}; trainings meeting each):\n`,
    '| recipe | seeds | test ROC-AUC: mean (range) | box head PG: range | ECE after calibration: range | ECE over re-partitions, median: range | meet ROC-AUC / PG / ECE / all three |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...seeds.map((g) => `| ${g.change} | ${g.seeds.join(', ')} | ${f3(g.rocAuc.mean)} (${f3(g.rocAuc.min)}–${f3(g.rocAuc.max)}) | ${g.boxHeadPointingGame === null ? '—' : `${pct(g.boxHeadPointingGame.min)}–${pct(g.boxHeadPointingGame.max)}`} | ${f3(g.eceAfterCalibration.min)}–${f3(g.eceAfterCalibration.max)} | ${f3(g.repartitionedEceMedian.min)}–${f3(g.repartitionedEceMedian.max)} | ${g.meeting.rocAuc} / ${g.meeting.pointingGame} / ${g.meeting.ece} / ${g.meeting.all} of ${g.trainings} |`),
  ].join('\n');
  const ensembleTable = seeds.length === 0 ? '' : [
    `\n\nThe same trainings as one ensemble (each image's margins averaged over the seeds, T and b fitted again on the averaged validation margins; one training per member, so more than the script's budget). Its difference to the reference is a paired bootstrap on the test images:\n`,
    `| recipe | members | test ROC-AUC [95 % CI] | difference to the reference [paired 95 % CI] | ECE after calibration | over re-partitions: median, 95th pct, share ≤ ${ECE_GOAL} |`,
    '|---|---:|---:|---:|---:|---:|',
    ...seeds.map(({ change, ensemble: e }) => `| ${change} | ${e.members} | ${f3(e.rocAuc.estimate)} [${f3(e.rocAuc.lower)}, ${f3(e.rocAuc.upper)}] | ${signed(e.rocAucDifference.estimate)} [${signed(e.rocAucDifference.lower)}, ${signed(e.rocAucDifference.upper)}] | ${f3(e.eceAfterCalibration)} | ${f3(e.repartitioned.median)}, ${f3(e.repartitioned.upper)}, ${pct(e.repartitioned.shareAtGoal)} |`),
  ].join('\n');
  const carried = runs.filter((r) => r.predictions === null).length;
  writeDocSection(
    'recipe-rows',
    `## FracAtlas recipe rows at the full budget (issue 16)\n\nRuns of \`scripts/fracatlas.sh\` (from scratch on the same split; ResNet-18 unless a row names another architecture), each with one setting changed or another training seed, beside the reference \`${path.basename(ref.file)}\`. Every figure is on the ${rows[0]?.testImages ?? 0} test images; epochs, temperature and bias are chosen on validation. The difference to the reference is a paired bootstrap (1000 resamples of the test images, each scoring both models); the rows with another seed show how far trainings of the same recipe differ. ECE is top-label over 15 bins after the temperature and bias fitted on validation. Beside it, what a perfectly calibrated model with the same margins shows under the same protocol: validation and test labels drawn from its calibrated probabilities, T and b fitted again on the drawn validation labels, the test ECE scored (${rows[0]?.protocolFloor.draws ?? 0} draws; median, 95th percentile, and the share of draws that meet the goal of ${ECE_GOAL}). A measured ECE below that 95th percentile is within what chance gives a perfect model; the share is how often a perfect model meets the goal on these images. Every row shares the same validation and test images, and with them the split's luck; the next column takes it out: the validation and test images pooled and partitioned again ${rows[0]?.repartitioned.draws ?? 0} times into parts of the same sizes and fracture counts, T and b fitted on one, this model's ECE scored on the other (\`repartitionedEce\`). A median near the perfect model's is calibration as good as these sizes can show. PG: pointing game on the test set's fractured images with FracAtlas boxes (random heatmap ≈ ${pct(rows[0]?.randomPointingGame ?? null)}). Minutes are the script's wall time on ${json.machine}; each row's load at its start is in the JSON.${carried === 0 ? '' : ` ${carried} of the ${rows.length} rows (and the pairs and seed ensembles they are part of) are carried over from the stored table: their run folders are gone, their stored results and the reference's predictions unchanged (each row's \`computedOn\`).`} \`${json.command}\`; \`bench/results/recipe-rows.json\`.\n\n${table}${pairTable}${seedTable}${ensembleTable}`,
  );
  console.log(`${table}${pairTable}${seedTable}${ensembleTable}`);
}

main();
