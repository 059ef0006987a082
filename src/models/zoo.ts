// The built-in architectures: the study's seven CNNs (AlexNet, VGG-19, ResNet-50/152, SqueezeNet,
// DenseNet-121/169), their siblings, and EfficientNet-B0…B3, with torchvision's ImageNet weight files.
import { AlexNet, AlexNetBody } from './alexnet.js';
import { DENSENET_CONFIGS, DenseNet, DenseNetBody, denseNetFineLayer, rewriteLegacyDenseNetKeys } from './densenet.js';
import { EFFICIENTNET_CONFIGS, EfficientNet, EfficientNetBody, efficientNetFineLayer } from './efficientnet.js';
import { registerModel, type ArchSpec } from './registry.js';
import { RESNET_CONFIGS, ResNet, ResNetBody } from './resnet.js';
import { SqueezeNet, SqueezeNetBody } from './squeezenet.js';
import { Vgg, VggBody } from './vgg.js';

const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];
const DOWNLOAD = 'https://download.pytorch.org/models/';

function spec(name: string, family: string, gradCamLayer: string, weightFile: string, extra: Partial<ArchSpec> = {}): ArchSpec {
  return { name, family, inputSize: 224, mean: IMAGENET_MEAN, std: IMAGENET_STD, gradCamLayer, weightFile, weightUrl: DOWNLOAD + weightFile, ...extra };
}
function other(file: string): { file: string; url: string } {
  return { file, url: DOWNLOAD + file };
}

let registered = false;

/** Registers the built-in architectures once (called by the room's index). */
export function registerBuiltinModels(): void {
  if (registered) return;
  registered = true;

  registerModel(spec('alexnet', 'alexnet', 'body.features.11', 'alexnet-owt-7be5be79.pth'), {
    imagenet: () => new AlexNet(),
    body: () => new AlexNetBody(),
    classifierPrefixes: ['classifier.'],
  });

  // The last ReLU before the fifth max pool: 14×14 at 224 px.
  registerModel(spec('vgg19', 'vgg', 'body.features.35', 'vgg19-dcbb9e9d.pth'), {
    imagenet: (o) => new Vgg(false, o),
    body: (o) => new VggBody(false, o),
    classifierPrefixes: ['classifier.'],
  });
  registerModel(spec('vgg19_bn', 'vgg', 'body.features.51', 'vgg19_bn-c79401a0.pth'), {
    imagenet: (o) => new Vgg(true, o),
    body: (o) => new VggBody(true, o),
    classifierPrefixes: ['classifier.'],
  });

  const resnetFiles: Record<keyof typeof RESNET_CONFIGS, [string, string?]> = {
    resnet18: ['resnet18-f37072fd.pth'],
    resnet34: ['resnet34-b627a593.pth'],
    resnet50: ['resnet50-0676ba61.pth', 'resnet50-11ad3fa6.pth'],
    resnet101: ['resnet101-63fe2227.pth', 'resnet101-cd907fc2.pth'],
    resnet152: ['resnet152-394f9c45.pth', 'resnet152-f82ba261.pth'],
  };
  for (const [name, [kind, layers]] of Object.entries(RESNET_CONFIGS)) {
    const [v1, v2] = resnetFiles[name as keyof typeof RESNET_CONFIGS];
    // IMAGENET1K_V1 (what the study's fastai loaded) first; V2 (torchvision's newer recipe) also accepted.
    // layer3 has half of layer4's channels: 256 in the basic-block nets, 1024 in the bottleneck ones.
    const fineLayer = { path: 'body.layer3', channels: kind === 'basic' ? 256 : 1024 };
    registerModel(spec(name, 'resnet', 'body.layer4', v1, { fineLayer, ...(v2 === undefined ? {} : { otherWeightFiles: [other(v2)] }) }), {
      imagenet: (o) => new ResNet(kind, layers, o),
      body: (o) => new ResNetBody(kind, layers, o),
      classifierPrefixes: ['fc.'],
    });
  }

  registerModel(spec('squeezenet1_0', 'squeezenet', 'body.features.12', 'squeezenet1_0-b66bff10.pth'), {
    imagenet: () => new SqueezeNet('1_0'),
    body: () => new SqueezeNetBody('1_0'),
    classifierPrefixes: ['classifier.'],
  });
  registerModel(spec('squeezenet1_1', 'squeezenet', 'body.features.12', 'squeezenet1_1-b8a52dc0.pth'), {
    imagenet: () => new SqueezeNet('1_1'),
    body: () => new SqueezeNetBody('1_1'),
    classifierPrefixes: ['classifier.'],
  });

  const densenetFiles: Record<keyof typeof DENSENET_CONFIGS, string> = {
    densenet121: 'densenet121-a639ec97.pth',
    densenet161: 'densenet161-8d451a50.pth',
    densenet169: 'densenet169-b2777c0a.pth',
    densenet201: 'densenet201-c1103571.pth',
  };
  for (const [name, config] of Object.entries(DENSENET_CONFIGS)) {
    registerModel(spec(name, 'densenet', 'body.features.norm5', densenetFiles[name as keyof typeof DENSENET_CONFIGS], { fineLayer: denseNetFineLayer(config) }), {
      imagenet: (o) => new DenseNet(config, o),
      body: (o) => new DenseNetBody(config, o),
      classifierPrefixes: ['classifier.'],
      rewriteKeys: rewriteLegacyDenseNetKeys,
    });
  }

  const efficientnetFacts: Record<keyof typeof EFFICIENTNET_CONFIGS, [number, string, string?]> = {
    efficientnet_b0: [224, 'efficientnet_b0_rwightman-3dd342df.pth'],
    efficientnet_b1: [240, 'efficientnet_b1_rwightman-533bc792.pth', 'efficientnet_b1-c27df63c.pth'],
    efficientnet_b2: [288, 'efficientnet_b2_rwightman-bcdf34b7.pth'],
    efficientnet_b3: [300, 'efficientnet_b3_rwightman-cf984f9c.pth'],
  };
  for (const [name, config] of Object.entries(EFFICIENTNET_CONFIGS)) {
    const [inputSize, file, alt] = efficientnetFacts[name as keyof typeof EFFICIENTNET_CONFIGS];
    registerModel(spec(name, 'efficientnet', 'body.features.8', file, { inputSize, fineLayer: efficientNetFineLayer(config), ...(alt === undefined ? {} : { otherWeightFiles: [other(alt)] }) }), {
      imagenet: (o) => new EfficientNet(config, o),
      body: (o) => new EfficientNetBody(config, o),
      classifierPrefixes: ['classifier.'],
    });
  }
}
