// `hipfrac export`: a checkpoint as an ONNX graph (fp32, or int8 QDQ calibrated on a dataset's validation
// images), optionally as a Triton model-repository folder.
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { exportCheckpointOnnx } from '../../train/index.js';
import { CliError } from '../errors.js';
import { positiveInt, singlePositional } from '../options.js';

const usage = `Usage: hipfrac export MODEL_DIR --format onnx --out FILE.onnx [--triton DIR] [--input-size N] [--no-fold]
                      [--quantize int8 --calibration DATASET [--calibration-images N] [--method minmax|percentile|entropy]]

Writes the checkpoint as an ONNX graph (opset 17, dynamic batch): input 'images' [N, 1, S, S] grey in [0, 1],
output 'logits' [N, classes]; the grey → RGB step and the ImageNet normalisation are inside the graph and the
model card is in its metadata. BatchNorm is folded into the convolutions unless --no-fold.
--triton DIR also writes DIR/config.pbtxt and DIR/1/model.onnx (a Triton model repository entry named DIR).
--quantize int8: static QDQ quantisation (per-channel symmetric int8 weights, per-tensor activations) calibrated
on N images (default 64) of DATASET's validation split; the other validation images measure AUC and accuracy of
fp32 against int8, and the card records both.`;

export const exportCommand: CliCommand = {
  name: 'export',
  summary: 'Write a checkpoint as an ONNX graph (fp32 or calibrated int8), optionally a Triton folder',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        format: { type: 'string', default: 'onnx' },
        out: { type: 'string' },
        triton: { type: 'string' },
        'input-size': { type: 'string' },
        'no-fold': { type: 'boolean', default: false },
        quantize: { type: 'string' },
        calibration: { type: 'string' },
        'calibration-images': { type: 'string' },
        method: { type: 'string', default: 'percentile' },
      },
    });
    const modelDir = singlePositional(positionals, 'checkpoint folder', usage.split('\n')[0] ?? '');
    if (values.format !== 'onnx') throw new CliError('HF_CLI_BAD_OPTION', `--format must be onnx, got '${values.format}'.`, { input: '--format', fix: 'use --format onnx.' });
    if (values.out === undefined && values.triton === undefined) throw new CliError('HF_CLI_MISSING_OPTION', '--out FILE.onnx (or --triton DIR) is required.', { input: '--out', fix: 'e.g. --out model.onnx' });
    if (values.quantize !== undefined && values.quantize !== 'int8') throw new CliError('HF_CLI_BAD_OPTION', `--quantize must be int8, got '${values.quantize}'.`, { input: '--quantize', fix: 'use --quantize int8, or leave it out for fp32.' });
    if (values.quantize !== undefined && values.calibration === undefined) {
      throw new CliError('HF_CLI_MISSING_OPTION', '--quantize int8 needs --calibration DATASET (a dataset folder with a split).', { input: '--calibration', fix: 'add --calibration DATASET (imported and split with hipfrac import / hipfrac split).' });
    }
    const method = values.method;
    if (method !== 'minmax' && method !== 'percentile' && method !== 'entropy') {
      throw new CliError('HF_CLI_BAD_OPTION', `--method must be minmax, percentile or entropy, got '${method}'.`, { input: '--method', fix: 'use --method minmax, percentile or entropy.' });
    }
    const inputSize = values['input-size'] === undefined ? undefined : positiveInt(values['input-size'], 224, '--input-size');
    const result = await exportCheckpointOnnx({
      checkpointDir: modelDir,
      ...(values.out === undefined ? {} : { out: values.out }),
      ...(values.triton === undefined ? {} : { tritonDir: values.triton }),
      ...(inputSize === undefined ? {} : { inputSize }),
      foldBatchNorm: values['no-fold'] !== true,
      ...(values.quantize === 'int8'
        ? { quantize: { dataset: values.calibration as string, images: positiveInt(values['calibration-images'], 64, '--calibration-images'), method } }
        : {}),
      log: (line) => console.error(line),
    });
    for (const file of result.files) console.log(file);
    if (result.accuracy !== undefined) console.log(JSON.stringify(result.accuracy, null, 2));
    return 0;
  },
};
