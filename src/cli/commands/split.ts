// `hipfrac split`: a seeded, patient-level, label-stratified train/validation/test split (or k folds beside a
// held-out test set) written to <dataset>/split.json, checked for leakage before it is saved.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { checkLeakage, DataError, readManifestRows, requireDataset, splitByPatient, splitPath, writeJsonAtomic } from '../../data/index.js';
import { CliError } from '../errors.js';
import { numberOption, positiveInt, singlePositional } from '../options.js';

const usage = `Usage: hipfrac split <dataset> [--val 0.2] [--test 0.15] [--seed 42] [--by-view] [--folds k]

Splits by patient (no patient and no duplicate image in two sets; by image when the data have no patient
keys), stratified by label (and view with --by-view); writes <dataset>/split.json. The test set (--test,
default 0.15; 0 for none) is held out: train and compare choose epochs, thresholds and temperature on
validation and report every figure on test.`;

export const splitCommand: CliCommand = {
  name: 'split',
  summary: 'Split a dataset by patient into train/validation/test sets or k folds',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { val: { type: 'string', default: '0.2' }, seed: { type: 'string', default: '42' }, test: { type: 'string', default: '0.15' }, 'by-view': { type: 'boolean', default: false }, folds: { type: 'string' } },
    });
    const dataset = singlePositional(positionals, 'dataset folder', usage.split('\n')[0] ?? '');
    const valFraction = numberOption(values.val, '--val') as number;
    if (!(valFraction > 0 && valFraction < 1)) throw new CliError('HF_CLI_BAD_OPTION', `--val must lie between 0 and 1, got ${values.val}.`, { input: '--val', fix: 'e.g. --val 0.2' });
    const testFraction = numberOption(values.test, '--test') as number;
    if (!(testFraction >= 0 && testFraction < 1)) throw new CliError('HF_CLI_BAD_OPTION', `--test must lie in [0, 1), got ${values.test}.`, { input: '--test', fix: 'e.g. --test 0.15, or 0 for no test set' });
    const seed = numberOption(values.seed, '--seed') as number;
    const folds = values.folds === undefined ? undefined : positiveInt(values.folds, 5, '--folds');
    requireDataset(dataset);
    const rows = await readManifestRows(dataset);
    if (rows.length === 0) throw new DataError('HF_DATA_EMPTY', 'The dataset has no images.', { input: join(dataset, 'manifest.jsonl'), fix: 'Run `hipfrac import` first.' });
    const split = splitByPatient(rows, {
      valFraction,
      testFraction,
      seed,
      stratifyByView: values['by-view'] === true,
      ...(folds === undefined ? {} : { folds }),
    });
    const leakage = checkLeakage(rows, split);
    if (!leakage.ok) throw new DataError('HF_DATA_LEAKAGE', `The split leaks ${leakage.leaks.length} group(s); not saved.`, { input: dataset, fix: 'Report this as a bug.' });
    await writeJsonAtomic(splitPath(dataset), split);
    const order = ['train', 'val', 'test'];
    const sizes = Object.entries(leakage.setSizes)
      .sort(([a], [b]) => (order.indexOf(a) + 1 || 9) - (order.indexOf(b) + 1 || 9) || a.localeCompare(b))
      .map(([set, n]) => `${set} ${n}`)
      .join(', ');
    const unit = split.unit === 'image' ? 'by image: the data carry no patient keys' : `${new Set(rows.map((r) => r.patientKey)).size} patients`;
    console.log(`Wrote ${splitPath(dataset)}: ${sizes} (${unit}, seed ${split.seed}).`);
    return 0;
  },
};
