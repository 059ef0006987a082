// VGG-19 with and without BatchNorm (Simonyan & Zisserman 2015), torchvision's structure, names and
// initialisation: `features` (conv/ReLU/max-pool, configuration "E"), `avgpool` 7×7, `classifier`.
import { noGrad, type Tensor } from '../torch/index.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d, Module, Sequential, init } from '../nn/index.js';
import { FeatureBody, FoldedNorm, ReLUInplace, type NetOptions } from './body.js';
import { poolFlattenLinear } from './tail.js';

/** Configuration "E" of the paper (VGG-19): channel counts, 'M' = 2×2 max pool. */
const CONFIG_E = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'] as const;

function makeLayers(config: readonly (number | 'M')[], batchNorm: boolean, fold: boolean): Sequential {
  const layers = new Sequential();
  let inChannels = 3;
  for (const v of config) {
    if (v === 'M') {
      layers.append(new MaxPool2d(2, 2));
      continue;
    }
    layers.append(new Conv2d(inChannels, v, 3, { padding: 1 }));
    if (batchNorm) layers.append(fold ? new FoldedNorm(String(layers.length - 1)) : new BatchNorm2d(v));
    layers.append(new ReLUInplace());
    inChannels = v;
  }
  return layers;
}

/** `features`: the convolutional layers, ending with the fifth max pool (512 channels). */
export class VggBody extends FeatureBody {
  readonly outChannels = 512;
  readonly groupStarts: readonly string[];
  protected readonly features: Sequential;

  constructor(batchNorm: boolean, options: NetOptions = {}) {
    super();
    this.features = this.registerModule('features', makeLayers(CONFIG_E, batchNorm, options.foldBatchNorm ?? false));
    // fastai's _vgg_split cuts features at index 22.
    this.groupStarts = ['features.22'];
    // A folded copy is overwritten by optimizeForInference at once: skip the init work.
    if (new.target === VggBody && options.foldBatchNorm !== true) this.initWeights();
  }

  /** torchvision's init: conv kaiming-normal (fan_out, relu), bias 0; BatchNorm 1/0; Linear N(0, 0.01), bias 0. */
  protected initWeights(): void {
    noGrad(() => {
      for (const [, m] of this.namedModules()) {
        if (m instanceof Conv2d) {
          init.kaimingNormal_(m.param('weight'), 0, 'fan_out', 'relu');
          init.zeros_(m.param('bias'));
        } else if (m instanceof BatchNorm2d) {
          init.ones_(m.param('weight'));
          init.zeros_(m.param('bias'));
        } else if (m instanceof Linear) {
          init.normal_(m.param('weight'), 0, 0.01);
          init.zeros_(m.param('bias'));
        }
      }
    });
  }

  forward(x: Tensor): Tensor {
    return this.withInputFormat(x, (input) => this.features.call(input));
  }
}

/** The ImageNet network: features, 7×7 average pool, three fully connected layers. */
export class Vgg extends VggBody {
  private readonly avgpool: Module;
  private readonly classifier: Module;

  constructor(batchNorm: boolean, options: NetOptions & { numClasses?: number; dropout?: number } = {}) {
    super(batchNorm, options);
    const p = options.dropout ?? 0.5;
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(7));
    this.classifier = this.registerModule(
      'classifier',
      new Sequential(new Linear(512 * 7 * 7, 4096), new ReLUInplace(), new Dropout(p), new Linear(4096, 4096), new ReLUInplace(), new Dropout(p), new Linear(4096, options.numClasses ?? 1000)),
    );
    if (options.foldBatchNorm !== true) this.initWeights();
  }

  override forward(x: Tensor): Tensor {
    return poolFlattenLinear(super.forward(x), this.avgpool, this.classifier);
  }
}
