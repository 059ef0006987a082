// Weight files: safetensors read/write (hipfrac's own checkpoints) and PyTorch .pth reading
// (torchvision's ImageNet weights), both without Python and without running code from the file.
export { saveSafetensors, loadSafetensors, readSafetensors, parseSafetensorsHeader, safetensorsHeaderLength } from './safetensors.js';
export type { SafetensorsContent, SafetensorsEntry, SafetensorsHeader } from './safetensors.js';
export { loadPth, readPth, STATE_DICT_KEYS } from './pth.js';
export type { PthContent, PthOptions } from './pth.js';
export { tensorFromBytes, tensorToBytes, ELEMENT_SIZE } from './tensorBytes.js';
