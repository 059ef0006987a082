// The FracAtlas ablation's pieces that are not the run itself: the recipe and its rows (one factor changed from the
// base per row), the `hipfrac train` / `hipfrac pretrain` arguments of a row, the test-set fracture boxes as
// `explain --boxes` reads them, and the summary of a finished row (results.json + localisation.json) and its table.
import type { ManifestRow } from '../../src/data/index.js';

/** What one row trains: the base recipe with one factor changed. */
export interface Recipe {
  readonly arch: string;
  readonly inputSize: number;
  /** Supervised epochs (all layers, one-cycle; from scratch, so no head-only stage). */
  readonly epochs: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly balanced: boolean;
  readonly augment: boolean;
  /** Box supervision weight (0: off). */
  readonly boxLossWeight: number;
  readonly maskMarkers: boolean;
  /** SimCLR epochs before the supervised ones (0: none; the body starts random). */
  readonly pretrainEpochs: number;
  /** SimCLR's input size where it differs from `inputSize` (scripts/fracatlas.sh's PRETRAIN=SIZE:EPOCHS). */
  readonly pretrainInputSize?: number;
  readonly seed: number;
  /** The validation figure that chooses the epoch kept (`train --monitor`; absent: accuracy, the study's). */
  readonly monitor?: string;
  /** Progressive resizing steps (`train --progressive`, e.g. "160:4,224:4"; absent or empty: every epoch at inputSize). */
  readonly progressive?: string;
}

export interface AblationRow {
  /** Folder name under the runs root, and the row's key in the results. */
  readonly name: string;
  /** The factor this row varies. */
  readonly factor: string;
  /** What differs from the base recipe, in words. */
  readonly change: string;
  readonly recipe: Recipe;
}

/**
 * Every row varies one factor of `base`. A SimCLR epoch runs the network forward and backward on two views of
 * each image, twice a supervised epoch's passes, so the pretraining row spends `pretrainEpochs` × 2 of the base
 * row's supervised epochs on pretraining and fine-tunes for the rest: the same image passes in total.
 */
export function ablationRows(base: Recipe, options: { readonly higherInputSize: number; readonly archs: readonly string[]; readonly pretrainEpochs: number }): AblationRow[] {
  const row = (name: string, factor: string, change: string, recipe: Partial<Recipe>): AblationRow => ({ name, factor, change, recipe: { ...base, ...recipe } });
  const fineTune = base.epochs - 2 * options.pretrainEpochs;
  if (options.pretrainEpochs < 1 || fineTune < 1) {
    throw new RangeError(`ablation: ${options.pretrainEpochs} SimCLR epochs (= ${2 * options.pretrainEpochs} supervised-epoch equivalents) leave no fine-tuning epoch of the base's ${base.epochs}`);
  }
  const tag = (b: boolean, on: string, off: string): string => (b ? on : off);
  return [
    row('base', 'base', `${base.arch}, ${base.inputSize} px, ${base.epochs} epochs, ${tag(base.balanced, 'balanced', 'unbalanced')}, ${tag(base.augment, 'augmented', 'no augmentation')}, box loss ${base.boxLossWeight}, ${tag(base.maskMarkers, 'markers masked', 'markers kept')}, from scratch`, {}),
    row('unbalanced', 'sampling/loss balance', base.balanced ? 'no class balancing' : 'balanced', { balanced: !base.balanced }),
    row('noaug', 'augmentation', base.augment ? 'no augmentation' : 'augmentation on', { augment: !base.augment }),
    row('box', 'box supervision', base.boxLossWeight > 0 ? 'box loss off' : 'box loss weight 1', { boxLossWeight: base.boxLossWeight > 0 ? 0 : 1 }),
    row('mask', 'marker masking', base.maskMarkers ? 'markers kept' : 'markers masked in training images', { maskMarkers: !base.maskMarkers }),
    row('simclr', 'pretraining', `SimCLR ${options.pretrainEpochs} epoch(s) on the training images, then ${fineTune} supervised epochs`, { pretrainEpochs: options.pretrainEpochs, epochs: fineTune }),
    ...options.archs.map((arch) => row(arch, 'architecture', arch, { arch })),
    row(`res${options.higherInputSize}`, 'resolution', `${options.higherInputSize} px`, { inputSize: options.higherInputSize }),
  ];
}

/** `hipfrac train` arguments for a row (`weights`: the row's SimCLR body, when it has one). */
export function trainArgs(recipe: Recipe, dataset: string, out: string, weights?: string): string[] {
  const args = ['train', '--data', dataset, '--out', out, '--scratch', '--arch', recipe.arch, '--input-size', String(recipe.inputSize), '--batch-size', String(recipe.batchSize)];
  // --scratch with --weights: the body comes from the file, the schedule stays the from-scratch one (no head-only
  // stage, one LR for every layer), so the pretraining row differs from the base in its starting weights only.
  if (weights !== undefined) args.push('--weights', weights);
  args.push('--unfrozen-epochs', String(recipe.epochs), '--patience', String(recipe.epochs), '--no-lr-find', '--unfrozen-lr', String(recipe.lr), '--seed', String(recipe.seed));
  if (recipe.monitor !== undefined) args.push('--monitor', recipe.monitor);
  if (recipe.progressive !== undefined && recipe.progressive !== '') args.push('--progressive', recipe.progressive);
  if (recipe.balanced) args.push('--balanced');
  if (!recipe.augment) args.push('--no-augment');
  if (recipe.boxLossWeight > 0) args.push('--box-loss-weight', String(recipe.boxLossWeight));
  if (recipe.maskMarkers) args.push('--mask-markers');
  return args;
}

/** `hipfrac pretrain` arguments for a row with SimCLR epochs (null without). */
export function pretrainArgs(recipe: Recipe, dataset: string, out: string, batchSize: number): string[] | null {
  if (recipe.pretrainEpochs === 0) return null;
  return ['pretrain', '--data', dataset, '--arch', recipe.arch, '--out', out, '--epochs', String(recipe.pretrainEpochs), '--batch-size', String(batchSize), '--input-size', String(recipe.inputSize), '--seed', String(recipe.seed)];
}

/**
 * `explain --boxes` rows ("file,x0,y0,x1,y1", source pixels, x1/y1 exclusive) for the fractured images of one set
 * that carry boxes; the manifest keeps boxes as fractions [x0, y0, x1, y1] of the source image. `file` is the
 * name the image gets in the evaluation folder.
 */
export function boxRows(rows: readonly ManifestRow[], assignments: Readonly<Record<string, string>>, set: string, file: (row: ManifestRow) => string): { images: ManifestRow[]; lines: string[] } {
  const images: ManifestRow[] = [];
  const lines = ['file,x0,y0,x1,y1'];
  for (const r of rows) {
    if (assignments[r.id] !== set || r.label !== 1) continue;
    const boxes = (r.boxes ?? []).map(([x0, y0, x1, y1]) => [Math.max(0, Math.floor(x0 * r.width)), Math.max(0, Math.floor(y0 * r.height)), Math.min(r.width, Math.ceil(x1 * r.width)), Math.min(r.height, Math.ceil(y1 * r.height))] as const).filter(([x0, y0, x1, y1]) => x1 > x0 && y1 > y0);
    if (boxes.length === 0) continue;
    images.push(r);
    for (const b of boxes) lines.push(`${file(r)},${b.join(',')}`);
  }
  return { images, lines };
}

/** 95 % Wilson score interval of a proportion (the pointing game's hit rate over n images). */
export function wilsonInterval(hits: number, n: number, z = 1.959964): { lower: number; upper: number } {
  if (n === 0) return { lower: Number.NaN, upper: Number.NaN };
  const p = hits / n;
  const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
  const half = (z / (1 + (z * z) / n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}

interface IntervalJson { readonly estimate: number; readonly lower: number; readonly upper: number }

/** The parts of a run's results.json the table reads (src/cli/pipeline/trainRun.ts, `summarise`). */
export interface RunResultsJson {
  readonly evaluatedOn: string;
  readonly images: { readonly train: number; readonly valid: number; readonly test: number };
  readonly metrics: { readonly rocAuc: number; readonly accuracy: number; readonly sensitivity: number; readonly specificity: number };
  readonly intervals: { readonly intervals: { readonly rocAuc: IntervalJson; readonly accuracy: IntervalJson } };
  readonly ece: { readonly before: number; readonly after: number };
  readonly temperature: number;
  readonly bestEpoch: number;
  readonly history: readonly unknown[];
  readonly seconds: number;
}

/** One epoch's validation figures as results.json's history logs them (ROC-AUC: null in runs before it was logged). */
export interface EpochValidation {
  readonly epoch: number;
  readonly accuracy: number;
  readonly rocAuc: number | null;
  /** The epoch's seconds (training and validation) as the run logged them; absent where the history has none. */
  readonly seconds?: number;
}

/**
 * The validation accuracy and ROC-AUC (and seconds) of every epoch of a run (1-based), from results.json's history: what the
 * epoch kept was chosen from, stored beside a run's test figures.
 */
export function validationByEpoch(history: readonly unknown[]): EpochValidation[] {
  return history.map((h, i) => {
    const e = h as { validAccuracy?: number; validRocAuc?: number | null; seconds?: number };
    return { epoch: i + 1, accuracy: e.validAccuracy ?? Number.NaN, rocAuc: typeof e.validRocAuc === 'number' && Number.isFinite(e.validRocAuc) ? e.validRocAuc : null, ...(typeof e.seconds === 'number' ? { seconds: Math.round(e.seconds) } : {}) };
  });
}

/** The parts of `explain --boxes`'s localisation.json the table reads. */
export interface LocalisationJson {
  readonly method: string;
  readonly layer: string;
  readonly n: number;
  readonly pointingGame: number;
  readonly energyInBoxes: number;
  readonly randomBaseline: number;
}

export interface PointingGame {
  readonly n: number;
  readonly hitRate: number;
  /** 95 % Wilson interval of the hit rate. */
  readonly lower: number;
  readonly upper: number;
  readonly randomBaseline: number;
  readonly energyInBoxes: number;
  readonly method: string;
  readonly layer: string;
}

function pointingGame(localisation: LocalisationJson): PointingGame {
  const hits = Math.round(localisation.pointingGame * localisation.n);
  return { n: localisation.n, hitRate: localisation.pointingGame, ...wilsonInterval(hits, localisation.n), randomBaseline: localisation.randomBaseline, energyInBoxes: localisation.energyInBoxes, method: localisation.method, layer: localisation.layer };
}

export interface RowResult {
  readonly name: string;
  readonly factor: string;
  readonly change: string;
  readonly recipe: Recipe;
  readonly evaluatedOn: string;
  readonly testImages: number;
  readonly rocAuc: IntervalJson;
  readonly accuracy: IntervalJson;
  readonly sensitivity: number;
  readonly specificity: number;
  /** Expected calibration error on test, before and after the temperature chosen on validation. */
  readonly ece: { readonly before: number; readonly after: number };
  readonly temperature: number;
  readonly bestEpoch: number;
  readonly epochsRun: number;
  /** Grad-CAM of the predicted class on the test set's fractured images with boxes. */
  readonly pointingGame: PointingGame;
  /** The same on a finer layer (ResNets: body.layer3, stride 16), where the row has one. */
  readonly pointingGameFine?: PointingGame;
  /** Wall-clock seconds: SimCLR pretraining, `train` (training + validation + test evaluation + report), `explain`. */
  readonly seconds: { readonly pretrain: number; readonly train: number; readonly trainLoop: number; readonly explain: number };
  readonly modelDir: string;
  /** When and under what load the row ran ("2026-12-03, load average 0.4 …"); rows of older results lack it. */
  readonly measured?: string;
}

/**
 * The table's rows: those stored in an earlier results file, replaced by the rows finished on disk now, in the
 * stored order with new rows after them. Rows are comparable only on the same split: a stored row whose test set
 * has another size than the fresh rows' is refused.
 */
export function mergeRows(stored: readonly RowResult[], fresh: readonly RowResult[], storedMeasured: string): RowResult[] {
  const size = fresh[0]?.testImages;
  const freshByName = new Map(fresh.map((r) => [r.name, r]));
  const storedNames = new Set(stored.map((r) => r.name));
  const keep = (r: RowResult): RowResult => {
    if (size !== undefined && r.testImages !== size) {
      throw new Error(`stored ablation row ${r.name} was measured on ${r.testImages} test images, the rows run now on ${size}: not the same split; re-run it (--rows ${r.name}) or start a new results file`);
    }
    return { ...r, measured: r.measured ?? storedMeasured };
  };
  return [...stored.map((r) => freshByName.get(r.name) ?? keep(r)), ...fresh.filter((r) => !storedNames.has(r.name))];
}

/** "On D (L): a, b; on D2 (L2): c": which rows ran when and under what load. */
export function measuredNote(rows: readonly RowResult[]): string {
  const groups = new Map<string, string[]>();
  for (const r of rows) {
    const key = r.measured ?? 'an unrecorded date and load';
    groups.set(key, [...(groups.get(key) ?? []), r.name]);
  }
  return [...groups].map(([when, names]) => `${names.join(', ')}: ${when}`).join('; ');
}

export function rowResult(row: AblationRow, results: RunResultsJson, localisation: LocalisationJson, seconds: { pretrain: number; train: number; explain: number }, modelDir: string, fine?: LocalisationJson, measured?: string): RowResult {
  if (results.evaluatedOn !== 'test') throw new Error(`ablation row ${row.name}: results.json is on '${results.evaluatedOn}', not the test split; the dataset needs a split with --test`);
  return {
    name: row.name,
    factor: row.factor,
    change: row.change,
    recipe: row.recipe,
    evaluatedOn: results.evaluatedOn,
    testImages: results.images.test,
    rocAuc: results.intervals.intervals.rocAuc,
    accuracy: results.intervals.intervals.accuracy,
    sensitivity: results.metrics.sensitivity,
    specificity: results.metrics.specificity,
    ece: results.ece,
    temperature: results.temperature,
    bestEpoch: results.bestEpoch,
    epochsRun: results.history.length,
    pointingGame: pointingGame(localisation),
    ...(fine === undefined ? {} : { pointingGameFine: pointingGame(fine) }),
    seconds: { pretrain: seconds.pretrain, train: seconds.train, trainLoop: results.seconds, explain: seconds.explain },
    modelDir,
    ...(measured === undefined ? {} : { measured }),
  };
}

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
const f3 = (x: number): string => x.toFixed(3);
const minutes = (s: number): string => `${(s / 60).toFixed(1)}`;

/** The markdown table of finished rows, in row order. */
export function ablationTable(rows: readonly RowResult[]): string {
  const lines = [
    '| row | factor | change from base | test ROC-AUC [95 % CI] | ECE before → after T | acc. | sens. | spec. | pointing game [95 % CI], default layer | finer layer | random | heat in boxes | min (pretrain + train + explain) |',
    '| --- | --- | --- | --- | --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const pg = r.pointingGame;
    const fine = r.pointingGameFine === undefined ? '—' : `${pct(r.pointingGameFine.hitRate)} [${pct(r.pointingGameFine.lower)}, ${pct(r.pointingGameFine.upper)}] (${r.pointingGameFine.layer})`;
    const total = r.seconds.pretrain + r.seconds.train + r.seconds.explain;
    lines.push(
      `| ${r.name} | ${r.factor} | ${r.change} | ${f3(r.rocAuc.estimate)} [${f3(r.rocAuc.lower)}, ${f3(r.rocAuc.upper)}] | ${f3(r.ece.before)} → ${f3(r.ece.after)} | ${pct(r.accuracy.estimate)} | ${pct(r.sensitivity)} | ${pct(r.specificity)} | ${pct(pg.hitRate)} [${pct(pg.lower)}, ${pct(pg.upper)}] (n = ${pg.n}) | ${fine} | ${pct(pg.randomBaseline)} | ${pct(pg.energyInBoxes)} | ${minutes(total)} (${minutes(r.seconds.pretrain)} + ${minutes(r.seconds.train)} + ${minutes(r.seconds.explain)}) |`,
    );
  }
  return lines.join('\n');
}

/** The row with the highest test ROC-AUC (null when none finished). */
export function bestRow(rows: readonly RowResult[]): RowResult | null {
  return rows.reduce<RowResult | null>((best, r) => (best === null || r.rocAuc.estimate > best.rocAuc.estimate ? r : best), null);
}
