// Typed wrappers over ATen operators, named and ordered as in torch / torch.nn.functional.
// Each is one dispatcher call; argument order and defaults follow PyTorch's Python API.
import { callOp, callTensor, Tensor, type DType, type Scalar } from './tensor.js';
import { TorchError } from './errors.js';

type IntPair = number | readonly [number, number];
type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

function reduction(r: Reduction): number {
  const code = REDUCTION[r];
  if (code === undefined) throw new TorchError('HF_TORCH_BAD_OPTION', `unknown reduction '${String(r)}'.`, { fix: "use 'none', 'mean' or 'sum'." });
  return code;
}
function dims(dim: number | readonly number[]): readonly number[] {
  return typeof dim === 'number' ? [dim] : dim;
}

// ------------------------------------------------------------------------------------------------
// Elementwise arithmetic and math

export const add = (a: Tensor, b: Tensor | Scalar, alpha: Scalar = 1): Tensor => a.add(b, alpha);
export const sub = (a: Tensor, b: Tensor | Scalar, alpha: Scalar = 1): Tensor => a.sub(b, alpha);
export const mul = (a: Tensor, b: Tensor | Scalar): Tensor => a.mul(b);
export const div = (a: Tensor, b: Tensor | Scalar): Tensor => a.div(b);
export const neg = (a: Tensor): Tensor => a.neg();
export function rsub(a: Tensor, b: Scalar): Tensor {
  return callTensor('aten::rsub', 'Scalar', [a, b]);
}
export function pow(a: Tensor, exponent: Tensor | Scalar): Tensor {
  return exponent instanceof Tensor ? callTensor('aten::pow', 'Tensor_Tensor', [a, exponent]) : callTensor('aten::pow', 'Tensor_Scalar', [a, exponent]);
}
export const exp = (a: Tensor): Tensor => callTensor('aten::exp', '', [a]);
export const log = (a: Tensor): Tensor => callTensor('aten::log', '', [a]);
export const log1p = (a: Tensor): Tensor => callTensor('aten::log1p', '', [a]);
export const sqrt = (a: Tensor): Tensor => callTensor('aten::sqrt', '', [a]);
export const rsqrt = (a: Tensor): Tensor => callTensor('aten::rsqrt', '', [a]);
export const abs = (a: Tensor): Tensor => callTensor('aten::abs', '', [a]);
export const sign = (a: Tensor): Tensor => callTensor('aten::sign', '', [a]);
export const floor = (a: Tensor): Tensor => callTensor('aten::floor', '', [a]);
export const round = (a: Tensor): Tensor => callTensor('aten::round', '', [a]);
export const sin = (a: Tensor): Tensor => callTensor('aten::sin', '', [a]);
export const cos = (a: Tensor): Tensor => callTensor('aten::cos', '', [a]);
export function clamp(a: Tensor, min: Scalar | null, max: Scalar | null = null): Tensor {
  return callTensor('aten::clamp', '', [a, min, max]);
}
/** Elementwise clamp between tensors (e.g. projecting onto an ε-ball around the clean image). */
export function clampTensor(a: Tensor, min: Tensor | null, max: Tensor | null): Tensor {
  return callTensor('aten::clamp', 'Tensor', [a, min, max]);
}
export const minimum = (a: Tensor, b: Tensor): Tensor => callTensor('aten::minimum', '', [a, b]);
export const maximum = (a: Tensor, b: Tensor): Tensor => callTensor('aten::maximum', '', [a, b]);
export function where(condition: Tensor, a: Tensor, b: Tensor): Tensor {
  return callTensor('aten::where', 'self', [condition, a, b]);
}
export function lerp(start: Tensor, end: Tensor, weight: Scalar | Tensor): Tensor {
  return weight instanceof Tensor ? callTensor('aten::lerp', 'Tensor', [start, end, weight]) : callTensor('aten::lerp', 'Scalar', [start, end, weight]);
}
export const matmul = (a: Tensor, b: Tensor): Tensor => a.matmul(b);
export const mm = (a: Tensor, b: Tensor): Tensor => callTensor('aten::mm', '', [a, b]);
export const bmm = (a: Tensor, b: Tensor): Tensor => callTensor('aten::bmm', '', [a, b]);

// ------------------------------------------------------------------------------------------------
// Comparisons and logic

function compare(op: string, a: Tensor, b: Tensor | Scalar): Tensor {
  return b instanceof Tensor ? callTensor(`aten::${op}`, 'Tensor', [a, b]) : callTensor(`aten::${op}`, 'Scalar', [a, b]);
}
export const eq = (a: Tensor, b: Tensor | Scalar): Tensor => compare('eq', a, b);
export const ne = (a: Tensor, b: Tensor | Scalar): Tensor => compare('ne', a, b);
export const gt = (a: Tensor, b: Tensor | Scalar): Tensor => compare('gt', a, b);
export const ge = (a: Tensor, b: Tensor | Scalar): Tensor => compare('ge', a, b);
export const lt = (a: Tensor, b: Tensor | Scalar): Tensor => compare('lt', a, b);
export const le = (a: Tensor, b: Tensor | Scalar): Tensor => compare('le', a, b);
export const logicalAnd = (a: Tensor, b: Tensor): Tensor => callTensor('aten::logical_and', '', [a, b]);
export const logicalOr = (a: Tensor, b: Tensor): Tensor => callTensor('aten::logical_or', '', [a, b]);
export const logicalNot = (a: Tensor): Tensor => callTensor('aten::logical_not', '', [a]);
export const isnan = (a: Tensor): Tensor => callTensor('aten::isnan', '', [a]);
export const all = (a: Tensor): Tensor => callTensor('aten::all', '', [a]);
export const any = (a: Tensor): Tensor => callTensor('aten::any', '', [a]);
export function allclose(a: Tensor, b: Tensor, rtol = 1e-5, atol = 1e-8): boolean {
  return callOp('aten::allclose', '', [a, b, rtol, atol, false]) as boolean;
}

// ------------------------------------------------------------------------------------------------
// Reductions

export const sum = (a: Tensor, dim?: number | readonly number[], keepdim = false): Tensor => a.sum(dim, keepdim);
export const mean = (a: Tensor, dim?: number | readonly number[], keepdim = false): Tensor => a.mean(dim, keepdim);
export function amax(a: Tensor, dim: number | readonly number[], keepdim = false): Tensor {
  return callTensor('aten::amax', '', [a, dims(dim), keepdim]);
}
export function amin(a: Tensor, dim: number | readonly number[], keepdim = false): Tensor {
  return callTensor('aten::amin', '', [a, dims(dim), keepdim]);
}
export const max = (a: Tensor): Tensor => callTensor('aten::max', '', [a]);
export const min = (a: Tensor): Tensor => callTensor('aten::min', '', [a]);
/** Max along a dimension: [values, indices]. */
export function maxDim(a: Tensor, dim: number, keepdim = false): [Tensor, Tensor] {
  return callOp('aten::max', 'dim', [a, dim, keepdim]) as [Tensor, Tensor];
}
export function minDim(a: Tensor, dim: number, keepdim = false): [Tensor, Tensor] {
  return callOp('aten::min', 'dim', [a, dim, keepdim]) as [Tensor, Tensor];
}
export const argmax = (a: Tensor, dim?: number, keepdim = false): Tensor => a.argmax(dim, keepdim);
export function argmin(a: Tensor, dim?: number, keepdim = false): Tensor {
  return callTensor('aten::argmin', '', [a, dim ?? null, keepdim]);
}
/** Standard deviation; `correction` 1 is Bessel's (PyTorch's default). */
export function std(a: Tensor, dim?: number | readonly number[], options: { correction?: number; keepdim?: boolean } = {}): Tensor {
  return callTensor('aten::std', 'correction', [a, dim === undefined ? null : dims(dim)], { correction: options.correction ?? 1, keepdim: options.keepdim ?? false });
}
export function variance(a: Tensor, dim?: number | readonly number[], options: { correction?: number; keepdim?: boolean } = {}): Tensor {
  return callTensor('aten::var', 'correction', [a, dim === undefined ? null : dims(dim)], { correction: options.correction ?? 1, keepdim: options.keepdim ?? false });
}
export function norm(a: Tensor, p: number = 2, dim?: number | readonly number[], keepdim = false): Tensor {
  if (dim === undefined) return callTensor('aten::norm', 'Scalar', [a, p]);
  return callTensor('aten::norm', 'ScalarOpt_dim', [a, p, dims(dim), keepdim]);
}
export function cumsum(a: Tensor, dim: number): Tensor {
  return callTensor('aten::cumsum', '', [a, dim]);
}
/** The k largest (or smallest) entries: [values, indices]. */
export function topk(a: Tensor, k: number, dim = -1, largest = true, sorted = true): [Tensor, Tensor] {
  return callOp('aten::topk', '', [a, k, dim, largest, sorted]) as [Tensor, Tensor];
}
export function sort(a: Tensor, dim = -1, descending = false): [Tensor, Tensor] {
  return callOp('aten::sort', '', [a, dim, descending]) as [Tensor, Tensor];
}

// ------------------------------------------------------------------------------------------------
// Shape, indexing, joining

export const reshape = (a: Tensor, shape: readonly number[]): Tensor => a.reshape(shape);
export const view = (a: Tensor, shape: readonly number[]): Tensor => a.view(shape);
export const flatten = (a: Tensor, startDim = 0, endDim = -1): Tensor => a.flatten(startDim, endDim);
export const permute = (a: Tensor, order: readonly number[]): Tensor => a.permute(order);
export const transpose = (a: Tensor, d0: number, d1: number): Tensor => a.transpose(d0, d1);
export const squeeze = (a: Tensor, dim?: number): Tensor => a.squeeze(dim);
export const unsqueeze = (a: Tensor, dim: number): Tensor => a.unsqueeze(dim);
export function expand(a: Tensor, shape: readonly number[]): Tensor {
  return callTensor('aten::expand', '', [a, shape]);
}
export function repeat(a: Tensor, repeats: readonly number[]): Tensor {
  return callTensor('aten::repeat', '', [a, repeats]);
}
export function narrow(a: Tensor, dim: number, start: number, length: number): Tensor {
  return callTensor('aten::narrow', '', [a, dim, start, length]);
}
/** a[..., start:end:step, ...] along one dimension (a view). */
export function slice(a: Tensor, dim: number, start: number | null, end: number | null, step = 1): Tensor {
  return callTensor('aten::slice', 'Tensor', [a, dim, start, end, step]);
}
/** a.select(dim, index): drops the dimension (a view). */
export function select(a: Tensor, dim: number, index: number): Tensor {
  return callTensor('aten::select', 'int', [a, dim, index]);
}
export function indexSelect(a: Tensor, dim: number, index: Tensor): Tensor {
  return callTensor('aten::index_select', '', [a, dim, index]);
}
/** Advanced indexing a[i0, i1, …] with index tensors (null keeps a dimension whole). */
export function index(a: Tensor, indices: readonly (Tensor | null)[]): Tensor {
  return callTensor('aten::index', 'Tensor', [a, indices]);
}
export function gather(a: Tensor, dim: number, indexTensor: Tensor): Tensor {
  return callTensor('aten::gather', '', [a, dim, indexTensor]);
}
export function maskedFill(a: Tensor, mask: Tensor, value: Scalar): Tensor {
  return callTensor('aten::masked_fill', 'Scalar', [a, mask, value]);
}
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return callTensor('aten::cat', '', [tensors, dim]);
}
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return callTensor('aten::stack', '', [tensors, dim]);
}
export function split(a: Tensor, splitSize: number, dim = 0): Tensor[] {
  return callOp('aten::split', 'Tensor', [a, splitSize, dim]) as Tensor[];
}
export function chunk(a: Tensor, chunks: number, dim = 0): Tensor[] {
  return callOp('aten::chunk', '', [a, chunks, dim]) as Tensor[];
}
/** A strided view onto a tensor's storage (used to rebuild tensors from PyTorch files). */
export function asStrided(a: Tensor, shape: readonly number[], strides: readonly number[], storageOffset = 0): Tensor {
  return callTensor('aten::as_strided', '', [a, shape, strides, storageOffset]);
}
export function toDtype(a: Tensor, dtype: DType): Tensor {
  return a.to(dtype);
}
/** Pads the last dimensions: `pad` as in torch.nn.functional.pad (left, right, top, bottom, …). */
export function pad(a: Tensor, padding: readonly number[], mode: 'constant' | 'reflect' | 'replicate' | 'circular' = 'constant', value = 0): Tensor {
  if (mode === 'constant') return callTensor('aten::constant_pad_nd', '', [a, padding, value]);
  if (mode === 'reflect' && padding.length === 4 && a.ndim === 4) return callTensor('aten::reflection_pad2d', '', [a, padding]);
  if (mode === 'replicate' && padding.length === 4 && a.ndim === 4) return callTensor('aten::replication_pad2d', '', [a, padding]);
  return callTensor('aten::pad', '', [a, padding, mode, null]);
}

// ------------------------------------------------------------------------------------------------
// Neural-network functions (torch.nn.functional)

/** 2-D convolution. input [N, C, H, W], weight [O, C/groups, kH, kW]. */
export function conv2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1, groups = 1): Tensor {
  return callTensor('aten::conv2d', '', [input, weight, bias, stride, padding, dilation, groups]);
}
export function linear(input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  return callTensor('aten::linear', '', [input, weight, bias]);
}
/**
 * Batch normalisation; in training it updates `runningMean`/`runningVar` in place with `momentum`
 * (PyTorch's convention: new = (1 - momentum)·old + momentum·batch, unbiased batch variance).
 */
export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  training: boolean,
  momentum = 0.1,
  eps = 1e-5,
): Tensor {
  return callTensor('aten::batch_norm', '', [input, weight, bias, runningMean, runningVar, training, momentum, eps, true]);
}
export function dropout(input: Tensor, p = 0.5, training = true): Tensor {
  if (p < 0 || p > 1) throw new TorchError('HF_TORCH_BAD_OPTION', `dropout probability must be in [0, 1], got ${p}.`);
  return callTensor('aten::dropout', '', [input, p, training]);
}
export function maxPool2d(input: Tensor, kernelSize: IntPair, stride: IntPair | null = null, padding: IntPair = 0, dilation: IntPair = 1, ceilMode = false): Tensor {
  return callTensor('aten::max_pool2d', '', [input, kernelSize, stride ?? kernelSize, padding, dilation, ceilMode]);
}
export function avgPool2d(input: Tensor, kernelSize: IntPair, stride: IntPair | null = null, padding: IntPair = 0, ceilMode = false, countIncludePad = true): Tensor {
  return callTensor('aten::avg_pool2d', '', [input, kernelSize, stride ?? kernelSize, padding, ceilMode, countIncludePad, null]);
}
export function adaptiveAvgPool2d(input: Tensor, outputSize: IntPair): Tensor {
  return callTensor('aten::adaptive_avg_pool2d', '', [input, outputSize]);
}
export function adaptiveMaxPool2d(input: Tensor, outputSize: IntPair): Tensor {
  const [values, indices] = callOp('aten::adaptive_max_pool2d', '', [input, outputSize]) as [Tensor, Tensor];
  indices.dispose();
  return values;
}
export const relu = (a: Tensor): Tensor => callTensor('aten::relu', '', [a]);
export const relu6 = (a: Tensor): Tensor => callTensor('aten::hardtanh', '', [a, 0, 6]);
export const sigmoid = (a: Tensor): Tensor => callTensor('aten::sigmoid', '', [a]);
export const tanh = (a: Tensor): Tensor => callTensor('aten::tanh', '', [a]);
export const silu = (a: Tensor): Tensor => callTensor('aten::silu', '', [a]);
export const hardswish = (a: Tensor): Tensor => callTensor('aten::hardswish', '', [a]);
export const hardsigmoid = (a: Tensor): Tensor => callTensor('aten::hardsigmoid', '', [a]);
export function gelu(a: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return callTensor('aten::gelu', '', [a], { approximate });
}
export function leakyRelu(a: Tensor, negativeSlope = 0.01): Tensor {
  return callTensor('aten::leaky_relu', '', [a, { float: negativeSlope }]);
}
export function softmax(a: Tensor, dim: number): Tensor {
  return callTensor('aten::softmax', 'int', [a, dim]);
}
export function logSoftmax(a: Tensor, dim: number): Tensor {
  return callTensor('aten::log_softmax', 'int', [a, dim]);
}
/**
 * Cross-entropy of logits [N, C] against class indices [N] (int64), with optional label smoothing
 * (Szegedy et al. 2016) and class weights.
 */
export function crossEntropy(logits: Tensor, target: Tensor, options: { weight?: Tensor; reduction?: Reduction; ignoreIndex?: number; labelSmoothing?: number } = {}): Tensor {
  const smoothing = options.labelSmoothing ?? 0;
  if (smoothing < 0 || smoothing > 1) throw new TorchError('HF_TORCH_BAD_OPTION', `label smoothing must be in [0, 1], got ${smoothing}.`);
  return callTensor('aten::cross_entropy_loss', '', [logits, target, options.weight ?? null, reduction(options.reduction ?? 'mean'), options.ignoreIndex ?? -100, smoothing]);
}
export function nllLoss(logProbs: Tensor, target: Tensor, options: { weight?: Tensor; reduction?: Reduction } = {}): Tensor {
  return callTensor('aten::nll_loss_nd', '', [logProbs, target, options.weight ?? null, reduction(options.reduction ?? 'mean'), -100]);
}
export function binaryCrossEntropyWithLogits(logits: Tensor, target: Tensor, options: { posWeight?: Tensor; reduction?: Reduction } = {}): Tensor {
  return callTensor('aten::binary_cross_entropy_with_logits', '', [logits, target, null, options.posWeight ?? null, reduction(options.reduction ?? 'mean')]);
}
export function mseLoss(a: Tensor, b: Tensor, red: Reduction = 'mean'): Tensor {
  return callTensor('aten::mse_loss', '', [a, b, reduction(red)]);
}

/** Resizes [N, C, H, W] to `size` (bilinear or nearest), as F.interpolate. */
export function interpolate(input: Tensor, size: readonly [number, number], mode: 'bilinear' | 'nearest' = 'bilinear', alignCorners = false): Tensor {
  if (mode === 'nearest') return callTensor('aten::upsample_nearest2d', 'vec', [input, size, null]);
  return callTensor('aten::upsample_bilinear2d', 'vec', [input, size, alignCorners, null]);
}
/** Sampling grid [N, H, W, 2] for affine matrices theta [N, 2, 3], as F.affine_grid. */
export function affineGrid(theta: Tensor, size: readonly [number, number, number, number], alignCorners = false): Tensor {
  return callTensor('aten::affine_grid_generator', '', [theta, size, alignCorners]);
}
const GRID_MODE = { bilinear: 0, nearest: 1, bicubic: 2 } as const;
const GRID_PADDING = { zeros: 0, border: 1, reflection: 2 } as const;
/** Samples input at grid positions in [-1, 1], as F.grid_sample. */
export function gridSample(
  input: Tensor,
  grid: Tensor,
  mode: keyof typeof GRID_MODE = 'bilinear',
  paddingMode: keyof typeof GRID_PADDING = 'zeros',
  alignCorners = false,
): Tensor {
  return callTensor('aten::grid_sampler', '', [input, grid, GRID_MODE[mode], GRID_PADDING[paddingMode], alignCorners]);
}
