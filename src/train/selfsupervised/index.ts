// Self-supervised pretraining's door: SimCLR on unlabelled training radiographs, writing a body that `train
// --weights` loads like ImageNet weights.
export { pretrainSimclr, saveSimclrBody, SIMCLR_VIEWS } from './simclr.js';
export type { SimclrOptions, SimclrResult } from './simclr.js';
export { ntXent, unitRows } from './ntxent.js';
