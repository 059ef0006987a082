// The train room's catalogue of coded errors. Codes are stable; a retired code is never reused.
import { HipfracError } from '../util/index.js';

export type TrainErrorCode =
  | 'HF_TRAIN_BAD_CONFIG'
  | 'HF_TRAIN_BAD_OPTION'
  | 'HF_TRAIN_BAD_SCHEDULE'
  | 'HF_TRAIN_BAD_STATE'
  | 'HF_TRAIN_CALLBACK_FAILED'
  | 'HF_TRAIN_DIVERGED'
  | 'HF_TRAIN_NO_STATE'
  | 'HF_TRAIN_EMPTY_SPLIT' // a split with no training or no validation images
  | 'HF_TRAIN_NO_LABELS' // a dataset without labelled images
  | 'HF_TRAIN_NO_ROI' // crop 'roi' with images that have no region
  | 'HF_TRAIN_NO_BOXES' // box supervision on a dataset without fracture boxes
  | 'HF_TRAIN_NO_SPLIT' // split columns in the manifest without split.json
  | 'HF_TRAIN_RESUME_CONFIG'; // --resume with another configuration

/** An error of this room: its code is checked against the catalogue above at compile time. */
export class TrainError extends HipfracError<TrainErrorCode> {}
