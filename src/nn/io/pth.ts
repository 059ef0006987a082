// PyTorch `.pth` reader: torch.save's zip format and its legacy (pre-1.6) format, through our own
// zip and pickle readers, with an allow-list of globals so a weight file can never run code.
import { asStrided, callTensor, tidy, type DType, type Tensor } from '../../torch/index.js';
import { HipfracError } from '../../util/index.js';
import { describe, PyCallable, unpickle, type PyDict } from './pickle.js';
import { ELEMENT_SIZE, tensorFromBytes } from './tensorBytes.js';
import { withFileReader, type FileReader } from './fileReader.js';
import { looksLikeZip, readZipDirectory, readZipEntry } from './zip.js';

/** Keys under which training checkpoints commonly wrap the model's state_dict, tried in this order. */
export const STATE_DICT_KEYS: readonly string[] = ['state_dict', 'model', 'model_state_dict'];

export interface PthContent {
  readonly tensors: Map<string, Tensor>;
  readonly format: 'zip' | 'legacy';
  /** The checkpoint key the state_dict was found under, or null when the file is the state_dict itself. */
  readonly stateDictKey: string | null;
}

export interface PthOptions {
  /** Take the state_dict from this top-level key instead of looking for one. */
  readonly key?: string;
}

// ------------------------------------------------------------------------------------------------
// What the pickle may build: storage types, storages, tensor references (materialised at the end,
// since the legacy format stores the bytes after the pickle).

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

class Storage {
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
      throw new HipfracError('HF_IO_TRUNCATED', `storage '${this.key}' needs ${nbytes} bytes but the file holds ${bytes?.length ?? 0}.`, {
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

class TensorRef {
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

function pyStr(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value); // Python 2 pickles hold bytes
  return null;
}

function isCountList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
}

function corrupt(file: string, what: string): HipfracError {
  return new HipfracError('HF_IO_PTH', `the .pth file is not a valid PyTorch weight file: ${what}.`, {
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
  if (ref.numel > 0) {
    const last = offset + size.reduce((sum, n, d) => sum + (n - 1) * (stride[d] as number), 0);
    if (last >= storage.numel) throw corrupt(file, `a tensor of shape [${size.join(', ')}] reaches element ${last} of a ${storage.numel}-element storage`);
  }
  return ref;
}

/** The allow-list: every global a state_dict pickle needs, nothing that can run code. */
function findGlobal(file: string, module: string, name: string): unknown {
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

// ------------------------------------------------------------------------------------------------
// The two container formats

interface Unpickled {
  readonly root: unknown;
  readonly format: 'zip' | 'legacy';
}

function storageFromId(file: string, pid: unknown, storages: Map<string, Storage>, legacy: boolean): Storage {
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

function readZipPth(reader: FileReader): Unpickled {
  const file = reader.file;
  const entries = readZipDirectory(reader);
  const pickles = [...entries.keys()].filter((name) => name === 'data.pkl' || name.endsWith('/data.pkl')).sort((a, b) => a.split('/').length - b.split('/').length);
  const pickleName = pickles[0];
  if (pickleName === undefined) {
    throw new HipfracError('HF_IO_PTH', 'the zip archive holds no data.pkl, so it is not a torch.save file.', {
      input: file,
      fix: 'pass a file written by torch.save(model.state_dict(), path).',
    });
  }
  const prefix = pickleName.slice(0, pickleName.length - 'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder !== undefined && new TextDecoder().decode(readZipEntry(reader, byteorder)).trim() !== 'little') {
    throw new HipfracError('HF_IO_PTH_BYTEORDER', 'the file was saved on a big-endian machine; hipfrac reads little-endian files only.', { input: file, fix: 're-save it on a little-endian machine.' });
  }
  const storages = new Map<string, Storage>();
  const { value } = unpickle(readZipEntry(reader, entries.get(pickleName) as NonNullable<ReturnType<typeof entries.get>>), 0, {
    source: file,
    findGlobal: (module, name) => findGlobal(file, module, name),
    persistentLoad: (pid) => storageFromId(file, pid, storages, false),
  });
  for (const storage of storages.values()) {
    const entry = entries.get(`${prefix}data/${storage.key}`);
    if (entry === undefined) throw corrupt(file, `storage '${storage.key}' has no entry ${prefix}data/${storage.key}`);
    storage.load = () => readZipEntry(reader, entry, true);
  }
  return { root: value, format: 'zip' };
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** The legacy pickles are small and come first; read this much, more only if they run past it. */
const LEGACY_HEAD_BYTES = 1 << 22;

interface LegacyHead {
  readonly root: unknown;
  readonly storages: Map<string, Storage>;
  readonly keys: unknown[];
  /** Where the storages' bytes begin. */
  readonly end: number;
}

function readLegacyPth(reader: FileReader): Unpickled {
  const file = reader.file;
  let head: LegacyHead | undefined;
  for (let headLength = Math.min(reader.size, LEGACY_HEAD_BYTES); head === undefined; headLength = Math.min(reader.size, headLength * 8)) {
    try {
      head = readLegacyHead(file, reader.read(0, headLength));
    } catch (error) {
      if (!(error instanceof HipfracError) || error.code !== 'HF_IO_TRUNCATED' || headLength === reader.size) throw error;
    }
  }
  // Then, per key: the element count (int64) and the raw bytes, read when the tensors are built.
  let at = head.end;
  for (const rawKey of head.keys) {
    const key = pyStr(rawKey);
    const storage = key === null ? undefined : head.storages.get(key);
    if (storage === undefined) throw corrupt(file, `the storage key list names '${String(rawKey)}', which no tensor uses`);
    if (at + 8 > reader.size) throw new HipfracError('HF_IO_TRUNCATED', `the file ends before storage '${key}'.`, { input: file, fix: 'the file is truncated; download or copy it again.' });
    const numel = Number(reader.read(at, 8).readBigInt64LE(0));
    if (numel !== storage.numel) throw corrupt(file, `storage '${key}' holds ${numel} elements but its tensors expect ${storage.numel}`);
    const nbytes = numel * ELEMENT_SIZE[storage.dtype];
    const start = at + 8;
    if (start + nbytes > reader.size) {
      throw new HipfracError('HF_IO_TRUNCATED', `storage '${key}' needs ${nbytes} bytes but only ${reader.size - start} remain.`, { input: file, fix: 'the file is truncated; download or copy it again.' });
    }
    storage.load = () => reader.readShared(start, nbytes);
    at = start + nbytes;
  }
  return { root: head.root, format: 'legacy' };
}

/** The five pickles at the start of a legacy file: magic, protocol, sys_info, the object, storage keys. */
function readLegacyHead(file: string, bytes: Uint8Array): LegacyHead {
  const notPth = (cause?: unknown): HipfracError =>
    new HipfracError('HF_IO_NOT_PTH', 'the file is neither a zip archive nor a legacy torch.save file (no PyTorch magic number).', {
      input: file,
      fix: 'pass a .pth/.pt file written by torch.save (or a .safetensors file to loadSafetensors).',
      cause,
    });
  // A legacy file starts with a pickled magic number: PROTO, then LONG1.
  if (bytes.length < 2 || bytes[0] !== 0x80) throw notPth();
  const plain = { source: file, findGlobal: (module: string, name: string) => findGlobal(file, module, name) };
  let magic: ReturnType<typeof unpickle>;
  try {
    magic = unpickle(bytes, 0, plain);
  } catch (error) {
    throw notPth(error);
  }
  if (magic.value !== LEGACY_MAGIC) throw notPth();
  const protocol = unpickle(bytes, magic.end, plain);
  if (protocol.value !== LEGACY_PROTOCOL) throw corrupt(file, `legacy protocol version ${String(protocol.value)} is not ${LEGACY_PROTOCOL}`);
  const sysInfo = unpickle(bytes, protocol.end, plain);
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) {
    throw new HipfracError('HF_IO_PTH_BYTEORDER', 'the file was saved on a big-endian machine; hipfrac reads little-endian files only.', { input: file, fix: 're-save it on a little-endian machine.' });
  }
  const storages = new Map<string, Storage>();
  const root = unpickle(bytes, sysInfo.end, { ...plain, persistentLoad: (pid) => storageFromId(file, pid, storages, true) });
  const keys = unpickle(bytes, root.end, plain);
  if (!Array.isArray(keys.value)) throw corrupt(file, 'the storage key list is missing');
  return { root: root.value, storages, keys: keys.value as unknown[], end: keys.end };
}

// ------------------------------------------------------------------------------------------------
// From the unpickled object to tensors

function isStateDict(value: unknown): value is Map<string, TensorRef> {
  if (!(value instanceof Map) || value.size === 0) return false;
  for (const [k, v] of value) if (typeof k !== 'string' || !(v instanceof TensorRef)) return false;
  return true;
}

function selectStateDict(root: unknown, file: string, key: string | undefined): { dict: Map<string, TensorRef>; key: string | null } {
  if (key !== undefined) {
    const inner = root instanceof Map ? root.get(key) : undefined;
    if (!isStateDict(inner)) throw new HipfracError('HF_IO_PTH_NO_STATE_DICT', `the file has no state_dict under key '${key}'.`, { input: file, fix: 'check the key, or leave it out to search the usual ones.' });
    return { dict: inner, key };
  }
  if (isStateDict(root)) return { dict: root, key: null };
  if (root instanceof Map) {
    for (const candidate of STATE_DICT_KEYS) {
      const inner = root.get(candidate);
      if (isStateDict(inner)) return { dict: inner, key: candidate };
    }
    const summary = [...root].slice(0, 12).map(([k, v]) => `${String(k)}: ${describe(v)}`).join(', ');
    throw new HipfracError('HF_IO_PTH_NO_STATE_DICT', `the file holds a dict that is not a state_dict and has none under ${STATE_DICT_KEYS.map((k) => `'${k}'`).join(', ')} (it holds ${summary}).`, {
      input: file,
      fix: 'pass the key holding the weights (options.key), or re-save with torch.save(model.state_dict(), path).',
    });
  }
  throw new HipfracError('HF_IO_PTH_NO_STATE_DICT', `the file holds a ${describe(root)}, not a state_dict.`, { input: file, fix: 're-save with torch.save(model.state_dict(), path).' });
}

function materialise(dict: Map<string, TensorRef>, file: string): Map<string, Tensor> {
  const uses = new Map<Storage, number>();
  for (const ref of dict.values()) uses.set(ref.storage.base, (uses.get(ref.storage.base) ?? 0) + 1);
  return tidy(() => {
    const bases = new Map<Storage, Tensor>();
    const out = new Map<string, Tensor>();
    for (const [name, ref] of dict) {
      const storage = ref.storage;
      if (ref.isWholeContiguous && uses.get(storage) === 1) {
        // The common case: one tensor owns its storage; one copy, straight into the tensor.
        out.set(name, tensorFromBytes(storage.data(file), storage.dtype, ref.shape));
        continue;
      }
      // Shared storage or a strided view: copy the storage once, then a contiguous copy of the view.
      let base = bases.get(storage);
      if (base === undefined) {
        base = tensorFromBytes(storage.data(file), storage.dtype, [storage.numel]);
        bases.set(storage, base);
      }
      out.set(name, callTensor('aten::clone', '', [asStrided(base, ref.shape, ref.stride, ref.offset)], { memory_format: 'contiguous_format' }));
    }
    return out;
  });
}

/**
 * Reads a PyTorch weight file: the state_dict itself, or a checkpoint dict holding it under
 * 'state_dict', 'model' or 'model_state_dict' (or `options.key`). Tensors come back on the CPU,
 * contiguous, each with its own memory (tensors that shared a storage in PyTorch are copied apart).
 */
export function readPth(file: string, options: PthOptions = {}): PthContent {
  return withFileReader(file, (reader) => {
    const { root, format } = looksLikeZip(reader) ? readZipPth(reader) : readLegacyPth(reader);
    const { dict, key } = selectStateDict(root, file, options.key);
    return { tensors: materialise(dict, file), format, stateDictKey: key };
  });
}

/** The state_dict of a PyTorch weight file as name → tensor (see readPth). */
export function loadPth(file: string, options: PthOptions = {}): Map<string, Tensor> {
  return readPth(file, options).tensors;
}
