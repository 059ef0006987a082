// Stores the figures of a finished `scripts/fracatlas.sh` run (the README's real-image figure): test-split metrics
// with bootstrap intervals, calibration before and after the temperature chosen on validation, the Grad-CAM
// pointing game on the test set's fractured images against FracAtlas's boxes, the input gate's pass rate, the triage policies (calibrated on
// validation, measured on test), the shortcut audit and the stage times. Writes bench/results/fracatlas.json.
// Run by scripts/fracatlas.sh as its last step: node dist/bench/fracatlas.js --run runs/fracatlas
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ShortcutAudit } from '../src/audit/index.js';
import { rowResult, validationByEpoch, type LocalisationJson, type Recipe, type RunResultsJson } from './lib/ablation.js';
import { machineDescription, resultsPath } from './lib/results.js';

/** What scripts/fracatlas.sh writes to RUN/timing.json: its settings and the seconds of each stage. */
interface ScriptTiming {
  /** `monitor`: the validation figure that chose the epoch kept (absent in runs before MONITOR: accuracy); `balanced`
   *  and `pretrain` (SimCLR's "SIZE:EPOCHS", empty: none) are absent in runs before BALANCED and PRETRAIN: balanced, none. */
  readonly recipe: { readonly arch: string; readonly inputSize: number; readonly epochs: number; readonly augment: boolean; readonly balanced?: boolean; readonly pretrain?: string; readonly boxLossWeight: number; readonly boxPeakWeight?: number; readonly boxHead?: string; readonly maskMarkers: boolean; readonly monitor?: string; readonly progressive?: string };
  readonly seconds: Readonly<Record<string, number>>;
  readonly load: string;
  /** Where training, Grad-CAM, calibration and the audit ran (absent in runs before the GPU variant: the CPU). */
  readonly device?: string;
}

/** results.json's input gate: thresholds set on validation to pass `passRate` of it, pass rates measured on both sets. */
interface GateJson {
  readonly gate?: { readonly passRate: number; readonly measured: { readonly validation: { readonly n: number; readonly passRate: number }; readonly test?: { readonly n: number; readonly passRate: number } } };
}

/** results.json's calibration beyond the ablation's columns (absent in runs before the bias fit). */
interface CalibrationJson {
  readonly calibrationBias?: number;
  readonly ece: { readonly perfectModel?: { readonly median: number; readonly upper: number }; readonly fractureProbability?: { readonly before: number; readonly after: number } };
}

const readJson = <T>(file: string): T => {
  if (!existsSync(file)) throw new Error(`${file} is missing: run scripts/fracatlas.sh to the end first.`);
  return JSON.parse(readFileSync(file, 'utf8')) as T;
};

function main(): void {
  const { values } = parseArgs({ options: { run: { type: 'string', default: 'runs/fracatlas' }, out: { type: 'string' } } });
  const run = path.resolve(values.run);
  const timingFile = path.join(run, 'timing.json');
  const timing = readJson<ScriptTiming>(timingFile);
  const device = timing.device ?? 'cpu';
  // A GPU run is stored beside the CPU one, never over it: bench/results/fracatlas-gpu.json.
  const out = values.out ?? resultsPath(device === 'cpu' ? 'fracatlas' : 'fracatlas-gpu');
  const results = readJson<RunResultsJson & CalibrationJson & GateJson>(path.join(run, 'run', 'results.json'));
  const localisation = readJson<LocalisationJson>(path.join(run, 'eval', 'explain', 'localisation.json'));
  const triage = readJson<{ readonly calibratedOn: string; readonly test: number; readonly policies: readonly unknown[] }>(path.join(run, 'eval', 'summary.json'));
  const audit = readJson<ShortcutAudit>(path.join(run, 'audit', 'audit.json'));
  // With PRETRAIN: hipfrac pretrain's own record (settings, images, NT-Xent per epoch, seconds).
  const pretrainCard = path.join(run, 'pretrain', 'pretrain.json');
  const pretraining = existsSync(pretrainCard) ? readJson<Record<string, unknown>>(pretrainCard) : null;
  // The script's recipe in the ablation's terms (batch: train's default; learning rate: the script's; the training
  // seed from the run's own config, SEED in the script).
  const { seed } = readJson<{ readonly config: { readonly seed: number } }>(path.join(run, 'run', 'config.json')).config;
  const { pretrain: simclr = '', ...settings } = timing.recipe;
  const [pretrainInputSize, pretrainEpochs] = simclr === '' ? [undefined, 0] : simclr.split(':').map(Number);
  const recipe: Recipe = { ...settings, monitor: settings.monitor ?? 'accuracy', batchSize: 32, lr: 2e-3, balanced: settings.balanced ?? true, pretrainEpochs: pretrainEpochs ?? 0, ...(pretrainInputSize === undefined ? {} : { pretrainInputSize }), seed };
  const row = rowResult({ name: 'fracatlas.sh', factor: 'script', change: 'scripts/fracatlas.sh as written', recipe }, results, localisation, { pretrain: timing.seconds.pretrain ?? 0, train: timing.seconds.train ?? 0, explain: timing.seconds.explain ?? 0 }, path.join(run, 'run', 'model'));
  const totalSeconds = Object.values(timing.seconds).reduce((a, b) => a + b, 0);
  const json = {
    benchmark: 'scripts/fracatlas.sh end to end (issue 16)',
    data: 'FracAtlas, non-hip part (Abedeen et al., Scientific Data 10, 521, 2023; CC BY 4.0)',
    split: 'by image (no patient IDs), stratified, seed 42, 70/15/15: epochs, temperature and triage cut-offs chosen on validation; every figure on test',
    machine: machineDescription(),
    device,
    load: timing.load,
    // The day the run ended (the script writes timing.json after its last stage), so storing a run again keeps it.
    date: statSync(timingFile).mtime.toISOString().slice(0, 10),
    minutes: totalSeconds / 60,
    stageSeconds: timing.seconds,
    result: row,
    // The epoch kept (1-based) and the validation figures it was chosen from, under result.recipe.monitor.
    epochKept: results.bestEpoch + 1,
    validationByEpoch: validationByEpoch(results.history),
    // Fitted on validation, measured on test: top-label ECE (result.ece), the fracture probability's own ECE, and the
    // top-label ECE a perfectly calibrated model scores on this many test images (median, 95th percentile).
    calibration: {
      fittedOn: 'validation',
      measuredOn: 'test',
      temperature: results.temperature,
      bias: results.calibrationBias ?? 0,
      fractureProbabilityEce: results.ece.fractureProbability ?? null,
      perfectModelEce: results.ece.perfectModel ?? null,
    },
    // The input gate: thresholds set on validation (to pass gate.passRate of it), the share of test images it passes.
    gate: results.gate === undefined ? null : { thresholdsSetOn: 'validation', targetPassRate: results.gate.passRate, validation: results.gate.measured.validation, test: results.gate.measured.test ?? null },
    triage: { calibratedOn: triage.calibratedOn, measuredOn: 'test', testImages: triage.test, policies: triage.policies },
    audit,
    pretraining,
  };
  writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`test ROC-AUC ${row.rocAuc.estimate.toFixed(3)} [${row.rocAuc.lower.toFixed(3)}, ${row.rocAuc.upper.toFixed(3)}], ECE ${row.ece.before.toFixed(3)} → ${row.ece.after.toFixed(3)} after calibration, pointing game ${(100 * row.pointingGame.hitRate).toFixed(1)} % (random ${(100 * row.pointingGame.randomBaseline).toFixed(1)} %), ${(totalSeconds / 60).toFixed(1)} min → ${out}`);
}

main();
