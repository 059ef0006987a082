// The shortcut audit's error codes, each thrown as a HipfracError. A retired code is never reused.
import { HipfracError } from '../util/index.js';

export type AuditErrorCode =
  | 'HF_AUDIT_NO_IMAGES' // the dataset has no labelled images in the set the audit measures on
  | 'HF_AUDIT_BAD_TRUTH'; // a marker-truth file (the phantom's annotations.json) that is unreadable or lists no images

/** An error of this room: its code is checked against the catalogue above at compile time. */
export class AuditError extends HipfracError<AuditErrorCode> {}
