// PGD: iterated signed-gradient steps projected back onto the L∞ ε-ball and [0, 1], from a random start;
// and FGSM with random start, the cheap step used for adversarial training.
import type { Module } from '../nn/index.js';
import { clamp, empty, manualSeed, sign, tidy, type Tensor } from '../torch/index.js';
import { Attack, checkEpsilon, type AttackOptions } from './attack.js';
import { RobustError } from './errors.js';

export interface PgdOptions extends AttackOptions {
  /** L∞ budget on the [0, 1] scale. Default 8/255. */
  readonly eps?: number;
  /** Step size α. Default 2/255. */
  readonly alpha?: number;
  /** Number of steps. Default 10. */
  readonly steps?: number;
  /** Start from a uniform point in the ε-ball (default true). */
  readonly randomStart?: boolean;
  /** Seeds LibTorch's generator before drawing the start (torch.manual_seed semantics; affects later draws). */
  readonly seed?: number;
  /**
   * An explicit start offset [N, C, H, W] (e.g. to reproduce a reference); used instead of drawing one.
   * It is clipped like a drawn start: x0 = clip_[0,1](x + startNoise).
   */
  readonly startNoise?: Tensor;
}

function checkSteps(steps: number, alpha: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new RobustError('HF_ROBUST_BAD_OPTION', `steps must be a positive integer, got ${steps}.`, { input: 'steps' });
  checkEpsilon(alpha, 'alpha');
}

/** Draws U(−ε, ε) noise shaped like `images` with LibTorch's generator (torch.empty_like(x).uniform_(-ε, ε)). */
function uniformStart(images: Tensor, eps: number, seed: number | undefined): Tensor {
  if (seed !== undefined) manualSeed(seed);
  return empty(images.shape, { dtype: images.dtype, device: images.device }).uniform_(-eps, eps);
}

/**
 * PGD, L∞ (Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018, eq. 2):
 * x⁰ = clip(x + U(−ε, ε)) when randomStart; x^{t+1} = clip_[0,1](x + clip_[−ε,ε](x^t + α·sign(∇L(x^t)) − x)).
 * Same update as torchattacks' PGD. Inputs [N, C, H, W] in [0, 1], labels [N] int64.
 * @example const adversarial = new Pgd(model, { eps: 4 / 255, alpha: 1 / 255, steps: 10, seed: 0 }).run(images, labels);
 */
export class Pgd extends Attack {
  readonly name = 'PGD';
  readonly eps: number;
  readonly alpha: number;
  readonly steps: number;
  readonly randomStart: boolean;
  private readonly seed: number | undefined;
  private readonly startNoise: Tensor | undefined;

  constructor(model: Module, options: PgdOptions = {}) {
    super(model, options);
    this.eps = options.eps ?? 8 / 255;
    this.alpha = options.alpha ?? 2 / 255;
    this.steps = options.steps ?? 10;
    this.randomStart = options.randomStart ?? true;
    this.seed = options.seed;
    this.startNoise = options.startNoise;
    checkEpsilon(this.eps);
    checkSteps(this.steps, this.alpha);
  }

  protected override perturb(images: Tensor, labels: Tensor): Tensor {
    let x = images;
    if (this.startNoise !== undefined) {
      if (this.startNoise.shape.join() !== images.shape.join()) {
        throw new RobustError('HF_ROBUST_BAD_OPTION', `startNoise is [${this.startNoise.shape.join(', ')}] but images are [${images.shape.join(', ')}].`, { input: 'startNoise' });
      }
      x = clamp(images.add(this.startNoise.to(images.device)), 0, 1);
    } else if (this.randomStart) {
      x = clamp(images.add(uniformStart(images, this.eps, this.seed)), 0, 1);
    }
    for (let step = 0; step < this.steps; step++) {
      // One scope per step: memory stays at a few batches however many steps.
      const next = tidy(() => {
        const g = this.inputGradient(x, labels);
        const stepped = x.add(sign(g), this.alpha);
        const delta = clamp(stepped.sub(images), -this.eps, this.eps);
        return clamp(images.add(delta), 0, 1);
      });
      if (x !== images) x.dispose();
      x = next;
    }
    return x;
  }
}

export interface FgsmRandomStartOptions extends AttackOptions {
  readonly eps?: number;
  /** Step size; default 1.25 ε (Wong et al.). */
  readonly alpha?: number;
  readonly seed?: number;
}

/**
 * FGSM with random start (Wong, Rice & Kolter, "Fast is better than free", ICLR 2020, Alg. 3):
 * δ ~ U(−ε, ε); δ ← clip_[−ε,ε](δ + α·sign(∇L(clip(x + δ)))); x' = clip_[0,1](x + δ). One gradient per batch.
 */
export class FgsmRandomStart extends Attack {
  readonly name = 'FGSM-RS';
  readonly eps: number;
  readonly alpha: number;
  private readonly seed: number | undefined;
  constructor(model: Module, options: FgsmRandomStartOptions = {}) {
    super(model, options);
    this.eps = options.eps ?? 8 / 255;
    this.alpha = options.alpha ?? 1.25 * this.eps;
    this.seed = options.seed;
    checkEpsilon(this.eps);
    checkSteps(1, this.alpha);
  }
  protected override perturb(images: Tensor, labels: Tensor): Tensor {
    const delta = uniformStart(images, this.eps, this.seed);
    const start = clamp(images.add(delta), 0, 1);
    const g = this.inputGradient(start, labels);
    const stepped = clamp(delta.add(sign(g), this.alpha), -this.eps, this.eps);
    return clamp(images.add(stepped), 0, 1);
  }
}
