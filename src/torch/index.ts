// The tensor engine's door: Tensor, factories, operators, autograd, scopes and runtime settings,
// all over LibTorch through the native addon.
import { initRuntime } from './runtime.js';

export { Tensor, tidy, keep, dispose, callOp, callTensor, callInplace, opSchema, float, isDType } from './tensor.js';
export type { DType, Device, Scalar, FloatScalar, TypedArray } from './tensor.js';
export * from './creation.js';
export * from './ops.js';
export { grad, backward, noGrad, enableGrad, isGradEnabled, inferenceMode, isInferenceMode, autocast, isAutocast, PRECISIONS } from './autograd.js';
export type { Precision } from './autograd.js';
export { manualSeed, setNumThreads, getNumThreads, defaultThreadCount, cuda, resolveDevice, buildInfo, memoryStats, emptyCpuCache, loadedBlas } from './runtime.js';
export type { FactoryOptions } from './creation.js';

initRuntime();
export { TorchError } from './errors.js';
export type { TorchErrorCode } from './errors.js';
export { ProcessGroup, GradReducer, distributedAvailable, distError, syncBatchNorm } from './distributed.js';
export type { ProcessGroupOptions, DistErrorCode } from './distributed.js';
