// The model zoo's error codes, one place: each names what went wrong; messages carry the file,
// architecture and offending keys. A retired code is never reused.
import { HipfracError } from '../util/index.js';

export type ModelsErrorCode =
  | 'HF_MODELS_UNKNOWN_ARCH' // name not in the registry
  | 'HF_MODELS_DUPLICATE_ARCH' // registerModel called twice with one name
  | 'HF_MODELS_BAD_OPTION' // an option out of range (numClasses, ps, head kind)
  | 'HF_MODELS_INPUT_SHAPE' // an image batch that is not [N, 1|3, H, W]
  | 'HF_MODELS_WEIGHTS_NOT_FOUND' // pretrained weights asked for, file absent
  | 'HF_MODELS_WEIGHTS_UNREADABLE' // the weight file exists but is neither .pth nor safetensors
  | 'HF_MODELS_WEIGHTS_MISMATCH' // the file's keys or shapes do not fit the architecture
  | 'HF_MODELS_CHECKPOINT_MISSING' // model.json or model.safetensors absent
  | 'HF_MODELS_CHECKPOINT_INVALID' // model.json malformed or inconsistent with the weights
  | 'HF_MODELS_NOT_FOLDABLE' // optimizeForInference got a module the zoo did not build
  | 'HF_MODELS_ONNX_UNSUPPORTED' // ONNX export of a module without an emitter, or of a model in training mode
  | 'HF_MODELS_ONNX_INVALID' // an .onnx file that is unreadable, not hipfrac's, or not runnable by ONNX Runtime
  | 'HF_MODELS_ONNX_CALIBRATION' // int8 calibration without images or with a bad method/option
  | 'HF_MODELS_UNKNOWN_LAYER' // a layer path (e.g. a Grad-CAM target) that is not a submodule
  | 'HF_MODELS_NO_BOX_HEAD'; // fracture heatmaps or boxes asked of a classifier trained without box supervision

/** An error of this room: its code is checked against the catalogue above at compile time. */
export class ModelsError extends HipfracError<ModelsErrorCode> {}
