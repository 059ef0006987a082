// `hipfrac compare`: the study's comparison — the same protocol per architecture on the same patient
// split, then its Figure 3 table extended with intervals, size, time, speed and McNemar vs the best (Holm-corrected),
// all measured on the held-out test set when the split has one (epochs and temperature chosen on validation).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { listModels } from '../../models/index.js';
import { emptyCpuCache } from '../../torch/index.js';
import { comparisonTable, figure, paragraph, renderReport, rocChart, writeReport, type ComparisonRow } from '../../report/index.js';
import { compareModels, rocCurve } from '../../train/metrics/index.js';
import { loadSplit, requireDataset } from '../../data/index.js';
import type { TrainConfig } from '../../train/index.js';
import { CliError } from '../errors.js';
import { positiveInt } from '../options.js';
import { trainRun, writeRunReport, type TrainRunResult } from '../pipeline/index.js';
import { CONFIG_FLAGS, configFromFlags } from './train.js';

export const STUDY_ARCHS = ['alexnet', 'vgg19', 'resnet50', 'resnet152', 'squeezenet1_1', 'densenet121', 'densenet169'] as const;

interface RunSummary {
  readonly arch: string;
  /** The images the predictions come from: 'test' when the split has a test set. */
  readonly evaluatedOn: string;
  readonly labels: number[];
  readonly ids: string[];
  readonly probs: number[];
  readonly parameters: number;
  readonly seconds: number;
  readonly imagesPerSecond: number;
}

function summaryOf(run: TrainRunResult, arch: string): RunSummary {
  return {
    arch,
    evaluatedOn: run.evaluation.set,
    labels: Array.from(run.evaluation.labels),
    ids: run.evaluation.rowIds,
    probs: Array.from(run.evaluation.probs),
    parameters: run.model.numParameters(),
    seconds: run.seconds,
    imagesPerSecond: run.imagesPerSecond.inference,
  };
}

interface StoredResults {
  config?: TrainConfig;
  /** The set the figures were measured on ('test' when the split holds one out; older runs: validation). */
  evaluatedOn?: string;
  predictions: { id: string; label: number; probability: number }[];
  parameters: number;
  seconds: number;
  imagesPerSecond: { inference: number };
}

/** The keys whose values differ between two configurations, as "key: stored → now". */
function configDifferences(stored: Record<string, unknown>, now: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(stored), ...Object.keys(now)])].sort();
  return keys.filter((k) => JSON.stringify(stored[k]) !== JSON.stringify(now[k])).map((k) => `${k}: ${JSON.stringify(stored[k])} → ${JSON.stringify(now[k])}`);
}

/**
 * A finished run in `dir` (results.json), so an interrupted comparison skips what is done — only when it was
 * trained with the configuration and dataset asked for now; else HF_CLI_COMPARE_MISMATCH, before anything trains.
 */
function finishedRun(dir: string, arch: string, config: TrainConfig, datasetDir: string): RunSummary | null {
  const file = path.join(dir, 'results.json');
  if (!existsSync(file)) return null;
  let r: StoredResults;
  try {
    r = JSON.parse(readFileSync(file, 'utf8')) as StoredResults;
    if (!Array.isArray(r.predictions)) throw new Error('no "predictions" list');
  } catch (cause) {
    throw new CliError('HF_CLI_COMPARE_MISMATCH', `the finished run's results.json cannot be read (${(cause as Error).message}).`, { input: file, fix: `delete ${dir} to train ${arch} again.`, cause });
  }
  const differences = configDifferences((r.config ?? {}) as unknown as Record<string, unknown>, config as unknown as Record<string, unknown>);
  const configFile = path.join(dir, 'config.json');
  const storedData = existsSync(configFile) ? (JSON.parse(readFileSync(configFile, 'utf8')) as { datasetDir?: string }).datasetDir : undefined;
  if (storedData !== undefined && path.resolve(storedData) !== path.resolve(datasetDir)) differences.push(`dataset: ${storedData} → ${path.resolve(datasetDir)}`);
  if (differences.length > 0) {
    throw new CliError('HF_CLI_COMPARE_MISMATCH', `${arch} finished earlier with another configuration (${differences.slice(0, 6).join('; ')}${differences.length > 6 ? '; …' : ''}), so it cannot be compared as it is.`, {
      input: dir,
      fix: `run compare with the options that run used, or delete ${dir} (or pass another --out) to train ${arch} again.`,
    });
  }
  return { arch, evaluatedOn: r.evaluatedOn ?? 'validation', labels: r.predictions.map((p) => p.label), ids: r.predictions.map((p) => p.id), probs: r.predictions.map((p) => p.probability), parameters: r.parameters, seconds: r.seconds, imagesPerSecond: r.imagesPerSecond.inference };
}

export const compareCommand: CliCommand = {
  name: 'compare',
  summary: 'Train several architectures with the same protocol and split, and compare them',
  usage: `Usage: hipfrac compare --data DATASET --out DIR [--archs ${STUDY_ARCHS.join(',')}] [train options]

Runs \`hipfrac train\` per architecture into DIR/<arch> (finished ones are reused, an interrupted one
resumes), then writes DIR/compare.html: the study's table (model, accuracy) extended with precision,
recall, F1, ROC AUC with 95 % bootstrap intervals, parameters, training time, inference img/s and
McNemar's paired test of each model against the best, Holm-corrected over the comparisons. With a test set
in split.json (\`hipfrac split --test 0.15\`) every figure is on test; epochs and temperature are chosen on
validation. Same options as \`hipfrac train\`.`,
  async run(argv): Promise<number> {
    const { values } = parseArgs({
      args: [...argv],
      options: { ...CONFIG_FLAGS, archs: { type: 'string', default: STUDY_ARCHS.join(',') }, data: { type: 'string' }, out: { type: 'string' }, 'weights-dir': { type: 'string' }, workers: { type: 'string' } },
      strict: true,
    });
    if (values.data === undefined || values.out === undefined) {
      throw new CliError('HF_CLI_MISSING_OPTION', 'compare needs --data and --out.', { fix: 'e.g. hipfrac compare --data datasets/hips --out runs/compare' });
    }
    const archs = values.archs.split(',').map((a) => a.trim()).filter((a) => a !== '');
    if (archs.length === 0) throw new CliError('HF_CLI_BAD_OPTION', '--archs named no architecture.', { input: '--archs', fix: `e.g. --archs ${STUDY_ARCHS.slice(0, 2).join(',')}` });
    // Unknown names fail before hours of training.
    const known = new Set(listModels().map((m) => m.name));
    const unknown = archs.filter((a) => !known.has(a));
    if (unknown.length > 0) throw new CliError('HF_CLI_BAD_OPTION', `--archs names unknown architecture(s): ${unknown.join(', ')}.`, { input: '--archs', fix: `use some of ${[...known].join(', ')} (hipfrac models).` });
    const workers = values.workers === undefined ? undefined : positiveInt(values.workers, 2, '--workers');
    const configs = new Map(archs.map((arch) => [arch, configFromFlags({ ...values, arch })]));
    requireDataset(values.data);
    // Every finished run is checked against the configuration asked for before any architecture trains.
    const finished = new Map(archs.map((arch) => [arch, finishedRun(path.join(values.out as string, arch), arch, configs.get(arch) as TrainConfig, values.data as string)]));
    const summaries: RunSummary[] = [];
    for (const arch of archs) {
      const dir = path.join(values.out, arch);
      const done = finished.get(arch) ?? null;
      if (done !== null) {
        console.error(`${arch}: finished earlier, reusing ${dir} (same configuration and dataset)`);
        summaries.push(done);
        continue;
      }
      const config = configs.get(arch) as TrainConfig;
      const run = await trainRun({
        datasetDir: values.data,
        outDir: dir,
        config,
        resume: existsSync(path.join(dir, 'train-state')),
        ...(values['weights-dir'] !== undefined ? { weightsDir: values['weights-dir'] } : {}),
        ...(workers !== undefined ? { workers } : {}),
        device: values.device,
      });
      await writeRunReport({ run, config, datasetDir: values.data, outDir: dir });
      summaries.push(summaryOf(run, arch));
      run.model.dispose();
      // The next architecture allocates other tensor sizes: give the CPU block cache back to the system (after
      // densenet169 then resnet50 at batch 32 it held 8.5 GB that neither would use again).
      emptyCpuCache();
    }
    const first = summaries[0];
    if (first === undefined) throw new CliError('HF_CLI_BAD_OPTION', '--archs named no architecture.', { input: '--archs', fix: 'name at least one architecture (hipfrac models).' });
    for (const s of summaries) {
      if (s.ids.join() !== first.ids.join() || s.evaluatedOn !== first.evaluatedOn) {
        throw new CliError('HF_CLI_COMPARE_MISMATCH', `${s.arch} was validated on other images than ${first.arch}.`, { input: path.join(values.out, s.arch), fix: 'use the same dataset and split for every architecture (delete the stale run folder).' });
      }
    }
    const compared = compareModels(first.labels, Object.fromEntries(summaries.map((s) => [s.arch, s.probs])), { mcnemar: {}, bootstrap: { seed: 0 } });
    const rows: ComparisonRow[] = compared.map((c) => {
      const s = summaries.find((x) => x.arch === c.model) as RunSummary;
      const iv = c.intervals;
      return {
        model: c.model,
        accuracy: iv.accuracy,
        precision: iv.precision,
        recall: iv.recall,
        f1: iv.f1,
        rocAuc: iv.rocAuc,
        parameters: s.parameters,
        trainingSeconds: s.seconds,
        imagesPerSecond: s.imagesPerSecond,
        ...(c.mcnemar === undefined ? {} : { mcnemar: c.mcnemar }),
        ...(c.mcnemarHolm === undefined ? {} : { mcnemarHolm: c.mcnemarHolm }),
      };
    });
    const curves = summaries.map((s) => {
      const roc = rocCurve(s.probs, s.labels);
      return { name: s.arch, fpr: roc.fpr, tpr: roc.tpr, auc: compared.find((c) => c.model === s.arch)?.evaluation.metrics.rocAuc ?? Number.NaN };
    });
    // Every run trained on this dataset's split.json (finishedRun refuses another dataset).
    const splitUnit = (await loadSplit(values.data))?.unit ?? 'patient';
    const html = renderReport({
      title: 'hipfrac — architecture comparison',
      subtitle: `${summaries.length} architecture${summaries.length === 1 ? '' : 's'}, same protocol, same ${splitUnit}-level split (${first.labels.length} ${first.evaluatedOn} images)`,
      sections: [
        { id: 'comparison', title: 'Comparison (the study\'s Figure 3, extended)', html: comparisonTable(rows) + paragraph(`Every figure is measured on the ${first.labels.length} ${first.evaluatedOn} images${first.evaluatedOn === 'test' ? ' (held out: epochs and temperature were chosen on validation)' : ' (no test set: the same images chose the epochs, so the figures are optimistic)'}. Intervals: 95 % bootstrap (1000 resamples, seed 0). McNemar: paired test of each model's correct/incorrect calls against the most accurate model on the same images; p-values Holm-adjusted over the ${Math.max(0, rows.length - 1)} comparisons.`) },
        { id: 'roc', title: 'ROC curves', html: figure(await rocChart(curves), `All models on the same ${first.evaluatedOn} images.`) },
        { id: 'runs', title: 'Runs', html: paragraph(summaries.map((s) => `${s.arch}: ${path.join(values.out as string, s.arch, 'report.html')}`).join(' · ')) },
      ],
    });
    const file = path.join(values.out, 'compare.html');
    writeReport(file, html);
    for (const r of rows) console.log(`${r.model.padEnd(16)} accuracy ${(100 * (typeof r.accuracy === 'number' ? r.accuracy : r.accuracy.estimate)).toFixed(1)} %`);
    console.log(`comparison: ${path.resolve(file)}`);
    return 0;
  },
};
