// Grad-CAM++: channel weights from positive gradients, each weighted by a per-position coefficient α.
// Chattopadhay et al., "Grad-CAM++: Improved Visual Explanations for Deep CNNs", WACV 2018.
import { ne, relu, sum, where, zerosLike, type Tensor } from '../torch/index.js';
import { BaseCam } from './baseCam.js';

/**
 * Grad-CAM++ (Chattopadhay et al. 2018, eq. 19 with the exponential score, so higher derivatives are powers
 * of the first): α^kc_ij = g² / (2g² + Σ_ab A^k_ab · g³), w^c_k = Σ_ij α^kc_ij · ReLU(g_ij),
 * where g = ∂y^c/∂A^k_ij; α is 0 where g is 0. The same formula as pytorch-grad-cam's grad_cam_plusplus.py.
 * @example const heat = new GradCamPlusPlus(model, 'layer4').compute(images, new ClassifierOutputTarget(1));
 */
export class GradCamPlusPlus extends BaseCam {
  readonly method = 'Grad-CAM++';
  protected override camWeights(activations: Tensor, gradients: Tensor): Tensor {
    const g2 = gradients.mul(gradients);
    const g3 = g2.mul(gradients);
    const activationSum = sum(activations, [2, 3], true);
    const denominator = g2.mul(2).add(activationSum.mul(g3)).add(1e-7);
    const nonZero = ne(gradients, 0);
    const alpha = where(nonZero, g2.div(denominator), zerosLike(g2));
    return sum(alpha.mul(relu(gradients)), [2, 3], true);
  }
}
