// The base of every hipfrac error: a stable code, what was wrong, which input, and what to do.
// Each room keeps its own catalog of codes (e.g. src/dicom/errors.ts); a retired code is never reused.

export interface HipfracErrorDetails {
  /** The file, option, tag or value the problem is about. */
  readonly input?: string;
  /** What the user can do about it. */
  readonly fix?: string;
  readonly cause?: unknown;
}

/**
 * A coded error. Each room declares its catalogue as a union of codes and one subclass over it
 * (`export class DataError extends HipfracError<DataErrorCode> {}`), so a mistyped code fails to compile.
 */
export class HipfracError<Code extends string = string> extends Error {
  readonly code: Code;
  readonly input: string | undefined;
  readonly fix: string | undefined;

  constructor(code: Code, message: string, details: HipfracErrorDetails = {}) {
    const parts = [message];
    if (details.input !== undefined) parts.push(`(input: ${details.input})`);
    if (details.fix !== undefined) parts.push(`Fix: ${details.fix}`);
    super(parts.join(' '), details.cause === undefined ? undefined : { cause: details.cause });
    // The subclass's own name (DataError, CliError …) for a room's error.
    this.name = new.target.name;
    this.code = code;
    this.input = details.input;
    this.fix = details.fix;
  }
}

/** Renders any thrown value as one line for a user (no stack trace). */
export function describeError(error: unknown): string {
  if (error instanceof HipfracError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
