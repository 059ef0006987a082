// The DICOM node's data folder as the review commands (user, feedback) take it: --data, else $HIPFRAC_DATA, else
// ./hipfrac-data. Kept apart from options.ts so these commands start without loading LibTorch.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { STORE_FILE } from '../serve/store/index.js';
import { CliError } from './errors.js';

/**
 * The DICOM node's data folder from --data (else $HIPFRAC_DATA, else ./hipfrac-data). With `mustExist`, a folder
 * without the node's store is refused, so a command that reads an existing node never creates an empty one.
 */
export function nodeDataDir(value: string | undefined, mustExist: boolean): string {
  const dir = value ?? process.env['HIPFRAC_DATA'] ?? 'hipfrac-data';
  if (mustExist && !existsSync(path.join(dir, STORE_FILE))) {
    throw new CliError('HF_CLI_NO_NODE_DATA', `no hipfrac serve store in '${dir}'.`, { input: dir, fix: 'pass --data with the folder `hipfrac serve --data` uses (or set HIPFRAC_DATA).' });
  }
  return dir;
}
