// Exact binomial confidence bounds (Clopper–Pearson) from the regularised incomplete beta function,
// so an error rate measured on n cases comes with an upper bound that holds with probability 1 − δ.
import { logGamma } from '../util/index.js';

// Continued fraction for the incomplete beta (modified Lentz), Numerical Recipes §6.4.
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 500; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b) (the Beta(a, b) distribution function at x). */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The continued fraction converges fast for x < (a + 1)/(a + b + 2); use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** The p-quantile of Beta(a, b), by bisection (60 halvings: ~1e-18 in x). */
export function betaQuantile(p: number, a: number, b: number): number {
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (regularizedBeta(mid, a, b) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * One-sided Clopper–Pearson upper bound on a rate after k events in n trials: with probability ≥ 1 − δ the
 * true rate is below it (Clopper & Pearson, Biometrika 1934). n = 0 gives 1.
 */
export function clopperPearsonUpper(k: number, n: number, delta = 0.05): number {
  if (n === 0 || k >= n) return 1;
  return betaQuantile(1 - delta, k + 1, n - k);
}

/** One-sided Clopper–Pearson lower bound (k = 0 gives 0). */
export function clopperPearsonLower(k: number, n: number, delta = 0.05): number {
  if (k <= 0) return 0;
  return betaQuantile(delta, k, n - k + 1);
}
