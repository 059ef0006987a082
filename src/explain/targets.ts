// What to explain or attack: small target objects that turn one sample's logits into the score of interest.
// Shared by the CAM methods, the faithfulness metrics and the attacks (separate from how each works).
import { callTensor, select, sigmoid, softmax, type Tensor } from '../torch/index.js';

/** A scalar score of one sample's logits [C] (as pytorch-grad-cam's model targets). */
export interface OutputTarget {
  /** Name for reports, e.g. `class 1 logit`. */
  readonly description: string;
  /** logits [C] of one sample → scalar tensor (differentiable). */
  score(logits: Tensor): Tensor;
}

/** The logit of class `category` (class 1 = fracture in hipfrac's two-logit heads). */
export class ClassifierOutputTarget implements OutputTarget {
  readonly description: string;
  constructor(readonly category: number) {
    this.description = `class ${category} logit`;
  }
  score(logits: Tensor): Tensor {
    return select(logits, -1, this.category);
  }
}

/** The softmax probability of class `category` (used by deletion/insertion, where confidence is measured). */
export class SoftmaxOutputTarget implements OutputTarget {
  readonly description: string;
  constructor(readonly category: number) {
    this.description = `class ${category} probability`;
  }
  score(logits: Tensor): Tensor {
    return select(softmax(logits, -1), -1, this.category);
  }
}

/**
 * For single-logit heads: the logit itself when `category` is 1 (positive), its negation when 0,
 * so that the explained class always has a score that grows with its evidence.
 */
export class BinaryClassifierOutputTarget implements OutputTarget {
  readonly description: string;
  constructor(readonly category: 0 | 1) {
    this.description = category === 1 ? 'positive logit' : 'negated logit';
  }
  score(logits: Tensor): Tensor {
    const logit = callTensor('aten::sum', '', [logits]);
    return this.category === 1 ? logit : logit.neg();
  }
}

/** The probability a single-logit head gives to `category` (sigmoid, or 1 − sigmoid). */
export class BinarySoftmaxOutputTarget implements OutputTarget {
  readonly description: string;
  constructor(readonly category: 0 | 1) {
    this.description = `class ${category} probability (sigmoid)`;
  }
  score(logits: Tensor): Tensor {
    const p = sigmoid(callTensor('aten::sum', '', [logits]));
    return this.category === 1 ? p : callTensor('aten::rsub', 'Scalar', [p, 1]);
  }
}
