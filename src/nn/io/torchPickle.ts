// What a PyTorch weight pickle may build, and nothing else: the allow-list of globals, storages and
// tensor references (turned into tensors later, once the storage bytes are at hand).
import type { DType } from '../../torch/index.js';
import { HipfracError } from '../../util/index.js';
import { describe, PyCallable, type PyDict } from './pickle.js';
import { ELEMENT_SIZE } from './tensorBytes.js';
import { NnError } from '../errors.js';

const STORAGE_DTYPE: Readonly<Record<string, DType>> = {
  DoubleStorage: 'float64',
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};

/** torch.float32 and friends, as pickled by torch.dtype's __reduce__. */
const TORCH_DTYPES: ReadonlySet<string> = new Set([
  'float64', 'double', 'float32', 'float', 'float16', 'half', 'bfloat16', 'int64', 'long', 'int32', 'int', 'int16', 'short', 'int8', 'uint8', 'bool',
]);

class StorageType {
  constructor(
    readonly qualifiedName: string,
    readonly dtype: DType,
  ) {}
}

export class Storage {
  /** Reads the storage's bytes (possibly into a shared scratch buffer: copy them at once). */
  load: (() => Uint8Array) | null = null;
  constructor(
    readonly key: string,
    readonly dtype: DType,
    /** Elements. */
    readonly numel: number,
    /** For a legacy storage view: the root storage and the element offset into it. */
    readonly root: Storage | null = null,
    readonly rootOffset = 0,
  ) {}
  data(file: string): Uint8Array {
    const nbytes = this.numel * ELEMENT_SIZE[this.dtype];
    const bytes = this.root === null ? (this.load === null ? null : this.load()) : this.root.data(file).subarray(this.rootOffset * ELEMENT_SIZE[this.dtype], this.rootOffset * ELEMENT_SIZE[this.dtype] + nbytes);
    if (bytes === null || bytes.length < nbytes) {
      throw new NnError('HF_IO_TRUNCATED', `storage '${this.key}' needs ${nbytes} bytes but the file holds ${bytes?.length ?? 0}.`, {
        input: file,
        fix: 'the file is truncated or damaged; download or copy it again.',
      });
    }
    return bytes.length === nbytes ? bytes : bytes.subarray(0, nbytes);
  }
  /** The storage whose bytes this one's live in (itself unless a legacy view). */
  get base(): Storage {
    return this.root === null ? this : this.root.base;
  }
}

export class TensorRef {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get isWholeContiguous(): boolean {
    if (this.offset !== 0 || this.numel !== this.storage.numel || this.storage.root !== null) return false;
    let expected = 1;
    for (let d = this.shape.length - 1; d >= 0; d--) {
      if ((this.shape[d] as number) !== 1 && this.stride[d] !== expected) return false;
      expected *= this.shape[d] as number;
    }
    return true;
  }
}

export function pyStr(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value); // Python 2 pickles hold bytes
  return null;
}

function isCountList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
}

export function corrupt(file: string, what: string): HipfracError {
  return new NnError('HF_IO_PTH', `the .pth file is not a valid PyTorch weight file: ${what}.`, {
    input: file,
    fix: 're-save the weights with torch.save(model.state_dict(), path).',
  });
}

function refuse(file: string, qualifiedName: string): HipfracError {
  return new HipfracError(
    'HF_IO_PTH_UNSAFE_GLOBAL',
    `the .pth file asks for the Python global '${qualifiedName}', which is not on hipfrac's allow-list; hipfrac never runs code from a weight file.`,
    {
      input: file,
      fix: 'save only the weights: torch.save(model.state_dict(), path) (a whole pickled model, optimizer objects or custom classes are refused).',
    },
  );
}

function rebuildTensor(file: string, args: readonly unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof Storage)) throw corrupt(file, `a tensor is rebuilt from a ${describe(storage)}, not a storage`);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0 || !isCountList(size) || !isCountList(stride) || size.length !== stride.length) {
    throw corrupt(file, `a tensor has invalid offset/size/stride (${JSON.stringify([offset, size, stride])})`);
  }
  const ref = new TensorRef(storage, offset, size, stride);
  // A shape may not claim more elements than its storage holds (stride-0 shapes would otherwise ask for any amount
  // of memory from a few bytes of file): memory stays bounded by the file.
  if (!Number.isSafeInteger(ref.numel) || ref.numel > storage.numel) {
    throw corrupt(file, `a tensor of shape [${size.join(', ')}] declares ${ref.numel} elements, more than its ${storage.numel}-element storage`);
  }
  if (ref.numel > 0) {
    const last = offset + size.reduce((sum, n, d) => sum + (n - 1) * (stride[d] as number), 0);
    if (last >= storage.numel) throw corrupt(file, `a tensor of shape [${size.join(', ')}] reaches element ${last} of a ${storage.numel}-element storage`);
  }
  return ref;
}

/** The allow-list: every global a state_dict pickle needs, nothing that can run code. */
export function findGlobal(file: string, module: string, name: string): unknown {
  const qualified = `${module}.${name}`;
  const call = (fn: (args: readonly unknown[]) => unknown): PyCallable => new PyCallable(qualified, fn);
  switch (qualified) {
    case 'collections.OrderedDict':
      return call((args) => {
        const dict: PyDict = new Map();
        // OrderedDict() or, from old writers, OrderedDict([[key, value], ...]).
        const items = args[0];
        if (Array.isArray(items)) for (const pair of items) if (Array.isArray(pair) && pair.length === 2) dict.set(pair[0], pair[1]);
        return dict;
      });
    case 'torch._utils._rebuild_tensor_v2':
    case 'torch._utils._rebuild_tensor':
      return call((args) => rebuildTensor(file, args));
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      return call((args) => args[0]);
    case 'torch._tensor._rebuild_from_type_v2':
      // (func, type, args, state): only plain tensors and parameters, never another class.
      return call((args) => {
        const [fn, type, fnArgs] = args;
        if (!(fn instanceof PyCallable) || !(type instanceof PyCallable) || !['torch.Tensor', 'torch._tensor.Tensor', 'torch.nn.parameter.Parameter'].includes(type.qualifiedName)) {
          throw corrupt(file, '_rebuild_from_type_v2 with an unexpected type');
        }
        return fn.call(Array.isArray(fnArgs) ? fnArgs : []);
      });
    case 'torch.Tensor':
    case 'torch._tensor.Tensor':
    case 'torch.nn.parameter.Parameter':
      return call(() => {
        throw refuse(file, qualified);
      });
    case 'torch.Size':
      return call((args) => (Array.isArray(args[0]) ? [...(args[0] as unknown[])] : []));
    case '_codecs.encode':
      // Protocol 2 pickles bytes as _codecs.encode(text, 'latin1'): pure data, no code.
      return call((args) => {
        const [text, encoding] = args;
        if (typeof text !== 'string') throw corrupt(file, '_codecs.encode of a non-string');
        return encoding === 'latin1' || encoding === 'latin-1' ? Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff) : new TextEncoder().encode(text);
      });
    default:
      break;
  }
  if ((module === 'torch' || module === 'torch.storage') && STORAGE_DTYPE[name] !== undefined) return new StorageType(qualified, STORAGE_DTYPE[name] as DType);
  if (module === 'torch' && TORCH_DTYPES.has(name)) return qualified;
  throw refuse(file, qualified);
}

/** Resolves a persistent id ('storage', type, key, location, numel[, view_metadata]) to one Storage per key. */
export function storageFromId(file: string, pid: unknown, storages: Map<string, Storage>, legacy: boolean): Storage {
  if (!Array.isArray(pid) || pyStr(pid[0]) !== 'storage') throw corrupt(file, `unexpected persistent id ${describe(pid)}`);
  const [, type, rawKey, , numel, viewMetadata] = pid as unknown[];
  const key = pyStr(rawKey);
  if (!(type instanceof StorageType) || key === null || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
    throw corrupt(file, 'a storage reference is malformed');
  }
  let storage = storages.get(key);
  if (storage === undefined) {
    storage = new Storage(key, type.dtype, numel);
    storages.set(key, storage);
  }
  if (legacy && Array.isArray(viewMetadata)) {
    // (view_key, offset, size): a slice of the root storage, from writers older than PyTorch 1.0.
    const [viewKeyRaw, offset, size] = viewMetadata as unknown[];
    const viewKey = pyStr(viewKeyRaw);
    if (viewKey === null || typeof offset !== 'number' || typeof size !== 'number' || offset < 0 || size < 0 || offset + size > storage.numel) {
      throw corrupt(file, `storage view ${JSON.stringify(viewMetadata)} does not fit its storage`);
    }
    let viewStorage = storages.get(`view:${viewKey}`);
    if (viewStorage === undefined) {
      viewStorage = new Storage(viewKey, type.dtype, size, storage, offset);
      storages.set(`view:${viewKey}`, viewStorage);
    }
    return viewStorage;
  }
  return storage;
}
