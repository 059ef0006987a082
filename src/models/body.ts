// Pieces every architecture family shares: the feature body (the network minus its classifier),
// in-place ReLU as torchvision's inplace=True, and the marker for a BatchNorm folded into its conv.
import { callInplace, type Tensor } from '../torch/index.js';
import { BatchNorm2d, Conv2d, Identity, Module, type Conv2dOptions } from '../nn/index.js';

/**
 * The convolutional part of a network: what fastai's `create_body` keeps. Child names are the
 * torchvision state_dict keys, so an ImageNet file loads into it once its classifier keys are dropped.
 */
export abstract class FeatureBody extends Module {
  /** Channels of the feature map `forward` returns (fastai's `nf`). */
  abstract readonly outChannels: number;
  /** Module paths (inside the body) where the 2nd, 3rd, … parameter group starts, as fastai splits. */
  abstract readonly groupStarts: readonly string[];
  /**
   * The memory format the body converts its input to. 'channels_last' (NHWC) lets oneDNN run the
   * convolutions without reordering; optimizeForInference sets it where it measured faster.
   */
  inputMemoryFormat: 'contiguous_format' | 'channels_last' = 'contiguous_format';

  /** Runs `run` on the input in inputMemoryFormat, releasing the converted copy afterwards. */
  protected withInputFormat(x: Tensor, run: (input: Tensor) => Tensor): Tensor {
    if (this.inputMemoryFormat === 'contiguous_format') return run(x);
    const input = x.contiguous(this.inputMemoryFormat);
    try {
      return run(input);
    } finally {
      input.dispose();
    }
  }
}

/** Applies ReLU in place and returns the same tensor, as torchvision's ReLU(inplace=True). */
export function relu_(t: Tensor): Tensor {
  return callInplace(t, 'aten::relu_', '', []);
}

/** torchvision's ReLU(inplace=True) as a module (no parameters, so no state_dict keys). */
export class ReLUInplace extends Module {
  forward(input: Tensor): Tensor {
    return relu_(input);
  }
}

/**
 * Stands where a BatchNorm2d was when it has been folded into the convolution `convName` (a sibling
 * in the same parent) for inference; `optimizeForInference` reads it to know which pairs to fold.
 */
export class FoldedNorm extends Identity {
  constructor(readonly convName: string) {
    super();
  }
}

/** Whether a network is built for training (BatchNorm kept) or for folded inference. */
export interface NetOptions {
  /** Convolutions followed by BatchNorm get a bias and the BatchNorm becomes a FoldedNorm. */
  readonly foldBatchNorm?: boolean;
}

/**
 * A convolution and the BatchNorm after it, or, when folding, a biased convolution and the
 * FoldedNorm marker naming it. The caller registers both under torchvision's names.
 */
export function convAndNorm(
  convName: string,
  inChannels: number,
  outChannels: number,
  kernelSize: number,
  options: Conv2dOptions & { readonly eps?: number; readonly momentum?: number },
  fold: boolean,
): [Conv2d, Module] {
  const { eps, momentum, ...convOptions } = options;
  const conv = new Conv2d(inChannels, outChannels, kernelSize, { ...convOptions, bias: fold || (convOptions.bias ?? false) });
  const norm = fold ? new FoldedNorm(convName) : new BatchNorm2d(outChannels, eps ?? 1e-5, momentum ?? 0.1);
  return [conv, norm];
}
