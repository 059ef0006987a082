// The torch room's catalogue of coded errors. Codes are stable; a retired code is never reused.
import { HipfracError } from '../util/index.js';

export type TorchErrorCode =
  | 'HF_TORCH_ADDON_LOAD'
  | 'HF_TORCH_ADDON_MISSING'
  | 'HF_TORCH_BAD_DATA'
  | 'HF_TORCH_BAD_DEVICE'
  | 'HF_TORCH_BAD_OPTION'
  | 'HF_TORCH_NO_CUDA'
  | 'HF_TORCH_RAGGED'
  | 'HF_TORCH_SHAPE_MISMATCH'
  | 'HF_TORCH_TIDY_ASYNC'
  | 'HF_TORCH_UNKNOWN_OP';

/** An error of this room: its code is checked against the catalogue above at compile time. */
export class TorchError extends HipfracError<TorchErrorCode> {}
