// The ONNX graph a checkpoint folder predicts with: FILE when given, else MODEL_DIR/model.onnx when it is newer
// than the weights, else the checkpoint exported in memory (fp32) — so `predict --engine onnx` needs no extra step.
// A caller that needs the pooled features (a gated checkpoint in the DICOM node) gets a graph with that output: the
// file's when it has one, else the in-memory export.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { HipfracError } from '../../util/index.js';
import { CHECKPOINT_WEIGHTS, type ModelCard } from '../checkpoint.js';
import type { Classifier } from '../classifier.js';
import { exportOnnx, ONNX_FEATURES } from './export.js';
import { createOnnxPredictor, readOnnxFacts, type OnnxPredictor, type OnnxPredictorOptions } from './runtime.js';

export const CHECKPOINT_ONNX = 'model.onnx';

/** Opens the checkpoint's ONNX graph; `source` says which graph it is (a file, or 'exported in memory'). */
export async function openCheckpointOnnx(dir: string, model: Classifier, card: ModelCard, onnxFile?: string, options: OnnxPredictorOptions = {}, needs: { readonly features?: boolean } = {}): Promise<{ predictor: OnnxPredictor; source: string }> {
  let file = onnxFile;
  if (file === undefined) {
    const beside = path.join(dir, CHECKPOINT_ONNX);
    const weights = path.join(dir, CHECKPOINT_WEIGHTS);
    if (existsSync(beside) && existsSync(weights) && statSync(beside).mtimeMs >= statSync(weights).mtimeMs) file = beside;
  }
  const features = needs.features === true;
  if (file !== undefined && features && readOnnxFacts(file).featureSize === 0) {
    if (onnxFile !== undefined) {
      throw new HipfracError('HF_MODELS_ONNX_INVALID', `the ONNX graph has no '${ONNX_FEATURES}' output, which the checkpoint's input gate scores.`, {
        input: onnxFile,
        fix: 'drop the ONNX file and let the checkpoint be exported in memory, or predict on LibTorch.',
      });
    }
    file = undefined;
  }
  const predictor = await createOnnxPredictor(file ?? exportOnnx(model, { card, features }), options);
  const graphCard = predictor.card;
  if (graphCard !== null && (graphCard.architecture !== card.architecture || graphCard.classes.length !== card.classes.length || predictor.inputSize !== card.inputSize)) {
    await predictor.dispose();
    throw new HipfracError('HF_MODELS_ONNX_INVALID', `the ONNX graph is ${graphCard.architecture} with ${graphCard.classes.length} classes at ${predictor.inputSize} px, the checkpoint ${card.architecture} with ${card.classes.length} at ${card.inputSize} px.`, {
      input: file ?? dir,
      fix: 'export this checkpoint again (hipfrac export MODEL_DIR --format onnx --out FILE) or drop --onnx.',
    });
  }
  return { predictor, source: file ?? `exported in memory (fp32${features ? ', with features' : ''})` };
}
