// A linear probe on the classifier's pooled features: multinomial logistic regression (standardised inputs,
// L2 penalty, full-batch gradient descent) that names an image's body part or view where training labels exist.

export interface LinearProbe {
  readonly classes: readonly string[];
  /** Feature standardisation fitted on the training vectors. */
  readonly mean: Float64Array;
  readonly scale: Float64Array;
  /** [classes × dim] weights, row-major, and one bias per class. */
  readonly weight: Float64Array;
  readonly bias: Float64Array;
  /** Accuracy on the vectors it was fitted on (a sanity figure, not a validation result). */
  readonly trainAccuracy: number;
}

export interface ProbeOptions {
  readonly iterations?: number;
  readonly learningRate?: number;
  readonly l2?: number;
}

/** Class scores (logits) of one vector. */
export function probeScores(probe: LinearProbe, vector: ArrayLike<number>): number[] {
  const d = probe.mean.length;
  const k = probe.classes.length;
  const z = new Float64Array(d);
  for (let j = 0; j < d; j++) z[j] = ((vector[j] as number) - (probe.mean[j] as number)) / (probe.scale[j] as number);
  return Array.from({ length: k }, (_, c) => {
    let s = probe.bias[c] as number;
    for (let j = 0; j < d; j++) s += (probe.weight[c * d + j] as number) * (z[j] as number);
    return s;
  });
}

/** Class probabilities of one vector. */
export function probeProbabilities(probe: LinearProbe, vector: ArrayLike<number>): number[] {
  const scores = probeScores(probe, vector);
  const max = Math.max(...scores);
  const exps = scores.map((s) => Math.exp(s - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

/** Fits a probe of `labels` (class names) from vectors; null when fewer than two classes are present. */
export function fitProbe(vectors: readonly ArrayLike<number>[], labels: readonly string[], options: ProbeOptions = {}): LinearProbe | null {
  const classes = [...new Set(labels)].sort();
  if (classes.length < 2 || vectors.length === 0) return null;
  const d = (vectors[0] as ArrayLike<number>).length;
  const n = vectors.length;
  const k = classes.length;
  const mean = new Float64Array(d);
  const scale = new Float64Array(d);
  for (const v of vectors) for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) + (v[j] as number) / n;
  for (const v of vectors) for (let j = 0; j < d; j++) scale[j] = (scale[j] as number) + ((v[j] as number) - (mean[j] as number)) ** 2 / n;
  // A feature nearly constant in training (a ReLU channel that fired once) would blow up on an image where it
  // does fire: no scale goes below a hundredth of the mean one.
  const floor = (0.01 * Array.from(scale, (v) => Math.sqrt(v)).reduce((a, b) => a + b, 0)) / d + 1e-6;
  for (let j = 0; j < d; j++) scale[j] = Math.max(Math.sqrt(scale[j] as number), floor);
  const z = vectors.map((v) => Float64Array.from({ length: d }, (_, j) => ((v[j] as number) - (mean[j] as number)) / (scale[j] as number)));
  const y = labels.map((l) => classes.indexOf(l));
  const weight = new Float64Array(k * d);
  const bias = new Float64Array(k);
  const iterations = options.iterations ?? 200;
  const lr = options.learningRate ?? 0.5;
  const l2 = options.l2 ?? 1e-3;
  const probeNow = (): LinearProbe => ({ classes, mean, scale, weight, bias, trainAccuracy: 0 });
  for (let it = 0; it < iterations; it++) {
    const gw = new Float64Array(k * d);
    const gb = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      const zi = z[i] as Float64Array;
      const scores = Array.from({ length: k }, (_, c) => {
        let s = bias[c] as number;
        for (let j = 0; j < d; j++) s += (weight[c * d + j] as number) * (zi[j] as number);
        return s;
      });
      const max = Math.max(...scores);
      const exps = scores.map((s) => Math.exp(s - max));
      const total = exps.reduce((a, b) => a + b, 0);
      for (let c = 0; c < k; c++) {
        const g = (exps[c] as number) / total - (c === y[i] ? 1 : 0);
        gb[c] = (gb[c] as number) + g / n;
        for (let j = 0; j < d; j++) gw[c * d + j] = (gw[c * d + j] as number) + (g * (zi[j] as number)) / n;
      }
    }
    for (let q = 0; q < k * d; q++) weight[q] = (weight[q] as number) - lr * ((gw[q] as number) + l2 * (weight[q] as number));
    for (let c = 0; c < k; c++) bias[c] = (bias[c] as number) - lr * (gb[c] as number);
  }
  const fitted = probeNow();
  let right = 0;
  vectors.forEach((v, i) => {
    const p = probeProbabilities(fitted, v);
    if (p.indexOf(Math.max(...p)) === y[i]) right++;
  });
  return { ...fitted, trainAccuracy: right / n };
}
