// SqueezeNet 1.0 and 1.1 (Iandola et al. 2016), torchvision's structure, names and initialisation:
// Fire modules in `features`; the ImageNet `classifier` is dropout → 1×1 conv → ReLU → average pool.
import { cat, noGrad, type Tensor } from '../torch/index.js';
import { AdaptiveAvgPool2d, Conv2d, Dropout, MaxPool2d, Module, Sequential, init } from '../nn/index.js';
import { FeatureBody, ReLUInplace, relu_ } from './body.js';
import { poolFlattenLinear } from './tail.js';

/** Squeeze (1×1) then expand with 1×1 and 3×3 convolutions side by side, concatenated. */
export class Fire extends Module {
  private readonly squeeze: Conv2d;
  private readonly expand1x1: Conv2d;
  private readonly expand3x3: Conv2d;

  constructor(inplanes: number, squeezePlanes: number, expand1x1Planes: number, expand3x3Planes: number) {
    super();
    this.squeeze = this.registerModule('squeeze', new Conv2d(inplanes, squeezePlanes, 1));
    this.registerModule('squeeze_activation', new ReLUInplace());
    this.expand1x1 = this.registerModule('expand1x1', new Conv2d(squeezePlanes, expand1x1Planes, 1));
    this.registerModule('expand1x1_activation', new ReLUInplace());
    this.expand3x3 = this.registerModule('expand3x3', new Conv2d(squeezePlanes, expand3x3Planes, 3, { padding: 1 }));
    this.registerModule('expand3x3_activation', new ReLUInplace());
  }

  forward(x: Tensor): Tensor {
    const s = relu_(this.squeeze.call(x));
    const a = relu_(this.expand1x1.call(s));
    const b = relu_(this.expand3x3.call(s));
    const out = cat([a, b], 1);
    s.dispose();
    a.dispose();
    b.dispose();
    return out;
  }
}

export type SqueezeNetVersion = '1_0' | '1_1';

/** `features`: the stem convolution, max pools and eight Fire modules (512 channels out). */
export class SqueezeNetBody extends FeatureBody {
  readonly outChannels = 512;
  // fastai's _squeezenet_split: groups start at features[5] and features[8].
  readonly groupStarts = ['features.5', 'features.8'] as const;
  protected readonly features: Sequential;

  constructor(readonly version: SqueezeNetVersion) {
    super();
    const pool = (): MaxPool2d => new MaxPool2d(3, 2, 0, true);
    this.features = this.registerModule(
      'features',
      version === '1_0'
        ? new Sequential(
            new Conv2d(3, 96, 7, { stride: 2 }),
            new ReLUInplace(),
            pool(),
            new Fire(96, 16, 64, 64),
            new Fire(128, 16, 64, 64),
            new Fire(128, 32, 128, 128),
            pool(),
            new Fire(256, 32, 128, 128),
            new Fire(256, 48, 192, 192),
            new Fire(384, 48, 192, 192),
            new Fire(384, 64, 256, 256),
            pool(),
            new Fire(512, 64, 256, 256),
          )
        : new Sequential(
            new Conv2d(3, 64, 3, { stride: 2 }),
            new ReLUInplace(),
            pool(),
            new Fire(64, 16, 64, 64),
            new Fire(128, 16, 64, 64),
            pool(),
            new Fire(128, 32, 128, 128),
            new Fire(256, 32, 128, 128),
            pool(),
            new Fire(256, 48, 192, 192),
            new Fire(384, 48, 192, 192),
            new Fire(384, 64, 256, 256),
            new Fire(512, 64, 256, 256),
          ),
    );
    if (new.target === SqueezeNetBody) this.initWeights(null);
  }

  /** torchvision's init: kaiming-uniform convolutions, N(0, 0.01) for the final one, biases 0. */
  protected initWeights(finalConv: Conv2d | null): void {
    noGrad(() => {
      for (const [, m] of this.namedModules()) {
        if (!(m instanceof Conv2d)) continue;
        if (m === finalConv) init.normal_(m.param('weight'), 0, 0.01);
        else init.kaimingUniform_(m.param('weight'));
        init.zeros_(m.param('bias'));
      }
    });
  }

  forward(x: Tensor): Tensor {
    return this.withInputFormat(x, (input) => this.features.call(input));
  }
}

/** The ImageNet network: features, then dropout → 1×1 conv to 1000 classes → ReLU → global pool. */
export class SqueezeNet extends SqueezeNetBody {
  private readonly classifier: Module;

  constructor(version: SqueezeNetVersion, options: { numClasses?: number; dropout?: number } = {}) {
    super(version);
    const finalConv = new Conv2d(512, options.numClasses ?? 1000, 1);
    this.classifier = this.registerModule('classifier', new Sequential(new Dropout(options.dropout ?? 0.5), finalConv, new ReLUInplace(), new AdaptiveAvgPool2d(1)));
    this.initWeights(finalConv);
  }

  override forward(x: Tensor): Tensor {
    return poolFlattenLinear(super.forward(x), this.classifier);
  }
}
