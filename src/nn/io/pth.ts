// PyTorch `.pth` reader: torch.save's zip format and its legacy (pre-1.6) format, through our own
// zip and pickle readers, with an allow-list of globals so a weight file can never run code.
import { asStrided, callTensor, tidy, type Tensor } from '../../torch/index.js';
import { HipfracError } from '../../util/index.js';
import { describe, unpickle } from './pickle.js';
import { ELEMENT_SIZE, tensorFromBytes } from './tensorBytes.js';
import { corrupt, findGlobal, pyStr, Storage, storageFromId, TensorRef } from './torchPickle.js';
import { withFileReader, type FileReader } from './fileReader.js';
import { looksLikeZip, readZipDirectory, readZipEntry } from './zip.js';
import { NnError } from '../errors.js';

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
// The two container formats

interface Unpickled {
  readonly root: unknown;
  readonly format: 'zip' | 'legacy';
}

function readZipPth(reader: FileReader): Unpickled {
  const file = reader.file;
  const entries = readZipDirectory(reader);
  const pickles = [...entries.keys()].filter((name) => name === 'data.pkl' || name.endsWith('/data.pkl')).sort((a, b) => a.split('/').length - b.split('/').length);
  const pickleName = pickles[0];
  if (pickleName === undefined) {
    throw new NnError('HF_IO_PTH', 'the zip archive holds no data.pkl, so it is not a torch.save file.', {
      input: file,
      fix: 'pass a file written by torch.save(model.state_dict(), path).',
    });
  }
  const prefix = pickleName.slice(0, pickleName.length - 'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder !== undefined && new TextDecoder().decode(readZipEntry(reader, byteorder)).trim() !== 'little') {
    throw new NnError('HF_IO_PTH_BYTEORDER', 'the file was saved on a big-endian machine; hipfrac reads little-endian files only.', { input: file, fix: 're-save it on a little-endian machine.' });
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
    if (at + 8 > reader.size) throw new NnError('HF_IO_TRUNCATED', `the file ends before storage '${key}'.`, { input: file, fix: 'the file is truncated; download or copy it again.' });
    const numel = Number(reader.read(at, 8).readBigInt64LE(0));
    if (numel !== storage.numel) throw corrupt(file, `storage '${key}' holds ${numel} elements but its tensors expect ${storage.numel}`);
    const nbytes = numel * ELEMENT_SIZE[storage.dtype];
    const start = at + 8;
    if (start + nbytes > reader.size) {
      throw new NnError('HF_IO_TRUNCATED', `storage '${key}' needs ${nbytes} bytes but only ${reader.size - start} remain.`, { input: file, fix: 'the file is truncated; download or copy it again.' });
    }
    storage.load = () => reader.readShared(start, nbytes);
    at = start + nbytes;
  }
  return { root: head.root, format: 'legacy' };
}

/** The five pickles at the start of a legacy file: magic, protocol, sys_info, the object, storage keys. */
function readLegacyHead(file: string, bytes: Uint8Array): LegacyHead {
  const notPth = (cause?: unknown): HipfracError =>
    new NnError('HF_IO_NOT_PTH', 'the file is neither a zip archive nor a legacy torch.save file (no PyTorch magic number).', {
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
    throw new NnError('HF_IO_PTH_BYTEORDER', 'the file was saved on a big-endian machine; hipfrac reads little-endian files only.', { input: file, fix: 're-save it on a little-endian machine.' });
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
    if (!isStateDict(inner)) throw new NnError('HF_IO_PTH_NO_STATE_DICT', `the file has no state_dict under key '${key}'.`, { input: file, fix: 'check the key, or leave it out to search the usual ones.' });
    return { dict: inner, key };
  }
  if (isStateDict(root)) return { dict: root, key: null };
  if (root instanceof Map) {
    for (const candidate of STATE_DICT_KEYS) {
      const inner = root.get(candidate);
      if (isStateDict(inner)) return { dict: inner, key: candidate };
    }
    const summary = [...root].slice(0, 12).map(([k, v]) => `${String(k)}: ${describe(v)}`).join(', ');
    throw new NnError('HF_IO_PTH_NO_STATE_DICT', `the file holds a dict that is not a state_dict and has none under ${STATE_DICT_KEYS.map((k) => `'${k}'`).join(', ')} (it holds ${summary}).`, {
      input: file,
      fix: 'pass the key holding the weights (options.key), or re-save with torch.save(model.state_dict(), path).',
    });
  }
  throw new NnError('HF_IO_PTH_NO_STATE_DICT', `the file holds a ${describe(root)}, not a state_dict.`, { input: file, fix: 're-save with torch.save(model.state_dict(), path).' });
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
