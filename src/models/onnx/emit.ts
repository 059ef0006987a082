// One emitter per module class: each writes the ONNX operators that compute what the module's forward
// computes in eval mode. A module without an emitter is refused, naming its class and path.
import type { Tensor } from '../../torch/index.js';
import {
  AdaptiveAvgPool2d,
  AdaptiveConcatPool2d,
  AdaptiveMaxPool2d,
  AvgPool2d,
  BatchNorm1d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  Identity,
  Linear,
  MaxPool2d,
  Module,
  NamedSequential,
  ReLU,
  Sequential,
  SiLU,
  Sigmoid,
} from '../../nn/index.js';
import { HipfracError } from '../../util/index.js';
import { AlexNet, AlexNetBody } from '../alexnet.js';
import { FoldedNorm, ReLUInplace } from '../body.js';
import { Classifier } from '../classifier.js';
import { DenseBlock, DenseLayer, DenseNet, DenseNetBody } from '../densenet.js';
import { EfficientNet, EfficientNetBody, MBConv, SiLUInplace, SqueezeExcitation, StochasticDepth } from '../efficientnet.js';
import { BasicBlock, Bottleneck, ResNet, ResNetBody } from '../resnet.js';
import { Fire, SqueezeNet, SqueezeNetBody } from '../squeezenet.js';
import { Vgg, VggBody } from '../vgg.js';
import { floatAttr, type GraphBuilder } from './graph.js';

/** Input and output shapes of each module's first call, recorded on a probe forward. */
export type ShapeTable = ReadonlyMap<Module, { readonly input: readonly number[]; readonly output: readonly number[] }>;

export interface EmitContext {
  readonly graph: GraphBuilder;
  readonly shapes: ShapeTable;
  /** Writes `module` (at `path`) applied to the value `input`; returns the output value's name. */
  emit(module: Module, path: string, input: string): string;
}

type Emitter<M extends Module = Module> = (ctx: EmitContext, module: M, path: string, x: string) => string;

const join = (path: string, name: string): string => (path === '' ? name : `${path}.${name}`);
const pair = (v: number | readonly [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

function unsupported(module: Module, path: string, why: string): HipfracError {
  return new HipfracError('HF_MODELS_ONNX_UNSUPPORTED', `cannot export ${module.constructor.name} at '${path || '(root)'}' to ONNX: ${why}.`, {
    input: path || module.constructor.name,
    fix: 'export a model built by the zoo (createClassifier, loadCheckpoint, buildImagenetModel), or add an ONNX emitter for this module in src/models/onnx/emit.ts.',
  });
}

function weight(ctx: EmitContext, path: string, name: string, t: Tensor): string {
  return ctx.graph.float(join(path, name), t.contiguous().toFloat32Array(), t.shape);
}

function shapeOf(ctx: EmitContext, module: Module, path: string): { input: readonly number[]; output: readonly number[] } {
  const s = ctx.shapes.get(module);
  if (s === undefined) throw unsupported(module, path, 'the probe forward never called it, so its place in the graph is unknown');
  return s;
}

/** Runs the named children in order (what runChain does). */
function chain(ctx: EmitContext, module: Module, path: string, x: string, names?: readonly string[]): string {
  let value = x;
  if (names === undefined) {
    for (const [name, child] of module.namedChildren()) value = ctx.emit(child, join(path, name), value);
  } else {
    for (const name of names) value = ctx.emit(module.child(name), join(path, name), value);
  }
  return value;
}

const identity: Emitter = (_ctx, _m, _path, x) => x;
const relu: Emitter = (ctx, _m, path, x) => ctx.graph.node('Relu', [x], {}, path);
const silu: Emitter = (ctx, _m, path, x) => ctx.graph.node('Mul', [x, ctx.graph.node('Sigmoid', [x], {}, `${path}.sigmoid`)], {}, path);

const conv: Emitter<Conv2d> = (ctx, m, path, x) => {
  const [ph, pw] = pair(m.padding);
  const inputs = [x, weight(ctx, path, 'weight', m.param('weight'))];
  const bias = m.paramOrNull('bias');
  if (bias !== null) inputs.push(weight(ctx, path, 'bias', bias));
  return ctx.graph.node('Conv', inputs, { kernel_shape: m.kernelSize, strides: pair(m.stride), pads: [ph, pw, ph, pw], dilations: pair(m.dilation), group: m.groups }, path);
};

const linear: Emitter<Linear> = (ctx, m, path, x) => {
  const rank = shapeOf(ctx, m, path).input.length;
  if (rank !== 2) throw unsupported(m, path, `Linear on a rank-${rank} input (only [N, features] is exported)`);
  const inputs = [x, weight(ctx, path, 'weight', m.param('weight'))];
  const bias = m.paramOrNull('bias');
  if (bias !== null) inputs.push(weight(ctx, path, 'bias', bias));
  return ctx.graph.node('Gemm', inputs, { transB: 1 }, path);
};

/** Eval-mode BatchNorm statistics as γ/√(σ²+ε) and β − μ·γ/√(σ²+ε), in float64 then rounded once. */
function normScaleShift(m: BatchNorm2d, path: string): { scale: Float32Array; shift: Float32Array } {
  const mean = m.buffer('running_mean');
  const variance = m.buffer('running_var');
  if (mean === null || variance === null) throw unsupported(m, path, 'BatchNorm without running statistics normalises with batch statistics in eval mode');
  const mu = mean.toFloat32Array();
  const v = variance.toFloat32Array();
  const gamma = m.paramOrNull('weight')?.toFloat32Array();
  const beta = m.paramOrNull('bias')?.toFloat32Array();
  const scale = new Float32Array(m.numFeatures);
  const shift = new Float32Array(m.numFeatures);
  for (let c = 0; c < m.numFeatures; c++) {
    const s = (gamma?.[c] ?? 1) / Math.sqrt((v[c] as number) + m.eps);
    scale[c] = s;
    shift[c] = (beta?.[c] ?? 0) - (mu[c] as number) * s;
  }
  return { scale, shift };
}

const batchNorm2d: Emitter<BatchNorm2d> = (ctx, m, path, x) => {
  const mean = m.buffer('running_mean');
  const variance = m.buffer('running_var');
  if (mean === null || variance === null) throw unsupported(m, path, 'BatchNorm without running statistics normalises with batch statistics in eval mode');
  const g = ctx.graph;
  const gamma = m.paramOrNull('weight');
  const beta = m.paramOrNull('bias');
  const inputs = [
    x,
    gamma === null ? g.float(`${path}.weight`, new Float32Array(m.numFeatures).fill(1), [m.numFeatures]) : weight(ctx, path, 'weight', gamma),
    beta === null ? g.float(`${path}.bias`, new Float32Array(m.numFeatures), [m.numFeatures]) : weight(ctx, path, 'bias', beta),
    weight(ctx, path, 'running_mean', mean),
    weight(ctx, path, 'running_var', variance),
  ];
  return g.node('BatchNormalization', inputs, { epsilon: floatAttr(m.eps) }, path);
};

// [N, C] (the fastai head) or [N, C, L]: a per-channel multiply-add, which every runtime fuses or runs as is.
const batchNorm1d: Emitter<BatchNorm1d> = (ctx, m, path, x) => {
  const rank = shapeOf(ctx, m, path).input.length;
  const dims = rank === 3 ? [m.numFeatures, 1] : [m.numFeatures];
  const { scale, shift } = normScaleShift(m, path);
  const g = ctx.graph;
  const scaled = g.node('Mul', [x, g.float(`${path}.scale`, scale, dims)], {}, `${path}.mul`);
  return g.node('Add', [scaled, g.float(`${path}.shift`, shift, dims)], {}, path);
};

const maxPool: Emitter<MaxPool2d> = (ctx, m, path, x) => {
  const kernel = pair(m.kernelSize);
  const [ph, pw] = pair(m.padding);
  return ctx.graph.node('MaxPool', [x], { kernel_shape: kernel, strides: pair(m.stride ?? kernel), pads: [ph, pw, ph, pw], ceil_mode: m.ceilMode ? 1 : 0 }, path);
};

const avgPool: Emitter<AvgPool2d> = (ctx, m, path, x) => {
  const kernel = pair(m.kernelSize);
  const [ph, pw] = pair(m.padding);
  // PyTorch's default count_include_pad=True.
  return ctx.graph.node('AveragePool', [x], { kernel_shape: kernel, strides: pair(m.stride ?? kernel), pads: [ph, pw, ph, pw], count_include_pad: 1 }, path);
};

/** Adaptive pooling to `size`: global pooling for 1×1, a plain pool when the input divides evenly. */
function adaptivePool(ctx: EmitContext, m: Module, path: string, x: string, size: number | readonly [number, number], kind: 'Average' | 'Max'): string {
  const [oh, ow] = pair(size);
  if (oh === 1 && ow === 1) return ctx.graph.node(`Global${kind}Pool`, [x], {}, path);
  const input = shapeOf(ctx, m, path).input;
  const [h, w] = [input[2] as number, input[3] as number];
  if (h === oh && w === ow) return x;
  if (h % oh !== 0 || w % ow !== 0) throw unsupported(m, path, `adaptive pooling ${h}×${w} → ${oh}×${ow} has uneven windows (export at an input size where the feature map divides evenly)`);
  const kernel = [h / oh, w / ow];
  return ctx.graph.node(`${kind}Pool`, [x], { kernel_shape: kernel, strides: kernel }, path);
}

const flatten: Emitter<Flatten> = (ctx, m, path, x) => {
  const rank = shapeOf(ctx, m, path).input.length;
  const end = m.endDim < 0 ? rank + m.endDim : m.endDim;
  if (m.startDim !== 1 || end !== rank - 1) throw unsupported(m, path, `Flatten(${m.startDim}, ${m.endDim}) (only Flatten(1, -1) is exported)`);
  return ctx.graph.node('Flatten', [x], { axis: 1 }, path);
};

const classifier: Emitter<Classifier> = (ctx, m, path, x) => {
  const g = ctx.graph;
  // Grey [N, 1, H, W] broadcasts against the 3-channel mean and std: the grey → RGB step of Classifier.forward.
  const first = g.nodes.length;
  const centred = g.node('Sub', [x, g.float('mean', Float32Array.from(m.spec.mean), [1, 3, 1, 1])], {}, 'normalise.sub');
  const normalised = g.node('Div', [centred, g.float('std', Float32Array.from(m.spec.std), [1, 3, 1, 1])], {}, 'normalise');
  const features = ctx.emit(m.body, join(path, 'body'), normalised);
  foldInputStep(ctx, m, path, x, normalised, first);
  return ctx.emit(m.head, join(path, 'head'), features);
};

/**
 * Folds the grey → RGB replication and the ImageNet normalisation into the first convolution when it alone reads
 * the normalised image (every zoo body). With n_c = (x − m_c) / s_c inside the image and 0 in the zero padding,
 *   Σ_c W_c ⋆ n_c = (Σ_c W_c / s_c) ⋆ x − (Σ_c W_c m_c / s_c) ⋆ 1_inside,
 * so the convolution reads two channels, the grey image and a channel of ones that its own zero padding turns
 * into the inside indicator: exact at the borders too, with a third fewer multiply-adds and no full-size Sub / Div.
 * A convolution without padding sees only inside positions and takes the second term as a bias on one channel.
 */
function foldInputStep(ctx: EmitContext, m: Classifier, path: string, grey: string, normalised: string, first: number): void {
  const g = ctx.graph;
  const { mean, std } = m.spec;
  const readers = g.nodes.filter((n) => n.input.includes(normalised));
  const conv = readers[0];
  if (readers.length !== 1 || conv === undefined || conv.op_type !== 'Conv' || conv.input[0] !== normalised) return;
  const group = conv.attribute.find((a) => a.name === 'group')?.i ?? 1;
  const weightName = conv.input[1] as string;
  const w = g.floatValues(weightName);
  const dims = g.initializers.find((t) => t.name === weightName)?.dims.map(Number);
  if (Number(group) !== 1 || w === undefined || dims === undefined || dims[1] !== 3 || mean.length !== 3 || std.length !== 3) return;
  const [out, , kh, kw] = dims as [number, number, number, number];
  const taps = kh * kw;
  const scaled = new Float32Array(out * taps);
  const offset = new Float32Array(out * taps);
  for (let o = 0; o < out; o++) {
    for (let k = 0; k < taps; k++) {
      let a = 0;
      let b = 0;
      for (let c = 0; c < 3; c++) {
        const v = w[(o * 3 + c) * taps + k] as number;
        a += v / (std[c] as number);
        b -= (v * (mean[c] as number)) / (std[c] as number);
      }
      scaled[o * taps + k] = a;
      offset[o * taps + k] = b;
    }
  }
  const pads = conv.attribute.find((a) => a.name === 'pads')?.ints ?? [];
  const hint = weightName.replace(/\.weight$/, '');
  if (pads.every((p) => Number(p) === 0)) {
    const biasName = conv.input[2];
    const bias = biasName === undefined || biasName === '' ? new Float32Array(out) : g.floatValues(biasName);
    if (bias === undefined) return;
    const folded = Float32Array.from({ length: out }, (_, o) => offset.subarray(o * taps, (o + 1) * taps).reduce((s, v) => s + v, bias[o] as number));
    conv.input.splice(0, 3, grey, g.float(`${hint}.grey_weight`, scaled, [out, 1, kh, kw]), g.float(`${hint}.grey_bias`, folded, [out]));
  } else {
    const both = new Float32Array(out * 2 * taps);
    for (let o = 0; o < out; o++) {
      both.set(scaled.subarray(o * taps, (o + 1) * taps), o * 2 * taps);
      both.set(offset.subarray(o * taps, (o + 1) * taps), (o * 2 + 1) * taps);
    }
    const [h, wd] = shapeOf(ctx, m, path).input.slice(2) as [number, number];
    const ones = g.node('Expand', [g.float('inside', new Float32Array(h * wd).fill(1), [1, 1, h, wd]), g.node('Shape', [grey], {}, 'input_shape')], {}, 'inside_batch');
    const input = g.node('Concat', [grey, ones], { axis: 1 }, 'grey_and_inside');
    // The three nodes just written move before the convolution, where the Sub / Div were.
    const added = g.nodes.splice(g.nodes.length - 3, 3);
    g.nodes.splice(first, 2, ...added);
    conv.input[0] = input;
    conv.input[1] = g.float(`${hint}.grey_weight`, both, [out, 2, kh, kw]);
    g.pruneInitializers();
    return;
  }
  g.nodes.splice(first, 2);
  g.pruneInitializers();
}

/** The ImageNet tail shared by the torchvision networks: average pool, flatten, classifier. */
function imagenetTail(ctx: EmitContext, m: Module, path: string, features: string, pool: string, head: string): string {
  const pooled = ctx.emit(m.child(pool), join(path, pool), features);
  const flat = ctx.graph.node('Flatten', [pooled], { axis: 1 }, join(path, 'flatten'));
  return ctx.emit(m.child(head), join(path, head), flat);
}

const features: Emitter = (ctx, m, path, x) => ctx.emit(m.child('features'), join(path, 'features'), x);
const denseNetBody: Emitter = (ctx, m, path, x) => ctx.graph.node('Relu', [features(ctx, m, path, x)], {}, join(path, 'relu'));
const resNetBodyNames = ['conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4'];
const resNetBody: Emitter = (ctx, m, path, x) => chain(ctx, m, path, x, resNetBodyNames);

const denseLayer: Emitter<DenseLayer> = (ctx, m, path, x) => chain(ctx, m, path, x, ['norm1', 'relu1', 'conv1', 'norm2', 'relu2', 'conv2']);

const denseBlock: Emitter<DenseBlock> = (ctx, m, path, x) => {
  const maps = [x];
  for (const [name, layer] of m.namedChildren()) {
    const input = maps.length === 1 ? x : ctx.graph.node('Concat', maps, { axis: 1 }, join(path, `${name}.input`));
    maps.push(ctx.emit(layer, join(path, name), input));
  }
  return ctx.graph.node('Concat', maps, { axis: 1 }, path);
};

function residual(ctx: EmitContext, m: Module, path: string, x: string, main: readonly string[]): string {
  const out = chain(ctx, m, path, x, main);
  const shortcut = [...m.namedChildren()].some(([n]) => n === 'downsample') ? ctx.emit(m.child('downsample'), join(path, 'downsample'), x) : x;
  return ctx.graph.node('Relu', [ctx.graph.node('Add', [out, shortcut], {}, `${path}.add`)], {}, path);
}
const basicBlock: Emitter = (ctx, m, path, x) => residual(ctx, m, path, x, ['conv1', 'bn1', 'relu', 'conv2', 'bn2']);
const bottleneck: Emitter = (ctx, m, path, x) => residual(ctx, m, path, x, ['conv1', 'bn1', 'relu', 'conv2', 'bn2', 'relu', 'conv3', 'bn3']);

const fire: Emitter = (ctx, m, path, x) => {
  const s = chain(ctx, m, path, x, ['squeeze', 'squeeze_activation']);
  const a = chain(ctx, m, path, s, ['expand1x1', 'expand1x1_activation']);
  const b = chain(ctx, m, path, s, ['expand3x3', 'expand3x3_activation']);
  return ctx.graph.node('Concat', [a, b], { axis: 1 }, path);
};

const squeezeExcitation: Emitter = (ctx, m, path, x) => {
  const logits = chain(ctx, m, path, x, ['avgpool', 'fc1', 'activation', 'fc2']);
  const scale = ctx.graph.node('Sigmoid', [logits], {}, `${path}.scale`);
  return ctx.graph.node('Mul', [scale, x], {}, path);
};

const mbConv: Emitter<MBConv> = (ctx, m, path, x) => {
  const out = ctx.emit(m.child('block'), join(path, 'block'), x);
  // Stochastic depth is the identity in eval mode.
  return m.useResidual ? ctx.graph.node('Add', [out, x], {}, path) : out;
};

const EMITTERS = new Map<abstract new (...args: never[]) => Module, Emitter<never>>([
  [Conv2d, conv],
  [Linear, linear],
  [BatchNorm2d, batchNorm2d],
  [BatchNorm1d, batchNorm1d],
  [Dropout, identity],
  [Identity, identity],
  [FoldedNorm, identity],
  [StochasticDepth, identity],
  [ReLU, relu],
  [ReLUInplace, relu],
  [SiLU, silu],
  [SiLUInplace, silu],
  [Sigmoid, (ctx, _m, path, x) => ctx.graph.node('Sigmoid', [x], {}, path)],
  [MaxPool2d, maxPool],
  [AvgPool2d, avgPool],
  [AdaptiveAvgPool2d, (ctx, m: AdaptiveAvgPool2d, path, x) => adaptivePool(ctx, m, path, x, m.outputSize, 'Average')],
  [AdaptiveMaxPool2d, (ctx, m: AdaptiveMaxPool2d, path, x) => adaptivePool(ctx, m, path, x, m.outputSize, 'Max')],
  [
    AdaptiveConcatPool2d,
    (ctx, m: AdaptiveConcatPool2d, path, x) =>
      ctx.graph.node('Concat', [adaptivePool(ctx, m, `${path}.max`, x, m.outputSize, 'Max'), adaptivePool(ctx, m, `${path}.avg`, x, m.outputSize, 'Average')], { axis: 1 }, path),
  ],
  [Flatten, flatten],
  [Classifier, classifier],
  [AlexNetBody, features],
  [VggBody, features],
  [SqueezeNetBody, features],
  [EfficientNetBody, features],
  [DenseNetBody, denseNetBody],
  [ResNetBody, resNetBody],
  [AlexNet, (ctx, m: Module, path, x) => imagenetTail(ctx, m, path, features(ctx, m, path, x), 'avgpool', 'classifier')],
  [Vgg, (ctx, m: Module, path, x) => imagenetTail(ctx, m, path, features(ctx, m, path, x), 'avgpool', 'classifier')],
  [EfficientNet, (ctx, m: Module, path, x) => imagenetTail(ctx, m, path, features(ctx, m, path, x), 'avgpool', 'classifier')],
  [DenseNet, (ctx, m: Module, path, x) => imagenetTail(ctx, m, path, denseNetBody(ctx, m, path, x), 'avgpool', 'classifier')],
  [ResNet, (ctx, m: Module, path, x) => imagenetTail(ctx, m, path, resNetBody(ctx, m, path, x), 'avgpool', 'fc')],
  [SqueezeNet, (ctx, m: Module, path, x) => ctx.graph.node('Flatten', [ctx.emit(m.child('classifier'), join(path, 'classifier'), features(ctx, m, path, x))], { axis: 1 }, join(path, 'flatten'))],
  [DenseLayer, denseLayer],
  [DenseBlock, denseBlock],
  [BasicBlock, basicBlock],
  [Bottleneck, bottleneck],
  [Fire, fire],
  [SqueezeExcitation, squeezeExcitation],
  [MBConv, mbConv],
]);

/**
 * Writes `module` applied to `input`. Emitters are chosen by the module's exact class, so a subclass that
 * changes forward is never exported as its parent; Sequential containers (and subclasses that keep their
 * forward) run their children in order.
 */
export function emitModule(ctx: EmitContext, module: Module, path: string, input: string): string {
  const emitter = EMITTERS.get(module.constructor as abstract new (...args: never[]) => Module) as Emitter | undefined;
  if (emitter !== undefined) return emitter(ctx, module, path, input);
  if ((module instanceof Sequential && module.forward === Sequential.prototype.forward) || (module instanceof NamedSequential && module.forward === NamedSequential.prototype.forward)) {
    return chain(ctx, module, path, input);
  }
  throw unsupported(module, path, 'no ONNX emitter for this module class');
}
