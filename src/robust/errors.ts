// The robust room's error codes (attacks, defences, sweeps), each thrown as a HipfracError.
// A retired code is never reused.
import { HipfracError } from '../util/index.js';

export type RobustErrorCode =
  | 'HF_ROBUST_EPS_RANGE'
  | 'HF_ROBUST_PIXEL_RANGE'
  | 'HF_ROBUST_IMAGE_SHAPE'
  | 'HF_ROBUST_LABELS'
  | 'HF_ROBUST_BAD_OPTION';

/** An error of this room: its code is checked against the catalogue above at compile time. */
export class RobustError extends HipfracError<RobustErrorCode> {}
