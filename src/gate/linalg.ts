// The small dense linear algebra the gate needs on the CPU: mean, shrunk covariance, and a symmetric
// positive-definite inverse by Cholesky (features are a few hundred to ~2,000 wide; no tensor round trip).
import { HipfracError } from '../util/index.js';

/** Mean of the rows (each of length d). */
export function meanOf(rows: readonly ArrayLike<number>[], d: number): Float64Array {
  const mu = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mu[j] = (mu[j] as number) + (r[j] as number);
  for (let j = 0; j < d; j++) mu[j] = (mu[j] as number) / Math.max(1, rows.length);
  return mu;
}

/**
 * Where a shrunk covariance is pulled: 'scaled-identity' ((tr Σ / d) I, for features on one scale such as pooled
 * activations) or 'diagonal' (diag Σ, i.e. the correlations are shrunk: for descriptors whose entries have different
 * units, where a common variance would drown the small-scale entries).
 */
export type ShrinkageTarget = 'scaled-identity' | 'diagonal';

/**
 * Covariance of the rows around per-row centres (`centreOf(i)`: the class mean for a pooled within-class
 * covariance), shrunk towards a target T: (1 − λ) Σ + λ T. λ = d / (d + n) by default, so a matrix fitted on fewer
 * images than dimensions stays well conditioned.
 */
export function shrunkCovariance(rows: readonly ArrayLike<number>[], d: number, centreOf: (i: number) => ArrayLike<number>, shrinkage?: number, target: ShrinkageTarget = 'scaled-identity'): { covariance: Float64Array; shrinkage: number } {
  const n = rows.length;
  const cov = new Float64Array(d * d);
  const centred = new Float64Array(d);
  rows.forEach((r, i) => {
    const c = centreOf(i);
    for (let j = 0; j < d; j++) centred[j] = (r[j] as number) - (c[j] as number);
    for (let a = 0; a < d; a++) {
      const x = centred[a] as number;
      if (x === 0) continue;
      const row = a * d;
      for (let b = a; b < d; b++) cov[row + b] = (cov[row + b] as number) + x * (centred[b] as number);
    }
  });
  const denom = Math.max(1, n - 1);
  let trace = 0;
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = (cov[a * d + b] as number) / denom;
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
    trace += cov[a * d + a] as number;
  }
  const lambda = shrinkage ?? d / (d + n);
  const floor = Math.max(trace / d, 1e-12);
  // A constant entry has no variance of its own: it borrows a small share of the average so the matrix stays definite.
  const targetOf = (a: number): number => (target === 'diagonal' ? Math.max(cov[a * d + a] as number, 1e-6 * floor) : floor);
  const diag = Array.from({ length: d }, (_, a) => targetOf(a));
  for (let i = 0; i < d * d; i++) cov[i] = (1 - lambda) * (cov[i] as number);
  for (let a = 0; a < d; a++) cov[a * d + a] = (cov[a * d + a] as number) + lambda * (diag[a] as number);
  return { covariance: cov, shrinkage: lambda };
}

/** Inverse of a symmetric positive-definite d×d matrix (row-major) by Cholesky: A = L Lᵀ, A⁻¹ = L⁻ᵀ L⁻¹. */
export function invertSpd(matrix: Float64Array, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = matrix[i * d + j] as number;
      for (let k = 0; k < j; k++) sum -= (l[i * d + k] as number) * (l[j * d + k] as number);
      if (i === j) {
        if (!(sum > 0)) throw new HipfracError('HF_GATE_INVALID', `the covariance is not positive definite (pivot ${i} = ${sum}).`, { fix: 'fit the gate on more images or with more shrinkage.' });
        l[i * d + i] = Math.sqrt(sum);
      } else l[i * d + j] = sum / (l[j * d + j] as number);
    }
  }
  // L⁻¹ by forward substitution, column by column.
  const li = new Float64Array(d * d);
  for (let c = 0; c < d; c++) {
    li[c * d + c] = 1 / (l[c * d + c] as number);
    for (let i = c + 1; i < d; i++) {
      let sum = 0;
      for (let k = c; k < i; k++) sum -= (l[i * d + k] as number) * (li[k * d + c] as number);
      li[i * d + c] = sum / (l[i * d + i] as number);
    }
  }
  // A⁻¹ = (L⁻¹)ᵀ L⁻¹.
  const inv = new Float64Array(d * d);
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      let sum = 0;
      for (let k = b; k < d; k++) sum += (li[k * d + a] as number) * (li[k * d + b] as number);
      inv[a * d + b] = sum;
      inv[b * d + a] = sum;
    }
  }
  return inv;
}

/** (x − μ)ᵀ P (x − μ) for a precision matrix P. */
export function quadraticForm(x: ArrayLike<number>, mu: ArrayLike<number>, precision: ArrayLike<number>, d: number): number {
  const diff = new Float64Array(d);
  for (let j = 0; j < d; j++) diff[j] = (x[j] as number) - (mu[j] as number);
  let total = 0;
  for (let a = 0; a < d; a++) {
    let row = 0;
    const base = a * d;
    for (let b = 0; b < d; b++) row += (precision[base + b] as number) * (diff[b] as number);
    total += (diff[a] as number) * row;
  }
  return total;
}
