// AlexNet (Krizhevsky et al. 2012, the "one weird trick" variant torchvision ships), its structure,
// names and PyTorch's default initialisation: `features`, `avgpool` 6×6, `classifier`.
import type { Tensor } from '../torch/index.js';
import { AdaptiveAvgPool2d, Conv2d, Dropout, Linear, MaxPool2d, Module, Sequential } from '../nn/index.js';
import { FeatureBody, ReLUInplace } from './body.js';
import { poolFlattenLinear } from './tail.js';

/** `features`: five convolutions with ReLU and three max pools, ending at 256 channels. */
export class AlexNetBody extends FeatureBody {
  readonly outChannels = 256;
  // fastai's _alexnet_split: the second group starts at features[6].
  readonly groupStarts = ['features.6'] as const;
  protected readonly features: Sequential;

  constructor() {
    super();
    this.features = this.registerModule(
      'features',
      new Sequential(
        new Conv2d(3, 64, 11, { stride: 4, padding: 2 }),
        new ReLUInplace(),
        new MaxPool2d(3, 2),
        new Conv2d(64, 192, 5, { padding: 2 }),
        new ReLUInplace(),
        new MaxPool2d(3, 2),
        new Conv2d(192, 384, 3, { padding: 1 }),
        new ReLUInplace(),
        new Conv2d(384, 256, 3, { padding: 1 }),
        new ReLUInplace(),
        new Conv2d(256, 256, 3, { padding: 1 }),
        new ReLUInplace(),
        new MaxPool2d(3, 2),
      ),
    );
  }

  forward(x: Tensor): Tensor {
    return this.withInputFormat(x, (input) => this.features.call(input));
  }
}

/** The ImageNet network: features, 6×6 average pool, dropout + three fully connected layers. */
export class AlexNet extends AlexNetBody {
  private readonly avgpool: Module;
  private readonly classifier: Module;

  constructor(options: { numClasses?: number; dropout?: number } = {}) {
    super();
    const p = options.dropout ?? 0.5;
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(6));
    this.classifier = this.registerModule(
      'classifier',
      new Sequential(new Dropout(p), new Linear(256 * 6 * 6, 4096), new ReLUInplace(), new Dropout(p), new Linear(4096, 4096), new ReLUInplace(), new Linear(4096, options.numClasses ?? 1000)),
    );
  }

  override forward(x: Tensor): Tensor {
    return poolFlattenLinear(super.forward(x), this.avgpool, this.classifier);
  }
}
