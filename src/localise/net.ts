// The hip localiser's network: five stride-2 conv–BatchNorm–ReLU stages on the grey whole radiograph, then the
// final map flattened (position is the answer, so no global pooling) into a linear layer giving hip regions as
// centre x, centre y, width, height in fractions of the image. A two-slot network (the default) gives one region for
// a hip in the image's left half and one for a hip in its right half, and two logits for which of them is the hip
// asked about: an AP pelvis shows both hips, and one region per image would average the two. A one-slot network
// (version 1 checkpoints) gives one region.
import { BatchNorm2d, Conv2d, Flatten, Linear, Module, ReLU, Sequential } from '../nn/index.js';
import { callInplace, noGrad, tensor, type Tensor } from '../torch/index.js';

/** Channels of the five stages. */
const WIDTHS = [16, 32, 64, 96, 128] as const;
/** Image-left region (4), image-right region (4), slot logits (left, right). */
export const SIDED_OUTPUTS = 10;

export class LocaliserNet extends Module {
  readonly inputSize: number;
  readonly features: Sequential;
  readonly regressor: Sequential;
  readonly sided: boolean;

  /** `inputSize` must be a multiple of 32 (five halvings). */
  constructor(inputSize: number, sided = true) {
    super();
    this.inputSize = inputSize;
    this.sided = sided;
    const layers: Module[] = [];
    let channels = 1;
    for (const width of WIDTHS) {
      layers.push(new Conv2d(channels, width, 3, { stride: 2, padding: 1, bias: false }), new BatchNorm2d(width), new ReLU());
      channels = width;
    }
    this.features = this.registerModule('features', new Sequential(...layers));
    const side = inputSize / 32;
    this.regressor = this.registerModule('regressor', new Sequential(new Flatten(), new Linear(channels * side * side, sided ? SIDED_OUTPUTS : 4)));
  }

  /**
   * Starts the regressor at given mean regions (cx, cy, w, h; for a two-slot network the image-left one, then the
   * image-right one) with small weights, so training refines a sensible guess; the slot logits start at zero.
   */
  startAt(meanTarget: readonly number[]): void {
    const linear = this.regressor.getSubmodule('1');
    const outputs = this.sided ? SIDED_OUTPUTS : 4;
    noGrad(() => {
      linear.param('weight').mul_(0.1);
      const start = tensor(Float32Array.from({ length: outputs }, (_, k) => meanTarget[k] ?? 0), [outputs]);
      callInplace(linear.param('bias'), 'aten::copy_', '', [start]);
      start.dispose();
    });
  }

  /** [N, 1, S, S] grey images in [0, 1] (centred here) → [N, 10] (two slots) or [N, 4]: cx, cy, w, h as fractions of the image. */
  forward(x: Tensor): Tensor {
    const centred = x.sub(0.5);
    const f = this.features.call(centred);
    centred.dispose();
    const out = this.regressor.call(f);
    f.dispose();
    return out;
  }
}
