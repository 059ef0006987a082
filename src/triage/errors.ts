// The triage room's error codes (cut-off calibration, conformal sets, policies in model cards).
// A retired code is never reused.
import { HipfracError } from '../util/index.js';

export type TriageErrorCode =
  | 'HF_TRIAGE_NO_CUTOFF'
  | 'HF_TRIAGE_BAD_POLICY'
  | 'HF_TRIAGE_BAD_OPTION'
  | 'HF_TRIAGE_BAD_SCORES';

/** An error of this room: its code is checked against the catalogue above at compile time. */
export class TriageError extends HipfracError<TriageErrorCode> {}
