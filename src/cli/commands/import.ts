// `hipfrac import`: a DICOM tree, folder-per-class images or FracAtlas into a dataset directory, with a
// progress bar and ETA and a final summary of imported / skipped / failed files by reason.
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { importDataset, type ImportLayout, type LabelJoin } from '../../data/index.js';
import { ProgressBar } from '../../util/index.js';
import { CliError } from '../errors.js';
import { positiveInt, singlePositional } from '../options.js';

const usage = `Usage: hipfrac import <dir> --out <dataset> [options]

Imports radiographs into a dataset directory (manifest.jsonl, cache/<hash>.png, import-report.json).
Re-running skips files already imported and retries those that failed.

Options:
  --out <dir>             dataset directory to create or continue (required)
  --layout <kind>         dicom (default) | folders (one sub-folder per class) | fracatlas
  --labels <csv>          label CSV to join (optional: unlabelled imports serve prediction)
  --join <key>            sop (default) | accession | path: how label rows find images
  --key-column <name>     CSV column holding the join key (default: found by name)
  --label-column <name>   CSV column holding the label (default: label/fractured/class…)
  --max-side <px>         longest side of cached images (default 512)
  --8bit                  cache 8-bit PNGs instead of 16-bit
  --workers <n>           worker threads (default: all cores)
  --salt-file <path>      secret for patient pseudonyms (default $HIPFRAC_SALT_FILE or ~/.config/hipfrac/salt)`;

export const importCommand: CliCommand = {
  name: 'import',
  summary: 'Import DICOM / PNG / JPEG radiographs into a de-identified, cached dataset',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        out: { type: 'string' },
        layout: { type: 'string', default: 'dicom' },
        labels: { type: 'string' },
        join: { type: 'string', default: 'sop' },
        'key-column': { type: 'string' },
        'label-column': { type: 'string' },
        'max-side': { type: 'string', default: '512' },
        '8bit': { type: 'boolean', default: false },
        workers: { type: 'string' },
        'salt-file': { type: 'string' },
      },
    });
    const input = positionals.length === 0 ? undefined : singlePositional(positionals, 'folder to import', usage.split('\n')[0] ?? '');
    if (input === undefined || values.out === undefined) {
      throw new CliError('HF_CLI_MISSING_OPTION', input === undefined ? 'no folder to import given.' : '--out is required.', { fix: usage.split('\n')[0] ?? '' });
    }
    const layout = values.layout as ImportLayout;
    if (!['dicom', 'folders', 'fracatlas'].includes(layout)) throw new CliError('HF_CLI_BAD_OPTION', `Unknown layout "${values.layout}".`, { input: '--layout', fix: 'Use dicom, folders or fracatlas.' });
    const join = values.join as LabelJoin;
    if (!['sop', 'accession', 'path'].includes(join)) throw new CliError('HF_CLI_BAD_OPTION', `Unknown join "${values.join}".`, { input: '--join', fix: 'Use sop, accession or path.' });
    const maxSide = Number(values['max-side']);
    if (!Number.isInteger(maxSide) || maxSide < 16) throw new CliError('HF_CLI_BAD_OPTION', `--max-side must be an integer ≥ 16, got '${values['max-side']}'.`, { input: '--max-side', fix: 'e.g. --max-side 512' });
    let bar: ProgressBar | undefined;
    const report = await importDataset({
      inputDir: input,
      outDir: values.out,
      layout,
      ...(values.labels === undefined ? {} : { labels: { file: values.labels, join, ...(values['key-column'] === undefined ? {} : { keyColumn: values['key-column'] }), ...(values['label-column'] === undefined ? {} : { labelColumn: values['label-column'] }) } }),
      maxSide,
      bitDepth: values['8bit'] === true ? 8 : 16,
      ...(values.workers === undefined ? {} : { workers: positiveInt(values.workers, 2, '--workers') }),
      ...(values['salt-file'] === undefined ? {} : { saltFile: values['salt-file'] }),
      onStart: (total, done) => {
        bar = new ProgressBar({ label: 'import', total: total - done, unit: 'files' });
      },
      onFile: (outcome) => bar?.tick(1, outcome.status === 'imported' ? '' : `${outcome.status}: ${outcome.path}`),
    });
    bar?.finish();
    const lines = [
      `Imported ${report.imported} file(s); ${report.alreadyImported} already imported; ${report.filesSeen} seen.`,
      ...Object.entries(report.skipped).map(([code, n]) => `  skipped ${n} × ${code}`),
      ...Object.entries(report.failed).map(([code, n]) => `  failed  ${n} × ${code}`),
    ];
    if (report.duplicates > 0) lines.push(`  ${report.duplicates} image(s) duplicate earlier content (kept; the split keeps duplicates together).`);
    if (report.labels.file !== null) {
      lines.push(`Labels: ${report.labels.labelled} labelled; ${report.labels.unlabelledImages.length} image(s) without a label row; ${report.labels.unmatchedLabelRows.length} label row(s) matched no image; ${report.labels.badRows.length} bad row(s).`);
      for (const bad of report.labels.badRows.slice(0, 10)) lines.push(`  ${report.labels.file}:${bad.line}: ${bad.reason}`);
    }
    for (const problem of report.problems.slice(0, 20)) lines.push(`  ${problem.status} ${problem.path}: ${problem.code} ${problem.message ?? ''}`);
    if (report.problems.length > 20) lines.push(`  … ${report.problems.length - 20} more in import-report.json`);
    console.log(lines.join('\n'));
    return 0;
  },
};
