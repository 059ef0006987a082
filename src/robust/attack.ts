// The base of every attack: the [0, 1] pixel contract, labels and ε checks, the model's device and mode
// (eval during the attack, restored in finally), and the gradient of the attack loss with respect to the image.
import { checkImageShape, inferInputChannels, modelDevice, withMode, type ExpectedInput } from '../models/index.js';
import type { Module } from '../nn/index.js';
import { crossEntropy, enableGrad, grad, max, min, noGrad, tidy, type Tensor } from '../torch/index.js';
import { RobustError } from './errors.js';

/** The quantity an attack increases: logits [N, classes], labels [N] (int64) → scalar. */
export type AttackLoss = (logits: Tensor, labels: Tensor) => Tensor;

/** Mean cross-entropy (as torchattacks' FGSM/PGD). */
export const crossEntropyLoss: AttackLoss = (logits, labels) => crossEntropy(logits, labels);

export interface AttackOptions {
  /** Loss to increase; default mean cross-entropy against the true labels. */
  readonly loss?: AttackLoss;
  /** Mode during the attack: 'eval' (default; BatchNorm running statistics, no dropout) or 'train'. */
  readonly mode?: 'eval' | 'train';
  /** Input contract; channels default to the stem convolution's. */
  readonly expectedInput?: ExpectedInput;
}

/** Tolerance for the [0, 1] check: float rounding of images that were scaled from integers. */
const PIXEL_SLACK = 1e-6;

/** Checks an L∞ budget in pixel units ([0, 1] scale). */
export function checkEpsilon(eps: number, name = 'eps'): void {
  if (!Number.isFinite(eps) || eps < 0 || eps > 1) {
    throw new RobustError('HF_ROBUST_EPS_RANGE', `${name} must be in [0, 1] (pixel units of [0, 1] images), got ${eps}.`, {
      input: name,
      fix: eps > 1 && eps <= 255 ? `budgets are on the [0, 1] scale: use ${eps}/255 = ${(eps / 255).toFixed(5)}.` : 'give a value such as 8/255 ≈ 0.0314.',
    });
  }
}

/**
 * Base class: `run(images, labels)` validates, moves to the model's device, sets the mode, calls the
 * subclass's `perturb`, restores the mode and returns adversarial images in [0, 1] on the input's device
 * (detached). Subclasses implement only `perturb`.
 */
export abstract class Attack {
  abstract readonly name: string;
  protected readonly loss: AttackLoss;
  protected readonly mode: 'eval' | 'train';
  private readonly expected: ExpectedInput;

  constructor(readonly model: Module, options: AttackOptions = {}) {
    this.loss = options.loss ?? crossEntropyLoss;
    this.mode = options.mode ?? 'eval';
    const channels = options.expectedInput?.channels ?? inferInputChannels(model);
    this.expected = { ...options.expectedInput, ...(channels === undefined ? {} : { channels }) };
  }

  /** The adversarial images for `images` [N, C, H, W] in [0, 1] and their true `labels` [N] (int64). */
  run(images: Tensor, labels: Tensor): Tensor {
    checkImageShape(images, this.expected, 'HF_ROBUST_IMAGE_SHAPE');
    checkPixelRange(images);
    const n = images.shape[0] as number;
    if (labels.ndim !== 1 || labels.shape[0] !== n || labels.dtype !== 'int64') {
      throw new RobustError('HF_ROBUST_LABELS', `labels must be int64 [${n}]; got ${labels.dtype} [${labels.shape.join(', ')}].`, {
        fix: 'pass class indices as tensor(BigInt64Array.from(labels, BigInt), [N]).',
      });
    }
    const device = modelDevice(this.model);
    const sourceDevice = images.device;
    return withMode(this.model, this.mode, () =>
      tidy(() => {
        const x = sourceDevice === device ? images : images.to(device);
        const y = labels.device === device ? labels : labels.to(device);
        const adversarial = this.perturb(x.detach(), y).detach();
        return adversarial.device === sourceDevice ? adversarial : adversarial.to(sourceDevice);
      }),
    );
  }

  /** The attack itself, on the model's device: clean images [N, C, H, W] in [0, 1] → adversarial images. */
  protected abstract perturb(images: Tensor, labels: Tensor): Tensor;

  /** ∂ loss / ∂ images at `images` (grad enabled even inside noGrad callers). */
  protected inputGradient(images: Tensor, labels: Tensor): Tensor {
    return enableGrad(() =>
      tidy(() => {
        const x = images.detach().requiresGrad_(true);
        const value = this.loss(this.model.call(x), labels);
        return (grad(value, x)[0] as Tensor).detach();
      }),
    );
  }
}

/** Throws unless every value lies in [0, 1] (normalised images are the classic bug this rejects). */
export function checkPixelRange(images: Tensor, what = 'images'): void {
  const [lo, hi] = tidy(() => noGrad(() => [min(images).item(), max(images).item()]));
  if (lo < -PIXEL_SLACK || hi > 1 + PIXEL_SLACK) {
    throw new RobustError('HF_ROBUST_PIXEL_RANGE', `${what} must be in [0, 1]; values span [${lo.toFixed(3)}, ${hi.toFixed(3)}].`, {
      input: what,
      fix: lo < 0 ? 'pass un-normalised images: ImageNet mean/std normalisation is the model\'s own first step.' : 'divide by the white level (255 or 65535).',
    });
  }
}
