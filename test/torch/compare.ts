// Comparison and data helpers shared by the engine tests: elementwise closeness with a report that
// names the worst element, and seeded random inputs in the shape runPython exchanges.
import assert from 'node:assert/strict';
import { Rng } from '../../src/util/index.js';
import type { PyArray, PyData, PyDType, PyInput } from '../helpers/python.js';

export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
}
/** float32 ops computed the same way agree to a few ulp; reductions and convolutions may reorder sums. */
export const FLOAT32_TOL: Tolerance = { atol: 1e-5, rtol: 1e-4 };

function toNumbers(data: PyData | ArrayLike<number | bigint>): number[] {
  return Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
}

/**
 * Asserts |actual - expected| <= atol + rtol·|expected| everywhere (NaN must match NaN, ±Inf exactly),
 * and equal shapes. The failure names the label, the worst index and both values.
 */
export function assertClose(label: string, actual: { data: PyData; shape: readonly number[] }, expected: PyArray, tol: Tolerance = FLOAT32_TOL): void {
  assert.deepEqual([...actual.shape], [...expected.shape], `${label}: shape [${actual.shape.join(', ')}] vs PyTorch [${expected.shape.join(', ')}]`);
  const a = toNumbers(actual.data);
  const e = toNumbers(expected.data);
  assert.equal(a.length, e.length, `${label}: ${a.length} elements vs PyTorch ${e.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = e[i] as number;
    if (Number.isNaN(y) || Number.isNaN(x)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) return assert.fail(`${label}[${i}]: ${x} vs PyTorch ${y}`);
      continue;
    }
    if (!Number.isFinite(y) || !Number.isFinite(x)) {
      if (x !== y) return assert.fail(`${label}[${i}]: ${x} vs PyTorch ${y}`);
      continue;
    }
    const excess = Math.abs(x - y) - (tol.atol + tol.rtol * Math.abs(y));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    assert.fail(`${label}[${worst}]: ${a[worst]} vs PyTorch ${e[worst]} (atol ${tol.atol}, rtol ${tol.rtol})`);
  }
}

/** Seeded random arrays for test inputs (the same on every run and machine). */
export class InputMaker {
  private readonly rng: Rng;
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }
  private fill(shape: readonly number[], f: () => number): Float32Array {
    const n = shape.reduce((a, b) => a * b, 1);
    return Float32Array.from({ length: n }, f);
  }
  /** Standard normal float32. */
  randn(shape: readonly number[]): PyInput {
    return { data: this.fill(shape, () => this.rng.normal()), shape };
  }
  /** Uniform float32 in [low, high). */
  uniform(shape: readonly number[], low: number, high: number): PyInput {
    return { data: this.fill(shape, () => this.rng.uniform(low, high)), shape };
  }
  /** int64 in [low, high). */
  ints(shape: readonly number[], low: number, high: number): PyInput {
    const n = shape.reduce((a, b) => a * b, 1);
    return { data: BigInt64Array.from({ length: n }, () => BigInt(this.rng.int(low, high))), shape };
  }
  bools(shape: readonly number[], p = 0.5): PyInput {
    const n = shape.reduce((a, b) => a * b, 1);
    return { data: Uint8Array.from({ length: n }, () => (this.rng.bernoulli(p) ? 1 : 0)), shape, dtype: 'bool' };
  }
}

export function dtypeOfData(data: PyData): PyDType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int8Array) return 'int8';
  return 'uint8';
}
