// A Triton Inference Server model-repository folder for an exported graph: DIR/config.pbtxt and DIR/1/model.onnx,
// the model named after the folder, run by Triton's ONNX Runtime backend on CPU with dynamic batching.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HipfracError } from '../../util/index.js';
import { ONNX_INPUT, ONNX_OUTPUT, writeOnnxFile } from './export.js';

export interface TritonOptions {
  readonly inputSize: number;
  readonly classes: number;
  /** Largest batch Triton may form (default 32). */
  readonly maxBatchSize?: number;
  /** Intra-op threads per instance (default 2). */
  readonly threads?: number;
}

/** The config.pbtxt text (protobuf text format of Triton's ModelConfig). */
export function tritonConfig(name: string, options: TritonOptions): string {
  return [
    `name: "${name}"`,
    'platform: "onnxruntime_onnx"',
    `max_batch_size: ${options.maxBatchSize ?? 32}`,
    `input [ { name: "${ONNX_INPUT}" data_type: TYPE_FP32 dims: [ 1, ${options.inputSize}, ${options.inputSize} ] } ]`,
    `output [ { name: "${ONNX_OUTPUT}" data_type: TYPE_FP32 dims: [ ${options.classes} ] } ]`,
    'dynamic_batching { }',
    'instance_group [ { kind: KIND_CPU count: 1 } ]',
    `parameters { key: "intra_op_thread_count" value: { string_value: "${options.threads ?? 2}" } }`,
    '',
  ].join('\n');
}

/** Writes DIR/config.pbtxt and DIR/1/model.onnx; the folder's name is the model's name in Triton. */
export function writeTritonRepository(dir: string, onnx: Uint8Array, options: TritonOptions): { config: string; model: string } {
  const name = path.basename(path.resolve(dir));
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new HipfracError('HF_MODELS_ONNX_INVALID', `'${name}' is not a usable Triton model name.`, { input: dir, fix: 'name the folder with letters, digits, _ . - only (it becomes the model name).' });
  }
  mkdirSync(path.join(dir, '1'), { recursive: true });
  const model = path.join(dir, '1', 'model.onnx');
  writeOnnxFile(model, onnx);
  const config = path.join(dir, 'config.pbtxt');
  writeFileSync(config, tritonConfig(name, options));
  return { config, model };
}
