// The cascade's choice between the two hips of a bilateral view: the classifier's P(fracture) for each hip crop, so
// that the more suspicious hip decides (radiographReader keeps the crop with the highest).
import { modelInput, type CropScorer, type Radiograph } from '../data/index.js';
import { noGrad, softmax, tidy, type Tensor } from '../torch/index.js';

/** P(fracture) (class 1, as triage reads it) per crop from a classifier taking [N, 3, S, S] in [0, 1] at `inputSize`, with gradients off. */
export function classifierCropScorer(model: { call(x: Tensor): Tensor }, inputSize: number): CropScorer {
  return (crops: readonly Radiograph[]): number[] => {
    if (crops.length === 0) return [];
    const p = tidy(() => noGrad(() => softmax(model.call(modelInput(crops, inputSize)), 1)).toFloat32Array());
    const classes = p.length / crops.length;
    return crops.map((_, i) => p[i * classes + Math.min(1, classes - 1)] as number);
  };
}
