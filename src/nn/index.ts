// Neural-network building blocks: Module (PyTorch state_dict naming), layers, initialisers,
// optimisers and weight files (safetensors, PyTorch .pth).
export { Module, formatLoadReport } from './module.js';
export type { ForwardHook, HookHandle, LoadReport } from './module.js';
export {
  Conv2d,
  Linear,
  BatchNorm2d,
  BatchNorm1d,
  convertSyncBatchNorm,
  Dropout,
  ReLU,
  SiLU,
  Sigmoid,
  Identity,
  Flatten,
  MaxPool2d,
  AvgPool2d,
  AdaptiveAvgPool2d,
  AdaptiveMaxPool2d,
  AdaptiveConcatPool2d,
  Sequential,
  NamedSequential,
  runChain,
} from './layers.js';
export type { Conv2dOptions } from './layers.js';
export * as init from './init.js';
export * from './optim/index.js';
export * from './io/index.js';
export { NnError } from './errors.js';
export type { NnErrorCode } from './errors.js';
