// Runs a Python script (the reference PyTorch; test/helpers/references.ts finds it, HIPFRAC_PYTHON overrides it) from a
// test and exchanges arrays with it through raw little-endian files plus a JSON manifest in a temporary folder.
// Test-time only: the product never needs Python. Tests that call it declare needs('torch', …).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { PYTHON } from './references.js';

export type PyDType = 'float32' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';
export type PyData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** An array going to Python. `dtype` is inferred from the typed array; give 'bool' for a Uint8Array mask. */
export interface PyInput {
  readonly data: PyData;
  readonly shape: readonly number[];
  readonly dtype?: PyDType;
}

/** An array coming back: bool comes back as a Uint8Array with dtype 'bool'. */
export interface PyArray {
  readonly data: PyData;
  readonly shape: number[];
  readonly dtype: PyDType;
}

export interface PythonOutputs {
  /** Every tensor / ndarray the script put into `outputs`. */
  readonly arrays: ReadonlyMap<string, PyArray>;
  /** Every other value the script put into `outputs` (numbers, strings, lists, None → null), as JSON. */
  readonly values: Readonly<Record<string, unknown>>;
  /** What the script printed. */
  readonly stdout: string;
  /** An array by name; throws naming the missing output and what the script did produce. */
  array(name: string): PyArray;
}

export interface RunPythonOptions {
  /** Any JSON value, visible to the script as `params`. */
  readonly params?: unknown;
  readonly timeoutMs?: number;
  /** Extra environment variables for the interpreter (merged over this process's). */
  readonly env?: Readonly<Record<string, string>>;
}

function dtypeOf(input: PyInput): PyDType {
  if (input.dtype !== undefined) return input.dtype;
  const d = input.data;
  if (d instanceof Float32Array) return 'float32';
  if (d instanceof Float64Array) return 'float64';
  if (d instanceof BigInt64Array) return 'int64';
  if (d instanceof Int32Array) return 'int32';
  if (d instanceof Int16Array) return 'int16';
  if (d instanceof Int8Array) return 'int8';
  return 'uint8';
}

function arrayFrom(bytes: Buffer, dtype: PyDType): PyData {
  // Copy into a fresh, aligned ArrayBuffer: a Buffer's offset may not suit 8-byte element types.
  const buffer = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(buffer).set(bytes);
  switch (dtype) {
    case 'float32': return new Float32Array(buffer);
    case 'float64': return new Float64Array(buffer);
    case 'int64': return new BigInt64Array(buffer);
    case 'int32': return new Int32Array(buffer);
    case 'int16': return new Int16Array(buffer);
    case 'int8': return new Int8Array(buffer);
    default: return new Uint8Array(buffer);
  }
}

// The runner: loads the inputs as torch tensors (numpy arrays when torch is missing), runs the
// script in the same globals, then writes `outputs`. Tensors go out as raw little-endian bytes.
const RUNNER = String.raw`
import json, os, sys
import numpy as np
_dir = sys.argv[1]
try:
    import torch
except ImportError:
    torch = None
_NP = {'float32': '<f4', 'float64': '<f8', 'int64': '<i8', 'int32': '<i4', 'int16': '<i2', 'int8': 'i1', 'uint8': 'u1', 'bool': 'u1'}
with open(os.path.join(_dir, 'inputs.json')) as _f:
    _manifest = json.load(_f)
params = _manifest['params']
inputs = {}
for _i, (_name, _m) in enumerate(_manifest['arrays'].items()):
    _a = np.fromfile(os.path.join(_dir, 'in%d.bin' % _i), dtype=_NP[_m['dtype']]).reshape(_m['shape'])
    if _m['dtype'] == 'bool':
        _a = _a.astype(bool)
    inputs[_name] = torch.from_numpy(_a.copy()) if torch is not None else _a
outputs = {}
_script = os.path.join(_dir, 'script.py')
with open(_script) as _f:
    exec(compile(_f.read(), _script, 'exec'), globals())
_arrays, _values = {}, {}
_KIND = {'f4': 'float32', 'f8': 'float64', 'i8': 'int64', 'i4': 'int32', 'i2': 'int16', 'i1': 'int8', 'u1': 'uint8', 'b1': 'bool'}
for _name, _v in outputs.items():
    if torch is not None and isinstance(_v, torch.Tensor):
        _v = _v.detach().cpu().contiguous()
        if _v.dtype in (torch.float16, torch.bfloat16):
            _v = _v.float()
        _v = _v.numpy()
    if isinstance(_v, np.ndarray):
        _kind = _KIND.get(_v.dtype.kind + str(_v.dtype.itemsize))
        if _kind is None:
            raise TypeError('output %r has unsupported dtype %s' % (_name, _v.dtype))
        _file = 'out%d.bin' % len(_arrays)
        np.ascontiguousarray(_v).astype(_NP[_kind] if _kind != 'bool' else 'u1').tofile(os.path.join(_dir, _file))
        _arrays[_name] = {'file': _file, 'dtype': _kind, 'shape': list(_v.shape)}
    else:
        _values[_name] = _v
with open(os.path.join(_dir, 'outputs.json'), 'w') as _f:
    json.dump({'arrays': _arrays, 'values': _values}, _f, default=lambda o: o.item() if hasattr(o, 'item') else str(o))
`;

/**
 * Runs `script` under the reference Python. The script sees `inputs` (name → torch tensor), `params`
 * (JSON) and `torch`/`np`, and fills the dict `outputs` with tensors, ndarrays or JSON values.
 * Throws with Python's traceback when the script fails.
 * @example const out = runPython("outputs['y'] = inputs['x'].relu()", { x: { data, shape: [2, 3] } });
 */
export function runPython(script: string, inputs: Readonly<Record<string, PyInput>> = {}, options: RunPythonOptions = {}): PythonOutputs {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-py-'));
  try {
    const arrays: Record<string, { dtype: PyDType; shape: readonly number[] }> = {};
    Object.entries(inputs).forEach(([name, input], i) => {
      const numel = input.shape.reduce((a, b) => a * b, 1);
      if (numel !== input.data.length) {
        throw new RangeError(`runPython: input '${name}' has ${input.data.length} elements but shape [${input.shape.join(', ')}] needs ${numel}`);
      }
      arrays[name] = { dtype: dtypeOf(input), shape: input.shape };
      // x86 and ARM are little-endian, which is what the runner reads.
      writeFileSync(path.join(dir, `in${i}.bin`), new Uint8Array(input.data.buffer, input.data.byteOffset, input.data.byteLength));
    });
    writeFileSync(path.join(dir, 'inputs.json'), JSON.stringify({ arrays, params: options.params ?? null }));
    writeFileSync(path.join(dir, 'script.py'), script);
    writeFileSync(path.join(dir, 'runner.py'), RUNNER);
    const result = spawnSync(PYTHON, [path.join(dir, 'runner.py'), dir], {
      encoding: 'utf8',
      timeout: options.timeoutMs ?? 300_000,
      maxBuffer: 64 << 20,
      env: { ...process.env, ...(options.env ?? {}) },
    });
    if (result.error !== undefined) throw new Error(`runPython: could not run ${PYTHON}: ${result.error.message}`);
    if (result.status !== 0) {
      throw new Error(`runPython: the script failed (exit ${result.status ?? result.signal}):\n${result.stderr.slice(-4000)}`);
    }
    const manifest = JSON.parse(readFileSync(path.join(dir, 'outputs.json'), 'utf8')) as {
      arrays: Record<string, { file: string; dtype: PyDType; shape: number[] }>;
      values: Record<string, unknown>;
    };
    const out = new Map<string, PyArray>();
    for (const [name, m] of Object.entries(manifest.arrays)) {
      out.set(name, { data: arrayFrom(readFileSync(path.join(dir, m.file)), m.dtype), shape: m.shape, dtype: m.dtype });
    }
    return {
      arrays: out,
      values: manifest.values,
      stdout: result.stdout,
      array(name: string): PyArray {
        const a = out.get(name);
        if (a === undefined) throw new Error(`runPython: the script produced no array '${name}' (arrays: ${[...out.keys()].slice(0, 20).join(', ')}; values: ${Object.keys(manifest.values).slice(0, 20).join(', ')})`);
        return a;
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
