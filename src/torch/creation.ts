// Tensor factories: from JS data (always copied in) and the usual zeros/ones/rand/arange family.
import { native } from './native.js';
import { callTensor, Tensor, type DType, type Device, type Scalar, type TypedArray } from './tensor.js';
import { HipfracError } from '../util/index.js';
import { TorchError } from './errors.js';

export interface FactoryOptions {
  readonly dtype?: DType;
  readonly device?: Device;
  readonly requiresGrad?: boolean;
}

function kw(options: FactoryOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (options.dtype !== undefined) out['dtype'] = options.dtype;
  if (options.device !== undefined) out['device'] = options.device;
  return out;
}

function finish(t: Tensor, options: FactoryOptions): Tensor {
  if (options.requiresGrad === true) t.requiresGrad_(true);
  return t;
}

function dtypeOfArray(data: TypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof BigInt64Array) return 'int64';
  return 'uint8';
}

// `leafDepth` holds the depth of the first number seen: a number at another depth (e.g. [[1, 2], 3]) is
// as ragged as rows of different lengths.
function flattenNested(data: unknown, shape: number[], out: number[], depth: number, leafDepth: { value: number } = { value: -1 }): void {
  if (Array.isArray(data)) {
    if (leafDepth.value !== -1 && depth >= leafDepth.value) throw raggedError(depth);
    if (shape.length <= depth) shape.push(data.length);
    else if (shape[depth] !== data.length) throw raggedError(depth);
    for (const d of data) flattenNested(d, shape, out, depth + 1, leafDepth);
  } else if (typeof data === 'number' || typeof data === 'boolean') {
    if (leafDepth.value === -1) leafDepth.value = depth;
    else if (leafDepth.value !== depth) throw raggedError(Math.min(depth, leafDepth.value));
    out.push(Number(data));
  } else {
    throw new TorchError('HF_TORCH_BAD_DATA', `tensor(): cannot make a tensor from ${typeof data}.`, { fix: 'pass numbers, nested arrays of numbers, or a typed array.' });
  }
}

function raggedError(depth: number): HipfracError {
  return new TorchError('HF_TORCH_RAGGED', `tensor(): nested arrays are ragged at dimension ${depth} (rows of different lengths, or a number where a row was expected).`, {
    input: `dimension ${depth}`,
    fix: 'give every row the same length and nesting depth.',
  });
}

/**
 * Creates a tensor from a typed array (with a shape) or nested number arrays; data is copied.
 * Nested arrays default to float32; typed arrays keep their element type unless `dtype` is given.
 */
export function tensor(data: TypedArray | readonly unknown[] | number, shapeOrOptions?: readonly number[] | FactoryOptions, maybeOptions: FactoryOptions = {}): Tensor {
  const shapeArg = Array.isArray(shapeOrOptions) ? (shapeOrOptions as readonly number[]) : undefined;
  const options = Array.isArray(shapeOrOptions) ? maybeOptions : ((shapeOrOptions as FactoryOptions | undefined) ?? {});
  let typed: TypedArray;
  let shape: number[];
  if (ArrayBuffer.isView(data)) {
    typed = data as TypedArray;
    shape = shapeArg !== undefined ? [...shapeArg] : [typed.length];
  } else {
    const flat: number[] = [];
    const inferred: number[] = [];
    flattenNested(data, inferred, flat, 0);
    const dtype = options.dtype ?? 'float32';
    typed = dtype === 'int64' ? BigInt64Array.from(flat, (v) => BigInt(Math.trunc(v))) : dtype === 'float64' ? Float64Array.from(flat) : Float32Array.from(flat);
    shape = shapeArg !== undefined ? [...shapeArg] : inferred;
  }
  const expected = shape.reduce((a, b) => a * b, 1);
  if (expected !== typed.length) {
    throw new TorchError('HF_TORCH_SHAPE_MISMATCH', `tensor(): shape [${shape.join(', ')}] needs ${expected} elements but the data has ${typed.length}.`, {
      fix: 'pass a shape whose product equals the data length.',
    });
  }
  const sourceDtype = dtypeOfArray(typed);
  let t = Tensor.fromHandle(native().fromBuffer(typed, shape, sourceDtype));
  if (options.dtype !== undefined && options.dtype !== sourceDtype) {
    const converted = t.to(options.dtype);
    t.dispose();
    t = converted;
  }
  if (options.device !== undefined && options.device !== 'cpu') {
    const moved = t.to(options.device);
    t.dispose();
    t = moved;
  }
  return finish(t, options);
}

/** A 0-dimensional tensor holding one number. */
export function scalarTensor(value: number, options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::scalar_tensor', '', [value], { dtype: options.dtype ?? 'float32', ...(options.device === undefined ? {} : { device: options.device }) }), options);
}

export function zeros(shape: readonly number[], options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::zeros', '', [shape], kw(options)), options);
}
export function ones(shape: readonly number[], options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::ones', '', [shape], kw(options)), options);
}
export function full(shape: readonly number[], value: Scalar, options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::full', '', [shape, value], { dtype: options.dtype ?? 'float32', ...(options.device === undefined ? {} : { device: options.device }) }), options);
}
export function empty(shape: readonly number[], options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::empty', 'memory_format', [shape], kw(options)), options);
}
/** Uniform [0, 1). */
export function rand(shape: readonly number[], options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::rand', '', [shape], kw(options)), options);
}
/** Standard normal. */
export function randn(shape: readonly number[], options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::randn', '', [shape], kw(options)), options);
}
/** Integers in [low, high). */
export function randint(low: number, high: number, shape: readonly number[], options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::randint', 'low', [low, high, shape], kw(options)), options);
}
export function randperm(n: number, options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::randperm', '', [n], kw(options)), options);
}
export function arange(start: number, end?: number, step = 1, options: FactoryOptions = {}): Tensor {
  const [s, e] = end === undefined ? [0, start] : [start, end];
  return finish(callTensor('aten::arange', 'start_step', [s, e, step], kw(options)), options);
}
export function linspace(start: number, end: number, steps: number, options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::linspace', '', [{ float: start }, { float: end }, steps], kw(options)), options);
}
export function eye(n: number, options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::eye', '', [n], kw(options)), options);
}
export function zerosLike(t: Tensor, options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::zeros_like', '', [t], kw(options)), options);
}
export function onesLike(t: Tensor, options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::ones_like', '', [t], kw(options)), options);
}
export function fullLike(t: Tensor, value: Scalar, options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::full_like', '', [t, value], kw(options)), options);
}
export function randLike(t: Tensor, options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::rand_like', '', [t], kw(options)), options);
}
export function randnLike(t: Tensor, options: FactoryOptions = {}): Tensor {
  return finish(callTensor('aten::randn_like', '', [t], kw(options)), options);
}
