// hipfrac checkpoints: a folder with model.safetensors (weights) and model.json (the model card:
// architecture, head, classes, preprocessing, data fingerprint, metrics, threshold, version).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { dispose } from '../torch/index.js';
import { readSafetensors, saveSafetensors } from '../nn/index.js';
import { HipfracError } from '../util/index.js';
import { Classifier, createClassifier } from './classifier.js';
import type { HeadKind } from './heads.js';
import { getModelSpec } from './registry.js';
import { loadExactly } from './weights.js';
import { ModelsError } from './errors.js';

export interface ModelCard {
  architecture: string;
  head: HeadKind;
  ps: number;
  classes: string[];
  inputSize: number;
  /** 'roi': inputs are cut to the hip region of interest before resizing (see TrainConfig.crop); default 'none'. */
  crop?: 'none' | 'roi';
  mean: number[];
  std: number[];
  /** Grey radiographs are replicated to the three ImageNet channels inside the model. */
  channels: 'grey-replicated';
  /** Hash of the training manifest (data/), null when unknown. */
  dataFingerprint: string | null;
  metrics: Record<string, number>;
  /** The triage decision threshold with the error rate measured at it. */
  threshold: { cutoff: number; target?: number; measuredError?: number; coverage?: number; method?: string } | null;
  /**
   * The fracture box head (box supervision): present when the model has one. `threshold` is the heatmap probability
   * above which cells form predicted fracture boxes; `fineLayer`, present for a fine box head, names the finer feature
   * map it reads beside the last one.
   */
  boxHead?: { threshold: number; fineLayer?: string };
  hipfracVersion: string;
  createdAt: string;
  extra: Record<string, unknown>;
}

export const CHECKPOINT_WEIGHTS = 'model.safetensors';
/** Heatmap probability above which box-head cells form predicted fracture boxes, unless the card says otherwise. */
export const DEFAULT_BOX_THRESHOLD = 0.5;
export const CHECKPOINT_CARD = 'model.json';

let cachedVersion: string | undefined;
/** hipfrac's version from package.json (src/models → ../../package.json, dist/src/models → ../../../). */
export function hipfracVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  for (const rel of ['../../../package.json', '../../package.json']) {
    const file = new URL(rel, import.meta.url);
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'hipfrac' && typeof pkg.version === 'string') return (cachedVersion = pkg.version);
  }
  return (cachedVersion = 'unknown');
}

/** The full card for `model`: given fields win; architecture facts always come from the model. */
export function makeModelCard(model: Classifier, card: Partial<ModelCard> = {}): ModelCard {
  const classes = card.classes ?? Array.from({ length: model.numClasses }, (_, i) => `class${i}`);
  if (classes.length !== model.numClasses) {
    throw new ModelsError('HF_MODELS_CHECKPOINT_INVALID', `the card lists ${classes.length} classes but the model has ${model.numClasses} outputs.`, {
      input: `classes: ${JSON.stringify(classes)}`,
      fix: 'give one class name per model output.',
    });
  }
  return {
    architecture: model.spec.name,
    head: model.headKind,
    ps: model.ps,
    classes,
    inputSize: card.inputSize ?? model.spec.inputSize,
    crop: card.crop ?? 'none',
    mean: [...model.spec.mean],
    std: [...model.spec.std],
    channels: 'grey-replicated',
    dataFingerprint: card.dataFingerprint ?? null,
    metrics: card.metrics ?? {},
    threshold: card.threshold ?? null,
    ...(model.boxHead === null ? {} : { boxHead: { threshold: card.boxHead?.threshold ?? DEFAULT_BOX_THRESHOLD, ...(model.boxHeadFine === null ? {} : { fineLayer: model.spec.fineLayer?.path as string }) } }),
    hipfracVersion: hipfracVersion(),
    createdAt: card.createdAt ?? new Date().toISOString(),
    extra: card.extra ?? {},
  };
}

/**
 * Writes dir/model.safetensors and dir/model.json. Each file is written to a temporary name and
 * renamed into place, weights first, so a reader never sees a half-written file.
 */
export function saveCheckpoint(dir: string, model: Classifier, card: Partial<ModelCard> = {}): void {
  const full = makeModelCard(model, card);
  mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(full, null, 2) + '\n';
  saveSafetensors(path.join(dir, CHECKPOINT_WEIGHTS), model.stateDict(), { format: 'pt', 'hipfrac.card': JSON.stringify(full) });
  const temp = path.join(dir, `.${CHECKPOINT_CARD}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(temp, json, { flag: 'wx' });
    renameSync(temp, path.join(dir, CHECKPOINT_CARD));
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

function invalid(file: string, what: string, fix: string): HipfracError {
  return new ModelsError('HF_MODELS_CHECKPOINT_INVALID', `checkpoint card is invalid: ${what}.`, { input: file, fix });
}

/** Reads and validates dir/model.json. */
export function readModelCard(dir: string): ModelCard {
  const file = path.join(dir, CHECKPOINT_CARD);
  if (!existsSync(file)) {
    throw new ModelsError('HF_MODELS_CHECKPOINT_MISSING', `no model card in the checkpoint folder.`, { input: file, fix: 'point at a folder written by saveCheckpoint / `hipfrac train` (it holds model.json and model.safetensors).' });
  }
  let card: Partial<ModelCard>;
  try {
    card = JSON.parse(readFileSync(file, 'utf8')) as Partial<ModelCard>;
  } catch (error) {
    throw invalid(file, `not JSON (${(error as Error).message})`, 'restore model.json from the run that wrote it.');
  }
  if (typeof card.architecture !== 'string') throw invalid(file, "'architecture' is missing", 'restore model.json from the run that wrote it.');
  getModelSpec(card.architecture);
  if (card.head !== 'fastai' && card.head !== 'linear') throw invalid(file, `'head' is ${JSON.stringify(card.head)}, not 'fastai' or 'linear'`, 'restore model.json from the run that wrote it.');
  if (!Array.isArray(card.classes) || card.classes.length === 0 || !card.classes.every((c) => typeof c === 'string')) {
    throw invalid(file, "'classes' must be a non-empty list of names", 'restore model.json from the run that wrote it.');
  }
  if (typeof card.ps !== 'number') throw invalid(file, "'ps' is missing", 'restore model.json from the run that wrote it.');
  if (card.boxHead !== undefined && !(typeof card.boxHead?.threshold === 'number' && card.boxHead.threshold > 0 && card.boxHead.threshold < 1)) throw invalid(file, `'boxHead' is ${JSON.stringify(card.boxHead)}, not { "threshold": a number in (0, 1) }`, 'restore model.json from the run that wrote it.');
  if (card.boxHead?.fineLayer !== undefined && card.boxHead.fineLayer !== getModelSpec(card.architecture).fineLayer?.path) {
    throw invalid(file, `'boxHead.fineLayer' is ${JSON.stringify(card.boxHead.fineLayer)}, but ${card.architecture}'s fine box head reads ${JSON.stringify(getModelSpec(card.architecture).fineLayer?.path ?? 'nothing')}`, 'restore model.json from the run that wrote it.');
  }
  if (card.crop !== undefined && card.crop !== 'none' && card.crop !== 'roi') throw invalid(file, `'crop' is ${JSON.stringify(card.crop)}, not 'none' or 'roi'`, 'restore model.json from the run that wrote it.');
  return card as ModelCard;
}

/** Rebuilds the exact model of a checkpoint folder (in eval mode) and returns it with its card. */
export function loadCheckpoint(dir: string): { model: Classifier; card: ModelCard } {
  const card = readModelCard(dir);
  const weightsFile = path.join(dir, CHECKPOINT_WEIGHTS);
  if (!existsSync(weightsFile)) {
    throw new ModelsError('HF_MODELS_CHECKPOINT_MISSING', `the checkpoint has a card but no weights.`, { input: weightsFile, fix: 'copy model.safetensors together with model.json.' });
  }
  const { tensors, metadata } = readSafetensors(weightsFile);
  try {
    const stored = metadata['hipfrac.card'];
    if (stored !== undefined) {
      const inner = JSON.parse(stored) as Partial<ModelCard>;
      if (inner.architecture !== card.architecture || inner.head !== card.head || inner.classes?.length !== card.classes.length) {
        throw invalid(
          path.join(dir, CHECKPOINT_CARD),
          `model.json says ${card.architecture}/${card.head}/${card.classes.length} classes but ${CHECKPOINT_WEIGHTS} was saved as ${inner.architecture}/${inner.head}/${inner.classes?.length} classes`,
          'keep model.json and model.safetensors from the same save.',
        );
      }
    }
    // Checkpoints from before box supervision have no boxHead entry and no boxHead.* weights: they load as they were.
    const model = createClassifier(card.architecture, { numClasses: card.classes.length, head: card.head, ps: card.ps, weights: null, boxHead: card.boxHead === undefined ? false : card.boxHead.fineLayer === undefined ? 'last' : 'fine' });
    try {
      loadExactly(model, tensors, weightsFile, card.architecture, `checkpoint with ${card.head} head${card.boxHead === undefined ? '' : card.boxHead.fineLayer === undefined ? ' and a box head' : ' and a fine box head'}, ${card.classes.length} classes`);
    } catch (error) {
      model.dispose();
      throw error;
    }
    model.weightsSource = weightsFile;
    model.eval();
    return { model, card };
  } finally {
    dispose(tensors);
  }
}
