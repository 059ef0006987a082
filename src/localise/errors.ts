// The localise room's error codes. A retired code is never reused.

export type LocaliseErrorCode = 'HF_LOCALISE_BAD_OPTION' | 'HF_LOCALISE_TOO_FEW' | 'HF_LOCALISE_INVALID';
