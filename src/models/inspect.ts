// Generic helpers around a model that Grad-CAM (explain) and attacks (robust) both need: the expected input,
// train/eval mode saved and restored, the model's device, and a layer looked up by path with a helpful error.
import { Classifier } from './classifier.js';
import { Conv2d, type Module } from '../nn/index.js';
import type { Tensor } from '../torch/index.js';
import { HipfracError } from '../util/index.js';
import { ModelsError } from './errors.js';

/** What a classifier accepts: [N, channels, height, width]; undefined fields are not checked. */
export interface ExpectedInput {
  /** One count, or the counts accepted (a Classifier takes grey [N, 1, …] or RGB [N, 3, …]). */
  readonly channels?: number | readonly number[];
  readonly height?: number;
  readonly width?: number;
}

/**
 * The channels a model accepts: 1 or 3 for the zoo's Classifier (it replicates grey itself), else the input
 * channels of the first convolution (the stem); undefined when it has none.
 */
export function inferInputChannels(model: Module): number | readonly number[] | undefined {
  if (model instanceof Classifier) return [1, 3];
  for (const [, m] of model.namedModules()) if (m instanceof Conv2d) return m.inChannels;
  return undefined;
}

/**
 * Checks images against the model's contract: a float tensor [N, C, H, W] with the expected channels and size.
 * `code` lets each room report its own error code.
 */
export function checkImageShape(images: Tensor, expected: ExpectedInput, code: string, what = 'images'): void {
  const shape = images.shape;
  const got = `[${shape.join(', ')}]`;
  const channelText = expected.channels === undefined ? 'C' : typeof expected.channels === 'number' ? String(expected.channels) : expected.channels.join('|');
  const want = `[N, ${channelText}, ${expected.height ?? 'H'}, ${expected.width ?? 'W'}]`;
  if (shape.length !== 4) {
    throw new HipfracError(code, `${what} must be a batch [N, C, H, W]; got a tensor of shape ${got}.`, {
      input: what,
      fix: `add a batch dimension (unsqueeze(0)) for one image; the model expects ${want}.`,
    });
  }
  if (!images.dtype.startsWith('float')) {
    throw new HipfracError(code, `${what} must be floating point in [0, 1]; got dtype ${images.dtype}.`, {
      input: what,
      fix: 'convert to float32 and divide 8-bit images by 255 (16-bit by 65535).',
    });
  }
  const [, c, h, w] = shape as [number, number, number, number];
  const accepted = expected.channels === undefined ? undefined : typeof expected.channels === 'number' ? [expected.channels] : expected.channels;
  if (accepted !== undefined && !accepted.includes(c)) {
    const list = accepted.join(' or ');
    throw new HipfracError(code, `${what} have ${c} channel(s) but the model expects ${list}; got ${got}, expected ${want}.`, {
      input: what,
      fix: accepted.includes(3) && c === 1 ? 'repeat the grey channel three times (images.repeat([1, 3, 1, 1])).' : `give ${list}-channel images.`,
    });
  }
  if ((expected.height !== undefined && h !== expected.height) || (expected.width !== undefined && w !== expected.width)) {
    throw new HipfracError(code, `${what} are ${h}×${w} but the model expects ${expected.height ?? h}×${expected.width ?? w}; got ${got}.`, {
      input: what,
      fix: 'resize to the model card\'s input size (interpolate) before explaining or attacking.',
    });
  }
}

/** Runs `fn` with the model in eval (or train) mode and restores every submodule's own mode afterwards. */
export function withMode<T>(model: Module, mode: 'eval' | 'train', fn: () => T): T {
  const saved = [...model.namedModules()].map(([, m]) => [m, m.training] as const);
  model.train(mode === 'train');
  try {
    return fn();
  } finally {
    for (const [m, training] of saved) m.training = training;
  }
}

/** The device of the model's first parameter ('cpu' for a model without parameters). */
export function modelDevice(model: Module): string {
  for (const [, p] of model.namedParameters()) return p.device;
  return 'cpu';
}

/** Paths of the model's convolution-like layers, last first (candidates for a CAM target layer). */
export function candidateLayers(model: Module, limit = 8): string[] {
  const convs: string[] = [];
  for (const [name, m] of model.namedModules()) if (name !== '' && m instanceof Conv2d) convs.push(name);
  const names = convs.length > 0 ? convs : [...model.namedModules()].map(([n]) => n).filter((n) => n !== '');
  return names.reverse().slice(0, limit);
}

/** Looks up a target layer by dotted path (or checks a Module is inside the model). */
export function resolveLayer(model: Module, layer: Module | string): { path: string; module: Module } {
  if (typeof layer !== 'string') {
    for (const [name, m] of model.namedModules()) if (m === layer) return { path: name, module: m };
    throw new ModelsError('HF_MODELS_UNKNOWN_LAYER', `the target layer (${layer.constructor.name}) is not a submodule of this model.`, {
      fix: `pass a module of this model or a path such as ${candidateLayers(model, 5).map((n) => `'${n}'`).join(', ')}.`,
    });
  }
  const names = new Set([...model.namedModules()].map(([n]) => n));
  if (!names.has(layer)) {
    throw new ModelsError('HF_MODELS_UNKNOWN_LAYER', `the model has no layer '${layer}'.`, {
      input: layer,
      fix: `choose one of its ${names.size - 1} layers, e.g. (last convolutions first) ${candidateLayers(model).map((n) => `'${n}'`).join(', ')}.`,
    });
  }
  return { path: layer, module: model.getSubmodule(layer) };
}
