// `hipfrac demo`: the whole job on a synthetic phantom cohort, on CPU in minutes — generate DICOM,
// import it (de-identified, cached, QC'd, split by patient), train a small CNN, evaluate, report.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { CliError } from '../errors.js';
import { architectureOption } from '../options.js';
import { importDataset } from '../../data/index.js';
import { cohortLabelSpec, generateCohort, type Difficulty } from '../../phantom/index.js';
import { resolveConfig, type TrainConfig } from '../../train/index.js';
import { HipfracError, ProgressBar } from '../../util/index.js';
import { afterTrainingSections, localisationStudy, trainRun, writeRunReport } from '../pipeline/index.js';

/**
 * The demo's training settings: the study's protocol scaled down to a 2-core CPU and a few minutes, and changed
 * where, measured on the phantom from scratch, it did not learn (each change says so).
 */
export const DEMO_CONFIG = {
  arch: 'resnet18',
  // The hip region cut from each image (the cascade the study proposed): at 128 px a whole pelvis view leaves the
  // femoral neck ~25 px wide, and no CNN trained here from scratch learned the phantom that way.
  crop: 'roi',
  inputSize: 96,
  batchSize: 32,
  // From scratch: no head-only stage and one LR for every layer (see configFromFlags).
  frozenEpochs: 0,
  lrMult: 1,
  unfrozenEpochs: 14,
  patience: 6,
  pretrained: false,
  // 600 patients, hip crops, 14 epochs: linear head, fixed LR 1e-3, no augmentation gave validation AUC 0.925;
  // the study's fastai head + augmentation 0.771; with the LR finder's 1e-2 as well, chance after 5 epochs.
  head: 'linear',
  ps: 0.25,
  augment: false,
  unfrozenLr: 1e-3,
  lrFind: false,
} as const;

export const demoCommand: CliCommand = {
  name: 'demo',
  summary: 'Run the whole job on a synthetic cohort: generate → import → train → evaluate → report',
  usage: `Usage: hipfrac demo [--out runs/demo] [--patients 600] [--size 256] [--seed 7] [--difficulty easy] [--arch resnet18]
       [--epochs 14] [--input-size 96] [--crop roi|none] [--lr-find] [--workers 2] [--device cpu|cuda] [--study-patients 300] [--no-localisation-study]

Generates a synthetic (phantom) hip radiograph cohort as DICOM, imports it, trains a small CNN from
scratch on the hip region of each image (--crop roi; the study's whole image with --crop none), evaluates
it, explains it with Grad-CAM, attacks it, calibrates the triage cut-off, and prints where the HTML report
is. Training uses a fixed LR of 1e-3 (--lr-find runs the study's LR range test instead). Re-running reuses
the cohort and the import; a new --out folder starts over.

The localisation study (about 2.5 minutes on 2 cores) trains a second ResNet-18 on twin crops around the
hip — each fractured crop beside the same crop without the fracture, so the fracture is the only difference —
and scores its Grad-CAM against the known fracture boxes and its accuracy under FGSM/PGD on held-out patients.`,
  async run(argv): Promise<number> {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        out: { type: 'string', default: 'runs/demo' },
        patients: { type: 'string', default: '600' },
        seed: { type: 'string', default: '7' },
        difficulty: { type: 'string', default: 'easy' },
        arch: { type: 'string', default: DEMO_CONFIG.arch },
        epochs: { type: 'string', default: String(DEMO_CONFIG.unfrozenEpochs) },
        size: { type: 'string', default: '256' },
        resume: { type: 'boolean' },
        'lr-find': { type: 'boolean' },
        device: { type: 'string', default: 'cpu' },
        'input-size': { type: 'string', default: String(DEMO_CONFIG.inputSize) },
        crop: { type: 'string', default: DEMO_CONFIG.crop },
        workers: { type: 'string', default: '2' },
        'study-patients': { type: 'string', default: '300' },
        'no-localisation-study': { type: 'boolean' },
      },
      strict: true,
    });
    const out = values.out;
    const patients = Number(values.patients);
    const seed = Number(values.seed);
    if (!Number.isInteger(seed)) throw new CliError('HF_CLI_BAD_OPTION', `--seed must be an integer, got '${values.seed}'.`, { input: '--seed', fix: 'e.g. --seed 7' });
    // Phantom rendering, import and the training loader's decoding threads.
    const workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 1) throw new CliError('HF_CLI_BAD_OPTION', `--workers must be an integer ≥ 1, got '${values.workers}'.`, { fix: 'e.g. --workers 4' });
    const size = Number(values.size);
    if (!Number.isInteger(size) || size < 64) throw new CliError('HF_CLI_BAD_OPTION', `--size must be an integer ≥ 64, got '${values.size}'.`, { input: '--size', fix: 'e.g. --size 256' });
    if (!Number.isInteger(patients) || patients < 20) throw new CliError('HF_CLI_BAD_OPTION', `--patients must be an integer ≥ 20, got ${values.patients}.`, { input: '--patients', fix: 'e.g. --patients 600' });
    const studyPatients = Number(values['study-patients']);
    if (!Number.isInteger(studyPatients) || studyPatients < 20) throw new CliError('HF_CLI_BAD_OPTION', `--study-patients must be an integer ≥ 20, got ${values['study-patients']}.`, { input: '--study-patients', fix: 'e.g. --study-patients 300' });
    if (!['easy', 'standard', 'hard'].includes(values.difficulty)) throw new CliError('HF_CLI_BAD_OPTION', `--difficulty must be easy, standard or hard, got ${values.difficulty}.`, { input: '--difficulty', fix: 'use easy, standard or hard.' });
    // The training configuration is checked before minutes of rendering and importing.
    architectureOption(values.arch);
    let config: TrainConfig;
    try {
      config = resolveConfig({ ...DEMO_CONFIG, arch: values.arch, unfrozenEpochs: Number(values.epochs), inputSize: Number(values['input-size']), crop: values.crop, seed, ...(values['lr-find'] === true ? { lrFind: true, unfrozenLr: null } : {}) }, 'demo options');
    } catch (error) {
      if (!(error instanceof HipfracError)) throw error;
      throw new CliError('HF_CLI_BAD_OPTION', error.message.replace(/ \(input: .*$/s, ''), { input: 'demo options', ...(error.fix === undefined ? {} : { fix: error.fix }), cause: error });
    }
    const started = Date.now();
    const cohortDir = path.join(out, 'cohort');
    const datasetDir = path.join(out, 'dataset');
    const runDir = path.join(out, 'run');

    console.error(`[1/4] synthetic cohort: ${patients} patients (${values.difficulty}), ${size} px — SYNTHETIC, not clinical data`);
    if (!existsSync(path.join(cohortDir, 'labels.csv'))) {
      let bar: ProgressBar | null = null;
      await generateCohort({
        out: cohortDir,
        patients,
        seed,
        workers,
        difficulty: values.difficulty as Difficulty,
        size,
        previews: 16,
        onProgress: (done, total) => {
          bar ??= new ProgressBar({ label: '  render', total, unit: 'img' });
          bar.tick(1);
          if (done === total) bar.finish();
        },
      });
    } else {
      // A cohort from an older hipfrac has no hip regions: training on the crop would fail after the import.
      const lines = readFileSync(path.join(cohortDir, 'labels.csv'), 'utf8').trim().split(/\r?\n/);
      if (values.crop === 'roi' && !(lines[0] ?? '').split(',').includes('hip_roi_x0')) {
        throw new CliError('HF_CLI_STALE_COHORT', 'the cohort in this --out folder has no hip regions (it was generated by an older hipfrac).', {
          input: cohortDir,
          fix: 'pass a new --out folder (or delete this one) to generate a fresh cohort, or run with --crop none.',
        });
      }
      console.error(`  reusing the cohort already in ${cohortDir} (${lines.length - 1} images); --patients, --size, --seed and --difficulty apply to a new --out folder`);
    }

    console.error('[2/4] import: decode DICOM, de-identify, cache 16-bit PNG, quality control');
    let importBar: ProgressBar | null = null;
    const report = await importDataset({
      inputDir: path.join(cohortDir, 'images'),
      outDir: datasetDir,
      layout: 'dicom',
      workers,
      labels: cohortLabelSpec(cohortDir),
      onStart: (total, already) => {
        importBar = new ProgressBar({ label: '  import', total: Math.max(0, total - already), unit: 'file' });
      },
      onFile: (outcome) => {
        if (outcome.status !== 'already-imported') (importBar as ProgressBar | null)?.tick(1);
      },
    });
    (importBar as ProgressBar | null)?.finish();
    console.error(`  imported ${report.imported}, already imported ${report.alreadyImported}, skipped ${JSON.stringify(report.skipped)}, failed ${JSON.stringify(report.failed)}, labelled ${report.labels.labelled}`);

    console.error('[3/4] train and evaluate');
    const run = await trainRun({ datasetDir, outDir: runDir, config, resume: values.resume === true, device: values.device, workers });

    console.error('[4/4] heatmaps, attacks, triage, report');
    const extraSections = await afterTrainingSections({ run, config, datasetDir, outDir: runDir, cohortDir });
    let studyLine = '';
    if (values['no-localisation-study'] !== true) {
      console.error('  localisation study: ResNet-18 on twin hip crops (fractured + the same crop intact)…');
      const study = await localisationStudy({ patients: studyPatients, seed, device: values.device });
      extraSections.push(study.section);
      const fine = study.localisation['body.layer3'];
      studyLine = `localisation study: held-out AUC ${study.heldOutAuc.toFixed(3)} on ${study.heldOutCrops} twin crops; Grad-CAM pointing game ${(100 * (fine?.pointingGame ?? NaN)).toFixed(1)} % vs random ${(100 * (fine?.randomBaseline ?? NaN)).toFixed(1)} % (${study.seconds.toFixed(0)} s)`;
    }
    const file = await writeRunReport({ run, config, datasetDir, outDir: runDir, extraSections, title: `hipfrac demo — ${config.arch} on a synthetic cohort` });
    const m = run.evaluation.metrics.metrics;
    console.log(`demo finished in ${((Date.now() - started) / 60000).toFixed(1)} min: ${config.arch} accuracy ${(100 * m.accuracy).toFixed(1)} %, AUC ${m.rocAuc.toFixed(3)} on ${run.evaluation.n} synthetic ${run.evaluation.set} images`);
    if (studyLine !== '') console.log(studyLine);
    console.log(`checkpoint: ${path.resolve(run.checkpointDir)}`);
    console.log(`report: ${path.resolve(file)}`);
    return 0;
  },
};
