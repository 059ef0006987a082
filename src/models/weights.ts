// Weight files for the zoo: finding torchvision's ImageNet file in the weights directory, reading
// .pth or safetensors, and loading it into a body with an error that names file, architecture and keys.
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import type { Tensor } from '../torch/index.js';
import { formatLoadReport, loadPth, loadSafetensors, type LoadReport, type Module } from '../nn/index.js';
import { HipfracError } from '../util/index.js';
import type { ArchBuilder, ArchSpec } from './registry.js';
import { ModelsError } from './errors.js';

/** The weights directory: the option, else HIPFRAC_WEIGHTS_DIR, else none. */
export function resolveWeightsDir(weightsDir?: string): string | null {
  if (weightsDir !== undefined && weightsDir !== '') return weightsDir;
  const fromEnv = process.env['HIPFRAC_WEIGHTS_DIR'];
  return fromEnv === undefined || fromEnv === '' ? null : fromEnv;
}

/** The path of the first of the architecture's torchvision files present in `dir`, or null. */
export function findImagenetWeights(spec: ArchSpec, dir: string | null): string | null {
  if (dir === null) return null;
  for (const file of [spec.weightFile, ...(spec.otherWeightFiles ?? []).map((o) => o.file)]) {
    const candidate = path.join(dir, file);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** The error for pretrained weights that are not there: which file, for which network, where to get it. */
export function weightsNotFound(spec: ArchSpec, dir: string | null): HipfracError {
  const where = dir === null ? 'no weights directory is set (HIPFRAC_WEIGHTS_DIR or --weights-dir)' : `it is not in ${dir}`;
  return new ModelsError('HF_MODELS_WEIGHTS_NOT_FOUND', `ImageNet weights for ${spec.name} (${spec.weightFile}) were asked for, but ${where}.`, {
    input: dir === null ? spec.weightFile : path.join(dir, spec.weightFile),
    fix: `on a connected machine download ${spec.weightUrl} into the weights directory (or pass --weights PATH), or train from scratch (weights: null / --from-scratch).`,
  });
}

/** safetensors starts with an 8-byte header length and then the JSON header's '{'. */
function looksLikeSafetensors(file: string): boolean {
  const head = Buffer.alloc(9);
  const fd = openSync(file, 'r');
  try {
    return readSync(fd, head, 0, 9, 0) === 9 && head[8] === 0x7b;
  } finally {
    closeSync(fd);
  }
}

/** Reads a weight file by its content (safetensors or PyTorch .pth), whatever its extension. */
export function readWeightFile(file: string): Map<string, Tensor> {
  if (!existsSync(file)) {
    throw new ModelsError('HF_MODELS_WEIGHTS_NOT_FOUND', `weight file not found.`, { input: file, fix: 'check the path; torchvision file names are listed by `hipfrac models`.' });
  }
  try {
    return looksLikeSafetensors(file) ? loadSafetensors(file) : loadPth(file);
  } catch (error) {
    throw new ModelsError('HF_MODELS_WEIGHTS_UNREADABLE', `cannot read weights: ${(error as Error).message}`, {
      input: file,
      fix: 'pass a torchvision .pth file (torch.save of a state_dict) or a .safetensors file.',
      cause: error,
    });
  }
}

function problems(report: LoadReport): number {
  return report.missingKeys.length + report.unexpectedKeys.length + report.mismatchedKeys.length;
}

/** Loads `state` into `module` only when every key and shape fits; otherwise names file, arch and keys. */
export function loadExactly(module: Module, state: ReadonlyMap<string, Tensor>, file: string, arch: string, what: string): void {
  const own = module.stateDict();
  const report: LoadReport = { missingKeys: [], unexpectedKeys: [], mismatchedKeys: [] };
  for (const key of own.keys()) if (!state.has(key)) report.missingKeys.push(key);
  for (const key of state.keys()) if (!own.has(key)) report.unexpectedKeys.push(key);
  for (const [key, t] of own) {
    const s = state.get(key);
    if (s !== undefined && (s.ndim !== t.ndim || s.shape.some((d, i) => d !== t.shape[i]))) report.mismatchedKeys.push({ key, expected: t.shape, received: s.shape });
  }
  if (problems(report) > 0) {
    throw new ModelsError('HF_MODELS_WEIGHTS_MISMATCH', `${path.basename(file)} does not fit ${arch} (${what}): ${formatLoadReport(report)}.`, {
      input: file,
      fix: `use the file made for ${arch} (\`hipfrac models\` lists the torchvision file names), or train from scratch.`,
    });
  }
  module.loadStateDict(state, { strict: true, source: file });
}

/**
 * Loads an ImageNet file (torchvision's keys) into a body: legacy keys rewritten, the ImageNet
 * classifier dropped, everything else must fit exactly.
 */
export function loadImagenetIntoBody(body: Module, spec: ArchSpec, builder: ArchBuilder, file: string, state: ReadonlyMap<string, Tensor>): void {
  const rewritten = builder.rewriteKeys === undefined ? state : builder.rewriteKeys(state);
  const kept = new Map<string, Tensor>();
  for (const [key, t] of rewritten) if (!builder.classifierPrefixes.some((p) => key.startsWith(p))) kept.set(key, t);
  // Files saved before PyTorch 0.4.1 (torchvision's DenseNet weights among them) have no BatchNorm
  // num_batches_tracked; PyTorch starts the counter at 0 for them, and so do we.
  for (const [key, t] of body.stateDict()) if (key.endsWith('.num_batches_tracked') && !kept.has(key)) kept.set(key, t);
  loadExactly(body, kept, file, spec.name, 'ImageNet body');
}
