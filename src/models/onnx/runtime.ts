// Prediction on ONNX Runtime (onnxruntime-node, CPU): one session per exported model, images in, logits and
// softmax probabilities out. Intra-op threads follow HIPFRAC_THREADS as LibTorch's do.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import ort from 'onnxruntime-node';
import { HipfracError } from '../../util/index.js';
import type { ModelCard } from '../checkpoint.js';
import { CARD_KEY, ONNX_FEATURES, ONNX_INPUT, ONNX_OUTPUT, type OnnxExportFacts } from './export.js';
import { decodeModel } from './proto.js';

export interface OnnxPredictorOptions {
  /** Intra-op threads (default: HIPFRAC_THREADS, else every core — the rule LibTorch's runtime uses). */
  readonly threads?: number;
  /** ONNX Runtime's graph optimisation level (default 'all'). */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Whether idle intra-op threads spin waiting for work (ONNX Runtime's default, true). Off where the cores are
   * shared with other work (the DICOM node's main process): spinning threads take CPU from it.
   */
  readonly spinning?: boolean;
}

export interface OnnxPrediction {
  /** [N, classes], row-major. */
  readonly logits: Float32Array;
  /** Softmax of the logits, [N, classes]. */
  readonly probabilities: Float32Array;
  /** The body's pooled features [N, featureSize], row-major, when the graph has that output (export option features). */
  readonly features?: Float32Array;
}

/** The interface the CLI and the DICOM node's inference workers use. */
export interface OnnxPredictor {
  /** The model card stored in the file (null for a graph exported without one). */
  readonly card: ModelCard | null;
  readonly precision: string;
  /** Side of the square input the graph was exported for. */
  readonly inputSize: number;
  readonly classes: number;
  /** Length of each image's pooled features (the `features` output); 0 when the graph has none. */
  readonly featureSize: number;
  /** images: [N, 1, inputSize, inputSize] float32 in [0, 1], row-major. */
  predictBatch(images: Float32Array, count: number): Promise<OnnxPrediction>;
  dispose(): Promise<void>;
}

/** HIPFRAC_THREADS when set to a positive integer, else every core. */
export function onnxThreadCount(): number {
  const fromEnv = Number(process.env['HIPFRAC_THREADS']);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : os.availableParallelism();
}

function invalid(file: string, what: string, cause?: unknown): HipfracError {
  return new HipfracError('HF_MODELS_ONNX_INVALID', what, { input: file, fix: 'export the model again with `hipfrac export MODEL_DIR --format onnx --out FILE`.', ...(cause === undefined ? {} : { cause }) });
}

/** The card, precision and input shape stored in an exported file's metadata_props and graph input. */
export function readOnnxFacts(file: string, bytes: Uint8Array = readFileSync(file)): { card: ModelCard | null; precision: string; inputShape: number[]; classes: number; featureSize: number } {
  let model;
  try {
    model = decodeModel(bytes);
  } catch (cause) {
    throw invalid(file, `not an ONNX model (${(cause as Error).message}).`, cause);
  }
  const props = new Map((model.metadata_props ?? []).map((p) => [p.key, p.value]));
  const input = model.graph?.input?.find((v) => v.name === ONNX_INPUT);
  const output = model.graph?.output?.find((v) => v.name === ONNX_OUTPUT);
  if (input === undefined || output === undefined) throw invalid(file, `the graph has no '${ONNX_INPUT}' input or '${ONNX_OUTPUT}' output: it was not written by hipfrac export.`);
  const dims = (v: typeof input): number[] => (v.type.tensor_type.shape?.dim ?? []).map((d) => ('dim_value' in d ? Number(d.dim_value) : -1));
  const cardText = props.get(CARD_KEY);
  const card = cardText === undefined ? null : (JSON.parse(cardText) as ModelCard);
  const features = model.graph?.output?.find((v) => v.name === ONNX_FEATURES);
  return { card, precision: props.get('hipfrac.precision') ?? 'fp32', inputShape: dims(input).slice(1), classes: dims(output)[1] ?? -1, featureSize: features === undefined ? 0 : (dims(features)[1] ?? 0) };
}

/** The export facts (precision, calibration, measured accuracy change) a card carries, if any. */
export function onnxFactsOf(card: ModelCard | null): OnnxExportFacts | undefined {
  return card?.extra['onnx'] as OnnxExportFacts | undefined;
}

function softmaxRows(logits: Float32Array, classes: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / classes; r++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[r * classes + c] as number);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[r * classes + c] = Math.exp((logits[r * classes + c] as number) - max);
    for (let c = 0; c < classes; c++) (out[r * classes + c] as number) /= sum;
  }
  return out;
}

/** Opens an exported model (a file, or the bytes of one) on ONNX Runtime's CPU provider. */
export async function createOnnxPredictor(model: string | Uint8Array, options: OnnxPredictorOptions = {}): Promise<OnnxPredictor> {
  const modelPath = typeof model === 'string' ? model : '(ONNX bytes in memory)';
  let bytes: Uint8Array;
  try {
    bytes = typeof model === 'string' ? readFileSync(model) : model;
  } catch (cause) {
    throw invalid(modelPath, `cannot read the ONNX file (${(cause as NodeJS.ErrnoException).code ?? String(cause)}).`, cause);
  }
  const facts = readOnnxFacts(modelPath, bytes);
  const [channels, height, width] = facts.inputShape as [number, number, number];
  if (channels !== 1 || height !== width) throw invalid(modelPath, `the graph takes [N, ${facts.inputShape.join(', ')}], not grey square images [N, 1, S, S] (an ImageNet network export?).`);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
      intraOpNumThreads: options.threads ?? onnxThreadCount(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      ...(options.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
    });
  } catch (cause) {
    throw invalid(modelPath, `ONNX Runtime cannot load the graph: ${(cause as Error).message}`, cause);
  }
  const plane = channels * height * width;
  return {
    card: facts.card,
    precision: facts.precision,
    inputSize: height,
    classes: facts.classes,
    featureSize: facts.featureSize,
    async predictBatch(images, count) {
      if (images.length !== count * plane) {
        throw new HipfracError('HF_MODELS_INPUT_SHAPE', `expected ${count} images of [1, ${height}, ${width}] (${count * plane} values), got ${images.length} values.`, {
          fix: `resize each image to ${height}×${width} grey in [0, 1].`,
        });
      }
      const feeds = { [ONNX_INPUT]: new ort.Tensor('float32', images, [count, channels, height, width]) };
      const result = await session.run(feeds);
      const logits = result[ONNX_OUTPUT]?.data as Float32Array;
      const features = result[ONNX_FEATURES]?.data as Float32Array | undefined;
      return { logits, probabilities: softmaxRows(logits, facts.classes), ...(features === undefined ? {} : { features }) };
    },
    async dispose() {
      await session.release();
    },
  };
}
