// HiResCAM: gradients multiply the activations position by position instead of being averaged first.
// Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of CNNs", arXiv:2011.08891.
import type { Tensor } from '../torch/index.js';
import { BaseCam } from './baseCam.js';

/**
 * HiResCAM (Draelos & Carin 2020, eq. 5): L = ReLU(Σ_k ∂y^c/∂A^k ⊙ A^k), i.e. the element-wise
 * gradient replaces Grad-CAM's channel mean, so the map reflects the locations the score used.
 * @example const heat = new HiResCam(model, 'features.denseblock4').compute(images);
 */
export class HiResCam extends BaseCam {
  readonly method = 'HiResCAM';
  protected override camWeights(_activations: Tensor, gradients: Tensor): Tensor {
    return gradients;
  }
}
