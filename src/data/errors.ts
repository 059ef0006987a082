// The data room's catalog of coded errors (import, labels, CSV files, inputs, split, cache, loader, augmentation).
// Codes are stable; a retired code is never reused.
import { HipfracError } from '../util/index.js';

export type DataErrorCode =
  | 'HF_DATA_BAD_AUGMENT_CONFIG'
  | 'HF_DATA_BAD_BATCH'
  | 'HF_DATA_BAD_BOXES' // a boxes CSV/JSON for localisation scores is malformed
  | 'HF_DATA_BAD_LOADER_OPTION'
  | 'HF_DATA_BAD_ROI'
  | 'HF_DATA_BAD_ROIS' // a --rois CSV is unreadable or malformed
  | 'HF_DATA_BAD_SAMPLE'
  | 'HF_DATA_CACHE_FORMAT'
  | 'HF_DATA_CACHE_MISSING'
  | 'HF_DATA_CSV_MALFORMED' // a CSV file the parser rejects (unclosed quote, stray quote)
  | 'HF_DATA_EMPTY'
  | 'HF_DATA_IMAGE_UNREADABLE'
  | 'HF_DATA_INPUT_MISSING' // an input file or folder is absent, or a folder holds no radiographs
  | 'HF_DATA_INPUT_UNREADABLE' // an input file is not a decodable DICOM/PNG/JPEG
  | 'HF_DATA_LABELS' // a label file's columns or rows are wrong (rows listed with their line numbers)
  | 'HF_DATA_LABELS_MISSING' // the label file does not exist or cannot be read
  | 'HF_DATA_LAYOUT'
  | 'HF_DATA_LEAKAGE'
  | 'HF_DATA_LOADER_CLOSED'
  | 'HF_DATA_LOADER_WORKER_FAILED'
  | 'HF_DATA_MANIFEST_CORRUPT'
  | 'HF_DATA_NEEDS_ROI' // a model trained on hip crops got an image without a region of interest
  | 'HF_DATA_NO_MANIFEST' // a dataset folder without manifest.jsonl
  | 'HF_DATA_NO_SPLIT'
  | 'HF_DATA_SPLIT_CORRUPT'
  | 'HF_DATA_SPLIT_OPTION';

/** An error of this room: its code is checked against the catalogue above at compile time. */
export class DataError extends HipfracError<DataErrorCode> {}
