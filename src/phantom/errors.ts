// The phantom room's catalogue of coded errors. Codes are stable; a retired code is never reused.
import { HipfracError } from '../util/index.js';

export type PhantomErrorCode =
  | 'HF_PHANTOM_BAD_OPTIONS'
  | 'HF_PHANTOM_RENDER_FAILED';

/** An error of this room: its code is checked against the catalogue above at compile time. */
export class PhantomError extends HipfracError<PhantomErrorCode> {}
