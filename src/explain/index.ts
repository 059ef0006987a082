// Why the model decided: Grad-CAM, Grad-CAM++ and HiResCAM heatmaps, overlays as PNG, localisation scores
// against fracture boxes and faithfulness curves. Images are [N, C, H, W] in [0, 1]; normalisation is in the model.
export { ExplainError } from './errors.js';
export type { ExplainErrorCode } from './errors.js';
export { ClassifierOutputTarget, SoftmaxOutputTarget, BinaryClassifierOutputTarget, BinarySoftmaxOutputTarget } from './targets.js';
export type { OutputTarget } from './targets.js';
export { BaseCam, normalisePerSample } from './baseCam.js';
export type { CamOptions, CamTargets } from './baseCam.js';
export { GradCam } from './gradCam.js';
export { GradCamPlusPlus } from './gradCamPlusPlus.js';
export { HiResCam } from './hiResCam.js';
export { heatmapsFromTensor, resizeHeatmap } from './heatmap.js';
export type { Heatmap } from './heatmap.js';
export { colormap, COLORMAPS } from './colormap.js';
export type { ColormapName } from './colormap.js';
export { readGreyPng, greyFromTensor, greyToRgb, writeRgbPng, encodeRgbPng } from './image.js';
export type { GreyImage, RgbImage } from './image.js';
export { renderOverlay, writeOverlayPng } from './overlay.js';
export type { OverlayOptions } from './overlay.js';
export { fractureBoxes, boxToPixels, drawBoxOutlines } from './fractureBoxes.js';
export type { FractureBox } from './fractureBoxes.js';
export { boxHeadBoxes, boxHeadFractions } from './boxHead.js';
export type { PixelFractureBox } from './boxHead.js';
export { pointingGameHit, energyInBoxes, boxAreaShare, localisationScores, scaleBoxes } from './localisation.js';
export type { Box, LocalisationSummary } from './localisation.js';
export { perturbationCurve, constantImputer, blurImputer } from './faithfulness.js';
export type { Imputer, PerturbationOptions, PerturbationCurve } from './faithfulness.js';
