// The model zoo's door: torchvision-exact architectures by name, the fracture classifier with its
// heads, weight loading, checkpoints with a model card, and inference-only folding.
import { registerBuiltinModels } from './zoo.js';

export { registerModel, listModels, getModelSpec, buildImagenetModel } from './registry.js';
export type { ArchSpec, ArchBuilder } from './registry.js';
export { FeatureBody, FoldedNorm } from './body.js';
export type { NetOptions } from './body.js';
export { Classifier, createClassifier } from './classifier.js';
export type { ClassifierOptions, ClassifierOutputs } from './classifier.js';
export type { HeadKind } from './heads.js';
export { saveCheckpoint, loadCheckpoint, readModelCard, makeModelCard, CHECKPOINT_WEIGHTS, CHECKPOINT_CARD, DEFAULT_BOX_THRESHOLD } from './checkpoint.js';
export type { ModelCard } from './checkpoint.js';
export { optimizeForInference } from './optimize.js';
export type { InferenceOptions } from './optimize.js';
export { resolveWeightsDir, findImagenetWeights } from './weights.js';
export { rewriteLegacyDenseNetKeys } from './densenet.js';
export { ModelsError } from './errors.js';
export type { ModelsErrorCode } from './errors.js';

registerBuiltinModels();
export { checkImageShape, withMode, modelDevice, inferInputChannels, candidateLayers, resolveLayer } from './inspect.js';
export type { ExpectedInput } from './inspect.js';
export * from './onnx/index.js';
