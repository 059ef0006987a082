// Two operating points on the fracture probability, as commercial fracture readers report them: a
// high-sensitivity "suspicious" threshold and a high-specificity "definite" one, chosen on validation data.
import { clopperPearsonLower } from './binomial.js';
import { TriageError } from './errors.js';

export interface OperatingPoint {
  /** Flag when P(fracture) ≥ threshold. */
  readonly threshold: number;
  readonly sensitivity: number;
  readonly specificity: number;
  /** One-sided (1 − δ) Clopper–Pearson lower bounds on the validation figures. */
  readonly sensitivityLower: number;
  readonly specificityLower: number;
}

export interface OperatingPoints {
  readonly suspicious: OperatingPoint;
  readonly definite: OperatingPoint;
  readonly targetSensitivity: number;
  readonly targetSpecificity: number;
}

export type FractureLevel = 'definite' | 'suspicious' | 'negative';

function pointAt(threshold: number, p: readonly number[], labels: readonly number[], delta: number): OperatingPoint {
  let tp = 0;
  let pos = 0;
  let tn = 0;
  let neg = 0;
  p.forEach((v, i) => {
    if (labels[i] === 1) {
      pos += 1;
      if (v >= threshold) tp += 1;
    } else {
      neg += 1;
      if (v < threshold) tn += 1;
    }
  });
  return {
    threshold,
    sensitivity: tp / pos,
    specificity: tn / neg,
    sensitivityLower: clopperPearsonLower(tp, pos, delta),
    specificityLower: clopperPearsonLower(tn, neg, delta),
  };
}

/**
 * "Suspicious": the highest threshold whose validation sensitivity ≥ targetSensitivity (default 0.95).
 * "Definite": the lowest threshold whose validation specificity ≥ targetSpecificity (default 0.95), never below
 * the suspicious one (so definite ⊂ suspicious). p = P(fracture) per case, labels 0/1.
 */
export function chooseOperatingPoints(p: readonly number[], labels: readonly number[], options: { targetSensitivity?: number; targetSpecificity?: number; delta?: number } = {}): OperatingPoints {
  const targetSensitivity = options.targetSensitivity ?? 0.95;
  const targetSpecificity = options.targetSpecificity ?? 0.95;
  const delta = options.delta ?? 0.05;
  if (p.length !== labels.length) throw new TriageError('HF_TRIAGE_BAD_SCORES', `${p.length} probabilities but ${labels.length} labels.`);
  for (const [name, v] of [['targetSensitivity', targetSensitivity], ['targetSpecificity', targetSpecificity]] as const) {
    if (!(v > 0 && v <= 1)) throw new TriageError('HF_TRIAGE_BAD_OPTION', `${name} must be in (0, 1], got ${v}.`, { input: name });
  }
  const positives = p.filter((_, i) => labels[i] === 1).sort((a, b) => b - a);
  const negatives = p.filter((_, i) => labels[i] === 0).sort((a, b) => a - b);
  if (positives.length === 0 || negatives.length === 0) {
    throw new TriageError('HF_TRIAGE_BAD_SCORES', `operating points need both classes (got ${positives.length} fractures, ${negatives.length} intact).`);
  }
  const suspiciousThreshold = positives[Math.ceil(targetSensitivity * positives.length) - 1] as number;
  // Just above the m-th smallest negative, so those m negatives fall below the threshold.
  const q = negatives[Math.ceil(targetSpecificity * negatives.length) - 1] as number;
  const definiteThreshold = Math.max(suspiciousThreshold, q + Number.EPSILON);
  return {
    suspicious: pointAt(suspiciousThreshold, p, labels, delta),
    definite: pointAt(definiteThreshold, p, labels, delta),
    targetSensitivity,
    targetSpecificity,
  };
}

/** The level of one case: definite ≥ suspicious ≥ negative. */
export function fractureLevel(pFracture: number, points: OperatingPoints): FractureLevel {
  if (pFracture >= points.definite.threshold) return 'definite';
  if (pFracture >= points.suspicious.threshold) return 'suspicious';
  return 'negative';
}
