// Option parsing shared by the commands: the checkpoint flags, numbers and colour maps checked at the boundary
// (HF_CLI_BAD_OPTION, exit status 2), and the checkpoint a command runs.
import { radiographReader, type CropScorer, type ImageLabels, type Radiograph } from '../data/index.js';
import { COLORMAPS, type ColormapName } from '../explain/index.js';
import { checkpointLocator, classifierCropScorer } from '../localise/index.js';
import { listModels, loadCheckpoint, readModelCard, type Classifier, type ModelCard } from '../models/index.js';
import { resolveDevice } from '../torch/index.js';
import { CliError } from './errors.js';

/** The flags of every command that runs a checkpoint: --model CKPT_DIR, --device (loadModel) and --rois (radiographReader). */
export const CHECKPOINT_FLAGS = {
  model: { type: 'string' },
  device: { type: 'string', default: 'cpu' },
  rois: { type: 'string' },
} as const;

/**
 * The checkpoint's card alone (cheap: no weights), so a command checks its labels, regions and policy against it
 * before loading the model. Throws HF_CLI_MISSING_OPTION without --model.
 */
export function checkpointCard(dir: string | undefined): ModelCard {
  if (dir === undefined) throw new CliError('HF_CLI_MISSING_OPTION', '--model is required.', { fix: 'pass --model CKPT_DIR (a folder with model.json and model.safetensors).' });
  return readModelCard(dir);
}

/** The checkpoint's model (eval mode) and card, moved to `device` ('cpu' default, 'cuda', 'cuda:N'). */
export function loadModel(dir: string | undefined, device = 'cpu'): { model: Classifier; card: ModelCard } {
  if (dir === undefined) throw new CliError('HF_CLI_MISSING_OPTION', '--model is required.', { fix: 'pass --model CKPT_DIR (a folder with model.json and model.safetensors).' });
  const target = resolveDevice(device);
  const loaded = loadCheckpoint(dir);
  if (target !== 'cpu') loaded.model.to(target);
  return loaded;
}

/**
 * How a command reads its inputs for a checkpoint (radiographReader: the region rules checked now, before the
 * weights load), and `use(model)` once the classifier is loaded: from then on it classifies both hips of a bilateral
 * view and keeps the more suspicious (crop models with a localiser).
 */
export function checkpointReader(dir: string | undefined, card: Pick<ModelCard, 'crop' | 'inputSize'>, rois: string | undefined): { read: (file: string) => Promise<Radiograph>; use(model: Classifier): void } {
  let scorer: CropScorer | undefined;
  const read = radiographReader(card, rois, checkpointLocator(dir), (crops) => {
    if (scorer === undefined) throw new Error('checkpointReader: use(model) must come before the first read');
    return scorer(crops);
  });
  return { read, use: (model) => void (scorer = classifierCropScorer(model, card.inputSize)) };
}

/** An architecture name of the registry (HF_CLI_BAD_OPTION naming the known ones otherwise). */
export function architectureOption(value: string, option = '--arch'): string {
  const known = listModels().map((m) => m.name);
  if (!known.includes(value)) throw new CliError('HF_CLI_BAD_OPTION', `unknown architecture '${value}'.`, { input: option, fix: `use one of ${known.join(', ')} (hipfrac models).` });
  return value;
}

/** Every input has a label row (HF_CLI_BAD_LABELS naming the first ones otherwise), checked before the model runs. */
export function requireLabelled(files: readonly string[], labels: ImageLabels): void {
  const unlabelled = files.filter((f) => labels.labelOf(f) === undefined);
  if (unlabelled.length > 0) {
    throw new CliError('HF_CLI_BAD_LABELS', `${unlabelled.length} image(s) have no row in the labels CSV (first: ${unlabelled.slice(0, 3).join(', ')}).`, {
      input: labels.file,
      fix: 'add a "file,label" row for every image (paths relative to the CSV, or bare file names).',
    });
  }
}

/** Splits a list into batches of `size`. */
export function batchesOf<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function positiveInt(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliError('HF_CLI_BAD_OPTION', `${name} must be a positive integer, got '${value}'.`, { input: name, fix: `e.g. ${name} ${fallback}` });
  return n;
}

export function colormapOption(value: string | undefined): ColormapName {
  const name = (value ?? 'jet') as ColormapName;
  if (!COLORMAPS.includes(name)) throw new CliError('HF_CLI_BAD_OPTION', `unknown colour map '${value}'.`, { input: '--colormap', fix: `use one of ${COLORMAPS.join(', ')}.` });
  return name;
}

export function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new CliError('HF_CLI_BAD_OPTION', `${name} must be a number, got '${value}'.`, { input: name, fix: `give a number, e.g. ${name} 0.5` });
  return n;
}

/**
 * The one positional argument of a command that takes one (`what`: 'input', 'dataset folder', …): missing → the
 * usage line; more than one → an error naming the extra ones (a shell glob or a stray word is never ignored).
 */
export function singlePositional(positionals: readonly string[], what: string, usageLine: string): string {
  const first = positionals[0];
  if (first === undefined) throw new CliError('HF_CLI_MISSING_OPTION', `no ${what} given.`, { fix: usageLine });
  if (positionals.length > 1) {
    const extra = positionals.slice(1);
    throw new CliError('HF_CLI_BAD_OPTION', `this command takes one ${what}, got ${positionals.length}: unexpected ${extra.slice(0, 3).map((p) => `'${p}'`).join(', ')}${extra.length > 3 ? ` and ${extra.length - 3} more` : ''}.`, { input: extra[0] as string, fix: `give one ${what} (a folder where a folder is accepted), or quote an argument that contains spaces; ${usageLine}` });
  }
  return first;
}
