// The Tensor class, the generic operator call and the memory scopes (`tidy`, `keep`).
// Native tensors are invisible to V8's GC: scopes and dispose() free them; a finalizer is only the net.
import { native, type NativeHandle, type NativeOp } from './native.js';
import { HipfracError } from '../util/index.js';
import { TorchError } from './errors.js';

export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';
/** 'cpu', 'cuda', 'cuda:0', … */
export type Device = string;
export type TypedArray = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array;

/** A float Scalar even when the value is integral (in JS 2.0 === 2, and the op would see an int). */
export interface FloatScalar {
  readonly float: number;
}
export type Scalar = number | boolean | FloatScalar;
export function float(value: number): FloatScalar {
  return { float: value };
}

// ------------------------------------------------------------------------------------------------
// Scopes

interface Scope {
  readonly tracked: Set<Tensor>;
}
const scopes: Scope[] = [];

function track(tensor: Tensor): void {
  const top = scopes[scopes.length - 1];
  if (top !== undefined) top.tracked.add(tensor);
}

function collectTensors(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 6 || value === null || value === undefined) return;
  if (value instanceof Tensor) {
    out.add(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, out, depth + 1);
  } else if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as Record<string, unknown>)) collectTensors(v, out, depth + 1);
  }
}

/**
 * Runs `fn` in a memory scope: every tensor created inside and not returned (in a Tensor, array,
 * Map or plain object) nor `keep()`-ed is disposed when it ends. Returned tensors move to the outer scope.
 * @example const loss = tidy(() => crossEntropy(model.call(x), y));
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = { tracked: new Set() };
  pushScope(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    popScope();
    for (const t of scope.tracked) t.dispose();
    throw error;
  }
  popScope();
  if (result instanceof Promise) {
    throw new TorchError('HF_TORCH_TIDY_ASYNC', 'tidy() got an async function; scopes must be synchronous.', {
      fix: 'await outside tidy() and call tidy() on the synchronous part.',
    });
  }
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  for (const t of scope.tracked) if (!survivors.has(t)) t.dispose();
  for (const t of survivors) {
    if (!scope.tracked.has(t)) continue;
    if (scopes.length > 0) track(t);
    else native().reportExternal(t._h);
  }
  return result;
}

/** Exempts a tensor from every enclosing scope (e.g. a parameter or a running buffer). */
export function keep<T extends Tensor>(tensor: T): T {
  for (const scope of scopes) scope.tracked.delete(tensor);
  if (scopes.length > 0) native().reportExternal(tensor._h);
  return tensor;
}

// Tensors made inside a scope are not reported to V8 as external memory until they outlive it: the
// scope frees them, and reporting every activation made V8 run a full GC per 64 MB allocated.
function pushScope(scope: Scope): void {
  if (scopes.length === 0) native().setDeferReport(true);
  scopes.push(scope);
}

function popScope(): void {
  scopes.pop();
  if (scopes.length === 0) native().setDeferReport(false);
}

/** Disposes every tensor found in `value` (tensor, array, Map, plain object). */
export function dispose(value: unknown): void {
  const found = new Set<Tensor>();
  collectTensors(value, found);
  for (const t of found) t.dispose();
}

// ------------------------------------------------------------------------------------------------
// Operator calls

const opCache = new Map<string, NativeOp>();

function resolveOp(name: string, overload: string): NativeOp {
  const key = `${name}.${overload}`;
  let op = opCache.get(key);
  if (op === undefined) {
    try {
      op = native().op(name, overload);
    } catch (error) {
      throw new TorchError('HF_TORCH_UNKNOWN_OP', (error as Error).message, {
        input: `${name}${overload === '' ? '' : `.${overload}`}`,
        fix: 'check the operator name and overload against `native_functions.yaml` of your LibTorch version.',
      });
    }
    opCache.set(key, op);
  }
  return op;
}

/** The schema text of an ATen operator, e.g. for error messages and docs. */
export function opSchema(name: string, overload = ''): string {
  return native().opSchema(resolveOp(name, overload));
}

function wrapResult(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(wrapResult);
  return Tensor.fromHandle(value as NativeHandle);
}

/**
 * Calls an ATen operator by name through the dispatcher (autograd included). Arguments follow the
 * schema (`opSchema(name, overload)`); tensors may be passed directly. Returns a Tensor, a value, or
 * an array for several outputs.
 */
export function callOp(name: string, overload: string, args: readonly unknown[], kwargs?: Readonly<Record<string, unknown>>): unknown {
  const op = resolveOp(name, overload);
  let raw: unknown;
  try {
    raw = native().call(op, args, kwargs ?? null);
  } catch (error) {
    // Keep the addon's code (bad argument, disposed tensor); anything LibTorch itself rejected is OP_FAILED.
    const code = (error as { code?: unknown }).code;
    throw new HipfracError(typeof code === 'string' && code.startsWith('HF_') ? code : 'HF_TORCH_OP_FAILED', (error as Error).message, {
      input: `${name}${overload === '' ? '' : `.${overload}`}`,
      cause: error,
    });
  }
  return wrapResult(raw);
}

/** callOp for operators returning one tensor. */
export function callTensor(name: string, overload: string, args: readonly unknown[], kwargs?: Readonly<Record<string, unknown>>): Tensor {
  return callOp(name, overload, args, kwargs) as Tensor;
}

/** callOp for in-place operators: the alias the op returns is released and `self` returned. */
export function callInplace<T extends Tensor>(self: T, name: string, overload: string, args: readonly unknown[], kwargs?: Readonly<Record<string, unknown>>): T {
  const alias = callOp(name, overload, [self, ...args], kwargs) as Tensor;
  alias.dispose();
  return self;
}

// ------------------------------------------------------------------------------------------------
// Tensor

const ARRAY_TYPE: Record<DType, string> = {
  float32: 'Float32Array',
  float64: 'Float64Array',
  float16: 'Float32Array',
  bfloat16: 'Float32Array',
  int64: 'BigInt64Array',
  int32: 'Int32Array',
  int16: 'Int16Array',
  int8: 'Int8Array',
  uint8: 'Uint8Array',
  bool: 'Uint8Array',
};

export class Tensor {
  /** The native handle; read by the addon as `_h`. */
  readonly _h: NativeHandle;

  private constructor(handle: NativeHandle) {
    this._h = handle;
  }

  /** Wraps a native handle and registers it with the current scope. */
  static fromHandle(handle: NativeHandle): Tensor {
    const t = new Tensor(handle);
    track(t);
    return t;
  }

  get shape(): number[] {
    return native().shape(this._h);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get dtype(): DType {
    return native().dtype(this._h) as DType;
  }
  get device(): Device {
    return native().device(this._h);
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  size(dim: number): number {
    const s = this.shape;
    const d = dim < 0 ? s.length + dim : dim;
    if (d < 0 || d >= s.length) throw new RangeError(`size(${dim}): tensor has ${s.length} dimensions`);
    return s[d] as number;
  }

  get isDisposed(): boolean {
    return native().isDisposed(this._h);
  }
  /** Frees the native memory now. Using the tensor afterwards is an error. */
  dispose(): void {
    native().dispose(this._h);
  }

  // --- autograd ---
  get requiresGrad(): boolean {
    return native().requiresGrad(this._h);
  }
  requiresGrad_(value = true): this {
    native().setRequiresGrad(this._h, value);
    return this;
  }
  get isLeaf(): boolean {
    return native().isLeaf(this._h);
  }
  get gradFn(): string | null {
    return native().gradFn(this._h);
  }
  /** The accumulated gradient (a new wrapper each read; null when none). */
  get grad(): Tensor | null {
    const h = native().grad(this._h);
    return h === null ? null : Tensor.fromHandle(h);
  }
  set grad(value: Tensor | null) {
    native().setGrad(this._h, value === null ? null : value._h);
  }
  backward(gradient?: Tensor, options: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    native().backward([this._h], gradient === undefined ? null : [gradient._h], options.retainGraph ?? false, options.createGraph ?? false);
  }
  detach(): Tensor {
    return callTensor('aten::detach', '', [this]);
  }

  // --- data out ---
  /** A copy of the data as a typed array (float16/bfloat16 come out as Float32Array, bool as Uint8Array). */
  dataSync(): TypedArray {
    const dtype = this.dtype;
    if (dtype === 'float16' || dtype === 'bfloat16') {
      const f = this.to('float32');
      try {
        return f.dataSync();
      } finally {
        f.dispose();
      }
    }
    const buffer = native().toBuffer(this._h);
    switch (ARRAY_TYPE[dtype]) {
      case 'Float32Array': return new Float32Array(buffer);
      case 'Float64Array': return new Float64Array(buffer);
      case 'BigInt64Array': return new BigInt64Array(buffer);
      case 'Int32Array': return new Int32Array(buffer);
      case 'Int16Array': return new Int16Array(buffer);
      case 'Int8Array': return new Int8Array(buffer);
      default: return new Uint8Array(buffer);
    }
  }
  /** The data as float32 (converting when needed). */
  toFloat32Array(): Float32Array {
    if (this.dtype === 'float32') return this.dataSync() as Float32Array;
    const f = this.to('float32');
    try {
      return f.dataSync() as Float32Array;
    } finally {
      f.dispose();
    }
  }
  /** The data as a plain number array (int64 converted with Number()). */
  toArray(): number[] {
    const data = this.dataSync();
    return Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
  }
  /** The single value of a one-element tensor. */
  item(): number {
    return native().item(this._h);
  }

  // --- conversion and movement ---
  /** Converts dtype or moves device ('float32', 'cuda', 'cpu', …). */
  to(target: DType | Device, options: { nonBlocking?: boolean; copy?: boolean } = {}): Tensor {
    if (isDType(target)) return callTensor('aten::to', 'dtype', [this, target, options.nonBlocking ?? false, options.copy ?? false]);
    return callTensor('aten::to', 'device', [this, target, this.dtype, options.nonBlocking ?? false, options.copy ?? false]);
  }
  cpu(): Tensor {
    return this.to('cpu');
  }
  cuda(index = 0): Tensor {
    return this.to(`cuda:${index}`);
  }
  clone(): Tensor {
    return callTensor('aten::clone', '', [this]);
  }
  contiguous(memoryFormat: 'contiguous_format' | 'channels_last' = 'contiguous_format'): Tensor {
    return callTensor('aten::contiguous', '', [this], { memory_format: memoryFormat });
  }

  // --- common methods (the full set is in ops.ts) ---
  add(other: Tensor | Scalar, alpha: Scalar = 1): Tensor {
    return other instanceof Tensor ? callTensor('aten::add', 'Tensor', [this, other, alpha]) : callTensor('aten::add', 'Scalar', [this, other, alpha]);
  }
  sub(other: Tensor | Scalar, alpha: Scalar = 1): Tensor {
    return other instanceof Tensor ? callTensor('aten::sub', 'Tensor', [this, other, alpha]) : callTensor('aten::sub', 'Scalar', [this, other, alpha]);
  }
  mul(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? callTensor('aten::mul', 'Tensor', [this, other]) : callTensor('aten::mul', 'Scalar', [this, other]);
  }
  div(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? callTensor('aten::div', 'Tensor', [this, other]) : callTensor('aten::div', 'Scalar', [this, other]);
  }
  neg(): Tensor {
    return callTensor('aten::neg', '', [this]);
  }
  matmul(other: Tensor): Tensor {
    return callTensor('aten::matmul', '', [this, other]);
  }
  reshape(shape: readonly number[]): Tensor {
    return callTensor('aten::reshape', '', [this, shape]);
  }
  view(shape: readonly number[]): Tensor {
    return callTensor('aten::view', '', [this, shape]);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return callTensor('aten::flatten', 'using_ints', [this, startDim, endDim]);
  }
  permute(dims: readonly number[]): Tensor {
    return callTensor('aten::permute', '', [this, dims]);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return callTensor('aten::transpose', 'int', [this, dim0, dim1]);
  }
  squeeze(dim?: number): Tensor {
    return dim === undefined ? callTensor('aten::squeeze', '', [this]) : callTensor('aten::squeeze', 'dim', [this, dim]);
  }
  unsqueeze(dim: number): Tensor {
    return callTensor('aten::unsqueeze', '', [this, dim]);
  }
  sum(dim?: number | readonly number[], keepdim = false): Tensor {
    return dim === undefined ? callTensor('aten::sum', '', [this]) : callTensor('aten::sum', 'dim_IntList', [this, typeof dim === 'number' ? [dim] : dim, keepdim]);
  }
  mean(dim?: number | readonly number[], keepdim = false): Tensor {
    return dim === undefined ? callTensor('aten::mean', '', [this]) : callTensor('aten::mean', 'dim', [this, typeof dim === 'number' ? [dim] : dim, keepdim]);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return callTensor('aten::argmax', '', [this, dim ?? null, keepdim]);
  }

  // --- in-place (return this) ---
  add_(other: Tensor | Scalar, alpha: Scalar = 1): this {
    return other instanceof Tensor ? callInplace(this, 'aten::add_', 'Tensor', [other, alpha]) : callInplace(this, 'aten::add_', 'Scalar', [other, alpha]);
  }
  mul_(other: Tensor | Scalar): this {
    return other instanceof Tensor ? callInplace(this, 'aten::mul_', 'Tensor', [other]) : callInplace(this, 'aten::mul_', 'Scalar', [other]);
  }
  div_(other: Tensor | Scalar): this {
    return other instanceof Tensor ? callInplace(this, 'aten::div_', 'Tensor', [other]) : callInplace(this, 'aten::div_', 'Scalar', [other]);
  }
  addcmul_(t1: Tensor, t2: Tensor, value: Scalar = 1): this {
    return callInplace(this, 'aten::addcmul_', '', [t1, t2], { value });
  }
  addcdiv_(t1: Tensor, t2: Tensor, value: Scalar = 1): this {
    return callInplace(this, 'aten::addcdiv_', '', [t1, t2], { value });
  }
  copy_(source: Tensor): this {
    return callInplace(this, 'aten::copy_', '', [source]);
  }
  zero_(): this {
    return callInplace(this, 'aten::zero_', '', []);
  }
  fill_(value: Scalar): this {
    return callInplace(this, 'aten::fill_', 'Scalar', [value]);
  }
  clamp_(min: Scalar | null, max: Scalar | null): this {
    return callInplace(this, 'aten::clamp_', '', [min, max]);
  }
  uniform_(from: number, to: number): this {
    return callInplace(this, 'aten::uniform_', '', [from, to]);
  }
  normal_(mean: number, std: number): this {
    return callInplace(this, 'aten::normal_', '', [mean, std]);
  }

  toString(): string {
    if (this.isDisposed) return 'Tensor(disposed)';
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

const DTYPES: ReadonlySet<string> = new Set(Object.keys(ARRAY_TYPE));
export function isDType(value: string): value is DType {
  return DTYPES.has(value);
}
