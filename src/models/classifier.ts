// The fracture classifier: an ImageNet body with a new head, ImageNet normalisation as its fixed
// first step (inputs are [0,1] images, grey or RGB), freezing and layer groups as fastai does.
import { dispose, interpolate, noGrad, tensor, type Tensor } from '../torch/index.js';
import { BatchNorm2d, Conv2d, Module, type Sequential } from '../nn/index.js';
import type { FeatureBody } from './body.js';
import { fastaiHead, linearHead, type HeadKind } from './heads.js';
import { getArchBuilder, getModelSpec, type ArchSpec } from './registry.js';
import { findImagenetWeights, loadExactly, loadImagenetIntoBody, readWeightFile, resolveWeightsDir, weightsNotFound } from './weights.js';
import { ModelsError } from './errors.js';

export interface ClassifierOptions {
  /** Output classes (default 2: no fracture / fracture). */
  readonly numClasses?: number;
  /** 'fastai' (default, the study's head) or 'linear'. */
  readonly head?: HeadKind;
  /** Head dropout: fastai uses ps/2 then ps (default 0.5, as the study). */
  readonly ps?: number;
  /** A torchvision .pth / .safetensors ImageNet file or a hipfrac classifier state; null = from scratch. */
  readonly weights?: string | null;
  /** Where torchvision's files are looked up by name (default: env HIPFRAC_WEIGHTS_DIR). */
  readonly weightsDir?: string;
  /** Load spec.weightFile from the weights directory; a missing file is an error naming it and its URL. */
  readonly pretrained?: boolean;
  /**
   * Add a fracture heatmap head for box supervision (default false): true or 'last', a 1×1 convolution on the last
   * feature map; 'fine', that head upsampled to the spec's fineLayer (twice the resolution) plus a 1×1 convolution on
   * that layer, so the heatmap has four times the cells.
   */
  readonly boxHead?: boolean | BoxHeadKind;
}

/** Where the box head reads: the last feature map, or the last and the finer one before it (spec.fineLayer). */
export type BoxHeadKind = 'last' | 'fine';

/** Logits and, from the box head, one fracture-heatmap logit per feature-map cell [N, 1, h, w]. */
export interface ClassifierOutputs {
  readonly logits: Tensor;
  readonly heatmap: Tensor;
}

/**
 * body (the torchvision network minus its classifier) + head. `forward` takes images in [0, 1],
 * [N, 1 | 3, H, W]; one channel is replicated to three (grey radiographs into ImageNet models, by
 * broadcasting against the 3-channel mean/std), then normalised with ImageNet mean and std.
 */
export class Classifier extends Module {
  readonly spec: ArchSpec;
  readonly headKind: HeadKind;
  readonly numClasses: number;
  readonly ps: number;
  readonly body: FeatureBody;
  readonly head: Sequential;
  /**
   * The box head: a 1×1 convolution from the body's feature map to one fracture logit per cell, trained against
   * fracture boxes (box supervision); null for a classifier without one (its checkpoints load as before).
   */
  readonly boxHead: Conv2d | null;
  /** The fine box head's 1×1 convolution on spec.fineLayer (zero at start: the heatmap starts as the last map's, upsampled); null otherwise. */
  readonly boxHeadFine: Conv2d | null;
  /** The weight file the body (or whole model) was loaded from; null when randomly initialised. */
  weightsSource: string | null = null;
  /** Where the weights live and the work runs ('cpu', 'cuda:0'); set by `to()`. */
  device = 'cpu';
  private readonly mean: Tensor;
  private readonly std: Tensor;

  constructor(spec: ArchSpec, body: FeatureBody, headKind: HeadKind, numClasses: number, ps: number, boxHead: BoxHeadKind | null = null) {
    super();
    checkBoxHead(spec, boxHead);
    this.spec = spec;
    this.headKind = headKind;
    this.numClasses = numClasses;
    this.ps = ps;
    // Non-persistent: normalisation is part of the architecture, not of the weights.
    this.mean = this.registerBuffer('mean', tensor(new Float32Array(spec.mean), [1, 3, 1, 1]), false) as Tensor;
    this.std = this.registerBuffer('std', tensor(new Float32Array(spec.std), [1, 3, 1, 1]), false) as Tensor;
    this.body = this.registerModule('body', body);
    this.head = this.registerModule('head', headKind === 'fastai' ? fastaiHead(body.outChannels, numClasses, ps) : linearHead(body.outChannels, numClasses, ps));
    this.boxHead = boxHead !== null ? this.registerModule('boxHead', new Conv2d(body.outChannels, 1, 1, { bias: true })) : null;
    // Fractures cover a small share of an image: start the heatmap near "no fracture here" (sigmoid(−3) ≈ 0.05).
    if (this.boxHead !== null) noGrad(() => (this.boxHead as Conv2d).param('bias').fill_(-3));
    this.boxHeadFine = boxHead === 'fine' ? this.registerModule('boxHeadFine', new Conv2d((spec.fineLayer as { channels: number }).channels, 1, 1, { bias: false })) : null;
    if (this.boxHeadFine !== null) noGrad(() => (this.boxHeadFine as Conv2d).param('weight').zero_());
  }

  /** Logits [N, numClasses] for images [N, 1 | 3, H, W] in [0, 1]. */
  forward(x: Tensor): Tensor {
    return this.run(x, false).logits;
  }

  /**
   * Logits and the box head's heatmap logits [N, 1, h, w] (h × w: the last feature map) from one pass of the body.
   * Throws HF_MODELS_NO_BOX_HEAD for a classifier built without a box head.
   */
  forwardWithHeatmap(x: Tensor): ClassifierOutputs {
    if (this.boxHead === null) {
      throw new ModelsError('HF_MODELS_NO_BOX_HEAD', `this ${this.spec.name} classifier has no box head.`, { fix: 'train with --box-loss-weight W (> 0) to get a model that returns fracture heatmaps and boxes.' });
    }
    return this.run(x, true) as ClassifierOutputs;
  }

  private run(x: Tensor, withHeatmap: boolean): { logits: Tensor; heatmap?: Tensor } {
    const shape = x.shape;
    if (shape.length !== 4 || (shape[1] !== 1 && shape[1] !== 3)) {
      throw new ModelsError('HF_MODELS_INPUT_SHAPE', `${this.spec.name} expects images [N, 1 or 3, H, W], got [${shape.join(', ')}].`, {
        fix: 'pass a batch of grey ([N, 1, H, W]) or RGB ([N, 3, H, W]) images with values in [0, 1].',
      });
    }
    // buffer('mean') rather than the field: Module.to() replaces buffers when moving devices.
    // A model on the GPU takes and returns tensors on the caller's device: callers that build inputs on the CPU
    // (explain, attacks, predict) work unchanged, and gradients flow back through the copies. The training loop
    // moves its batches itself, so nothing is copied twice there.
    const callerDevice = x.device;
    const input = callerDevice === this.device ? x : x.to(this.device);
    const centred = input.sub(this.buffer('mean') ?? this.mean);
    if (input !== x) input.dispose();
    const normalised = centred.div(this.buffer('std') ?? this.std);
    centred.dispose();
    // The fine head reads the finer map as the body passes it (a hook keeps that output alive until used).
    let fine: Tensor | undefined;
    const hook = withHeatmap && this.boxHeadFine !== null ? this.getSubmodule((this.spec.fineLayer as { path: string }).path).registerForwardHook((_m, _i, out) => (fine = out)) : null;
    let features: Tensor;
    try {
      features = this.body.call(normalised);
    } finally {
      hook?.remove();
    }
    const logits = this.head.call(features);
    const heatmap = withHeatmap && this.boxHead !== null ? this.boxHeatmap(features, fine) : undefined;
    if (heatmap !== undefined) features.dispose();
    if (callerDevice === this.device) return heatmap === undefined ? { logits } : { logits, heatmap };
    const back = (t: Tensor): Tensor => {
      const moved = t.to(callerDevice);
      t.dispose();
      return moved;
    };
    return heatmap === undefined ? { logits: back(logits) } : { logits: back(logits), heatmap: back(heatmap) };
  }

  /** The box head's logits: the last map's cells, or with the fine head that map upsampled plus the finer map's term. */
  private boxHeatmap(features: Tensor, fine: Tensor | undefined): Tensor {
    const coarse = (this.boxHead as Conv2d).call(features);
    if (this.boxHeadFine === null || fine === undefined) return coarse;
    const [h, w] = fine.shape.slice(2) as [number, number];
    const up = interpolate(coarse, [h, w], 'bilinear');
    coarse.dispose();
    const detail = this.boxHeadFine.call(fine);
    fine.dispose();
    const heatmap = up.add(detail);
    up.dispose();
    detail.dispose();
    return heatmap;
  }

  /** Moves the model (weights and buffers) to a device or dtype; see Module.to. */
  override to(target: string): this {
    super.to(target);
    this.device = (this.buffer('mean') ?? this.mean).device;
    return this;
  }

  /** Freezes the body except its BatchNorm layers (fastai's train_bn); the head stays trainable. */
  freeze(): void {
    this.body.requiresGrad_(false);
    for (const [, m] of this.body.namedModules()) if (m instanceof BatchNorm2d) m.requiresGrad_(true);
    this.head.requiresGrad_(true);
    this.boxHead?.requiresGrad_(true);
    this.boxHeadFine?.requiresGrad_(true);
  }

  /** Makes every parameter trainable. */
  unfreeze(): void {
    this.requiresGrad_(true);
  }

  /**
   * Parameter groups for discriminative learning rates, as fastai splits each architecture: the body
   * cut at its groupStarts (e.g. ResNet: up to layer2 | layer3–4), then the head.
   */
  layerGroups(): Tensor[][] {
    const starts = this.body.groupStarts;
    const groupOfModule = new Map<string, number>();
    let g = 0;
    for (const [p] of this.body.namedModules()) {
      if (g < starts.length && p === starts[g]) g++;
      groupOfModule.set(p, g);
    }
    const groups: Tensor[][] = Array.from({ length: starts.length + 2 }, () => []);
    for (const [key, param] of this.body.namedParameters()) {
      const owner = key.includes('.') ? key.slice(0, key.lastIndexOf('.')) : '';
      (groups[groupOfModule.get(owner) ?? 0] as Tensor[]).push(param);
    }
    (groups[starts.length + 1] as Tensor[]).push(...this.head.parameters(), ...(this.boxHead?.parameters() ?? []), ...(this.boxHeadFine?.parameters() ?? []));
    return groups;
  }

  /** The module whose output Grad-CAM explains (spec.gradCamLayer, the last convolutional feature map). */
  gradCamTarget(): Module {
    return this.getSubmodule(this.spec.gradCamLayer);
  }
}

/** A fine box head needs a finer map in the spec (ResNets, DenseNets, EfficientNets); refused by name otherwise. */
function checkBoxHead(spec: ArchSpec, boxHead: BoxHeadKind | null): void {
  if (boxHead === 'fine' && spec.fineLayer === undefined) {
    throw new ModelsError('HF_MODELS_BAD_OPTION', `${spec.name} has no fine box head (it reads a feature map at one cell per 16 px, which the ResNets, DenseNets and EfficientNets name).`, {
      input: `${spec.name} boxHead`,
      fix: "use a ResNet, DenseNet or EfficientNet for --box-head fine, or --box-head last (the last feature map's head).",
    });
  }
}

function checkOptions(name: string, numClasses: number, head: string, ps: number): void {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new ModelsError('HF_MODELS_BAD_OPTION', `numClasses must be a positive integer, got ${numClasses}.`, { input: `${name} numClasses` });
  }
  if (head !== 'fastai' && head !== 'linear') {
    throw new ModelsError('HF_MODELS_BAD_OPTION', `unknown head '${head}'.`, { input: `${name} head`, fix: "use 'fastai' or 'linear'." });
  }
  if (!(ps >= 0 && ps <= 1)) {
    throw new ModelsError('HF_MODELS_BAD_OPTION', `ps (head dropout) must be in [0, 1], got ${ps}.`, { input: `${name} ps` });
  }
}

/**
 * A classifier for `name` with a new head. Weights: `weights` (a file) wins; else `pretrained`
 * looks up torchvision's file in the weights directory; else (or weights: null) from scratch.
 * @example const model = createClassifier('densenet169', { pretrained: true, weightsDir: '/data/weights' });
 */
export function createClassifier(name: string, options: ClassifierOptions = {}): Classifier {
  const spec = getModelSpec(name);
  const builder = getArchBuilder(name);
  const numClasses = options.numClasses ?? 2;
  const headKind = options.head ?? 'fastai';
  const ps = options.ps ?? 0.5;
  checkOptions(name, numClasses, headKind, ps);

  let file: string | null = null;
  if (typeof options.weights === 'string') file = options.weights;
  else if (options.weights === undefined && options.pretrained === true) {
    const dir = resolveWeightsDir(options.weightsDir);
    file = findImagenetWeights(spec, dir);
    if (file === null) throw weightsNotFound(spec, dir);
  }

  const boxHead = options.boxHead === true ? 'last' : options.boxHead === undefined || options.boxHead === false ? null : options.boxHead;
  // Before the body is built, so a refused option leaves nothing behind.
  checkBoxHead(spec, boxHead);
  const model = new Classifier(spec, builder.body(), headKind, numClasses, ps, boxHead);
  if (file === null) return model;
  const state = readWeightFile(file);
  try {
    // A hipfrac classifier state (body.* and head.*) loads whole; a torchvision file loads into the body.
    if ([...state.keys()].some((k) => k.startsWith('body.'))) loadExactly(model, state, file, name, `classifier with ${headKind} head, ${numClasses} classes`);
    else loadImagenetIntoBody(model.body, spec, builder, file, state);
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    dispose(state);
  }
  model.weightsSource = file;
  return model;
}
