// `hipfrac qc`: the quality-control summary of a dataset (blur, low contrast, near-uniform, tiny, unknown
// view) as a table, and <dataset>/qc.html, a self-contained contact sheet of the flagged images.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { cachedPngPath, contactSheetHtml, qcTable, readCachedImage, readManifestRows, summariseQc } from '../../data/index.js';

const usage = `Usage: hipfrac qc <dataset> [--max-images 500]

Prints the QC summary and writes <dataset>/qc.html (flagged images inlined; no identifiers).`;

export const qcCommand: CliCommand = {
  name: 'qc',
  summary: 'Quality-control summary and HTML contact sheet of flagged images',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, options: { 'max-images': { type: 'string', default: '500' } } });
    const dataset = positionals[0];
    if (dataset === undefined) {
      console.error(usage);
      return 2;
    }
    const rows = await readManifestRows(dataset);
    console.log(qcTable(summariseQc(rows)));
    const html = await contactSheetHtml(rows, (row) => readCachedImage(cachedPngPath(dataset, row)), { maxImages: Number(values['max-images']) });
    const out = join(dataset, 'qc.html');
    await writeFile(out, html, 'utf8');
    console.log(`Wrote ${out}.`);
    return 0;
  },
};
