// The FracAtlas ablation (issue 16): one recipe, one factor changed per row, every row trained from scratch with
// `hipfrac train` on the same split and the same number of image passes, every figure on the test split: ROC-AUC
// with its bootstrap interval and ECE after temperature scaling (results.json), Grad-CAM's pointing game against
// FracAtlas's fracture boxes on the test set's fractured images beside a random heatmap (`hipfrac explain --boxes`).
// Resumable: a finished row (RUNS/<row>/row.json) is never trained again, an interrupted training resumes, and the
// table is rewritten after every row. Writes bench/results/ablation.json and its section of docs/benchmarks.md.
// No peer: the rows compare with each other.
//   nice -n 10 node dist/bench/ablation.js --data DATASET --runs RUNS_DIR [--fracatlas DIR] [--size 96]
//     [--epochs 6] [--higher 160] [--archs resnet34,efficientnet_b0] [--pretrain-epochs 1] [--rows base,box,…]
//     [--not-run 'row: why; …'] [--publish-only]   (--publish-only: no training; fills in Grad-CAM of trained rows and rewrites the JSON and docs)
//     [--audit]   (the shortcut audit, `hipfrac audit-shortcuts`, of the row with the best test ROC-AUC: RUNS/<row>/audit)
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { auditMarkdown, type ShortcutAudit } from '../src/audit/index.js';
import { loadManifest, loadSplit } from '../src/data/index.js';
import { ablationRows, ablationTable, bestRow, boxRows, measuredNote, mergeRows, pretrainArgs, rowResult, trainArgs, type AblationRow, type LocalisationJson, type Recipe, type RowResult, type RunResultsJson } from './lib/ablation.js';
import { loadNote, machineDescription, REPO_ROOT, resultsPath, today, writeDocSection } from './lib/results.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    runs: { type: 'string' },
    fracatlas: { type: 'string', default: path.join(REPO_ROOT, '..', 'shared', 'datasets', 'fracatlas-nonhip') },
    size: { type: 'string', default: '96' },
    epochs: { type: 'string', default: '6' },
    higher: { type: 'string', default: '160' },
    archs: { type: 'string', default: 'resnet34,efficientnet_b0' },
    'pretrain-epochs': { type: 'string', default: '1' },
    'pretrain-batch': { type: 'string', default: '64' },
    rows: { type: 'string' },
    'not-run': { type: 'string', default: '' },
    'publish-only': { type: 'boolean', default: false },
    audit: { type: 'boolean', default: false },
    'fine-layer': { type: 'string', default: 'body.layer3' },
  },
});
if (values.data === undefined || values.runs === undefined) {
  console.error('usage: node dist/bench/ablation.js --data DATASET --runs RUNS_DIR [--fracatlas DIR] [--size 96] [--epochs 6] [--higher 160] [--archs a,b] [--pretrain-epochs 1] [--rows base,box,…]');
  process.exit(2);
}
const dataset = path.resolve(values.data);
const runsDir = path.resolve(values.runs);
const fracatlas = path.resolve(values.fracatlas);
const cli = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

const base: Recipe = { arch: 'resnet18', inputSize: Number(values.size), epochs: Number(values.epochs), batchSize: 32, lr: 2e-3, balanced: true, augment: true, boxLossWeight: 0, maskMarkers: false, pretrainEpochs: 0, seed: 42 };
const allRows = ablationRows(base, { higherInputSize: Number(values.higher), archs: values.archs.split(',').filter((a) => a !== ''), pretrainEpochs: Number(values['pretrain-epochs']) });
const wanted = values.rows?.split(',') ?? allRows.map((r) => r.name);
const unknown = wanted.filter((w) => !allRows.some((r) => r.name === w));
if (unknown.length > 0) {
  console.error(`unknown row(s) ${unknown.join(', ')}; rows: ${allRows.map((r) => r.name).join(', ')}`);
  process.exit(2);
}
const rows = wanted.map((w) => allRows.find((r) => r.name === w) as AblationRow);

/** The test set's fractured images with boxes, linked (never copied) into RUNS/eval/fractured, and their boxes.csv. */
async function prepareEval(): Promise<{ dir: string; boxes: string; images: number }> {
  const evalDir = path.join(runsDir, 'eval');
  const split = await loadSplit(dataset);
  if (split === undefined) throw new Error(`${dataset} has no split.json: run \`hipfrac split ${dataset} --val 0.15 --test 0.15 --seed 42\``);
  const manifest = (await loadManifest(dataset)).filter((r) => r.label !== null);
  const { images, lines } = boxRows(manifest, split.assignments, 'test', (r) => `fractured/${path.basename(r.sourcePath)}`);
  const boxes = path.join(evalDir, 'boxes.csv');
  const csv = `${lines.join('\n')}\n`;
  // Left as it is when it holds the same boxes: a second invocation must not pull images from under a running one.
  if (existsSync(boxes) && readFileSync(boxes, 'utf8') === csv) return { dir: path.join(evalDir, 'fractured'), boxes, images: images.length };
  rmSync(evalDir, { recursive: true, force: true });
  mkdirSync(path.join(evalDir, 'fractured'), { recursive: true });
  for (const r of images) symlinkSync(path.resolve(fracatlas, r.sourcePath), path.join(evalDir, 'fractured', path.basename(r.sourcePath)));
  writeFileSync(boxes, csv);
  return { dir: path.join(evalDir, 'fractured'), boxes, images: images.length };
}

/** Runs `hipfrac …` with its output appended to LOG; seconds of wall time. Throws on a non-zero exit. */
function hipfrac(args: readonly string[], log: string): number {
  const fd = openSync(log, 'a');
  const t0 = Date.now();
  try {
    const r = spawnSync(process.execPath, ['--single-threaded-gc', cli, ...args], { stdio: ['ignore', fd, fd] });
    if (r.status !== 0) throw new Error(`hipfrac ${args[0]} exited with ${r.status ?? r.signal}; see ${log}`);
  } finally {
    closeSync(fd);
  }
  return (Date.now() - t0) / 1000;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/** Seconds each stage took, kept on disk so a resumed row still reports its full cost. */
function stageSeconds(dir: string): Record<string, number> {
  const file = path.join(dir, 'seconds.json');
  return existsSync(file) ? readJson<Record<string, number>>(file) : {};
}
function addStageSeconds(dir: string, stage: string, seconds: number): void {
  const s = stageSeconds(dir);
  s[stage] = (s[stage] ?? 0) + seconds;
  writeFileSync(path.join(dir, 'seconds.json'), `${JSON.stringify(s, null, 2)}\n`);
}

/**
 * The layer of the second, finer Grad-CAM: at 96 px the default layer of a ResNet (body.layer4, stride 32) is a
 * 3 × 3 grid whose peak can land on 9 places only; body.layer3 (stride 16) gives 6 × 6. Other families: none.
 */
function fineLayer(arch: string): string | null {
  return arch.startsWith('resnet') ? values['fine-layer'] : null;
}

/**
 * Runs what a row still lacks (pretraining, training, the two Grad-CAM passes) and returns its summary. With
 * `train` false (--publish-only) a row without a finished training is skipped (null): only Grad-CAM is filled in.
 */
function runRow(row: AblationRow, evalSet: { dir: string; boxes: string }, train: boolean): RowResult | null {
  const dir = path.join(runsDir, row.name);
  const run = path.join(dir, 'run');
  if (!train && !existsSync(path.join(run, 'results.json'))) return null;
  mkdirSync(dir, { recursive: true });
  const log = path.join(dir, 'log.txt');
  let weights: string | undefined;
  const pre = pretrainArgs(row.recipe, dataset, path.join(dir, 'pretrain'), Number(values['pretrain-batch']));
  if (pre !== null) {
    weights = path.join(dir, 'pretrain', 'body.safetensors');
    if (!existsSync(path.join(dir, 'pretrain', 'pretrain.json')) && !existsSync(path.join(run, 'results.json'))) {
      rmSync(path.join(dir, 'pretrain'), { recursive: true, force: true });
      console.log(`${row.name}: SimCLR pretraining…`);
      addStageSeconds(dir, 'pretrain', hipfrac(pre, log));
    }
  }
  // When and under what load the row started (kept across resumes): rows of several invocations share one table.
  const measuredFile = path.join(dir, 'measured.txt');
  if (train && !existsSync(measuredFile)) writeFileSync(measuredFile, `${today()}, ${loadNote()} at its start`);
  if (!existsSync(path.join(run, 'results.json'))) {
    const resume = existsSync(path.join(run, 'train-state', 'state.json'));
    if (!resume) rmSync(run, { recursive: true, force: true });
    console.log(`${row.name}: training${resume ? ' (resumed)' : ''}: ${row.change}`);
    addStageSeconds(dir, 'train', hipfrac([...trainArgs(row.recipe, dataset, run, weights), ...(resume ? ['--resume'] : [])], log));
  }
  const explain = (out: string, layer: string | null): LocalisationJson => {
    if (!existsSync(path.join(out, 'localisation.json'))) {
      console.log(`${row.name}: Grad-CAM${layer === null ? '' : ` on ${layer}`} against the test boxes…`);
      addStageSeconds(dir, 'explain', hipfrac(['explain', evalSet.dir, '--model', path.join(run, 'model'), '--boxes', evalSet.boxes, '--out', out, ...(layer === null ? [] : ['--layer', layer])], log));
    }
    return readJson<LocalisationJson>(path.join(out, 'localisation.json'));
  };
  const coarse = explain(path.join(dir, 'explain'), null);
  const layer = fineLayer(row.recipe.arch);
  const fine = layer === null ? undefined : explain(path.join(dir, 'explain-fine'), layer);
  const s = stageSeconds(dir);
  const measured = existsSync(measuredFile) ? readFileSync(measuredFile, 'utf8').trim() : undefined;
  const result = rowResult(row, readJson<RunResultsJson>(path.join(run, 'results.json')), coarse, { pretrain: s['pretrain'] ?? 0, train: s['train'] ?? 0, explain: s['explain'] ?? 0 }, path.join(run, 'model'), fine, measured);
  writeFileSync(path.join(dir, 'row.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/** The shortcut audit of `row` (run once; RUNS/<row>/audit/audit.json is kept and read again). */
function auditRow(row: RowResult): ShortcutAudit {
  const out = path.join(runsDir, row.name, 'audit');
  const file = path.join(out, 'audit.json');
  if (!existsSync(file)) {
    const seconds = hipfrac(['audit-shortcuts', '--model', row.modelDir, '--data', dataset, '--out', out], path.join(runsDir, row.name, 'audit.log'));
    addStageSeconds(path.join(runsDir, row.name), 'audit', seconds);
  }
  return readJson<ShortcutAudit>(file);
}

function publish(results: readonly RowResult[], evalImages: number): void {
  const notRun = values['not-run'].split(';').map((s) => s.trim()).filter((s) => s !== '');
  const best = bestRow(results);
  // The audit of the best row: run now (--audit) when its model is on disk, else the stored one while that row is still the best.
  const storedAudit = stored?.audit?.row === best?.name ? stored?.audit : undefined;
  const audit = values.audit && best !== null && existsSync(best.modelDir) ? { row: best.name, ...auditRow(best) } : storedAudit;
  const json = {
    benchmark: 'FracAtlas ablation (issue 16)',
    data: 'FracAtlas, non-hip part (Abedeen et al., Scientific Data 10, 521, 2023; CC BY 4.0), imported with --max-side 320; a row above 320 px from an import at its own size (the same images: row ids hash the source path, so the split is the same)',
    split: 'by image (no patient IDs), stratified, seed 42: train / validation / test; every figure on test',
    images: results[0] === undefined ? null : { test: results[0].testImages, fracturedTestWithBoxes: evalImages },
    budget: { base, note: 'every row: the same split, seed, batch, LR and number of supervised image passes; the pretraining row counts a SimCLR epoch as two supervised epochs' },
    machine: machineDescription(),
    date: today(),
    rows: results,
    best: best?.name ?? null,
    ...(audit === undefined ? {} : { audit }),
    notRun,
  };
  mkdirSync(path.dirname(resultsPath('ablation')), { recursive: true });
  writeFileSync(resultsPath('ablation'), `${JSON.stringify(json, null, 2)}\n`);
  const b = base;
  const md = [
    '## FracAtlas ablation (issue 16)',
    '',
    `Measured by \`bench/ablation.ts\` on ${json.machine}; rows ran on several days, each row's date and load at its start: ${measuredNote(results)} (minutes are wall time, on a CPU that was at times shared with other jobs). Data: ${json.data}; split ${json.split}${json.images === null ? '' : ` (${json.images.test} test images, ${evalImages} of them fractured with boxes)`}. Every row trains from scratch (no ImageNet weights offline) with one factor changed from the base: ${b.arch}, ${b.inputSize} px, ${b.epochs} epochs of one-cycle at LR ${b.lr} over all layers, batch ${b.batchSize}, seed ${b.seed}, balanced sampling, augmentation, no box loss, markers kept. Epochs, temperature and cut-off are chosen on validation; ROC-AUC (95 % percentile bootstrap interval), ECE (15 bins) before and after the temperature and accuracy/sensitivity/specificity are on test; the pointing game is Grad-CAM of the predicted class on the test set's fractured images against FracAtlas's boxes, with a 95 % Wilson interval, beside the random heatmap's expected score (the boxes' mean area share), on the architecture's default layer (ResNets: body.layer4, a 3 × 3 grid at 96 px, whose peak can fall on 9 places only) and, for ResNets, on body.layer3 (6 × 6); heat in boxes is the default layer's. Minutes: SimCLR pretraining + \`hipfrac train\` (training, gate, evaluation, report) + \`hipfrac explain\`.`,
    '',
    ablationTable(results),
    '',
    best === null ? '' : `Best test ROC-AUC: **${best.name}** (${best.rocAuc.estimate.toFixed(3)}; model in \`${best.modelDir}\`, outside the repository). The issue's goal (ROC-AUC ≥ 0.90, pointing game ≥ 40 %, ECE ≤ 0.03 after temperature scaling) is ${best.rocAuc.estimate >= 0.9 && best.pointingGame.hitRate >= 0.4 && best.ece.after <= 0.03 ? 'met' : 'not met'} by this row.`,
    '',
    ...(notRun.length === 0 ? [] : [`Not run: ${notRun.map((n) => `\n- ${n}`).join('')}`]),
    ...(audit === undefined || best === null ? [] : ['', `### Shortcut audit of the best row (${best.name})`, '', `\`hipfrac audit-shortcuts --model ${best.modelDir} --data DATASET\`, on the same test split:`, '', auditMarkdown(audit).replace(/^#+ .*\n+/, '').replace(/^(#+) /gm, '$1# ')]),
  ].join('\n');
  writeDocSection('ablation', md);
}

// Rows of earlier invocations stay in the table (bench/results/ablation.json) until they are run again; their date and load come with them.
interface StoredAblation { readonly date?: string; readonly load?: string; readonly rows?: readonly RowResult[]; readonly audit?: { readonly row: string } & ShortcutAudit }
const stored = existsSync(resultsPath('ablation')) ? readJson<StoredAblation>(resultsPath('ablation')) : undefined;
const storedMeasured = `${stored?.date ?? 'an unrecorded date'}, ${stored?.load ?? 'unrecorded load'} at the start of that invocation`;
const evalSet = await prepareEval();
console.log(`test set: ${evalSet.images} fractured images with boxes in ${evalSet.dir}`);
const finishedRows = (): RowResult[] => mergeRows(stored?.rows ?? [], allRows.filter((r) => existsSync(path.join(runsDir, r.name, 'row.json'))).map((r) => readJson<RowResult>(path.join(runsDir, r.name, 'row.json'))), storedMeasured);
for (const row of rows) {
  try {
    if (runRow(row, evalSet, !values['publish-only']) === null) continue;
  } catch (error) {
    // One failed row must not lose the others: it is reported and left out of the table.
    console.error(`${row.name}: ${(error as Error).message}`);
    continue;
  }
  // Every finished row on disk, in the rows' order, also those of earlier invocations (--rows runs a subset).
  publish(finishedRows(), evalSet.images);
  console.log(`${row.name}: done; table in docs/benchmarks.md`);
}
