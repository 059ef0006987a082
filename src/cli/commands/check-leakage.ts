// `hipfrac check-leakage`: proves that no patient and no duplicate image (same content hash) spans two
// sets of the dataset's split; exits non-zero when one does.
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { checkLeakage, DataError, loadSplit, readManifestRows, requireDataset, splitPath } from '../../data/index.js';
import { singlePositional } from '../options.js';

const usage = `Usage: hipfrac check-leakage <dataset> [--json]

Exit code 0: no leakage; 1: a patient or duplicate image is in more than one set (each listed).`;

export const checkLeakageCommand: CliCommand = {
  name: 'check-leakage',
  summary: 'Prove no patient or duplicate image spans two sets of the split',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
    const dataset = singlePositional(positionals, 'dataset folder', usage.split('\n')[0] ?? '');
    requireDataset(dataset);
    const split = await loadSplit(dataset);
    if (split === undefined) throw new DataError('HF_DATA_NO_SPLIT', 'The dataset has no split.json.', { input: splitPath(dataset), fix: 'Run `hipfrac split <dataset>` first.' });
    const report = checkLeakage(await readManifestRows(dataset), split);
    if (values.json === true) console.log(JSON.stringify(report, null, 2));
    else {
      console.log(`${report.rows} images; sets: ${Object.entries(report.setSizes).map(([s, n]) => `${s} ${n}`).join(', ')}; unassigned ${report.unassigned}.`);
      for (const leak of report.leaks) console.log(`LEAK ${leak.kind} ${leak.key.slice(0, 16)} in ${leak.sets.join(' + ')} (${leak.rowIds.length} images)`);
      console.log(report.ok ? 'No leakage: no patient and no duplicate image spans two sets.' : `LEAKAGE: ${report.leaks.length} group(s) span sets${report.unassigned > 0 ? `, ${report.unassigned} image(s) not in the split (re-run hipfrac split)` : ''}.`);
    }
    return report.ok ? 0 : 1;
  },
};
