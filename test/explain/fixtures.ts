// Test fixtures shared by the explain and robust tests: a tiny CNN that follows the model contract
// (images in [0, 1], ImageNet normalisation inside), a synthetic "bright lesion" task, and a short trainer.
import { AdaptiveAvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Module, NamedSequential, ReLU } from '../../src/nn/index.js';
import { crossEntropy, grad, manualSeed, noGrad, tensor, tidy, argmax, float, type Tensor } from '../../src/torch/index.js';
import { Rng } from '../../src/util/index.js';
import type { Box } from '../../src/explain/index.js';
import type { PyInput } from '../helpers/python.js';

/** ImageNet normalisation as the model's fixed first step. */
class Normalise extends Module {
  constructor() {
    super();
    this.registerBuffer('mean', tensor(new Float32Array([0.485, 0.456, 0.406]), [1, 3, 1, 1]), false);
    this.registerBuffer('std', tensor(new Float32Array([0.229, 0.224, 0.225]), [1, 3, 1, 1]), false);
  }
  forward(x: Tensor): Tensor {
    return x.sub(this.buffer('mean') as Tensor).div(this.buffer('std') as Tensor);
  }
}

/** features: norm → conv1 → relu1 → pool1 → conv2 → relu2; then global average pool and a 2-logit fc. */
export class TinyCnn extends Module {
  readonly features: NamedSequential;
  readonly head: NamedSequential;
  constructor(seed = 1) {
    super();
    manualSeed(seed);
    this.features = this.registerModule(
      'features',
      new NamedSequential([
        ['norm', new Normalise()],
        ['conv1', new Conv2d(3, 8, 3, { padding: 1 })],
        ['relu1', new ReLU()],
        ['pool1', new MaxPool2d(2)],
        ['conv2', new Conv2d(8, 16, 3, { padding: 1 })],
        ['relu2', new ReLU()],
      ]),
    );
    this.head = this.registerModule('head', new NamedSequential([['pool', new AdaptiveAvgPool2d(1)], ['flatten', new Flatten()], ['fc', new Linear(16, 2)]]));
  }
  forward(x: Tensor): Tensor {
    return this.head.call(this.features.call(x));
  }
}

/** The model's parameters as runPython inputs named `p:<state_dict key>`. */
export function weightsForPython(model: Module): Record<string, PyInput> {
  const out: Record<string, PyInput> = {};
  for (const [name, p] of model.namedParameters()) out[`p:${name}`] = { data: p.toFloat32Array(), shape: p.shape };
  return out;
}

/** TinyCnn's forward in PyTorch, returning (logits, relu1 output, relu2 output). */
export const PY_TINY_CNN = String.raw`
import torch.nn.functional as F
W = {k[2:]: v for k, v in inputs.items() if k.startswith('p:')}
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
def tiny_cnn(x):
    h = (x - MEAN) / STD
    a1 = F.relu(F.conv2d(h, W['features.conv1.weight'], W['features.conv1.bias'], padding=1))
    h = F.max_pool2d(a1, 2)
    a2 = F.relu(F.conv2d(h, W['features.conv2.weight'], W['features.conv2.bias'], padding=1))
    logits = F.linear(a2.mean((2, 3)), W['head.fc.weight'], W['head.fc.bias'])
    return logits, a1, a2
`;

export interface LesionBatch {
  readonly images: Tensor;
  readonly labels: Tensor;
  readonly labelList: number[];
  /** One box list per image: the lesion's box for class 1, empty for class 0. */
  readonly boxes: Box[][];
}

/**
 * Grey noisy images (3 identical channels) where class 1 carries one bright Gaussian "lesion" at a random place
 * and class 0 none. Balanced, seeded.
 */
export function lesionBatch(n: number, seed: number, size = 32): LesionBatch {
  const rng = new Rng(seed);
  const data = new Float32Array(n * 3 * size * size);
  const labelList: number[] = [];
  const boxes: Box[][] = [];
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    labelList.push(label);
    const grey = new Float32Array(size * size);
    const level = rng.uniform(0.3, 0.5);
    for (let p = 0; p < grey.length; p++) grey[p] = level + rng.normal(0, 0.04);
    if (label === 1) {
      const sigma = 2;
      const cx = rng.uniform(6, size - 6);
      const cy = rng.uniform(6, size - 6);
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
        grey[y * size + x] = (grey[y * size + x] as number) + 0.4 * Math.exp(-((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2) / (2 * sigma * sigma));
      }
      boxes.push([[cx - 2 * sigma, cy - 2 * sigma, cx + 2 * sigma, cy + 2 * sigma]]);
    } else {
      boxes.push([]);
    }
    for (let c = 0; c < 3; c++) for (let p = 0; p < grey.length; p++) data[(i * 3 + c) * size * size + p] = Math.min(1, Math.max(0, grey[p] as number));
  }
  return {
    images: tensor(data, [n, 3, size, size]),
    labels: tensor(BigInt64Array.from(labelList, (v) => BigInt(v)), [n]),
    labelList,
    boxes,
  };
}

/** Plain SGD with momentum on cross-entropy, fresh synthetic batches each step; returns the model in eval mode. */
export function trainTinyCnn(model: TinyCnn, steps = 150, batch = 32, lr = 0.05, seed = 100): TinyCnn {
  const params = model.parameters();
  const velocity = params.map((p) => tidy(() => p.mul(0)));
  model.train();
  for (let s = 0; s < steps; s++) {
    tidy(() => {
      const { images, labels } = lesionBatch(batch, seed + s);
      const loss = crossEntropy(model.call(images), labels);
      const grads = grad(loss, params);
      noGrad(() => {
        params.forEach((p, i) => {
          const v = velocity[i] as Tensor;
          v.mul_(0.9).add_(grads[i] as Tensor);
          p.add_(v, float(-lr));
        });
      });
    });
  }
  for (const v of velocity) v.dispose();
  return model.eval();
}

/** Accuracy of the model on a batch (eval mode, no grad). */
export function accuracy(model: Module, images: Tensor, labels: readonly number[]): number {
  const predicted = tidy(() => noGrad(() => argmax(model.call(images), 1).toArray()));
  return predicted.filter((p, i) => p === labels[i]).length / labels.length;
}
