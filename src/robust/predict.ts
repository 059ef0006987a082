// Class probabilities from a classifier (eval mode, no gradients), and the Predictor shape that lets a
// defence (test-time augmentation) stand in for the plain model when accuracy is measured.
import { withMode } from '../models/index.js';
import type { Module } from '../nn/index.js';
import { argmax, noGrad, softmax, tidy, type Tensor } from '../torch/index.js';

/** Images [N, C, H, W] in [0, 1] → class probabilities [N, classes]. */
export type Predictor = (images: Tensor) => Tensor;

/** Softmax of the model's logits, in eval mode, without gradients. */
export function predictProbabilities(model: Module, images: Tensor): Tensor {
  return withMode(model, 'eval', () => tidy(() => noGrad(() => softmax(model.call(images), 1))));
}

/** The plain model as a Predictor. */
export function modelPredictor(model: Module): Predictor {
  return (images) => predictProbabilities(model, images);
}

/** Predicted class per image. */
export function predictedClasses(predictor: Predictor, images: Tensor): number[] {
  return tidy(() => argmax(predictor(images), 1).toArray());
}
