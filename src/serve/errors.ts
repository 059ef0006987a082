// The serve room's error codes (store, DICOM node, inference workers, deliveries, HTTP API, configuration).
// A retired code is never reused.

export type ServeErrorCode =
  | 'HF_SERVE_BAD_CONFIG'
  | 'HF_SERVE_STORE'
  | 'HF_SERVE_BAD_TRANSITION'
  | 'HF_SERVE_DISK_FULL'
  | 'HF_SERVE_TOO_LARGE'
  | 'HF_SERVE_BAD_TOKEN'
  | 'HF_SERVE_NEEDS_LOCALISER'
  | 'HF_SERVE_WORKER'
  | 'HF_SERVE_DELIVERY'
  | 'HF_SERVE_RESULT';
