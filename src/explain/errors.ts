// The explain room's error codes (Grad-CAM, overlays, localisation scores), each thrown as a HipfracError.
// A retired code is never reused.
import { HipfracError } from '../util/index.js';

export type ExplainErrorCode =
  | 'HF_EXPLAIN_UNKNOWN_LAYER'
  | 'HF_EXPLAIN_LAYER_NOT_USED'
  | 'HF_EXPLAIN_LAYER_SHAPE'
  | 'HF_EXPLAIN_IMAGE_SHAPE'
  | 'HF_EXPLAIN_TARGETS'
  | 'HF_EXPLAIN_DISPOSED'
  | 'HF_EXPLAIN_BAD_OPTION'
  | 'HF_EXPLAIN_HEATMAP_SHAPE';

/** An error of this room: its code is checked against the catalogue above at compile time. */
export class ExplainError extends HipfracError<ExplainErrorCode> {}
