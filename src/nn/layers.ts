// The layers CNNs are built from, with PyTorch's parameter names, shapes and default initialisation.
import {
  adaptiveAvgPool2d,
  adaptiveMaxPool2d,
  avgPool2d,
  batchNorm,
  cat,
  conv2d,
  dropout,
  empty,
  linear,
  maxPool2d,
  noGrad,
  ones,
  relu,
  sigmoid,
  silu,
  syncBatchNorm,
  tensor,
  zeros,
  type ProcessGroup,
  type Tensor,
} from '../torch/index.js';
import { kaimingUniform_, fans, uniform_ } from './init.js';
import { Module } from './module.js';
import { NnError } from './errors.js';

type IntPair = number | readonly [number, number];

export interface Conv2dOptions {
  readonly stride?: IntPair;
  readonly padding?: IntPair;
  readonly dilation?: IntPair;
  readonly groups?: number;
  readonly bias?: boolean;
}

/** 2-D convolution: weight [out, in/groups, kH, kW], bias [out]. */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: IntPair;
  readonly padding: IntPair;
  readonly dilation: IntPair;
  readonly groups: number;

  constructor(inChannels: number, outChannels: number, kernelSize: IntPair, options: Conv2dOptions = {}) {
    super();
    const groups = options.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new NnError('HF_NN_BAD_OPTION', `Conv2d: in (${inChannels}) and out (${outChannels}) channels must be divisible by groups (${groups}).`);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : [kernelSize[0], kernelSize[1]];
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    this.groups = groups;
    const weight = this.registerParameter('weight', empty([outChannels, inChannels / groups, ...this.kernelSize])) as Tensor;
    const bias = options.bias ?? true ? this.registerParameter('bias', empty([outChannels])) : this.registerParameter('bias', null);
    resetLinearLike(weight, bias);
  }

  forward(input: Tensor): Tensor {
    if (input.ndim !== 4 || input.shape[1] !== this.inChannels) {
      throw new NnError('HF_NN_INPUT_SHAPE', `Conv2d(${this.inChannels}→${this.outChannels}) expects input [N, ${this.inChannels}, H, W], got [${input.shape.join(', ')}].`);
    }
    return conv2d(input, this.param('weight'), this.paramOrNull('bias'), this.stride, this.padding, this.dilation, this.groups);
  }
}

/** Fully connected layer: weight [out, in], bias [out]. */
export class Linear extends Module {
  constructor(readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    super();
    const weight = this.registerParameter('weight', empty([outFeatures, inFeatures])) as Tensor;
    const b = bias ? this.registerParameter('bias', empty([outFeatures])) : this.registerParameter('bias', null);
    resetLinearLike(weight, b);
  }
  forward(input: Tensor): Tensor {
    if (input.shape[input.ndim - 1] !== this.inFeatures) {
      throw new NnError('HF_NN_INPUT_SHAPE', `Linear(${this.inFeatures}→${this.outFeatures}) expects input [..., ${this.inFeatures}], got [${input.shape.join(', ')}].`);
    }
    return linear(input, this.param('weight'), this.paramOrNull('bias'));
  }
}

// PyTorch's reset_parameters for Conv and Linear: kaiming_uniform(a=√5), bias U(±1/√fan_in).
function resetLinearLike(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, Math.sqrt(5));
  if (bias !== null) {
    const { fanIn } = fans(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound);
  }
}

/**
 * Batch normalisation over [N, C, H, W] (or [N, C] with BatchNorm1d): weight, bias,
 * running_mean, running_var, num_batches_tracked — PyTorch's names and update rule.
 * With a `syncGroup` of more than one rank (convertSyncBatchNorm), training mode uses the statistics of the
 * global batch over every rank, as torch.nn.SyncBatchNorm; evaluation always uses the running statistics.
 */
export class BatchNorm2d extends Module {
  /** The process group whose ranks share batch statistics in training mode; null = this process's batch only. */
  syncGroup: ProcessGroup | null = null;

  constructor(readonly numFeatures: number, readonly eps = 1e-5, readonly momentum: number | null = 0.1, readonly affine = true, readonly trackRunningStats = true) {
    super();
    this.registerParameter('weight', affine ? ones([numFeatures]) : null);
    this.registerParameter('bias', affine ? zeros([numFeatures]) : null);
    this.registerBuffer('running_mean', trackRunningStats ? zeros([numFeatures]) : null);
    this.registerBuffer('running_var', trackRunningStats ? ones([numFeatures]) : null);
    this.registerBuffer('num_batches_tracked', trackRunningStats ? tensor(new BigInt64Array([0n]), []) : null);
  }

  protected expectedRank(): number[] {
    return [4];
  }

  forward(input: Tensor): Tensor {
    if (!this.expectedRank().includes(input.ndim) || input.shape[1] !== this.numFeatures) {
      throw new NnError('HF_NN_INPUT_SHAPE', `${this.constructor.name}(${this.numFeatures}) expects input [N, ${this.numFeatures}, …] of rank ${this.expectedRank().join(' or ')}, got [${input.shape.join(', ')}].`);
    }
    // Synchronised in training mode only (PyTorch's need_sync); the native layer checks the global batch's size.
    const synced = this.training && this.syncGroup !== null && this.syncGroup.worldSize > 1;
    if (this.training && !synced) {
      const perChannel = input.numel / this.numFeatures;
      // PyTorch refuses this too: the unbiased batch variance of one value is 0/0 and poisons running_var.
      if (perChannel <= 1) {
        throw new NnError('HF_NN_BATCHNORM_SINGLE_VALUE', `${this.constructor.name}(${this.numFeatures}) in training mode got one value per channel (input [${input.shape.join(', ')}]).`, {
          fix: 'use batches of at least 2 images (drop the last incomplete batch) or call eval() first.',
        });
      }
    }
    let factor = this.momentum ?? 0;
    const tracked = this.buffer('num_batches_tracked');
    if (this.training && this.trackRunningStats && tracked !== null) {
      noGrad(() => tracked.add_(1));
      // momentum null = cumulative moving average, as PyTorch.
      if (this.momentum === null) factor = 1 / tracked.item();
    }
    const useBatchStats = this.training || !this.trackRunningStats;
    // One rank is the plain layer, as PyTorch's SyncBatchNorm falls back to batch_norm without peers.
    if (synced && this.syncGroup !== null) {
      return syncBatchNorm(
        this.syncGroup,
        input,
        this.trackRunningStats ? this.buffer('running_mean') : null,
        this.trackRunningStats ? this.buffer('running_var') : null,
        this.paramOrNull('weight'),
        this.paramOrNull('bias'),
        factor,
        this.eps,
      );
    }
    return batchNorm(
      input,
      this.training && !this.trackRunningStats ? null : this.buffer('running_mean'),
      this.training && !this.trackRunningStats ? null : this.buffer('running_var'),
      this.paramOrNull('weight'),
      this.paramOrNull('bias'),
      useBatchStats,
      factor,
      this.eps,
    );
  }
}

/**
 * Makes every BatchNorm in `module` (2-d and 1-d) share batch statistics over `group` in training mode, as
 * torch.nn.SyncBatchNorm.convert_sync_batchnorm; null undoes it. Parameters, buffers and their names are
 * unchanged, so checkpoints are those of the plain model. Returns how many layers it set.
 */
export function convertSyncBatchNorm(module: Module, group: ProcessGroup | null): number {
  let n = 0;
  for (const [, m] of module.namedModules()) {
    if (m instanceof BatchNorm2d) {
      m.syncGroup = group;
      n++;
    }
  }
  return n;
}

/** BatchNorm over [N, C] or [N, C, L] (the fastai head's BatchNorm). */
export class BatchNorm1d extends BatchNorm2d {
  protected override expectedRank(): number[] {
    return [2, 3];
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (p < 0 || p > 1) throw new NnError('HF_NN_BAD_OPTION', `Dropout probability must be in [0, 1], got ${p}.`);
  }
  forward(input: Tensor): Tensor {
    return dropout(input, this.p, this.training);
  }
}

export class ReLU extends Module {
  forward(input: Tensor): Tensor {
    return relu(input);
  }
}
export class SiLU extends Module {
  forward(input: Tensor): Tensor {
    return silu(input);
  }
}
export class Sigmoid extends Module {
  forward(input: Tensor): Tensor {
    return sigmoid(input);
  }
}
export class Identity extends Module {
  forward(input: Tensor): Tensor {
    return input;
  }
}
export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  forward(input: Tensor): Tensor {
    return input.flatten(this.startDim, this.endDim);
  }
}

export class MaxPool2d extends Module {
  constructor(readonly kernelSize: IntPair, readonly stride: IntPair | null = null, readonly padding: IntPair = 0, readonly ceilMode = false) {
    super();
  }
  forward(input: Tensor): Tensor {
    return maxPool2d(input, this.kernelSize, this.stride, this.padding, 1, this.ceilMode);
  }
}
export class AvgPool2d extends Module {
  constructor(readonly kernelSize: IntPair, readonly stride: IntPair | null = null, readonly padding: IntPair = 0) {
    super();
  }
  forward(input: Tensor): Tensor {
    return avgPool2d(input, this.kernelSize, this.stride, this.padding);
  }
}
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: IntPair) {
    super();
  }
  forward(input: Tensor): Tensor {
    return adaptiveAvgPool2d(input, this.outputSize);
  }
}
export class AdaptiveMaxPool2d extends Module {
  constructor(readonly outputSize: IntPair) {
    super();
  }
  forward(input: Tensor): Tensor {
    return adaptiveMaxPool2d(input, this.outputSize);
  }
}
/** fastai's AdaptiveConcatPool2d: [max pool, avg pool] concatenated on channels (max first). */
export class AdaptiveConcatPool2d extends Module {
  constructor(readonly outputSize: IntPair = 1) {
    super();
  }
  forward(input: Tensor): Tensor {
    const mx = adaptiveMaxPool2d(input, this.outputSize);
    const av = adaptiveAvgPool2d(input, this.outputSize);
    const out = cat([mx, av], 1);
    mx.dispose();
    av.dispose();
    return out;
  }
}

/** Children named "0", "1", … as torch.nn.Sequential; intermediate tensors are freed as it goes. */
export class Sequential extends Module {
  private readonly layers: Module[] = [];
  constructor(...modules: Module[]) {
    super();
    for (const m of modules) this.append(m);
  }
  append(module: Module): this {
    this.registerModule(String(this.layers.length), module);
    this.layers.push(module);
    return this;
  }
  get length(): number {
    return this.layers.length;
  }
  at(index: number): Module {
    const m = this.layers[index < 0 ? this.layers.length + index : index];
    if (m === undefined) throw new RangeError(`Sequential has ${this.layers.length} layers, no index ${index}`);
    return m;
  }
  forward(input: Tensor): Tensor {
    return runChain(this.layers, input);
  }
}

/** Named children in insertion order, like an nn.Sequential built from an OrderedDict. */
export class NamedSequential extends Module {
  private readonly layers: Module[] = [];
  constructor(entries: readonly (readonly [string, Module])[] = []) {
    super();
    for (const [name, m] of entries) this.add(name, m);
  }
  add(name: string, module: Module): this {
    this.registerModule(name, module);
    this.layers.push(module);
    return this;
  }
  forward(input: Tensor): Tensor {
    return runChain(this.layers, input);
  }
}

/**
 * Runs layers in order. An intermediate's handle is dropped as soon as the next layer has consumed it,
 * unless a forward hook saw it (Grad-CAM keeps a reference), as Python drops it by reference count.
 * Autograd holds its own reference to what backward needs and releases it during backward.
 */
export function runChain(layers: readonly Module[], input: Tensor): Tensor {
  let x = input;
  let xSeenByHook = false;
  for (const layer of layers) {
    const y = layer.call(x);
    if (x !== input && y !== x && !xSeenByHook) x.dispose();
    xSeenByHook = layer.hasForwardHooks;
    x = y;
  }
  return x;
}
