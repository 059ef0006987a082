// The gate room's error codes (fitting, saving and loading the input gate). A retired code is never reused.

export type GateErrorCode =
  /** Too few images to fit or calibrate the gate. */
  | 'HF_GATE_TOO_FEW'
  /** gate.safetensors or the card's gate entry is missing or inconsistent. */
  | 'HF_GATE_INVALID'
  /** An option is out of range (pass rate, shrinkage). */
  | 'HF_GATE_BAD_OPTION';
