// The input gate's door (the cascade's first stage, below triage): out-of-distribution scores on the classifier's
// features and logits and on the pixels, calibrated on validation, plus body-part/view probes where labels exist.
export { InputGate, GATE_FILE, UNIFORM_STD, COLOUR_LIMIT } from './gate.js';
export type { GateCard, GateVerdict, GateTrainingData, GateFitOptions, GateScoreName } from './gate.js';
export { gateFeatures, gateFeaturesOf, energyScore } from './features.js';
export type { GateFeatures } from './features.js';
export { fitMahalanobis, mahalanobisScore } from './mahalanobis.js';
export type { MahalanobisModel } from './mahalanobis.js';
export { orderStatistics, pixelDescriptor, polarityCues, polarityDescriptor, PIXEL_DESCRIPTOR_SIZE, POLARITY_CUES_SIZE } from './pixels.js';
export { fitProbe, probeProbabilities, probeScores } from './probe.js';
export type { LinearProbe, ProbeOptions } from './probe.js';
export { colourfulness } from './colour.js';
export type { GateErrorCode } from './errors.js';
