// A deliberately simple classifier for the leakage test: L2-regularised logistic regression by gradient descent,
// plus ROC AUC with its Hanley–McNeil standard error. Pure TypeScript, deterministic.

export interface LogisticModel {
  readonly weights: Float64Array;
  readonly bias: number;
  readonly mean: Float64Array;
  readonly std: Float64Array;
}

/** Fits on rows of `x` (n × d, row-major) with labels 0/1. Features are standardised on the training set. */
export function fitLogistic(x: Float64Array, y: readonly number[], d: number, l2 = 1e-2, iterations = 400, rate = 0.5): LogisticModel {
  const n = y.length;
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) + (x[i * d + j] as number) / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) std[j] = (std[j] as number) + ((x[i * d + j] as number) - (mean[j] as number)) ** 2 / n;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j] as number) || 1;
  const z = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) z[i * d + j] = ((x[i * d + j] as number) - (mean[j] as number)) / (std[j] as number);
  const w = new Float64Array(d);
  let b = 0;
  const grad = new Float64Array(d);
  for (let it = 0; it < iterations; it++) {
    grad.fill(0);
    let gb = 0;
    for (let i = 0; i < n; i++) {
      let s = b;
      for (let j = 0; j < d; j++) s += (w[j] as number) * (z[i * d + j] as number);
      const p = 1 / (1 + Math.exp(-s));
      const e = p - (y[i] as number);
      gb += e;
      for (let j = 0; j < d; j++) grad[j] = (grad[j] as number) + e * (z[i * d + j] as number);
    }
    for (let j = 0; j < d; j++) w[j] = (w[j] as number) - rate * ((grad[j] as number) / n + l2 * (w[j] as number));
    b -= (rate * gb) / n;
  }
  return { weights: w, bias: b, mean, std };
}

export function predictLogistic(m: LogisticModel, x: Float64Array, n: number): number[] {
  const d = m.weights.length;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let s = m.bias;
    for (let j = 0; j < d; j++) s += (m.weights[j] as number) * (((x[i * d + j] as number) - (m.mean[j] as number)) / (m.std[j] as number));
    out.push(s);
  }
  return out;
}

/** ROC AUC (Mann–Whitney, ties count half) and its Hanley–McNeil (1982) standard error. */
export function auc(scores: readonly number[], labels: readonly number[]): { auc: number; se: number; positives: number; negatives: number } {
  const pos: number[] = [];
  const neg: number[] = [];
  scores.forEach((s, i) => (labels[i] === 1 ? pos : neg).push(s));
  let wins = 0;
  for (const p of pos) for (const q of neg) wins += p > q ? 1 : p === q ? 0.5 : 0;
  const a = wins / (pos.length * neg.length);
  const q1 = a / (2 - a);
  const q2 = (2 * a * a) / (1 + a);
  const se = Math.sqrt((a * (1 - a) + (pos.length - 1) * (q1 - a * a) + (neg.length - 1) * (q2 - a * a)) / (pos.length * neg.length));
  return { auc: a, se, positives: pos.length, negatives: neg.length };
}
