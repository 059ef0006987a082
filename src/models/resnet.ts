// ResNet-18/34/50/101/152 (He et al. 2016), torchvision's structure, names and initialisation:
// BasicBlock / Bottleneck, `layer1`…`layer4`, `fc`; the body ends at `layer4` (fastai cuts there).
import { noGrad, type Tensor } from '../torch/index.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, Module, Sequential, init, runChain } from '../nn/index.js';
import { FeatureBody, ReLUInplace, convAndNorm, relu_, type NetOptions } from './body.js';
import { poolFlattenLinear } from './tail.js';

type BlockKind = 'basic' | 'bottleneck';
const EXPANSION: Record<BlockKind, number> = { basic: 1, bottleneck: 4 };

/** Two 3×3 convolutions with an identity shortcut (ResNet-18/34). */
export class BasicBlock extends Module {
  private readonly main: Module[];
  private readonly downsample: Module | null;

  constructor(inplanes: number, planes: number, stride: number, downsample: Sequential | null, fold: boolean) {
    super();
    const [conv1, bn1] = convAndNorm('conv1', inplanes, planes, 3, { stride, padding: 1 }, fold);
    this.registerModule('conv1', conv1);
    this.registerModule('bn1', bn1);
    const relu = this.registerModule('relu', new ReLUInplace());
    const [conv2, bn2] = convAndNorm('conv2', planes, planes, 3, { padding: 1 }, fold);
    this.registerModule('conv2', conv2);
    this.registerModule('bn2', bn2);
    this.downsample = downsample === null ? null : this.registerModule('downsample', downsample);
    this.main = [conv1, bn1, relu, conv2, bn2];
  }

  forward(x: Tensor): Tensor {
    const out = runChain(this.main, x);
    const identity = this.downsample === null ? x : this.downsample.call(x);
    out.add_(identity);
    if (identity !== x) identity.dispose();
    return relu_(out);
  }
}

/** 1×1 reduce, 3×3, 1×1 expand (×4) with a shortcut (ResNet-50/101/152; stride on the 3×3, "v1.5"). */
export class Bottleneck extends Module {
  private readonly main: Module[];
  private readonly downsample: Module | null;

  constructor(inplanes: number, planes: number, stride: number, downsample: Sequential | null, fold: boolean) {
    super();
    const width = planes;
    const [conv1, bn1] = convAndNorm('conv1', inplanes, width, 1, {}, fold);
    const [conv2, bn2] = convAndNorm('conv2', width, width, 3, { stride, padding: 1 }, fold);
    const [conv3, bn3] = convAndNorm('conv3', width, planes * EXPANSION.bottleneck, 1, {}, fold);
    this.registerModule('conv1', conv1);
    this.registerModule('bn1', bn1);
    this.registerModule('conv2', conv2);
    this.registerModule('bn2', bn2);
    this.registerModule('conv3', conv3);
    this.registerModule('bn3', bn3);
    const relu = this.registerModule('relu', new ReLUInplace());
    this.downsample = downsample === null ? null : this.registerModule('downsample', downsample);
    this.main = [conv1, bn1, relu, conv2, bn2, relu, conv3, bn3];
  }

  forward(x: Tensor): Tensor {
    const out = runChain(this.main, x);
    const identity = this.downsample === null ? x : this.downsample.call(x);
    out.add_(identity);
    if (identity !== x) identity.dispose();
    return relu_(out);
  }
}

/** conv1 → bn1 → relu → maxpool → layer1…layer4: the ResNet without avgpool and fc. */
export class ResNetBody extends FeatureBody {
  readonly outChannels: number;
  // fastai's _resnet_split: the second group starts at layer3.
  readonly groupStarts = ['layer3'] as const;
  private readonly stages: Module[];

  constructor(kind: BlockKind, layers: readonly [number, number, number, number], options: NetOptions = {}) {
    super();
    const fold = options.foldBatchNorm ?? false;
    const [conv1, bn1] = convAndNorm('conv1', 3, 64, 7, { stride: 2, padding: 3 }, fold);
    this.registerModule('conv1', conv1);
    this.registerModule('bn1', bn1);
    const relu = this.registerModule('relu', new ReLUInplace());
    const maxpool = this.registerModule('maxpool', new MaxPool2d(3, 2, 1));
    this.stages = [conv1, bn1, relu, maxpool];
    let inplanes = 64;
    const planesPerStage = [64, 128, 256, 512] as const;
    planesPerStage.forEach((planes, i) => {
      const stride = i === 0 ? 1 : 2;
      const expansion = EXPANSION[kind];
      // As torchvision's _make_layer: the shortcut is built before the first block (RNG order).
      let downsample: Sequential | null = null;
      if (stride !== 1 || inplanes !== planes * expansion) {
        const [conv, norm] = convAndNorm('0', inplanes, planes * expansion, 1, { stride }, fold);
        downsample = new Sequential(conv, norm);
      }
      const blocks: Module[] = [];
      for (let b = 0; b < (layers[i] as number); b++) {
        const Block = kind === 'basic' ? BasicBlock : Bottleneck;
        blocks.push(b === 0 ? new Block(inplanes, planes, stride, downsample, fold) : new Block(inplanes, planes, 1, null, fold));
        inplanes = planes * expansion;
      }
      this.stages.push(this.registerModule(`layer${i + 1}`, new Sequential(...blocks)));
    });
    this.outChannels = 512 * EXPANSION[kind];
    // A folded copy is overwritten by optimizeForInference at once: skip the init work.
    if (new.target === ResNetBody && options.foldBatchNorm !== true) this.initWeights();
  }

  /** torchvision's init: convolutions kaiming-normal (fan_out, relu), BatchNorm weight 1, bias 0. */
  protected initWeights(): void {
    noGrad(() => {
      for (const [, m] of this.namedModules()) {
        if (m instanceof Conv2d) init.kaimingNormal_(m.param('weight'), 0, 'fan_out', 'relu');
        else if (m instanceof BatchNorm2d) {
          init.ones_(m.param('weight'));
          init.zeros_(m.param('bias'));
        }
      }
    });
  }

  forward(x: Tensor): Tensor {
    return this.withInputFormat(x, (input) => runChain(this.stages, input));
  }
}

/** The ImageNet network: the body, global average pool and the 1000-class `fc`. */
export class ResNet extends ResNetBody {
  private readonly avgpool: Module;
  private readonly fc: Module;

  constructor(kind: BlockKind, layers: readonly [number, number, number, number], options: NetOptions & { numClasses?: number } = {}) {
    super(kind, layers, options);
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.fc = this.registerModule('fc', new Linear(this.outChannels, options.numClasses ?? 1000));
    if (options.foldBatchNorm !== true) this.initWeights();
  }

  override forward(x: Tensor): Tensor {
    return poolFlattenLinear(super.forward(x), this.avgpool, this.fc);
  }
}

export const RESNET_CONFIGS = {
  resnet18: ['basic', [2, 2, 2, 2]],
  resnet34: ['basic', [3, 4, 6, 3]],
  resnet50: ['bottleneck', [3, 4, 6, 3]],
  resnet101: ['bottleneck', [3, 4, 23, 3]],
  resnet152: ['bottleneck', [3, 8, 36, 3]],
} as const satisfies Record<string, readonly [BlockKind, readonly [number, number, number, number]]>;
