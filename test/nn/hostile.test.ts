// Hostile weight files: pickles that call os.system or builtins.eval, zip bombs, zip-slip names, overlapping
// entries, safetensors headers with overlapping or out-of-range offsets and huge declared shapes. Each is refused
// with a coded HipfracError before any code runs and before memory is spent on what the file only claims.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadPth, loadSafetensors } from '../../src/nn/index.js';
import { HipfracError } from '../../src/util/index.js';
import { needs, PYTHON } from '../helpers/references.js';

const dir = mkdtempSync(join(tmpdir(), 'hipfrac-hostile-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

// Python's own pickle, zipfile and torch.save make the hostile files (nothing here is written by hipfrac).
const GENERATE = String.raw`
import sys, os, io, struct, zipfile, pickle, builtins, torch
d = sys.argv[1]
marker = os.path.join(d, 'PWNED')
class System:
    def __reduce__(self):
        return (os.system, ('touch ' + marker,))
class Eval:
    def __reduce__(self):
        return (builtins.eval, ("__import__('os').system('touch " + marker + "')",))
torch.save({'w': torch.ones(2), 'x': Eval()}, os.path.join(d, 'eval.pth'))
torch.save({'w': torch.ones(2), 'x': Eval()}, os.path.join(d, 'eval-legacy.pth'), _use_new_zipfile_serialization=False)
torch.save({'w': torch.ones(2), 'x': System()}, os.path.join(d, 'system.pth'))
with open(os.path.join(d, 'raw-eval.pkl'), 'wb') as f:
    pickle.dump(Eval(), f, protocol=2)
# a 1-element storage declared as 2**40 elements through a zero stride
torch.save({'huge': torch.zeros(1).expand(2**40)}, os.path.join(d, 'huge-shape.pth'))
good = os.path.join(d, 'good.pth')
torch.save({'w': torch.arange(6.0).reshape(2, 3)}, good)
names = zipfile.ZipFile(good).namelist()
prefix = names[0].split('/')[0]
def copy_with(path, extra):
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, 'w') as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename))
        extra(dst)
# zip-slip: an entry that would land outside any folder it were extracted to
copy_with(os.path.join(d, 'slip.pth'), lambda z: z.writestr('../../../../tmp/hipfrac-evil', b'x'))
copy_with(os.path.join(d, 'slip-abs.pth'), lambda z: z.writestr('/etc/hipfrac-evil', b'x'))
# a zip bomb: data.pkl replaced by 64 MB of zeros deflated to ~64 KB
with zipfile.ZipFile(good) as src, zipfile.ZipFile(os.path.join(d, 'bomb.pth'), 'w') as dst:
    for info in src.infolist():
        if info.filename.endswith('data.pkl'):
            dst.writestr(zipfile.ZipInfo(info.filename), b'\0' * (64 << 20), compress_type=zipfile.ZIP_DEFLATED)
        else:
            dst.writestr(info, src.read(info.filename))
# a lying bomb: declares 1 KB, inflates to 64 MB
raw = open(os.path.join(d, 'bomb.pth'), 'rb').read()
b = bytearray(raw)
end = raw.rfind(b'PK\x05\x06')
cd = struct.unpack_from('<I', raw, end + 16)[0]
at = cd
while raw[at:at+4] == b'PK\x01\x02':
    n, e, c = struct.unpack_from('<HHH', raw, at + 28)
    name = raw[at+46:at+46+n].decode()
    if name.endswith('data.pkl'):
        struct.pack_into('<I', b, at + 24, 1024)
    at += 46 + n + e + c
open(os.path.join(d, 'bomb-lying.pth'), 'wb').write(bytes(b))
# overlapping entries: the second central-directory entry points at the first entry's local header
raw = open(good, 'rb').read()
b = bytearray(raw)
end = raw.rfind(b'PK\x05\x06')
at = struct.unpack_from('<I', raw, end + 16)[0]
offsets = []
while raw[at:at+4] == b'PK\x01\x02':
    n, e, c = struct.unpack_from('<HHH', raw, at + 28)
    offsets.append(at)
    at += 46 + n + e + c
struct.pack_into('<I', b, offsets[1] + 42, struct.unpack_from('<I', raw, offsets[0] + 42)[0])
open(os.path.join(d, 'overlap.pth'), 'wb').write(bytes(b))
`;

function refusal(run: () => unknown, code: string | RegExp): HipfracError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof HipfracError, `expected a HipfracError, got ${String(caught)}`);
  if (typeof code === 'string') assert.equal(caught.code, code, caught.message);
  else assert.match(caught.code, code, caught.message);
  return caught;
}

/** Runs `fn` and returns how many bytes of ArrayBuffers it left allocated at its peak, sampled after. */
function externalGrowth(fn: () => void): number {
  const before = process.memoryUsage().arrayBuffers;
  fn();
  return process.memoryUsage().arrayBuffers - before;
}

describe('hostile .pth files', needs('torch'), () => {
  execFileSync(PYTHON, ['-c', GENERATE, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  const marker = join(dir, 'PWNED');
  const path = (name: string): string => join(dir, name);

  it('pickles calling builtins.eval or os.system are refused by name, and nothing runs', () => {
    for (const name of ['eval.pth', 'eval-legacy.pth']) {
      const error = refusal(() => loadPth(path(name)), 'HF_IO_PTH_UNSAFE_GLOBAL');
      assert.match(error.message, /(__builtin__|builtins)\.eval/); // protocol 2 names the module __builtin__
    }
    assert.match(refusal(() => loadPth(path('system.pth')), 'HF_IO_PTH_UNSAFE_GLOBAL').message, /(posix|os)\.system/);
    // a bare pickle (no torch container) is not a weight file at all
    refusal(() => loadPth(path('raw-eval.pkl')), /^HF_IO_/);
    assert.equal(existsSync(marker), false, 'the payload ran');
  });

  it('a tensor declaring 2^40 elements over a 1-element storage is refused without allocating', () => {
    let error: HipfracError | undefined;
    const grown = externalGrowth(() => (error = refusal(() => loadPth(path('huge-shape.pth')), 'HF_IO_PTH')));
    assert.match(error?.message ?? '', /1099511627776 elements/);
    assert.ok(grown < 64 << 20, `${grown} bytes allocated`);
  });

  it('zip-slip entry names (.. segments, absolute paths) are refused', () => {
    for (const name of ['slip.pth', 'slip-abs.pth']) assert.match(refusal(() => loadPth(path(name)), 'HF_IO_ZIP_NAME').message, /zip-slip/);
  });

  it('a zip bomb is refused before inflating; one that lies about its size stops at the size it declared', () => {
    let grown = externalGrowth(() => refusal(() => loadPth(path('bomb.pth')), 'HF_IO_ZIP_BOMB'));
    assert.ok(grown < 16 << 20, `${grown} bytes allocated`);
    grown = externalGrowth(() => refusal(() => loadPth(path('bomb-lying.pth')), 'HF_IO_ZIP'));
    assert.ok(grown < 16 << 20, `${grown} bytes allocated`);
  });

  it('entries whose data overlap are refused', () => {
    refusal(() => loadPth(path('overlap.pth')), 'HF_IO_ZIP_OVERLAP');
  });

  it('the unmodified file the hostile ones were made from loads (the refusals above are not blanket failures)', () => {
    const tensors = loadPth(path('good.pth'));
    assert.deepEqual([...tensors.keys()], ['w']);
    assert.deepEqual(tensors.get('w')?.shape, [2, 3]);
  });
});

/** A safetensors file from a header object and a data section. */
function safetensors(name: string, header: unknown, data: Uint8Array): string {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const file = join(dir, name);
  writeFileSync(file, Buffer.concat([length, json, data]));
  return file;
}

describe('hostile safetensors files', () => {
  const data = new Uint8Array(64);
  const cases: [string, unknown, Uint8Array][] = [
    ['overlapping offsets', { a: { dtype: 'F32', shape: [8], data_offsets: [0, 32] }, b: { dtype: 'F32', shape: [8], data_offsets: [16, 48] } }, data],
    ['offsets past the end', { a: { dtype: 'F32', shape: [16], data_offsets: [0, 64] }, b: { dtype: 'F32', shape: [4], data_offsets: [64, 80] } }, data],
    ['offsets past 2^53', { a: { dtype: 'F32', shape: [16], data_offsets: [0, 2 ** 60] } }, data],
    ['huge declared shape', { a: { dtype: 'F32', shape: [2 ** 31, 2 ** 31], data_offsets: [0, 64] } }, data],
    ['shape overflowing to Infinity', { a: { dtype: 'F64', shape: [1e200, 1e200], data_offsets: [0, 64] } }, data],
    ['negative dimension', { a: { dtype: 'F32', shape: [-16], data_offsets: [0, 64] } }, data],
    ['offsets backwards', { a: { dtype: 'F32', shape: [0], data_offsets: [64, 0] } }, data],
  ];
  for (const [label, header, bytes] of cases) {
    it(`${label}: refused with a coded error, nothing allocated for the claim`, () => {
      const file = safetensors(`${label.replace(/\W+/g, '-')}.safetensors`, header, bytes);
      const grown = externalGrowth(() => refusal(() => loadSafetensors(file), /^HF_IO_SAFETENSORS_|^HF_IO_TRUNCATED$/));
      assert.ok(grown < 16 << 20, `${grown} bytes allocated`);
    });
  }

  it('a header length of 2^63 is refused before reading it', () => {
    const file = join(dir, 'long-header.safetensors');
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(2n ** 63n);
    writeFileSync(file, Buffer.concat([length, Buffer.from('{}')]));
    refusal(() => loadSafetensors(file), /^HF_IO_SAFETENSORS_|^HF_IO_TRUNCATED$/);
  });
});

describe('weight-file fuzzing (100 seeded cases)', needs('torch'), () => {
  it('damaged .pth and safetensors files are read or refused with a coded error, each within 2 s, none crashes', async () => {
    const { fuzzWeights } = await import('../../bench/fuzz-weights.js');
    const summary = await fuzzWeights(100, 20260612, 2);
    assert.equal(summary.cases, 100);
    assert.deepEqual(summary.failures.map((f) => `case ${f.index} (${f.label}, ${f.mutation}): ${f.outcome} ${f.message ?? ''}`), []);
    assert.ok(Object.keys(summary.codes).every((code) => code.startsWith('HF_IO_')), JSON.stringify(summary.codes));
    assert.ok(summary.rejected > 50, `${summary.rejected} refused`);
  });
});
