// `hipfrac qc`: the quality-control summary of a dataset (blur, low contrast, near-uniform, tiny, unknown
// view) as a table, and <dataset>/qc.html, a self-contained contact sheet of the flagged images.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { DEFAULT_QC, cachedPngPath, contactSheetHtml, qcFlags, qcTable, readCachedImage, readManifestRows, requireDataset, summariseQc } from '../../data/index.js';
import { CliError } from '../errors.js';
import { positiveInt, singlePositional } from '../options.js';

const usage = `Usage: hipfrac qc <dataset> [--max-images 500] [--blur ${DEFAULT_QC.blurVariance}] [--min-contrast ${DEFAULT_QC.minContrast}] [--min-std ${DEFAULT_QC.minStd}] [--min-side ${DEFAULT_QC.minSide}]

Re-flags every image from the metrics stored at import (so thresholds can be tuned without re-importing),
prints the QC summary and writes <dataset>/qc.html (flagged images inlined; no identifiers).`;

export const qcCommand: CliCommand = {
  name: 'qc',
  summary: 'Quality-control summary and HTML contact sheet of flagged images',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        'max-images': { type: 'string', default: '500' },
        blur: { type: 'string', default: String(DEFAULT_QC.blurVariance) },
        'min-contrast': { type: 'string', default: String(DEFAULT_QC.minContrast) },
        'min-std': { type: 'string', default: String(DEFAULT_QC.minStd) },
        'min-side': { type: 'string', default: String(DEFAULT_QC.minSide) },
      },
    });
    const dataset = singlePositional(positionals, 'dataset folder', usage.split('\n')[0] ?? '');
    const thresholds = { blurVariance: Number(values.blur), minContrast: Number(values['min-contrast']), minStd: Number(values['min-std']), minSide: Number(values['min-side']) };
    for (const [name, value] of Object.entries(thresholds)) {
      if (!Number.isFinite(value) || value < 0) throw new CliError('HF_CLI_BAD_OPTION', `QC threshold ${name} must be a number ≥ 0, got ${value}.`, { input: name, fix: 'e.g. --blur 15' });
    }
    const maxImages = positiveInt(values['max-images'], 500, '--max-images');
    requireDataset(dataset);
    const rows = (await readManifestRows(dataset)).map((row) => ({ ...row, qc: qcFlags(row.qcMetrics, row.width, row.height, row.view, thresholds) }));
    console.log(qcTable(summariseQc(rows)));
    const html = await contactSheetHtml(rows, (row) => readCachedImage(cachedPngPath(dataset, row)), { maxImages });
    const out = join(dataset, 'qc.html');
    await writeFile(out, html, 'utf8');
    console.log(`Wrote ${out}.`);
    return 0;
  },
};
