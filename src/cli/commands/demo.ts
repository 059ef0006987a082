// `hipfrac demo`: the whole job on a synthetic phantom cohort, on CPU in minutes — generate DICOM,
// import it (de-identified, cached, QC'd, split by patient), train a small CNN, evaluate, report.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { importDataset } from '../../data/index.js';
import { generateCohort, type Difficulty } from '../../phantom/index.js';
import { resolveConfig } from '../../train/index.js';
import { HipfracError, ProgressBar } from '../../util/index.js';
import { trainRun } from '../pipeline/trainRun.js';
import { writeRunReport } from '../pipeline/runReport.js';
import { afterTrainingSections } from '../pipeline/afterTraining.js';
import { localisationStudy } from '../pipeline/localisationStudy.js';

/** The demo's training settings: the study's protocol, scaled down to a 2-core CPU and a 15-minute budget. */
export const DEMO_CONFIG = {
  arch: 'resnet18',
  inputSize: 128,
  batchSize: 16,
  // From scratch: no head-only stage and one LR for every layer (see configFromFlags).
  frozenEpochs: 0,
  lrMult: 1,
  unfrozenEpochs: 8,
  patience: 4,
  pretrained: false,
  lrFind: true,
} as const;

export const demoCommand: CliCommand = {
  name: 'demo',
  summary: 'Run the whole job on a synthetic cohort: generate → import → train → evaluate → report',
  usage: `Usage: hipfrac demo [--out runs/demo] [--patients 240] [--seed 7] [--difficulty easy] [--arch resnet18] [--epochs 8]
       [--input-size 128] [--workers 2] [--device cpu|cuda] [--study-patients 300] [--no-localisation-study]

Generates a synthetic (phantom) hip radiograph cohort as DICOM, imports it, trains a small CNN from
scratch with the study's protocol (scaled down for a CPU), evaluates it, explains it with Grad-CAM,
attacks it, calibrates the triage cut-off, and prints where the HTML report is. Re-running reuses the
cohort and the import; --fresh starts over in a new --out folder.

The localisation study (about 2 minutes on 2 cores) trains a second ResNet-18 on twin crops around the hip —
each fractured crop beside the same crop without the fracture — and scores its Grad-CAM against the known
fracture boxes and its accuracy under FGSM/PGD on held-out patients: the heatmap and attack figures of a model
that did find the fractures, which the whole-image model above does not on a CPU budget.`,
  async run(argv): Promise<number> {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        out: { type: 'string', default: 'runs/demo' },
        patients: { type: 'string', default: '240' },
        seed: { type: 'string', default: '7' },
        difficulty: { type: 'string', default: 'easy' },
        arch: { type: 'string', default: DEMO_CONFIG.arch },
        epochs: { type: 'string', default: String(DEMO_CONFIG.unfrozenEpochs) },
        size: { type: 'string', default: '512' },
        resume: { type: 'boolean' },
        'no-lr-find': { type: 'boolean' },
        device: { type: 'string', default: 'cpu' },
        'input-size': { type: 'string', default: String(DEMO_CONFIG.inputSize) },
        workers: { type: 'string', default: '2' },
        'study-patients': { type: 'string', default: '300' },
        'no-localisation-study': { type: 'boolean' },
      },
      strict: true,
    });
    const out = values.out;
    const patients = Number(values.patients);
    const seed = Number(values.seed);
    // Phantom rendering, import and the training loader's decoding threads.
    const workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 1) throw new HipfracError('HF_CLI_BAD_OPTION', `--workers must be an integer ≥ 1, got '${values.workers}'.`, { fix: 'e.g. --workers 4' });
    const size = Number(values.size);
    if (!Number.isInteger(patients) || patients < 20) throw new HipfracError('HF_CLI_BAD_OPTION', `--patients must be an integer ≥ 20, got ${values.patients}.`);
    const studyPatients = Number(values['study-patients']);
    if (!Number.isInteger(studyPatients) || studyPatients < 20) throw new HipfracError('HF_CLI_BAD_OPTION', `--study-patients must be an integer ≥ 20, got ${values['study-patients']}.`);
    if (!['easy', 'standard', 'hard'].includes(values.difficulty)) throw new HipfracError('HF_CLI_BAD_OPTION', `--difficulty must be easy, standard or hard, got ${values.difficulty}.`);
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
      console.error('  reusing the cohort already generated');
    }

    console.error('[2/4] import: decode DICOM, de-identify, cache 16-bit PNG, quality control');
    let importBar: ProgressBar | null = null;
    const report = await importDataset({
      inputDir: path.join(cohortDir, 'images'),
      outDir: datasetDir,
      layout: 'dicom',
      workers,
      labels: { file: path.join(cohortDir, 'labels.csv'), join: 'sop', keyColumn: 'sop_instance_uid', labelColumn: 'label' },
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
    const config = resolveConfig({ ...DEMO_CONFIG, arch: values.arch, unfrozenEpochs: Number(values.epochs), inputSize: Number(values['input-size']), seed, ...(values['no-lr-find'] === true ? { lrFind: false } : {}) }, 'demo options');
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
    console.log(`demo finished in ${((Date.now() - started) / 60000).toFixed(1)} min: ${config.arch} accuracy ${(100 * m.accuracy).toFixed(1)} %, AUC ${m.rocAuc.toFixed(3)} on ${run.validRows.length} synthetic validation images`);
    if (studyLine !== '') console.log(studyLine);
    console.log(`checkpoint: ${path.resolve(run.checkpointDir)}`);
    console.log(`report: ${path.resolve(file)}`);
    return 0;
  },
};
