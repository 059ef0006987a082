// DenseNet-121/161/169/201 (Huang et al. 2017), torchvision's structure, names and initialisation,
// and the one rewrite old DenseNet weight files need (`norm.1` → `norm1`).
import { callOp, cat, dropout, empty, narrow, noGrad, relu, type Tensor } from '../torch/index.js';
import { AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, Module, NamedSequential, init, runChain } from '../nn/index.js';
import { FeatureBody, ReLUInplace, convAndNorm, type NetOptions } from './body.js';
import { poolFlattenLinear } from './tail.js';

/** BN → ReLU → 1×1 conv (bn_size·k) → BN → ReLU → 3×3 conv (k new feature maps). */
export class DenseLayer extends Module {
  private readonly chain: Module[];

  constructor(inputFeatures: number, growthRate: number, bnSize: number, readonly dropRate: number, fold: boolean) {
    super();
    const norm1 = this.registerModule('norm1', new BatchNorm2d(inputFeatures));
    const relu1 = this.registerModule('relu1', new ReLUInplace());
    // norm2 follows conv1 directly, so it can be folded into it; norm1 follows a concatenation.
    const [conv1, norm2] = convAndNorm('conv1', inputFeatures, bnSize * growthRate, 1, {}, fold);
    this.registerModule('conv1', conv1);
    this.registerModule('norm2', norm2);
    const relu2 = this.registerModule('relu2', new ReLUInplace());
    const conv2 = this.registerModule('conv2', new Conv2d(bnSize * growthRate, growthRate, 3, { padding: 1, bias: false }));
    this.chain = [norm1, relu1, conv1, norm2, relu2, conv2];
  }

  /** `input` is the concatenation of every earlier feature map of the block. */
  forward(input: Tensor): Tensor {
    const out = runChain(this.chain, input);
    if (this.dropRate <= 0) return out;
    const dropped = dropout(out, this.dropRate, this.training);
    out.dispose();
    return dropped;
  }
}

/**
 * Each layer sees the concatenation of the block input and every earlier layer's output, as
 * torchvision's _DenseBlock. The concatenations are released as soon as their layer has run, so
 * memory stays at what PyTorch's reference counting would hold.
 */
export class DenseBlock extends Module {
  private readonly layers: DenseLayer[] = [];

  constructor(numLayers: number, inputFeatures: number, bnSize: number, readonly growthRate: number, dropRate: number, readonly fold: boolean) {
    super();
    for (let i = 0; i < numLayers; i++) {
      const layer = new DenseLayer(inputFeatures + i * growthRate, growthRate, bnSize, dropRate, fold);
      this.layers.push(this.registerModule(`denselayer${i + 1}`, layer));
    }
  }

  forward(initFeatures: Tensor): Tensor {
    // Batch 1 in NCHW: each layer's input slice of the buffer is contiguous, so nothing is copied.
    // Other layouts give strided slices that BatchNorm copies anyway: concatenating is as fast there.
    const preallocate = this.fold && !this.training && initFeatures.shape[0] === 1 && (callOp('aten::stride', 'int', [initFeatures, 1]) as number) !== 1;
    return preallocate ? this.forwardPreallocated(initFeatures) : this.forwardConcatenating(initFeatures);
  }

  private forwardConcatenating(initFeatures: Tensor): Tensor {
    const features: Tensor[] = [initFeatures];
    for (const layer of this.layers) {
      const concatenated = features.length === 1 ? initFeatures : cat(features, 1);
      features.push(layer.call(concatenated));
      if (concatenated !== initFeatures) concatenated.dispose();
    }
    const out = cat(features, 1);
    for (let i = 1; i < features.length; i++) if (!(this.layers[i - 1] as DenseLayer).hasForwardHooks) (features[i] as Tensor).dispose();
    return out;
  }

  /**
   * Inference (folded copies only): one buffer holds the block's output and every layer writes its
   * new maps into its channel slice, so the concatenations are never rebuilt. Each layer reads the
   * leading slice, a contiguous view at batch 1 in NCHW. Not used where autograd may need the graph.
   */
  private forwardPreallocated(initFeatures: Tensor): Tensor {
    const [n, c0, h, w] = initFeatures.shape as [number, number, number, number];
    const total = c0 + this.layers.length * this.growthRate;
    const buffer = empty([n, total, h, w]);
    const head = narrow(buffer, 1, 0, c0);
    head.copy_(initFeatures);
    head.dispose();
    this.layers.forEach((layer, i) => {
      const start = c0 + i * this.growthRate;
      const input = narrow(buffer, 1, 0, start);
      const out = layer.call(input);
      const slot = narrow(buffer, 1, start, this.growthRate);
      slot.copy_(out);
      for (const t of [input, slot]) t.dispose();
      if (!layer.hasForwardHooks) out.dispose();
    });
    return buffer;
  }
}

/** BN → ReLU → 1×1 conv (halving the channels) → 2×2 average pool, between dense blocks. */
export class Transition extends NamedSequential {
  constructor(inputFeatures: number, outputFeatures: number) {
    super([
      ['norm', new BatchNorm2d(inputFeatures)],
      ['relu', new ReLUInplace()],
      ['conv', new Conv2d(inputFeatures, outputFeatures, 1, { bias: false })],
      ['pool', new AvgPool2d(2, 2)],
    ]);
  }
}

export interface DenseNetConfig {
  readonly growthRate: number;
  readonly blockConfig: readonly [number, number, number, number];
  readonly numInitFeatures: number;
  readonly bnSize?: number;
  readonly dropRate?: number;
}

/** `features` (conv0 … denseblock4, norm5) followed by the ReLU torchvision applies in forward. */
export class DenseNetBody extends FeatureBody {
  readonly outChannels: number;
  // fastai's _densenet_split: the second group starts at features[7] = transition2.
  readonly groupStarts = ['features.transition2'] as const;
  protected readonly features: NamedSequential;

  constructor(config: DenseNetConfig, options: NetOptions = {}) {
    super();
    const fold = options.foldBatchNorm ?? false;
    const bnSize = config.bnSize ?? 4;
    const dropRate = config.dropRate ?? 0;
    const [conv0, norm0] = convAndNorm('conv0', 3, config.numInitFeatures, 7, { stride: 2, padding: 3 }, fold);
    const features = new NamedSequential([
      ['conv0', conv0],
      ['norm0', norm0],
      ['relu0', new ReLUInplace()],
      ['pool0', new MaxPool2d(3, 2, 1)],
    ]);
    const widths = blockWidths(config);
    config.blockConfig.forEach((numLayers, i) => {
      const { input, output } = widths[i] as { input: number; output: number };
      features.add(`denseblock${i + 1}`, new DenseBlock(numLayers, input, bnSize, config.growthRate, dropRate, fold));
      if (i !== config.blockConfig.length - 1) features.add(`transition${i + 1}`, new Transition(output, Math.floor(output / 2)));
    });
    const numFeatures = (widths[widths.length - 1] as { output: number }).output;
    features.add('norm5', new BatchNorm2d(numFeatures));
    this.features = this.registerModule('features', features);
    this.outChannels = numFeatures;
    // A folded copy is overwritten by optimizeForInference at once: skip the init work.
    if (new.target === DenseNetBody && options.foldBatchNorm !== true) this.initWeights();
  }

  /** torchvision's init: convolutions kaiming-normal (fan_in), BatchNorm 1/0, Linear bias 0. */
  protected initWeights(): void {
    noGrad(() => {
      for (const [, m] of this.namedModules()) {
        if (m instanceof Conv2d) init.kaimingNormal_(m.param('weight'));
        else if (m instanceof BatchNorm2d) {
          init.ones_(m.param('weight'));
          init.zeros_(m.param('bias'));
        } else if (m instanceof Linear) init.zeros_(m.param('bias'));
      }
    });
  }

  forward(x: Tensor): Tensor {
    // Out of place (torchvision uses inplace=True): the norm5 output stays intact for a Grad-CAM hook.
    return relu(this.withInputFormat(x, (input) => this.features.call(input)));
  }
}

/** The ImageNet network: body, global average pool, 1000-class `classifier`. */
export class DenseNet extends DenseNetBody {
  private readonly avgpool = new AdaptiveAvgPool2d(1);
  private readonly classifier: Module;

  constructor(config: DenseNetConfig, options: NetOptions & { numClasses?: number } = {}) {
    super(config, options);
    this.classifier = this.registerModule('classifier', new Linear(this.outChannels, options.numClasses ?? 1000));
    if (options.foldBatchNorm !== true) this.initWeights();
  }

  override forward(x: Tensor): Tensor {
    // The final ReLU's output is this network's own (no module returns it, so no hook holds it): freed here.
    const features = super.forward(x);
    const out = poolFlattenLinear(features, this.avgpool, this.classifier);
    features.dispose();
    return out;
  }
}

const LEGACY_KEY = /^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$/;

/**
 * Old DenseNet files (including torchvision's downloadable ImageNet weights) name dense-layer
 * tensors `norm.1.weight`; the modules are `norm1` now. Returns a map with the keys rewritten.
 */
export function rewriteLegacyDenseNetKeys<T>(state: ReadonlyMap<string, T>): Map<string, T> {
  const out = new Map<string, T>();
  for (const [key, value] of state) {
    const m = LEGACY_KEY.exec(key);
    out.set(m === null ? key : `${m[1] as string}${m[2] as string}`, value);
  }
  return out;
}

/** Each dense block's input and output channels: each block adds its growth, each transition halves the sum. */
function blockWidths(config: DenseNetConfig): { input: number; output: number }[] {
  let input = config.numInitFeatures;
  return config.blockConfig.map((numLayers) => {
    const output = input + numLayers * config.growthRate;
    const block = { input, output };
    input = Math.floor(output / 2);
    return block;
  });
}

/** The fine box head's map: dense block 3's output (one cell per 16 px, before the last transition halves and pools). */
export function denseNetFineLayer(config: DenseNetConfig): { path: string; channels: number } {
  return { path: 'body.features.denseblock3', channels: (blockWidths(config)[2] as { output: number }).output };
}

export const DENSENET_CONFIGS = {
  densenet121: { growthRate: 32, blockConfig: [6, 12, 24, 16], numInitFeatures: 64 },
  densenet161: { growthRate: 48, blockConfig: [6, 12, 36, 24], numInitFeatures: 96 },
  densenet169: { growthRate: 32, blockConfig: [6, 12, 32, 32], numInitFeatures: 64 },
  densenet201: { growthRate: 32, blockConfig: [6, 12, 48, 32], numInitFeatures: 64 },
} as const satisfies Record<string, DenseNetConfig>;
