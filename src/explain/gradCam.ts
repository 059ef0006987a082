// Grad-CAM: channel weights are the spatially averaged gradients of the target score.
// Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization", ICCV 2017.
import type { Tensor } from '../torch/index.js';
import { BaseCam } from './baseCam.js';

/**
 * Grad-CAM (Selvaraju et al. 2017, eq. 1–2): α_k = (1/Z) Σ_ij ∂y^c/∂A^k_ij and
 * L = ReLU(Σ_k α_k A^k). Images [N, C, H, W] in [0, 1] → heatmaps [N, H, W] in [0, 1].
 * @example const heat = new GradCam(model, 'features.norm5').compute(images);
 */
export class GradCam extends BaseCam {
  readonly method = 'Grad-CAM';
  protected override camWeights(_activations: Tensor, gradients: Tensor): Tensor {
    return gradients.mean([2, 3], true);
  }
}
