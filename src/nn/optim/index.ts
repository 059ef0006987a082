// Optimisers with parameter groups a scheduler can drive (Adam, AdamW, SGD, PyTorch-exact), and
// their state as tensors + JSON so a crashed training run resumes where it stopped.
export { Optimizer } from './optimizer.js';
export type { ParamGroup, ParamsInput, OptimizerState, OptimizerMeta, Hyperparameter } from './optimizer.js';
export { Adam, AdamW } from './adam.js';
export type { AdamGroup, AdamOptions } from './adam.js';
export { SGD } from './sgd.js';
export type { SGDGroup, SGDOptions } from './sgd.js';
export { saveOptimizerState, loadOptimizerState } from './stateFile.js';
