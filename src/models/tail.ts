// The end of every torchvision classifier in the zoo: pool → flatten(1) → linear layers, with one disposal rule.
import type { Module } from '../nn/index.js';
import type { Tensor } from '../torch/index.js';

/**
 * `pool` then flatten(1), then `linear` when given (SqueezeNet pools last, so it passes its whole classifier as
 * `pool`). Frees the tensors it makes (the pooled map and, when a linear part follows, the flat copy). The feature
 * map stays the caller's: it may be a module's output that a Grad-CAM hook holds, so only a caller that made it
 * privately (DenseNet's final ReLU) frees it.
 */
export function poolFlattenLinear(features: Tensor, pool: Module, linear?: Module): Tensor {
  const pooled = pool.call(features);
  const flat = pooled.flatten(1);
  pooled.dispose();
  if (linear === undefined) return flat;
  const out = linear.call(flat);
  flat.dispose();
  return out;
}
