// The shared machinery of class activation maps (in the structure of pytorch-grad-cam's base_cam.py):
// hooks on target layers, forward, gradients of the target scores, ReLU, resize, normalise, layer mean.
import type { HookHandle, Module } from '../nn/index.js';
import {
  add,
  amax,
  amin,
  argmax,
  enableGrad,
  grad,
  interpolate,
  relu,
  select,
  stack,
  sum,
  tidy,
  type Tensor,
} from '../torch/index.js';
import { checkImageShape, inferInputChannels, resolveLayer, withMode, type ExpectedInput } from '../models/index.js';
import { ClassifierOutputTarget, type OutputTarget } from './targets.js';
import { ExplainError } from './errors.js';

export interface CamOptions {
  /** Input contract checked before each call; channels default to the stem convolution's. */
  readonly expectedInput?: ExpectedInput;
}

/** Targets for a batch: none (each sample's predicted class), one for all, or one per sample. */
export type CamTargets = OutputTarget | readonly OutputTarget[] | null | undefined;

/**
 * Base of Grad-CAM-style methods. Subclasses implement one thing, `camWeights` (how activations are
 * weighted per channel or per position); the base does everything else.
 *
 * Pixel contract: images in [0, 1], [N, C, H, W]; normalisation is the model's own first step.
 * Lifecycle: hooks live only during `compute` (removed in `finally`); the model's train/eval modes are
 * restored afterwards; `dispose()` marks the object unusable (it owns no tensors between calls).
 *
 * @example
 * const cam = new GradCam(model, ['features.denseblock4']);
 * const maps = cam.compute(images);            // [N, H, W] in [0, 1], predicted class per sample
 * const forFracture = cam.compute(images, new ClassifierOutputTarget(1));
 */
export abstract class BaseCam {
  /** The method's name for reports, e.g. 'Grad-CAM'. */
  abstract readonly method: string;
  readonly layerPaths: readonly string[];
  private readonly layers: readonly Module[];
  private readonly expected: ExpectedInput;
  private disposed = false;

  constructor(readonly model: Module, targetLayers: readonly (Module | string)[] | Module | string, options: CamOptions = {}) {
    const list = Array.isArray(targetLayers) ? (targetLayers as readonly (Module | string)[]) : [targetLayers as Module | string];
    if (list.length === 0) {
      throw new ExplainError('HF_EXPLAIN_UNKNOWN_LAYER', 'no target layer given.', { fix: 'name at least one layer, usually the last convolutional block.' });
    }
    const resolved = list.map((l) => resolveLayer(model, l));
    this.layerPaths = resolved.map((r) => r.path);
    this.layers = resolved.map((r) => r.module);
    const channels = options.expectedInput?.channels ?? inferInputChannels(model);
    this.expected = { ...options.expectedInput, ...(channels === undefined ? {} : { channels }) };
  }

  /**
   * Channel (or position) weights from a layer's activations and the gradients of the target score,
   * both [N, K, h, w]. Return [N, K, 1, 1] (one weight per channel) or [N, K, h, w] (per position).
   */
  protected abstract camWeights(activations: Tensor, gradients: Tensor): Tensor;

  /**
   * Heatmaps [N, H, W] in [0, 1] at the input resolution, one per image, for the given targets
   * (default: each sample's predicted class). Several target layers are averaged.
   */
  compute(images: Tensor, targets?: CamTargets): Tensor {
    const { heatmaps, logits } = this.computeWithLogits(images, targets);
    logits.dispose();
    return heatmaps;
  }

  /** As `compute`, also returning the logits [N, classes] of the same forward pass. */
  computeWithLogits(images: Tensor, targets?: CamTargets): { heatmaps: Tensor; logits: Tensor } {
    if (this.disposed) throw new ExplainError('HF_EXPLAIN_DISPOSED', `this ${this.method} object was disposed.`, { fix: 'create a new one.' });
    checkImageShape(images, this.expected, 'HF_EXPLAIN_IMAGE_SHAPE');
    const [n, , height, width] = images.shape as [number, number, number, number];
    const captured: (Tensor | undefined)[] = this.layers.map(() => undefined);
    const handles: HookHandle[] = [];
    try {
      this.layers.forEach((layer, i) => {
        handles.push(layer.registerForwardHook((_m, _input, output) => { captured[i] = output; }));
      });
      return withMode(this.model, 'eval', () =>
        tidy(() =>
          enableGrad(() => {
            // The input carries a gradient so activations join the graph even when the weights are frozen.
            const x = images.detach().requiresGrad_(true);
            const logits = this.model.call(x);
            const scores = this.targetScores(logits, targets, n);
            const activations = captured.map((a, i) => {
              if (a === undefined) {
                throw new ExplainError('HF_EXPLAIN_LAYER_NOT_USED', `target layer '${this.layerPaths[i]}' did not run in the forward pass.`, {
                  input: this.layerPaths[i],
                  fix: 'choose a layer that the model calls in forward (see model.namedModules()).',
                });
              }
              if (a.ndim !== 4) {
                throw new ExplainError('HF_EXPLAIN_LAYER_SHAPE', `target layer '${this.layerPaths[i]}' outputs [${a.shape.join(', ')}], not a feature map [N, K, h, w].`, {
                  input: this.layerPaths[i],
                  fix: 'choose a convolutional layer or block (before global pooling).',
                });
              }
              return a;
            });
            const gradients = grad(sum(scores), activations);
            const perLayer = activations.map((a, i) =>
              this.layerCam(a.detach(), (gradients[i] as Tensor).detach(), height, width),
            );
            const mean = perLayer.length === 1 ? (perLayer[0] as Tensor) : stack(perLayer, 0).mean(0);
            // Activations live where the model does (a GPU); the heatmaps go back to the caller's device, as the logits do.
            const heatmaps = normalisePerSample(mean);
            return { heatmaps: heatmaps.device === images.device ? heatmaps : heatmaps.to(images.device), logits: logits.detach() };
          }),
        ),
      );
    } finally {
      for (const h of handles) h.remove();
    }
  }

  /** One layer's map: weighted activations summed over channels, ReLU, normalised, resized to the input. */
  private layerCam(activations: Tensor, gradients: Tensor, height: number, width: number): Tensor {
    const weights = this.camWeights(activations, gradients);
    const cam = relu(sum(weights.mul(activations), 1));
    const normalised = normalisePerSample(cam);
    return interpolate(normalised.unsqueeze(1), [height, width], 'bilinear', false).squeeze(1);
  }

  /** Per-sample scores [N] of the chosen targets. */
  private targetScores(logits: Tensor, targets: CamTargets, n: number): Tensor {
    let list: readonly OutputTarget[];
    if (targets === null || targets === undefined) {
      const predicted = argmax(logits.detach(), 1).toArray();
      list = predicted.map((k) => new ClassifierOutputTarget(k));
    } else if (Array.isArray(targets)) {
      list = targets as readonly OutputTarget[];
      if (list.length !== n) {
        throw new ExplainError('HF_EXPLAIN_TARGETS', `got ${list.length} targets for a batch of ${n} images.`, {
          fix: 'give one target per image, a single target for all, or none for the predicted class.',
        });
      }
    } else {
      const one = targets as OutputTarget;
      list = Array.from({ length: n }, () => one);
    }
    return stack(list.map((t, i) => t.score(select(logits, 0, i))), 0);
  }

  /** Marks this object unusable; hooks are already gone after every call. */
  dispose(): void {
    this.disposed = true;
  }
}

/** Min-max normalisation of each map in [N, h, w] to [0, 1] (as pytorch-grad-cam's scale_cam_image). */
export function normalisePerSample(maps: Tensor): Tensor {
  const shifted = maps.sub(amin(maps, [1, 2], true));
  return shifted.div(add(amax(shifted, [1, 2], true), 1e-7));
}
