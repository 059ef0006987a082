// The adversarial-training hook for the learner: perturbed copies of a training batch (FGSM with random
// start or PGD) to train on instead of, or beside, the clean images.
import type { Module } from '../nn/index.js';
import type { Tensor } from '../torch/index.js';
import { FgsmRandomStart, Pgd } from './pgd.js';
import { RobustError } from './errors.js';

export interface AdversarialBatchOptions {
  /** 'fgsm-rs' (Wong et al. 2020, one gradient) or 'pgd' (Madry et al. 2018). */
  readonly method: 'fgsm-rs' | 'pgd';
  /** L∞ budget on the [0, 1] scale, e.g. 2/255. */
  readonly eps: number;
  /** Step size; default 1.25 ε for fgsm-rs, ε/4 for pgd. */
  readonly alpha?: number;
  /** PGD steps; default 7. */
  readonly steps?: number;
  /** Seeds the random start (LibTorch's generator). */
  readonly seed?: number;
  /** Mode while crafting; default 'eval' so BatchNorm running statistics are not updated by attack passes. */
  readonly mode?: 'eval' | 'train';
}

/**
 * Adversarial images for one training batch: images [N, C, H, W] in [0, 1], labels [N] int64 → perturbed
 * images in [0, 1] (detached; the caller's train/eval mode is restored). The learner trains on them.
 * @example const xAdv = adversarialBatch(model, images, labels, { method: 'fgsm-rs', eps: 2 / 255 });
 */
export function adversarialBatch(model: Module, images: Tensor, labels: Tensor, options: AdversarialBatchOptions): Tensor {
  const mode = options.mode ?? 'eval';
  const seed = options.seed === undefined ? {} : { seed: options.seed };
  switch (options.method) {
    case 'fgsm-rs':
      return new FgsmRandomStart(model, { eps: options.eps, mode, ...seed, ...(options.alpha === undefined ? {} : { alpha: options.alpha }) }).run(images, labels);
    case 'pgd':
      return new Pgd(model, { eps: options.eps, alpha: options.alpha ?? options.eps / 4, steps: options.steps ?? 7, mode, ...seed }).run(images, labels);
    default:
      throw new RobustError('HF_ROBUST_BAD_OPTION', `unknown adversarial-training method '${String(options.method)}'.`, { input: 'method', fix: "use 'fgsm-rs' or 'pgd'." });
  }
}
