// The cascade's choice between the two hips of a bilateral view: the classifier's P(fracture) for each hip crop, so
// that the more suspicious hip decides (radiographReader keeps the crop with the highest).
import { modelInput, type CropScorer, type Radiograph } from '../data/index.js';
import { noGrad, tidy, type Tensor } from '../torch/index.js';
import { positiveClassProbabilities } from '../train/metrics/index.js';

/** P(fracture) (class 1, as triage reads it) per crop from a classifier taking [N, 3, S, S] in [0, 1] at `inputSize`, with gradients off. */
export function classifierCropScorer(model: { call(x: Tensor): Tensor }, inputSize: number): CropScorer {
  return (crops: readonly Radiograph[]): number[] => {
    if (crops.length === 0) return [];
    const logits = tidy(() => noGrad(() => model.call(modelInput(crops, inputSize))).toFloat32Array());
    return Array.from(positiveClassProbabilities(logits, 1, logits.length / crops.length));
  };
}
