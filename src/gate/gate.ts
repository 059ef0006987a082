// The cascade's first stage: before triage, each image is checked for being what the model was trained on.
// Out-of-distribution scores on the classifier (Mahalanobis on pooled features, free energy on logits) and on the
// pixels (Mahalanobis on a short intensity descriptor), thresholds set on validation at a chosen pass rate, a
// blank-image rule and, where training labels exist, body-part and view probes. An image that fails is never
// auto-reported; the verdict names each reason.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Classifier } from '../models/index.js';
import { readSafetensors, saveSafetensors } from '../nn/index.js';
import { dispose, tensor, type Tensor } from '../torch/index.js';
import { HipfracError } from '../util/index.js';
import { energyScore, gateFeatures, type GateFeatures } from './features.js';
import { fitMahalanobis, mahalanobisScore, type MahalanobisModel } from './mahalanobis.js';
import { fitProbe, probeProbabilities, probeScores, type LinearProbe } from './probe.js';

export const GATE_FILE = 'gate.safetensors';
/** Below this standard deviation of the [0, 1] input an image is blank or uniform, whatever the scores say. */
export const UNIFORM_STD = 0.01;
/** Mean channel difference above which an image is in colour (radiographs are grey). */
export const COLOUR_LIMIT = 0.04;

export type GateScoreName = 'feature' | 'pixel' | 'energy' | 'inverted';

/** The gate's entry in the model card (model.json → gate); its matrices live in gate.safetensors. */
export interface GateCard {
  readonly version: 1;
  readonly file: typeof GATE_FILE;
  /** The pass rate asked for on validation (all four scores at one common order statistic; see jointThresholds). */
  readonly passRate: number;
  readonly thresholds: Readonly<Record<GateScoreName, number>>;
  /** Measured: share of validation (and test) images that pass. */
  readonly measured: { readonly validation: { readonly n: number; readonly passRate: number }; readonly test?: { readonly n: number; readonly passRate: number } };
  readonly fittedOn: { readonly training: number; readonly validation: number };
  readonly featureShrinkage: number;
  /**
   * The polarity probe (training images against their own inversions): on the polarity descriptor, scored as a pair
   * (`input: 'polarity-descriptor'`), or, in checkpoints written before that, on the pooled features alone.
   */
  readonly polarity: { readonly trainAccuracy: number; readonly input?: 'polarity-descriptor' };
  readonly bodyPart?: { readonly classes: readonly string[]; readonly accepted: readonly string[]; readonly trainAccuracy: number };
  readonly view?: { readonly classes: readonly string[]; readonly accepted: readonly string[]; readonly trainAccuracy: number };
}

export interface GateVerdict {
  readonly pass: boolean;
  /** Why the image failed, in words a radiologist can read; empty when it passed. */
  readonly reasons: readonly string[];
  readonly scores: Readonly<Record<GateScoreName, number>>;
  readonly bodyPart?: { readonly name: string; readonly probability: number };
  readonly view?: { readonly name: string; readonly probability: number };
}

/** Training images' features with their nuisance labels (null where the data have none). */
export interface GateTrainingData extends GateFeatures {
  readonly labels: readonly number[];
  readonly bodyParts: readonly (string | null)[];
  readonly views: readonly (string | null)[];
}

export interface GateFitOptions {
  /** Share of validation images that should pass (default 0.95). */
  readonly passRate?: number;
  /** Body parts an image may show (default: every part the training labels name). */
  readonly acceptBodyParts?: readonly string[];
  /** Views an image may show (default: every view the training labels name). */
  readonly acceptViews?: readonly string[];
}

const SCORE_NAMES: readonly GateScoreName[] = ['feature', 'pixel', 'energy', 'inverted'];

/**
 * One common level for all four scores: each threshold is its score's k-th smallest validation value, with the
 * smallest k at which at least `passRate` of the validation images pass all four. (Splitting the rate over the
 * scores instead puts every threshold at the validation maximum on small sets, where one odd image sets them all.)
 * The polarity threshold never goes below even odds.
 */
function jointThresholds(scores: readonly Record<GateScoreName, number>[], passRate: number): Record<GateScoreName, number> {
  const n = scores.length;
  const sorted = Object.fromEntries(SCORE_NAMES.map((name) => [name, scores.map((s) => s[name]).sort((a, b) => a - b)])) as Record<GateScoreName, number[]>;
  const at = (k: number): Record<GateScoreName, number> => ({
    feature: sorted.feature[k - 1] as number,
    pixel: sorted.pixel[k - 1] as number,
    energy: sorted.energy[k - 1] as number,
    inverted: Math.max(0.5, sorted.inverted[k - 1] as number),
  });
  for (let k = Math.ceil(passRate * n); k <= n; k++) {
    const t = at(k);
    const passing = scores.filter((s) => SCORE_NAMES.every((name) => s[name] <= t[name])).length;
    if (passing >= passRate * n) return t;
  }
  return at(n);
}

/**
 * How likely the grey scale is inverted, from the polarity probe on the polarity descriptor of the image and of its
 * own inversion: σ(m(x) − m(1 − x)), m the probe's inverted-minus-as-is logit. An image and its inversion score p
 * and 1 − p, so the inversion of every radiograph that the probe reads the right way up scores above one half.
 */
function pairedPolarity(probe: LinearProbe, asIs: readonly number[], inverted: readonly number[]): number {
  const margin = (v: readonly number[]): number => {
    const [asIsScore, invertedScore] = probeScores(probe, v) as [number, number];
    return invertedScore - asIsScore;
  };
  return 1 / (1 + Math.exp(margin(inverted) - margin(asIs)));
}

const LABEL_NAMES = ['bodyPart', 'view'] as const;

export class InputGate {
  constructor(
    readonly card: GateCard,
    private readonly feature: MahalanobisModel,
    private readonly pixel: MahalanobisModel,
    private readonly probes: { readonly bodyPart: LinearProbe | null; readonly view: LinearProbe | null },
    private readonly polarity: LinearProbe,
  ) {}

  /**
   * Fits the scores on training images and sets each threshold on validation images, so that about `passRate` of
   * them pass. Test images, when given, are only measured.
   */
  static fit(train: GateTrainingData, valid: GateFeatures, options: GateFitOptions = {}, test?: GateFeatures): InputGate {
    const passRate = options.passRate ?? 0.95;
    if (!(passRate > 0 && passRate < 1)) throw new HipfracError('HF_GATE_BAD_OPTION', `the gate's validation pass rate must lie in (0, 1), got ${passRate}.`, { fix: 'use e.g. 0.95.' });
    if (valid.features.length < 5) throw new HipfracError('HF_GATE_TOO_FEW', `the gate needs at least 5 validation images to set its thresholds, got ${valid.features.length}.`, { fix: 'split with a larger validation fraction.' });
    const feature = fitMahalanobis(train.features, train.labels);
    // The pixel descriptor mixes units (shares, gradients, skewness): shrink its correlations, not towards one variance.
    const pixel = fitMahalanobis(train.pixels, null, { target: 'diagonal' });
    const probeOf = (names: readonly (string | null)[]): LinearProbe | null => {
      const keep = names.map((n, i) => (n === null || n === 'unknown' ? -1 : i)).filter((i) => i >= 0);
      return fitProbe(keep.map((i) => train.features[i] as Float32Array), keep.map((i) => names[i] as string));
    };
    const probes = { bodyPart: probeOf(train.bodyParts), view: probeOf(train.views) };
    // Self-supervised: each training image against its own inversion teaches what "the right way up" looks like.
    // A stronger penalty than the label probes': with a few dozen training images an unpenalised probe separates
    // them perfectly and reads about one held-out phantom radiograph in ten as inverted (one in twenty at 0.1).
    const polarity = fitProbe([...train.polarity, ...train.invertedPolarity], [...train.polarity.map(() => 'as-is'), ...train.invertedPolarity.map(() => 'inverted')], { l2: 0.1 }) as LinearProbe;
    const provisional = new InputGate(
      { version: 1, file: GATE_FILE, passRate, thresholds: { feature: Infinity, pixel: Infinity, energy: Infinity, inverted: Infinity }, measured: { validation: { n: 0, passRate: 1 } }, fittedOn: { training: train.features.length, validation: valid.features.length }, featureShrinkage: feature.shrinkage, polarity: { trainAccuracy: polarity.trainAccuracy, input: 'polarity-descriptor' } },
      feature,
      pixel,
      probes,
      polarity,
    );
    const scores = valid.features.map((_, i) => provisional.scoresOf(valid, i));
    const thresholds = jointThresholds(scores, passRate);
    const accepted = (probe: LinearProbe | null, given: readonly string[] | undefined): readonly string[] => given ?? probe?.classes ?? [];
    const labelCards = Object.fromEntries(
      LABEL_NAMES.flatMap((name) => {
        const probe = probes[name];
        const given = name === 'bodyPart' ? options.acceptBodyParts : options.acceptViews;
        return probe === null ? [] : [[name, { classes: probe.classes, accepted: accepted(probe, given), trainAccuracy: probe.trainAccuracy }]];
      }),
    );
    const draft = new InputGate({ ...provisional.card, thresholds, ...labelCards }, feature, pixel, probes, polarity);
    const rate = (set: GateFeatures): { n: number; passRate: number } => {
      const n = set.features.length;
      let passed = 0;
      for (let i = 0; i < n; i++) if (draft.verdictOf(set, i).pass) passed++;
      return { n, passRate: n === 0 ? Number.NaN : passed / n };
    };
    const measured = { validation: rate(valid), ...(test === undefined || test.features.length === 0 ? {} : { test: rate(test) }) };
    return new InputGate({ ...draft.card, measured }, feature, pixel, probes, polarity);
  }

  private scoresOf(set: GateFeatures, i: number): Record<GateScoreName, number> {
    return {
      feature: mahalanobisScore(this.feature, set.features[i] as Float32Array),
      pixel: mahalanobisScore(this.pixel, set.pixels[i] as number[]),
      energy: energyScore(set.logits[i] as Float32Array),
      inverted: this.card.polarity.input === 'polarity-descriptor' ? pairedPolarity(this.polarity, set.polarity[i] as number[], set.invertedPolarity[i] as number[]) : (probeProbabilities(this.polarity, set.features[i] as Float32Array)[1] as number),
    };
  }

  /** The verdict for image i of already extracted features; `colourfulness` from the source file when known. */
  verdictOf(set: GateFeatures, i: number, colourfulness?: number): GateVerdict {
    const scores = this.scoresOf(set, i);
    const t = this.card.thresholds;
    const reasons: string[] = [];
    const std = (set.pixels[i] as number[])[9] as number;
    if (std < UNIFORM_STD) reasons.push(`blank or uniform image (pixel standard deviation ${std.toFixed(4)} < ${UNIFORM_STD})`);
    if (colourfulness !== undefined && colourfulness > COLOUR_LIMIT) reasons.push(`colour image (channel difference ${colourfulness.toFixed(3)} > ${COLOUR_LIMIT}): radiographs are grey`);
    if (std >= UNIFORM_STD && scores.inverted > t.inverted) reasons.push(`grey scale looks inverted (p = ${scores.inverted.toFixed(2)} > ${t.inverted.toFixed(2)}): a MONOCHROME1 image shown as MONOCHROME2?`);
    if (scores.pixel > t.pixel) reasons.push(`intensities unlike the training radiographs (pixel Mahalanobis ${scores.pixel.toFixed(1)} > ${t.pixel.toFixed(1)}; an inverted MONOCHROME1 image, another modality or a photograph)`);
    if (scores.feature > t.feature) reasons.push(`model features unlike the training radiographs (Mahalanobis ${scores.feature.toFixed(1)} > ${t.feature.toFixed(1)})`);
    if (scores.energy > t.energy) reasons.push(`low evidence for either class (energy ${scores.energy.toFixed(2)} > ${t.energy.toFixed(2)})`);
    const labelled: { bodyPart?: { name: string; probability: number }; view?: { name: string; probability: number } } = {};
    for (const name of LABEL_NAMES) {
      const probe = this.probes[name];
      const card = this.card[name];
      if (probe === null || card === undefined) continue;
      const p = probeProbabilities(probe, set.features[i] as Float32Array);
      const best = p.indexOf(Math.max(...p));
      const guess = { name: probe.classes[best] as string, probability: p[best] as number };
      labelled[name] = guess;
      if (!card.accepted.includes(guess.name)) reasons.push(`${name === 'bodyPart' ? 'body part' : 'view'} looks like '${guess.name}' (p = ${guess.probability.toFixed(2)}); this model accepts ${card.accepted.join(', ')}`);
    }
    return { pass: reasons.length === 0, reasons, scores, ...labelled };
  }

  /** Verdicts for a batch of model inputs [N, 1 | 3, S, S] in [0, 1] (a LibTorch pass). */
  check(model: Classifier, images: Tensor, colourfulness?: readonly number[]): GateVerdict[] {
    return this.verdicts(gateFeatures(model, images), colourfulness);
  }

  /** Verdicts for every image of a pass's gate features (gateFeatures, gateFeaturesOf), in order. */
  verdicts(set: GateFeatures, colourfulness?: readonly number[]): GateVerdict[] {
    return set.features.map((_, i) => this.verdictOf(set, i, colourfulness?.[i]));
  }

  /** Writes gate.safetensors into a checkpoint folder and returns the card entry for model.json. */
  save(checkpointDir: string): GateCard {
    const named: [string, Tensor][] = [];
    const add = (key: string, values: ArrayLike<number>, shape: number[]): void => void named.push([key, tensor(Float32Array.from(values), shape)]);
    const mahalanobis = (prefix: string, m: MahalanobisModel): void => {
      add(`${prefix}.means`, m.means.flatMap((mu) => Array.from(mu)), [m.means.length, m.dim]);
      add(`${prefix}.precision`, m.precision, [m.dim, m.dim]);
    };
    mahalanobis('feature', this.feature);
    mahalanobis('pixel', this.pixel);
    for (const [name, p] of [...LABEL_NAMES.map((n) => [n, this.probes[n]] as const), ['polarity', this.polarity] as const]) {
      if (p === null) continue;
      add(`${name}.mean`, p.mean, [p.mean.length]);
      add(`${name}.scale`, p.scale, [p.scale.length]);
      add(`${name}.weight`, p.weight, [p.classes.length, p.mean.length]);
      add(`${name}.bias`, p.bias, [p.classes.length]);
    }
    try {
      saveSafetensors(path.join(checkpointDir, GATE_FILE), named, { format: 'pt', 'hipfrac.gate': JSON.stringify(this.card) });
    } finally {
      dispose(named.map(([, t]) => t));
    }
    return this.card;
  }

  /** The gate of a checkpoint folder, or null when the checkpoint has none (trained before the gate existed). */
  static load(checkpointDir: string): InputGate | null {
    const cardFile = path.join(checkpointDir, 'model.json');
    const entry = existsSync(cardFile) ? (JSON.parse(readFileSync(cardFile, 'utf8')) as { gate?: GateCard }).gate : undefined;
    if (entry === undefined) return null;
    const file = path.join(checkpointDir, entry.file);
    if (!existsSync(file)) throw new HipfracError('HF_GATE_INVALID', 'the model card names an input gate but its matrices are missing.', { input: file, fix: 'copy gate.safetensors together with model.json.' });
    const { tensors } = readSafetensors(file);
    try {
      const get = (key: string): { data: Float32Array; shape: number[] } => {
        const t = tensors.get(key);
        if (t === undefined) throw new HipfracError('HF_GATE_INVALID', `gate.safetensors has no '${key}'.`, { input: file, fix: 'train again to write a complete gate.' });
        return { data: t.toFloat32Array(), shape: [...t.shape] };
      };
      const mahalanobis = (prefix: string, shrinkage: number): MahalanobisModel => {
        const means = get(`${prefix}.means`);
        const [k, d] = means.shape as [number, number];
        return { dim: d, means: Array.from({ length: k }, (_, c) => Float64Array.from(means.data.subarray(c * d, (c + 1) * d))), precision: Float64Array.from(get(`${prefix}.precision`).data), shrinkage };
      };
      const probe = (name: (typeof LABEL_NAMES)[number] | 'polarity'): LinearProbe | null => {
        const c = name === 'polarity' ? { classes: ['as-is', 'inverted'], trainAccuracy: entry.polarity.trainAccuracy } : entry[name];
        if (c === undefined) return null;
        return { classes: c.classes, mean: Float64Array.from(get(`${name}.mean`).data), scale: Float64Array.from(get(`${name}.scale`).data), weight: Float64Array.from(get(`${name}.weight`).data), bias: Float64Array.from(get(`${name}.bias`).data), trainAccuracy: c.trainAccuracy };
      };
      return new InputGate(entry, mahalanobis('feature', entry.featureShrinkage), mahalanobis('pixel', 0), { bodyPart: probe('bodyPart'), view: probe('view') }, probe('polarity') as LinearProbe);
    } finally {
      dispose([...tensors.values()]);
    }
  }
}
