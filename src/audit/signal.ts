// The statistics of the shortcut audit that need no model: probe scores that chance cannot inflate (balanced accuracy,
// one-vs-rest ROC AUC, stratified folds for cross-validation) and how much of the fracture signal a nuisance label
// carries (the AUC of the label alone, and the model's AUC within the label's groups).
import { rocAuc } from '../train/metrics/index.js';
import { Rng } from '../util/index.js';

/**
 * Mean recall over the classes present in `truth`: 1 / (classes present) for any constant or random answer, however
 * unbalanced the classes are. NaN for no images.
 * @example balancedAccuracy(['a', 'a', 'a', 'b'], ['a', 'a', 'a', 'a']) // 0.5, where accuracy says 0.75
 */
export function balancedAccuracy(truth: readonly string[], predicted: readonly string[]): number {
  const of = new Map<string, { right: number; all: number }>();
  truth.forEach((t, i) => {
    const c = of.get(t) ?? { right: 0, all: 0 };
    c.all++;
    if (predicted[i] === t) c.right++;
    of.set(t, c);
  });
  if (of.size === 0) return Number.NaN;
  return [...of.values()].reduce((a, c) => a + c.right / c.all, 0) / of.size;
}

/**
 * ROC AUC of class probabilities, one class against the rest, averaged over the classes (macro) that are present
 * and absent somewhere in `truth`; with two classes it is the plain AUC. `probabilities[i][k]` is image i's
 * probability of `classes[k]`. NaN when no class has both.
 */
export function oneVsRestAuc(truth: readonly string[], probabilities: readonly (readonly number[])[], classes: readonly string[]): number {
  const aucs = classes.flatMap((c, k) => {
    const labels = truth.map((t) => (t === c ? 1 : 0));
    const positives = labels.reduce<number>((a, b) => a + b, 0);
    if (positives === 0 || positives === labels.length) return [];
    return [rocAuc(probabilities.map((p) => p[k] as number), labels)];
  });
  return aucs.length === 0 ? Number.NaN : aucs.reduce((a, b) => a + b, 0) / aucs.length;
}

/**
 * A fold (0 … folds − 1) for each label, stratified: each class's images are shuffled (seeded) and dealt round the
 * folds in turn, so every fold holds each class in about the same share.
 */
export function stratifiedFolds(labels: readonly string[], folds: number, seed: number): number[] {
  const rng = new Rng(seed);
  const out = new Array<number>(labels.length).fill(0);
  const byClass = new Map<string, number[]>();
  labels.forEach((l, i) => byClass.set(l, [...(byClass.get(l) ?? []), i]));
  let turn = 0;
  // Each class starts where the last one stopped, so small classes do not all pile into fold 0.
  for (const c of [...byClass.keys()].sort()) for (const i of rng.shuffle(byClass.get(c) as number[])) out[i] = turn++ % folds;
  return out;
}

export interface GroupOutcome {
  readonly name: string;
  readonly images: number;
  readonly fractured: number;
}

export interface FractureSignal {
  /** Images with the nuisance label known, per group. */
  readonly groups: readonly GroupOutcome[];
  /** ROC AUC of the fracture label scored by each image's group's fracture rate in the reference images alone. */
  readonly labelOnlyAuc: number;
  /** The model's ROC AUC on the same images. */
  readonly modelAuc: number;
  /** The model's AUC over the fractured–normal pairs within one group only (pooled within-group AUC); NaN with no such pair. */
  readonly withinGroupAuc: number;
  readonly withinGroupPairs: number;
  readonly allPairs: number;
}

/**
 * How much of the fracture signal a nuisance label carries. `labelOnlyAuc`: the fracture label predicted from the
 * nuisance label alone, the score of an image being its group's fracture rate in `reference` (a group absent there
 * scores the reference's overall rate). `withinGroupAuc`: the model's ROC AUC counting only pairs of a fractured and a
 * normal image of the same group (the stratified AUC, Σ_g AUC_g·P_g·N_g / Σ_g P_g·N_g): a model that ranks fractures
 * by the nuisance label instead of the bone loses AUC there against `modelAuc`.
 * @param groups per image, its nuisance label (null: unknown, left out)
 * @param fractured per image, 1 fractured, 0 not
 * @param scores per image, the model's P(fracture)
 * @param reference the images whose group fracture rates score the label alone (the probes' training images)
 */
export function fractureSignal(
  groups: readonly (string | null)[],
  fractured: readonly number[],
  scores: readonly number[],
  reference: { readonly groups: readonly (string | null)[]; readonly fractured: readonly number[] },
): FractureSignal {
  const known = groups.flatMap((g, i) => (g === null ? [] : [i]));
  const rateOf = new Map<string, { images: number; fractured: number }>();
  let refImages = 0;
  let refFractured = 0;
  reference.groups.forEach((g, i) => {
    if (g === null) return;
    const r = rateOf.get(g) ?? { images: 0, fractured: 0 };
    r.images++;
    r.fractured += reference.fractured[i] as number;
    rateOf.set(g, r);
    refImages++;
    refFractured += reference.fractured[i] as number;
  });
  const overall = refImages > 0 ? refFractured / refImages : 0.5;
  const labels = known.map((i) => fractured[i] as number);
  const groupScore = known.map((i) => {
    const r = rateOf.get(groups[i] as string);
    return r === undefined ? overall : r.fractured / r.images;
  });
  const outcome = new Map<string, { labels: number[]; scores: number[] }>();
  for (const i of known) {
    const o = outcome.get(groups[i] as string) ?? { labels: [], scores: [] };
    o.labels.push(fractured[i] as number);
    o.scores.push(scores[i] as number);
    outcome.set(groups[i] as string, o);
  }
  let weighted = 0;
  let withinGroupPairs = 0;
  for (const o of outcome.values()) {
    const p = o.labels.filter((l) => l === 1).length;
    const pairs = p * (o.labels.length - p);
    if (pairs === 0) continue;
    weighted += rocAuc(o.scores, o.labels) * pairs;
    withinGroupPairs += pairs;
  }
  const positives = labels.filter((l) => l === 1).length;
  return {
    groups: [...outcome.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([name, o]) => ({ name, images: o.labels.length, fractured: o.labels.filter((l) => l === 1).length })),
    labelOnlyAuc: labels.length === 0 ? Number.NaN : rocAuc(groupScore, labels),
    modelAuc: labels.length === 0 ? Number.NaN : rocAuc(known.map((i) => scores[i] as number), labels),
    withinGroupAuc: withinGroupPairs > 0 ? weighted / withinGroupPairs : Number.NaN,
    withinGroupPairs,
    allPairs: positives * (labels.length - positives),
  };
}
