// The fracture heads that replace an ImageNet classifier: fastai's (concat pool, two BN-dropout-linear
// blocks; the study's choice) and a plain linear one. Child names are fastai v1's Sequential indices.
import { noGrad } from '../torch/index.js';
import { AdaptiveAvgPool2d, AdaptiveConcatPool2d, BatchNorm1d, Dropout, Flatten, Linear, Sequential, init } from '../nn/index.js';
import { ReLUInplace } from './body.js';

export type HeadKind = 'fastai' | 'linear';

/**
 * fastai's create_head(nf, n, ps): AdaptiveConcatPool2d → Flatten → BatchNorm1d(2·nf) → Dropout(ps/2)
 * → Linear(2·nf, 512) → ReLU → BatchNorm1d(512) → Dropout(ps) → Linear(512, n). Linear weights are
 * kaiming-normal with zero bias, as fastai initialises a new head.
 */
export function fastaiHead(nf: number, numClasses: number, ps: number): Sequential {
  const first = new Linear(2 * nf, 512);
  const last = new Linear(512, numClasses);
  noGrad(() => {
    for (const lin of [first, last]) {
      init.kaimingNormal_(lin.param('weight'));
      init.zeros_(lin.param('bias'));
    }
  });
  // Dropout(0) is kept (fastai v1 drops it) so the keys do not depend on ps.
  return new Sequential(new AdaptiveConcatPool2d(1), new Flatten(), new BatchNorm1d(2 * nf), new Dropout(ps / 2), first, new ReLUInplace(), new BatchNorm1d(512), new Dropout(ps), last);
}

/** Global average pool → Flatten → Dropout(ps) → Linear(nf, n), PyTorch's default Linear init. */
export function linearHead(nf: number, numClasses: number, ps: number): Sequential {
  return new Sequential(new AdaptiveAvgPool2d(1), new Flatten(), new Dropout(ps), new Linear(nf, numClasses));
}
