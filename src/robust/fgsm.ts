// FGSM: one signed-gradient step of size ε in pixel space — the study's attack.
// Goodfellow et al., "Explaining and Harnessing Adversarial Examples", ICLR 2015 (arXiv:1412.6572).
import type { Module } from '../nn/index.js';
import { clamp, sign, type Tensor } from '../torch/index.js';
import { Attack, checkEpsilon, type AttackOptions } from './attack.js';

export interface FgsmOptions extends AttackOptions {
  /** L∞ budget on the [0, 1] scale. Default 8/255. */
  readonly eps?: number;
}

/**
 * FGSM (Goodfellow et al. 2015, eq. 3): x' = clip_[0,1](x + ε · sign(∇_x L(f(x), y))). Distance: L∞.
 * Inputs [N, C, H, W] in [0, 1], labels [N] int64; output in [0, 1] with ‖x' − x‖∞ ≤ ε.
 * @example const adversarial = new Fgsm(model, { eps: 2 / 255 }).run(images, labels);
 */
export class Fgsm extends Attack {
  readonly name = 'FGSM';
  readonly eps: number;
  constructor(model: Module, options: FgsmOptions = {}) {
    super(model, options);
    this.eps = options.eps ?? 8 / 255;
    checkEpsilon(this.eps);
  }
  protected override perturb(images: Tensor, labels: Tensor): Tensor {
    const g = this.inputGradient(images, labels);
    return clamp(images.add(sign(g), this.eps), 0, 1);
  }
}
