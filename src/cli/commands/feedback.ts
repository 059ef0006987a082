// `hipfrac feedback export`: the radiologists' verdicts as a dataset `hipfrac import` reads (images/ + labels.csv).
import { parseArgs } from 'node:util';
import path from 'node:path';
import type { CliCommand } from '../command.js';
import { REVIEW_MIGRATIONS, exportFeedback } from '../../serve/review/index.js';
import { openStore } from '../../serve/store/index.js';
import { CliError } from '../errors.js';
import { nodeDataDir } from '../nodeData.js';

const usage = `Usage: hipfrac feedback export --out <dir> [options]

Writes the reviewed cases as a dataset: <dir>/images/<study key>_<n>.dcm (de-identified by PS3.15 unless
--keep-identifiers), <dir>/labels.csv (the readers' consensus label, boxes as hip_roi_* in source pixels, the
model's result) and <dir>/feedback-report.json (cases left out: not assessable, readers disagree).
Import it with: hipfrac import <dir>/images --labels <dir>/labels.csv --join path --out <dataset>

Options:
  --out <dir>          folder to write (required)
  --data <dir>         the node's data folder (default $HIPFRAC_DATA or ./hipfrac-data)
  --salt-file <path>   secret for the de-identification pseudonyms (default: the import salt)
  --keep-identifiers   copy the stored DICOM unchanged (patient identifiers included)
  --with-comments      add the readers' free-text comments (they may name patients)`;

export const feedbackCommand: CliCommand = {
  name: 'feedback',
  summary: 'Export the radiologists\' verdicts as a labelled dataset for retraining and triage-calibrate',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, options: {
      out: { type: 'string' }, data: { type: 'string' }, 'salt-file': { type: 'string' },
      'keep-identifiers': { type: 'boolean', default: false }, 'with-comments': { type: 'boolean', default: false },
    } });
    if (positionals[0] !== 'export') throw new CliError('HF_CLI_MISSING_OPTION', 'the only action is export.', { fix: usage.split('\n')[0] ?? '' });
    if (values.out === undefined) throw new CliError('HF_CLI_MISSING_OPTION', '--out DIR is required.', { input: '--out', fix: 'e.g. hipfrac feedback export --out feedback-dataset' });
    const { store, blobs } = openStore(nodeDataDir(values.data, true), { migrations: REVIEW_MIGRATIONS });
    try {
      const report = await exportFeedback({
        store, blobs, outDir: path.resolve(values.out),
        ...(values['salt-file'] === undefined ? {} : { saltFile: values['salt-file'] }),
        keepIdentifiers: values['keep-identifiers'] === true,
        withComments: values['with-comments'] === true,
      });
      store.audit('cli', 'review.feedback-export', '', `${report.studies} studies, ${report.images} images`);
      console.log(`Exported ${report.studies} studies (${report.labelled.fracture} fracture, ${report.labelled.noFracture} no fracture), ${report.images} images to ${report.outDir}; ${report.left.length} read case(s) left out (see feedback-report.json).`);
      return 0;
    } finally {
      store.close();
    }
  },
};
