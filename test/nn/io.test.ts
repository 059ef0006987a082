// Weight-file proof: .pth files written by PyTorch itself (zip, legacy, protocol 4, deflate, zip64,
// checkpoints) load with every tensor byte-equal; safetensors round-trips; damaged or hostile files fail cleanly.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadPth, loadSafetensors, readPth, readSafetensors, saveSafetensors, tensorToBytes } from '../../src/nn/index.js';
import { arange, manualSeed, randn, slice, tensor, tidy, type DType, type Tensor } from '../../src/torch/index.js';
import { HipfracError } from '../../src/util/index.js';
import { needs, PYTHON } from '../helpers/references.js';

// The .pth files come from the reference PyTorch (test/helpers/references.ts); safetensors needs none.
const TORCH = needs('torch', 'torchvision');
const dir = mkdtempSync(join(tmpdir(), 'hipfrac-io-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

// PyTorch writes the files and, independently of any hipfrac code, each tensor's raw bytes.
const GENERATE = String.raw`
import sys, os, json, zipfile, collections, torch, torchvision
d = sys.argv[1]
torch.manual_seed(7)
sd = torchvision.models.resnet18().state_dict()
base = torch.randn(10)
extra = collections.OrderedDict([
  ('extra.noncontig', torch.randn(3, 4).t()),
  ('extra.shared_a', base[:6]),
  ('extra.shared_b', base[4:]),
  ('extra.half', torch.randn(2, 3).half()),
  ('extra.bf16', torch.randn(5).bfloat16()),
  ('extra.bool', torch.randn(7) > 0),
  ('extra.int8', torch.randint(-100, 100, (4,), dtype=torch.int8)),
  ('extra.uint8', torch.randint(0, 255, (4,), dtype=torch.uint8)),
  ('extra.int16', torch.randint(-1000, 1000, (3,), dtype=torch.int16)),
  ('extra.int32', torch.randint(-10**6, 10**6, (3,), dtype=torch.int32)),
  ('extra.int64', torch.tensor([-(2**40), 2**40 + 1])),
  ('extra.double', torch.randn(2, 2, dtype=torch.float64)),
  ('extra.scalar', torch.tensor(3.5)),
  ('extra.empty', torch.zeros(0, 3)),
  ('extra.param', torch.nn.Parameter(torch.randn(2))),
])
sd.update(extra)
torch.save(sd, os.path.join(d, 'model.pth'))
torch.save(sd, os.path.join(d, 'model_legacy.pth'), _use_new_zipfile_serialization=False)
torch.save(extra, os.path.join(d, 'proto4.pth'), pickle_protocol=4)
torch.save({'epoch': 3, 'state_dict': extra, 'note': 'x'}, os.path.join(d, 'checkpoint.pth'))
torch.save({'model': extra, 'step': 10}, os.path.join(d, 'checkpoint_legacy.pth'), _use_new_zipfile_serialization=False)
torch.save({'epoch': 3, 'weights': extra}, os.path.join(d, 'checkpoint_other_key.pth'))
# A legacy pickle longer than the 4 MiB hipfrac reads first: the reader must read on.
torch.save({'model': extra, 'notes': 'x' * (5 << 20)}, os.path.join(d, 'checkpoint_big_legacy.pth'), _use_new_zipfile_serialization=False)
torch.save(torch.nn.Linear(2, 2), os.path.join(d, 'whole_module.pth'))
class Evil:
  def __reduce__(self):
    return (os.system, ('touch ' + os.path.join(d, 'PWNED'),))
torch.save({'w': torch.zeros(2), 'x': Evil()}, os.path.join(d, 'evil.pth'))
torch.save({'w': torch.zeros(2), 'x': Evil()}, os.path.join(d, 'evil_legacy.pth'), _use_new_zipfile_serialization=False)
# The same archive repacked deflated, and repacked with zip64 records (CPython's limit lowered so they appear).
src = zipfile.ZipFile(os.path.join(d, 'proto4.pth'))
with zipfile.ZipFile(os.path.join(d, 'deflated.pth'), 'w', zipfile.ZIP_DEFLATED) as z:
  for i in src.infolist(): z.writestr(i.filename, src.read(i.filename))
zipfile.ZIP64_LIMIT = 16
zipfile.ZIP_FILECOUNT_LIMIT = 2
with zipfile.ZipFile(os.path.join(d, 'zip64.pth'), 'w', zipfile.ZIP_STORED) as z:
  for i in src.infolist(): z.writestr(i.filename, src.read(i.filename))
with zipfile.ZipFile(os.path.join(d, 'no_data_pkl.pth'), 'w') as z:
  z.writestr('archive/other.txt', 'hello')
index = {}
with open(os.path.join(d, 'ref.bin'), 'wb') as f:
  for k, v in sd.items():
    t = v.detach().contiguous().reshape(-1)
    raw = t.view(torch.uint8).numpy().tobytes() if t.numel() > 0 else b''
    index[k] = {'dtype': str(v.dtype).replace('torch.', ''), 'shape': list(v.shape), 'offset': f.tell(), 'nbytes': len(raw)}
    f.write(raw)
json.dump(index, open(os.path.join(d, 'ref.json'), 'w'))
`;
if (TORCH.skip === false) execFileSync(PYTHON, ['-c', GENERATE, dir], { stdio: ['ignore', 'ignore', 'inherit'] });

interface RefEntry {
  dtype: DType;
  shape: number[];
  offset: number;
  nbytes: number;
}
const reference = (TORCH.skip === false ? JSON.parse(readFileSync(join(dir, 'ref.json'), 'utf8')) : {}) as Record<string, RefEntry>;
const referenceBytes = TORCH.skip === false ? readFileSync(join(dir, 'ref.bin')) : Buffer.alloc(0);
const EXTRA_KEYS = Object.keys(reference).filter((k) => k.startsWith('extra.'));

function assertMatchesReference(tensors: Map<string, Tensor>, keys: readonly string[]): void {
  assert.deepEqual([...tensors.keys()].sort(), [...keys].sort());
  for (const key of keys) {
    const ref = reference[key] as RefEntry;
    const t = tensors.get(key) as Tensor;
    assert.equal(t.dtype, ref.dtype, `${key} dtype`);
    assert.deepEqual(t.shape, ref.shape, `${key} shape`);
    const expected = referenceBytes.subarray(ref.offset, ref.offset + ref.nbytes);
    assert.ok(Buffer.from(tensorToBytes(t)).equals(expected), `${key}: bytes differ from PyTorch's`);
  }
}

function disposeAll(tensors: Map<string, Tensor>): void {
  for (const t of tensors.values()) t.dispose();
}

/** Asserts `fn` throws a HipfracError with `code` whose message names `file` (and `mention`, if given). */
function assertHipfracError(fn: () => unknown, code: string | RegExp, file: string, mention?: string | RegExp): HipfracError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof HipfracError, `expected a HipfracError, got ${String(caught)}`);
  if (typeof code === 'string') assert.equal(caught.code, code, caught.message);
  else assert.match(caught.code, code, caught.message);
  assert.ok(caught.message.includes(file), `message names the file: ${caught.message}`);
  if (mention !== undefined) assert.match(caught.message, typeof mention === 'string' ? new RegExp(mention.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : mention);
  return caught;
}

describe('loadPth reads torch.save files', TORCH, () => {
  it('zip format: every resnet18 tensor and the extras (dtypes, shared storage, non-contiguous) equal PyTorch bytes', () => {
    const { tensors, format, stateDictKey } = readPth(join(dir, 'model.pth'));
    assert.equal(format, 'zip');
    assert.equal(stateDictKey, null);
    assert.equal(tensors.get('layer1.0.bn1.num_batches_tracked')?.dtype, 'int64');
    assertMatchesReference(tensors, Object.keys(reference));
    disposeAll(tensors);
  });

  it('legacy (non-zip) format: every tensor equals PyTorch bytes', () => {
    const { tensors, format } = readPth(join(dir, 'model_legacy.pth'));
    assert.equal(format, 'legacy');
    assertMatchesReference(tensors, Object.keys(reference));
    disposeAll(tensors);
  });

  it('tensors that shared a storage come back as independent tensors', () => {
    const tensors = loadPth(join(dir, 'proto4.pth'));
    const a = tensors.get('extra.shared_a') as Tensor;
    const b = tensors.get('extra.shared_b') as Tensor;
    const before = b.toArray();
    a.fill_(0);
    assert.deepEqual(b.toArray(), before);
    disposeAll(tensors);
  });

  for (const name of ['proto4.pth', 'deflated.pth', 'zip64.pth']) {
    it(`${name} (pickle protocol 4 / deflated entries / zip64 records) loads equal`, () => {
      const tensors = loadPth(join(dir, name));
      assertMatchesReference(tensors, EXTRA_KEYS);
      disposeAll(tensors);
    });
  }

  it("unwraps checkpoints holding the state_dict under 'state_dict' or 'model'", () => {
    const zip = readPth(join(dir, 'checkpoint.pth'));
    assert.equal(zip.stateDictKey, 'state_dict');
    assertMatchesReference(zip.tensors, EXTRA_KEYS);
    disposeAll(zip.tensors);
    const legacy = readPth(join(dir, 'checkpoint_legacy.pth'));
    assert.equal(legacy.stateDictKey, 'model');
    assertMatchesReference(legacy.tensors, EXTRA_KEYS);
    disposeAll(legacy.tensors);
  });

  it('a legacy checkpoint whose pickle is longer than the first read (5 MiB of notes) loads', () => {
    const tensors = loadPth(join(dir, 'checkpoint_big_legacy.pth'));
    assertMatchesReference(tensors, EXTRA_KEYS);
    disposeAll(tensors);
  });

  it('a checkpoint with the weights under another key names its keys, and options.key selects it', () => {
    const file = join(dir, 'checkpoint_other_key.pth');
    assertHipfracError(() => loadPth(file), 'HF_IO_PTH_NO_STATE_DICT', file, /weights: dict/);
    const tensors = loadPth(file, { key: 'weights' });
    assertMatchesReference(tensors, EXTRA_KEYS);
    disposeAll(tensors);
  });
});

describe('loadPth refuses hostile and damaged files with a HipfracError', TORCH, () => {
  it('a pickle calling os.system is refused before anything runs (zip and legacy)', () => {
    for (const name of ['evil.pth', 'evil_legacy.pth']) {
      const file = join(dir, name);
      const error = assertHipfracError(() => loadPth(file), 'HF_IO_PTH_UNSAFE_GLOBAL', file, /'(posix|os)\.system'/);
      assert.match(error.fix ?? '', /state_dict/);
    }
    assert.equal(existsSync(join(dir, 'PWNED')), false);
  });

  it('a whole pickled nn.Module is refused, naming its class', () => {
    const file = join(dir, 'whole_module.pth');
    assertHipfracError(() => loadPth(file), 'HF_IO_PTH_UNSAFE_GLOBAL', file, 'torch.nn.modules.linear.Linear');
  });

  it('a zip without data.pkl, random bytes, text, an empty file, a missing file', () => {
    assertHipfracError(() => loadPth(join(dir, 'no_data_pkl.pth')), 'HF_IO_PTH', join(dir, 'no_data_pkl.pth'), 'data.pkl');
    const random = join(dir, 'random.pth');
    manualSeed(3);
    writeFileSync(random, Buffer.from(tidy(() => randn([4096]).dataSync()).buffer));
    assertHipfracError(() => loadPth(random), 'HF_IO_NOT_PTH', random);
    const text = join(dir, 'text.pth');
    writeFileSync(text, 'this is not a weight file\n');
    assertHipfracError(() => loadPth(text), 'HF_IO_NOT_PTH', text);
    const empty = join(dir, 'empty.pth');
    writeFileSync(empty, '');
    assertHipfracError(() => loadPth(empty), 'HF_IO_NOT_PTH', empty);
    assertHipfracError(() => loadPth(join(dir, 'absent.pth')), 'HF_IO_READ', join(dir, 'absent.pth'));
  });

  it('truncated files (zip and legacy) at many cut points: always a HipfracError naming the file', () => {
    for (const name of ['proto4.pth', 'checkpoint_legacy.pth']) {
      const whole = readFileSync(join(dir, name));
      const cut = join(dir, `cut-${name}`);
      // Every 97th byte, plus cuts right at the start and just before the end.
      const points = [1, 2, 3, whole.length - 1];
      for (let at = 5; at < whole.length; at += 97) points.push(at);
      for (const at of points) {
        writeFileSync(cut, whole.subarray(0, at));
        assertHipfracError(() => loadPth(cut), /^HF_IO_/, cut);
      }
    }
  });

  it('randomly corrupted bytes (pickle, zip records, legacy storages): loads or a HipfracError, never a crash', () => {
    let state = 20240607;
    const random = (): number => {
      // xorshift32: deterministic, so a failure names a reproducible mutation.
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) / 4294967296;
    };
    const mutated = join(dir, 'mutated.pth');
    for (const name of ['proto4.pth', 'checkpoint_legacy.pth']) {
      const whole = readFileSync(join(dir, name));
      for (let i = 0; i < 150; i++) {
        const bytes = Buffer.from(whole);
        for (let k = 0; k < 1 + Math.floor(random() * 4); k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
        writeFileSync(mutated, bytes);
        try {
          disposeAll(loadPth(mutated));
        } catch (error) {
          assert.ok(error instanceof HipfracError, `${name} mutation ${i}: ${String(error)}`);
        }
      }
    }
  });
});

describe('safetensors', () => {
  function sampleTensors(): Map<string, Tensor> {
    manualSeed(11);
    const m = new Map<string, Tensor>();
    m.set('f32', randn([3, 4]));
    m.set('f32.transposed', randn([4, 3]).transpose(0, 1));
    m.set('f64', randn([2], { dtype: 'float64' }));
    m.set('f16', randn([5]).to('float16'));
    m.set('bf16', randn([2, 2]).to('bfloat16'));
    m.set('i64', tensor(new BigInt64Array([-(2n ** 40n), 7n, 2n ** 50n])));
    m.set('i32', tensor(new Int32Array([1, -2, 3])));
    m.set('i16', tensor(new Int16Array([-300, 300])));
    m.set('i8', tensor(new Int8Array([-5, 5, 0])));
    m.set('u8', tensor(new Uint8Array([0, 255, 17])));
    m.set('bool', tensor(new Uint8Array([1, 0, 1])).to('bool'));
    m.set('scalar', tensor(new Float32Array([2.5]), []));
    m.set('empty', arange(0).to('float32').reshape([0, 3]));
    m.set('slice', slice(arange(10, undefined, 1, { dtype: 'float32' }), 0, 2, 8, 2));
    return m;
  }

  it('round-trips every dtype, scalars, empty and non-contiguous tensors, and metadata', () => {
    const file = join(dir, 'round.safetensors');
    const original = sampleTensors();
    saveSafetensors(file, original, { format: 'pt', note: 'hé' });
    const { tensors, metadata } = readSafetensors(file);
    assert.deepEqual(metadata, { format: 'pt', note: 'hé' });
    assert.deepEqual([...tensors.keys()].sort(), [...original.keys()].sort());
    for (const [name, t] of original) {
      const back = tensors.get(name) as Tensor;
      assert.equal(back.dtype, t.dtype, name);
      assert.deepEqual(back.shape, t.shape, name);
      assert.ok(Buffer.from(tensorToBytes(back)).equals(Buffer.from(tensorToBytes(t))), `${name} bytes`);
    }
    disposeAll(tensors);
    disposeAll(original);
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('.tmp')), [], 'no temporary file left behind');
  });

  it('writes the layout the format specifies: 8-aligned header, offsets tiling the data', () => {
    const file = join(dir, 'layout.safetensors');
    const original = sampleTensors();
    saveSafetensors(file, original);
    disposeAll(original);
    const bytes = readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal((8 + n) % 8, 0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    assert.equal(header['__metadata__'], undefined);
    assert.deepEqual(header['f16'], { dtype: 'F16', shape: [5], data_offsets: header['f16']?.data_offsets });
    const ranges = Object.values(header).map((e) => e.data_offsets).sort((a, b) => a[0] - b[0]);
    let cursor = 0;
    for (const [begin, end] of ranges) {
      assert.equal(begin, cursor);
      cursor = end;
    }
    assert.equal(cursor, bytes.length - 8 - n);
    // Larger elements first keeps every tensor aligned to its element size.
    for (const e of Object.values(header)) {
      const size = { F64: 8, I64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, I16: 2 }[e.dtype] ?? 1;
      assert.equal(e.data_offsets[0] % size, 0, `${e.dtype} aligned`);
    }
  });

  it('replaces an existing file atomically and leaves nothing when the folder is missing', () => {
    const file = join(dir, 'replace.safetensors');
    const a = new Map([['w', tensor([1, 2, 3])]]);
    const b = new Map([['v', tensor([4, 5])]]);
    saveSafetensors(file, a);
    saveSafetensors(file, b);
    const back = loadSafetensors(file);
    assert.deepEqual([...back.keys()], ['v']);
    assert.deepEqual(back.get('v')?.toArray(), [4, 5]);
    disposeAll(back);
    const missing = join(dir, 'no-such-folder', 'x.safetensors');
    assertHipfracError(() => saveSafetensors(missing, a), 'HF_IO_WRITE', missing);
    disposeAll(a);
    disposeAll(b);
  });

  /** A file with `header` as JSON text, then `data`; `length` overrides the 8-byte header length. */
  function craft(name: string, header: string, data: Uint8Array, length?: bigint): string {
    const json = Buffer.from(header, 'utf8');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(length ?? BigInt(json.length));
    const file = join(dir, name);
    writeFileSync(file, Buffer.concat([prefix, json, data]));
    return file;
  }
  const sixteen = new Uint8Array(16);

  it('a valid hand-made file loads (so the lying variants below fail for their lie alone)', () => {
    const file = craft('valid.safetensors', JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'I32', shape: [2], data_offsets: [8, 16] } }), sixteen);
    const tensors = loadSafetensors(file);
    assert.deepEqual(tensors.get('b')?.toArray(), [0, 0]);
    disposeAll(tensors);
  });

  const lies: [string, string, Uint8Array, bigint | undefined, string | RegExp][] = [
    ['offsets beyond EOF', JSON.stringify({ a: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }), sixteen, undefined, /beyond.*tensor 'a'/s],
    ['wrong byte count', JSON.stringify({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }), sixteen, undefined, /needs 12 bytes.*tensor 'a'/s],
    ['bad JSON', '{"a": {"dtype": "F32", ', sixteen, undefined, /not JSON/],
    ['a JSON array', '[1, 2]', sixteen, undefined, /not a JSON object/],
    [
      'overlapping tensors',
      JSON.stringify({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }),
      sixteen,
      undefined,
      /overlap.*tensor 'b'/s,
    ],
    ['a gap', JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }), sixteen, undefined, /gap.*tensor 'a'/s],
    ['bytes nothing covers', JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }), sixteen, undefined, /cover 8 data bytes but the file holds 16/],
    ['unknown dtype', JSON.stringify({ a: { dtype: 'F8', shape: [16], data_offsets: [0, 16] } }), sixteen, undefined, /unknown dtype "F8".*tensor 'a'/s],
    ['negative shape', JSON.stringify({ a: { dtype: 'U8', shape: [-16], data_offsets: [0, 16] } }), sixteen, undefined, /shape \[-16\].*tensor 'a'/s],
    ['backward offsets', JSON.stringify({ a: { dtype: 'U8', shape: [0], data_offsets: [16, 0] } }), sixteen, undefined, /backwards/],
    ['header length past EOF', JSON.stringify({}), sixteen, 1000n, /header length 1000 exceeds/],
    ['a 2^63 header length', JSON.stringify({}), sixteen, 2n ** 63n, /header length/],
    ['non-string metadata', JSON.stringify({ __metadata__: { epoch: 3 } }), new Uint8Array(0), undefined, /__metadata__ value 'epoch'/],
  ];
  for (const [what, header, data, length, message] of lies) {
    it(`a lying header is refused: ${what}`, () => {
      const file = craft(`lie-${what.replace(/\W+/g, '_')}.safetensors`, header, data, length);
      assertHipfracError(() => loadSafetensors(file), 'HF_IO_SAFETENSORS_HEADER', file, message);
    });
  }

  it('a file shorter than the length prefix is refused', () => {
    const file = join(dir, 'tiny.safetensors');
    writeFileSync(file, Buffer.from([1, 2, 3]));
    assertHipfracError(() => loadSafetensors(file), 'HF_IO_SAFETENSORS_HEADER', file, /fewer than the 8-byte/);
  });
});
