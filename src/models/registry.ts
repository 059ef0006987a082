// The architecture registry: name → facts (input size, normalisation, Grad-CAM layer, weight file)
// and builders, so training, reports and the CLI compare architectures by looping over names.
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import type { FeatureBody, NetOptions } from './body.js';
import { ModelsError } from './errors.js';

/** What the rest of hipfrac needs to know about an architecture. */
export interface ArchSpec {
  readonly name: string;
  readonly family: string;
  /** Side of the square training/evaluation image (torchvision's crop size). */
  readonly inputSize: number;
  readonly mean: [number, number, number];
  readonly std: [number, number, number];
  /** Module path inside a Classifier of the last convolutional feature map, e.g. 'body.layer4'. */
  readonly gradCamLayer: string;
  /**
   * A feature map at twice the resolution of the last one that the fine box head reads beside it (ResNets:
   * 'body.layer3'; DenseNets: 'body.features.denseblock3'; EfficientNets: 'body.features.5'), with its channels;
   * absent where the architecture has no fine box head.
   */
  readonly fineLayer?: { readonly path: string; readonly channels: number };
  /** torchvision's ImageNet weight file name, looked up in the weights directory. */
  readonly weightFile: string;
  readonly weightUrl: string;
  /** Other torchvision ImageNet files for the same network (e.g. ResNet-50's V2 recipe), tried after weightFile. */
  readonly otherWeightFiles?: readonly { readonly file: string; readonly url: string }[];
}

/** How to build an architecture: the ImageNet network and its body (the network minus its classifier). */
export interface ArchBuilder {
  imagenet(options?: NetOptions): Module;
  body(options?: NetOptions): FeatureBody;
  /** Key prefixes of the ImageNet classifier (dropped when an ImageNet file is loaded into a body). */
  readonly classifierPrefixes: readonly string[];
  /** Rewrites keys of older weight files to today's names (DenseNet's `norm.1` → `norm1`). */
  readonly rewriteKeys?: (state: ReadonlyMap<string, Tensor>) => Map<string, Tensor>;
}

interface Entry {
  readonly spec: ArchSpec;
  readonly builder: ArchBuilder;
}

const entries = new Map<string, Entry>();
// Which architecture built an ImageNet network, so optimizeForInference can rebuild it folded.
const builtBy = new WeakMap<Module, Entry>();

/** Adds an architecture; a name registered twice is an error. */
export function registerModel(spec: ArchSpec, builder: ArchBuilder): void {
  if (entries.has(spec.name)) {
    throw new ModelsError('HF_MODELS_DUPLICATE_ARCH', `architecture '${spec.name}' is already registered.`, { input: spec.name, fix: 'choose another name for the new architecture.' });
  }
  entries.set(spec.name, { spec: Object.freeze({ ...spec, mean: [...spec.mean], std: [...spec.std] }) as ArchSpec, builder });
}

/** Every registered architecture, in registration order. */
export function listModels(): ArchSpec[] {
  return [...entries.values()].map((e) => e.spec);
}

function entry(name: string): Entry {
  const e = entries.get(name);
  if (e === undefined) {
    throw new ModelsError('HF_MODELS_UNKNOWN_ARCH', `unknown architecture '${name}'.`, { input: name, fix: `use one of: ${[...entries.keys()].join(', ')}.` });
  }
  return e;
}

export function getModelSpec(name: string): ArchSpec {
  return entry(name).spec;
}

/** The builders of an architecture (for Classifier and optimizeForInference). */
export function getArchBuilder(name: string): ArchBuilder {
  return entry(name).builder;
}

/** The plain torchvision-equivalent network with 1000 ImageNet classes, randomly initialised as torchvision does. */
export function buildImagenetModel(name: string, options: NetOptions = {}): Module {
  const e = entry(name);
  const model = e.builder.imagenet(options);
  builtBy.set(model, e);
  return model;
}

/** The architecture that built an ImageNet network with buildImagenetModel, if any. */
export function imagenetArchOf(model: Module): ArchSpec | undefined {
  return builtBy.get(model)?.spec;
}
