// The triage room's error codes (cut-off calibration, conformal sets, policies in model cards).
// A retired code is never reused.

export type TriageErrorCode =
  | 'HF_TRIAGE_NO_CUTOFF'
  | 'HF_TRIAGE_BAD_POLICY'
  | 'HF_TRIAGE_BAD_OPTION'
  | 'HF_TRIAGE_BAD_SCORES';
