// The ONNX door of the model zoo: export of zoo models to ONNX (opset 17, model card in metadata), int8 QDQ
// quantisation with calibration, and prediction on ONNX Runtime for the CLI and the DICOM node's workers.
export { buildOnnxGraph, exportOnnx, finishOnnx, writeOnnxFile, ONNX_OPSET, ONNX_INPUT, ONNX_OUTPUT, ONNX_FEATURES, CARD_KEY } from './export.js';
export type { OnnxExportOptions, OnnxExportFacts, OnnxGraph, OnnxPrecision } from './export.js';
export { createOnnxPredictor, readOnnxFacts, onnxFactsOf, onnxThreadCount } from './runtime.js';
export type { OnnxPredictor, OnnxPredictorOptions, OnnxPrediction } from './runtime.js';
export { decodeModel, encodeModel, DataType } from './proto.js';
export { tritonConfig, writeTritonRepository } from './triton.js';
export type { TritonOptions } from './triton.js';
export { quantizeInt8, calibrate, activationsToQuantise } from './quantize.js';
export { concatenationsChained, inputChannelsPadded, int8Ready, normsAsConvolutions, poolsIntoConvolutions, requantiseBeforeConcat } from './int8Graph.js';
export type { CalibrationMethod, QuantizeOptions } from './quantize.js';
export { openCheckpointOnnx, CHECKPOINT_ONNX } from './checkpoint.js';
