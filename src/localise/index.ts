// The hip localiser's door (the cascade's second stage): a small network from the whole radiograph to the hip
// region of interest, trained where hip_roi_* regions exist and stored with the classifier's checkpoint.
export { LocaliserNet } from './net.js';
export { LOCALISER_DEFAULTS, LOCALISER_DIR, LOCALISER_WEIGHTS, iou, trainLocaliser, predictRegions, predictHipRegions, isBilateralView, localiseFiles, localiseGrey, saveLocaliser, loadLocaliser, checkpointLocator } from './localiser.js';
export type { KnownSide, LocaliserCard, LocaliserSample, LocaliserTrainOptions } from './localiser.js';
export { augmentWithRegions, LOCALISER_AUGMENT } from './augment.js';
export { classifierCropScorer } from './cropScorer.js';
export type { LocaliseErrorCode } from './errors.js';
