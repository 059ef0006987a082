// EfficientNet-B0…B3 (Tan & Le 2019), torchvision's structure, names and initialisation: MBConv
// blocks with squeeze-and-excitation and stochastic depth in `features`, dropout + Linear `classifier`.
import { callInplace, empty, noGrad, sigmoid, type Tensor } from '../torch/index.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, Module, Sequential, init, runChain } from '../nn/index.js';
import { FeatureBody, convAndNorm, type NetOptions } from './body.js';
import { poolFlattenLinear } from './tail.js';

/** torchvision's SiLU(inplace=True). */
export class SiLUInplace extends Module {
  forward(input: Tensor): Tensor {
    return callInplace(input, 'aten::silu_', '', []);
  }
}

/** Conv → BatchNorm → optional SiLU, children "0", "1", "2" as torchvision's Conv2dNormActivation. */
function convNormActivation(inChannels: number, outChannels: number, kernelSize: number, stride: number, groups: number, activation: boolean, fold: boolean): Sequential {
  const [conv, norm] = convAndNorm('0', inChannels, outChannels, kernelSize, { stride, padding: Math.floor((kernelSize - 1) / 2), groups }, fold);
  return activation ? new Sequential(conv, norm, new SiLUInplace()) : new Sequential(conv, norm);
}

/** Squeeze-and-excitation (Hu et al. 2018): channel weights from a global average, applied to the input. */
export class SqueezeExcitation extends Module {
  private readonly chain: Module[];

  constructor(inputChannels: number, squeezeChannels: number) {
    super();
    const avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    const fc1 = this.registerModule('fc1', new Conv2d(inputChannels, squeezeChannels, 1));
    const fc2 = this.registerModule('fc2', new Conv2d(squeezeChannels, inputChannels, 1));
    const activation = this.registerModule('activation', new SiLUInplace());
    this.chain = [avgpool, fc1, activation, fc2];
  }

  forward(x: Tensor): Tensor {
    const logits = runChain(this.chain, x);
    const scale = sigmoid(logits);
    logits.dispose();
    const out = scale.mul(x);
    scale.dispose();
    return out;
  }
}

/** Drops the whole residual branch per sample with probability p in training (Huang et al. 2016), "row" mode. */
export class StochasticDepth extends Module {
  constructor(readonly p: number) {
    super();
  }
  forward(input: Tensor): Tensor {
    if (!this.training || this.p === 0) return input;
    const survival = 1 - this.p;
    const noise = empty([input.shape[0] as number, 1, 1, 1]);
    callInplace(noise, 'aten::bernoulli_', 'float', [survival]);
    if (survival > 0) noise.div_(survival);
    const out = input.mul(noise);
    noise.dispose();
    return out;
  }
}

interface StageConfig {
  readonly expandRatio: number;
  readonly kernel: number;
  readonly stride: number;
  readonly inputChannels: number;
  readonly outChannels: number;
  readonly numLayers: number;
}

/** torchvision's _make_divisible: round to a multiple of 8, never below 90 % of the value. */
function makeDivisible(v: number, divisor = 8): number {
  let rounded = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (rounded < 0.9 * v) rounded += divisor;
  return rounded;
}

/** Inverted residual: expand 1×1 → depthwise k×k → SE → project 1×1, shortcut when shapes allow. */
export class MBConv extends Module {
  readonly useResidual: boolean;
  private readonly block: Sequential;
  private readonly stochasticDepth: StochasticDepth;

  constructor(cnf: StageConfig, stochasticDepthProb: number, fold: boolean) {
    super();
    this.useResidual = cnf.stride === 1 && cnf.inputChannels === cnf.outChannels;
    const expanded = makeDivisible(cnf.inputChannels * cnf.expandRatio);
    const layers: Module[] = [];
    if (expanded !== cnf.inputChannels) layers.push(convNormActivation(cnf.inputChannels, expanded, 1, 1, 1, true, fold));
    layers.push(convNormActivation(expanded, expanded, cnf.kernel, cnf.stride, expanded, true, fold));
    layers.push(new SqueezeExcitation(expanded, Math.max(1, Math.floor(cnf.inputChannels / 4))));
    layers.push(convNormActivation(expanded, cnf.outChannels, 1, 1, 1, false, fold));
    this.block = this.registerModule('block', new Sequential(...layers));
    this.stochasticDepth = this.registerModule('stochastic_depth', new StochasticDepth(stochasticDepthProb));
  }

  forward(x: Tensor): Tensor {
    const result = this.block.call(x);
    if (!this.useResidual) return result;
    const dropped = this.stochasticDepth.call(result);
    if (dropped !== result) result.dispose();
    return dropped.add_(x);
  }
}

export interface EfficientNetConfig {
  readonly widthMult: number;
  readonly depthMult: number;
  readonly dropout: number;
}

// EfficientNet-B0's stages (expand ratio, kernel, stride, in, out, layers), scaled by width and depth.
const B0_STAGES: readonly (readonly [number, number, number, number, number, number])[] = [
  [1, 3, 1, 32, 16, 1],
  [6, 3, 2, 16, 24, 2],
  [6, 5, 2, 24, 40, 2],
  [6, 3, 2, 40, 80, 3],
  [6, 5, 1, 80, 112, 3],
  [6, 5, 2, 112, 192, 4],
  [6, 3, 1, 192, 320, 1],
];

/** B0's stages scaled by the config's width and depth. */
function scaledStages(config: EfficientNetConfig): StageConfig[] {
  return B0_STAGES.map(([expandRatio, kernel, stride, inC, outC, n]) => ({
    expandRatio,
    kernel,
    stride,
    inputChannels: makeDivisible(inC * config.widthMult),
    outChannels: makeDivisible(outC * config.widthMult),
    numLayers: Math.ceil(n * config.depthMult),
  }));
}

/** `features`: stem, seven MBConv stages, final 1×1 conv to 4× the last stage's channels (SiLU). */
export class EfficientNetBody extends FeatureBody {
  readonly outChannels: number;
  // Not in fastai v1: split after stage 4 (features.5 starts the deeper half), as its other splits do.
  readonly groupStarts = ['features.5'] as const;
  protected readonly features: Sequential;

  constructor(config: EfficientNetConfig, options: NetOptions = {}) {
    super();
    const fold = options.foldBatchNorm ?? false;
    const stages = scaledStages(config);
    const features = new Sequential(convNormActivation(3, (stages[0] as StageConfig).inputChannels, 3, 2, 1, true, fold));
    const totalBlocks = stages.reduce((s, c) => s + c.numLayers, 0);
    let blockId = 0;
    for (const cnf of stages) {
      const blocks: Module[] = [];
      for (let i = 0; i < cnf.numLayers; i++) {
        const blockCnf = i === 0 ? cnf : { ...cnf, inputChannels: cnf.outChannels, stride: 1 };
        blocks.push(new MBConv(blockCnf, (0.2 * blockId) / totalBlocks, fold));
        blockId++;
      }
      features.append(new Sequential(...blocks));
    }
    const lastInput = (stages[stages.length - 1] as StageConfig).outChannels;
    this.outChannels = 4 * lastInput;
    features.append(convNormActivation(lastInput, this.outChannels, 1, 1, 1, true, fold));
    this.features = this.registerModule('features', features);
    // A folded copy is overwritten by optimizeForInference at once: skip the init work.
    if (new.target === EfficientNetBody && options.foldBatchNorm !== true) this.initWeights();
  }

  /** torchvision's init: conv kaiming-normal (fan_out), BatchNorm 1/0, Linear U(±1/√out), biases 0. */
  protected initWeights(): void {
    noGrad(() => {
      for (const [, m] of this.namedModules()) {
        if (m instanceof Conv2d) {
          init.kaimingNormal_(m.param('weight'), 0, 'fan_out');
          const bias = m.paramOrNull('bias');
          if (bias !== null) init.zeros_(bias);
        } else if (m instanceof BatchNorm2d) {
          init.ones_(m.param('weight'));
          init.zeros_(m.param('bias'));
        } else if (m instanceof Linear) {
          const range = 1 / Math.sqrt(m.outFeatures);
          init.uniform_(m.param('weight'), -range, range);
          init.zeros_(m.param('bias'));
        }
      }
    });
  }

  forward(x: Tensor): Tensor {
    return this.withInputFormat(x, (input) => this.features.call(input));
  }
}

/** The ImageNet network: features, global average pool, dropout + 1000-class Linear. */
export class EfficientNet extends EfficientNetBody {
  private readonly avgpool: Module;
  private readonly classifier: Module;

  constructor(config: EfficientNetConfig, options: NetOptions & { numClasses?: number } = {}) {
    super(config, options);
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.classifier = this.registerModule('classifier', new Sequential(new Dropout(config.dropout), new Linear(this.outChannels, options.numClasses ?? 1000)));
    if (options.foldBatchNorm !== true) this.initWeights();
  }

  override forward(x: Tensor): Tensor {
    return poolFlattenLinear(super.forward(x), this.avgpool, this.classifier);
  }
}

/** The fine box head's map: the last stage at one cell per 16 px (features.5, the fifth MBConv stage; B0: 112 channels). */
export function efficientNetFineLayer(config: EfficientNetConfig): { path: string; channels: number } {
  return { path: 'body.features.5', channels: (scaledStages(config)[4] as StageConfig).outChannels };
}

export const EFFICIENTNET_CONFIGS = {
  efficientnet_b0: { widthMult: 1.0, depthMult: 1.0, dropout: 0.2 },
  efficientnet_b1: { widthMult: 1.0, depthMult: 1.1, dropout: 0.2 },
  efficientnet_b2: { widthMult: 1.1, depthMult: 1.2, dropout: 0.3 },
  efficientnet_b3: { widthMult: 1.2, depthMult: 1.4, dropout: 0.3 },
} as const satisfies Record<string, EfficientNetConfig>;

