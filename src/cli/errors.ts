// The CLI room's catalog of coded errors. Usage errors (a missing or invalid option, an unknown command) exit with
// status 2, every other error with 1. Codes are stable; a retired code is never reused.
import { HipfracError } from '../util/index.js';

/** Errors in what the user typed: exit status 2. */
export type CliUsageErrorCode =
  | 'HF_CLI_BAD_OPTION' // an option value out of range or of the wrong kind, an unknown option, no input given
  | 'HF_CLI_MISSING_OPTION' // a required option is absent
  | 'HF_CLI_UNKNOWN_COMMAND';

export type CliErrorCode =
  | CliUsageErrorCode
  | 'HF_CLI_BAD_CONFIG_FILE' // --config is not a readable JSON object
  | 'HF_CLI_BAD_LABELS' // an input image has no row in the labels CSV
  | 'HF_CLI_COMPARE_MISMATCH' // runs to compare were validated on different images
  | 'HF_CLI_STALE_COHORT' // a phantom cohort written by an older hipfrac
  | 'HF_CLI_NO_NODE_DATA' // --data names a folder without the DICOM node's store
  | 'HF_CLI_CANCELLED'; // the user cancelled a prompt

const USAGE_CODES: ReadonlySet<string> = new Set<CliUsageErrorCode>(['HF_CLI_BAD_OPTION', 'HF_CLI_MISSING_OPTION', 'HF_CLI_UNKNOWN_COMMAND']);

/** An error of this room: its code is checked against the catalogue above at compile time. */
export class CliError extends HipfracError<CliErrorCode> {}

/**
 * The exit status for an error: 2 for usage (a CLI usage code, or node:util parseArgs rejecting an option), 1 else.
 */
export function exitCodeOf(error: unknown): 1 | 2 {
  if (error instanceof HipfracError) return USAGE_CODES.has(error.code) ? 2 : 1;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_') ? 2 : 1;
}

/** parseArgs' own errors (unknown option, missing value) as a coded usage error with the fix. */
export function asUsageError(error: unknown, usage: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
    return new CliError('HF_CLI_BAD_OPTION', (error as Error).message, { fix: `see the usage:\n${usage}`, cause: error });
  }
  return error;
}
