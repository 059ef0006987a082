// `hipfrac split`: a seeded, patient-level, label-stratified train/validation split (or k folds) written to
// <dataset>/split.json, checked for leakage before it is saved.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { checkLeakage, DataError, readManifestRows, requireDataset, splitByPatient, splitPath, writeJsonAtomic } from '../../data/index.js';
import { CliError } from '../errors.js';
import { numberOption, positiveInt } from '../options.js';

const usage = `Usage: hipfrac split <dataset> [--val 0.2] [--seed 42] [--by-view] [--folds k]

Splits by patient (no patient and no duplicate image in two sets), stratified by label (and view with
--by-view); writes <dataset>/split.json.`;

export const splitCommand: CliCommand = {
  name: 'split',
  summary: 'Split a dataset by patient into train/validation sets or k folds',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { val: { type: 'string', default: '0.2' }, seed: { type: 'string', default: '42' }, 'by-view': { type: 'boolean', default: false }, folds: { type: 'string' } },
    });
    const dataset = positionals[0];
    if (dataset === undefined) throw new CliError('HF_CLI_MISSING_OPTION', 'no dataset folder given.', { fix: usage.split('\n')[0] ?? '' });
    const valFraction = numberOption(values.val, '--val') as number;
    if (!(valFraction > 0 && valFraction < 1)) throw new CliError('HF_CLI_BAD_OPTION', `--val must lie between 0 and 1, got ${values.val}.`, { input: '--val', fix: 'e.g. --val 0.2' });
    const seed = numberOption(values.seed, '--seed') as number;
    const folds = values.folds === undefined ? undefined : positiveInt(values.folds, 5, '--folds');
    requireDataset(dataset);
    const rows = await readManifestRows(dataset);
    if (rows.length === 0) throw new DataError('HF_DATA_EMPTY', 'The dataset has no images.', { input: join(dataset, 'manifest.jsonl'), fix: 'Run `hipfrac import` first.' });
    const split = splitByPatient(rows, {
      valFraction,
      seed,
      stratifyByView: values['by-view'] === true,
      ...(folds === undefined ? {} : { folds }),
    });
    const leakage = checkLeakage(rows, split);
    if (!leakage.ok) throw new DataError('HF_DATA_LEAKAGE', `The split leaks ${leakage.leaks.length} group(s); not saved.`, { input: dataset, fix: 'Report this as a bug.' });
    await writeJsonAtomic(splitPath(dataset), split);
    const sizes = Object.entries(leakage.setSizes).map(([set, n]) => `${set} ${n}`).join(', ');
    console.log(`Wrote ${splitPath(dataset)}: ${sizes} (${new Set(rows.map((r) => r.patientKey)).size} patients, seed ${split.seed}).`);
    return 0;
  },
};
