// Inference-only copies of zoo models: every BatchNorm that directly follows a convolution is folded
// into that convolution's weight and bias (y = γ·(Wx + b − μ)/√(σ² + ε) + β), removing a pass per layer.
import { float, noGrad, sqrt, tidy, type Tensor } from '../torch/index.js';
import { BatchNorm2d, type Module } from '../nn/index.js';
import { FeatureBody, FoldedNorm } from './body.js';
import { Classifier } from './classifier.js';
import { buildImagenetModel, getArchBuilder, imagenetArchOf } from './registry.js';
import { ModelsError } from './errors.js';

function parentOf(modulePath: string): string {
  const i = modulePath.lastIndexOf('.');
  return i < 0 ? '' : modulePath.slice(0, i);
}
function join(parent: string, name: string): string {
  return parent === '' ? name : `${parent}.${name}`;
}

function foldedTwin(model: Module): Module {
  if (model instanceof Classifier) {
    const body = getArchBuilder(model.spec.name).body({ foldBatchNorm: true });
    const twin = new Classifier(model.spec, body, model.headKind, model.numClasses, model.ps);
    twin.weightsSource = model.weightsSource;
    return twin;
  }
  const spec = imagenetArchOf(model);
  if (spec === undefined) {
    throw new ModelsError('HF_MODELS_NOT_FOLDABLE', `optimizeForInference takes a Classifier or a network from buildImagenetModel, got a ${model.constructor.name}.`, {
      fix: 'build the model with createClassifier, loadCheckpoint or buildImagenetModel.',
    });
  }
  return buildImagenetModel(spec.name, { foldBatchNorm: true });
}

export interface InferenceOptions {
  /** Run the convolutions in channels-last (NHWC) memory format (see bench/models.ts for where it wins). */
  readonly channelsLast?: boolean;
}

/**
 * A copy of `model` for evaluation only: BatchNorm layers that follow a convolution are folded into
 * it (ResNet, VGG-BN, EfficientNet: all of them; DenseNet: norm0 and each layer's norm2 — norm1 and
 * the transitions' norms follow a concatenation or a pool and stay). The copy is in eval mode with
 * gradients off; its logits equal the original's in eval mode up to float32 rounding. The original
 * is left untouched.
 */
export function optimizeForInference<M extends Module>(model: M, options: InferenceOptions = {}): M {
  const twin = foldedTwin(model);
  const body = twin instanceof Classifier ? twin.body : twin;
  if (body instanceof FeatureBody) body.inputMemoryFormat = options.channelsLast === true ? 'channels_last' : 'contiguous_format';
  const source = model.stateDict();
  const target = twin.stateDict();
  const folds = new Map<string, string>(); // conv path → BatchNorm path
  for (const [p, m] of twin.namedModules()) if (m instanceof FoldedNorm) folds.set(join(parentOf(p), m.convName), p);

  noGrad(() => {
    for (const [key, t] of target) {
      if (folds.has(parentOf(key))) continue;
      const s = source.get(key);
      if (s === undefined) throw new ModelsError('HF_MODELS_NOT_FOLDABLE', `internal: the folded copy has '${key}', the model does not.`);
      t.copy_(s);
    }
    for (const [convPath, bnPath] of folds) {
      const bn = model.getSubmodule(bnPath);
      if (!(bn instanceof BatchNorm2d)) throw new ModelsError('HF_MODELS_NOT_FOLDABLE', `internal: '${bnPath}' is a ${bn.constructor.name}, not a BatchNorm2d.`);
      // In float64, so the folded weights round once, to float32, at the end.
      tidy(() => {
        const get = (key: string): Tensor => {
          const t = source.get(key);
          if (t === undefined) throw new ModelsError('HF_MODELS_NOT_FOLDABLE', `internal: '${key}' is missing.`);
          return t.to('float64');
        };
        const scale = get(`${bnPath}.weight`).div(sqrt(get(`${bnPath}.running_var`).add(float(bn.eps))));
        const mean = get(`${bnPath}.running_mean`);
        const shifted = source.has(`${convPath}.bias`) ? get(`${convPath}.bias`).sub(mean) : mean.neg();
        (target.get(`${convPath}.weight`) as Tensor).copy_(get(`${convPath}.weight`).mul(scale.reshape([-1, 1, 1, 1])));
        (target.get(`${convPath}.bias`) as Tensor).copy_(shifted.mul(scale).add(get(`${bnPath}.bias`)));
      });
    }
  });
  twin.eval();
  twin.requiresGrad_(false);
  return twin as M;
}
