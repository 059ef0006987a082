// The inference step behind a small interface, so that the engine can be swapped: `predictBatch(images) → class
// probabilities` (the policy's temperature applied), and Grad-CAM heatmaps and box-head fracture boxes for the cases that need them. Both
// implementations load the hipfrac checkpoint with its model card's preprocessing; the ONNX one predicts with the
// checkpoint's ONNX export on ONNX Runtime and keeps LibTorch for the heatmaps (they need gradients).
import { greyModelInput, modelInput, type CropScorer, type Radiograph } from '../../data/index.js';
import { classifierCropScorer } from '../../localise/index.js';
import { boxHeadBoxes, GradCam, heatmapsFromTensor, type Heatmap, type PixelFractureBox } from '../../explain/index.js';
import { gateFeatures, gateFeaturesOf, type GateFeatures, type GateVerdict, type InputGate } from '../../gate/index.js';
import { loadCheckpoint, openCheckpointOnnx, type Classifier, type ModelCard, type OnnxPredictor } from '../../models/index.js';
import { noGrad, tensor, tidy } from '../../torch/index.js';
import { calibratedProbabilities, type TriagePolicy } from '../../triage/index.js';
import { describeError } from '../../util/index.js';

/** Which engine predicts: ONNX Runtime when the export has parity (auto), always, or never. */
export type ServeEngine = 'auto' | 'onnx' | 'libtorch';

export interface ImagePredictor {
  readonly card: ModelCard;
  /** 'libtorch', or 'onnx' with the graph it runs. */
  readonly engine: string;
  /** Calibrated class probabilities per image (rows sum to 1), in input order. */
  predictBatch(images: readonly Radiograph[]): Promise<number[][]>;
  /**
   * Calibrated class probabilities and the input gate's verdict per image (input order) from one pass: the gate
   * scores the body's pooled features and the logits of the same pass (on ONNX Runtime, the graph's `features` output).
   */
  predictGated(images: readonly Radiograph[], gate: InputGate): Promise<{ probabilities: number[][]; verdicts: GateVerdict[] }>;
  /** P(fracture) per crop on LibTorch: what decides between the two hips of a bilateral view (radiographReader's scorer). */
  readonly scoreCrops: CropScorer;
  /** Grad-CAM heatmaps for `images` (in input order), at the model's resolution. */
  heatmaps(images: readonly Radiograph[]): Heatmap[];
  /** Whether the checkpoint has a box head (trained with --box-loss-weight); `boxes` returns nothing otherwise. */
  readonly hasBoxHead: boolean;
  /** The box head's fracture boxes per image (input order) in each file's pixels, on LibTorch (the ONNX graph has no box output). */
  boxes(images: readonly Radiograph[]): PixelFractureBox[][];
  dispose(): Promise<void>;
}

/** Largest logit difference the ONNX graph may show against LibTorch, relative to the largest logit (the parity tests' bound). */
export const ONNX_PARITY = 1e-4;

/** Largest absolute difference between two arrays relative to the largest |expected| value (Infinity when their lengths differ). */
function relativeError(expected: Float32Array, got: Float32Array): number {
  if (expected.length !== got.length) return Infinity;
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
  return expected.reduce((m, v, i) => Math.max(m, Math.abs(v - (got[i] as number))), 0) / scale;
}

function probabilitiesOf(logits: Float32Array, count: number, k: number, policy: TriagePolicy): number[][] {
  return Array.from({ length: count }, (_, i) => calibratedProbabilities(Array.from(logits.subarray(i * k, (i + 1) * k)), policy));
}

/** A hipfrac checkpoint on LibTorch (CPU): squish-resized to the card's input size, ImageNet normalisation inside the model. */
export class TorchPredictor implements ImagePredictor {
  readonly card: ModelCard;
  readonly engine: string = 'libtorch';
  /** The LibTorch network (eval mode); Grad-CAM runs on it. */
  readonly model: Classifier;
  readonly scoreCrops: CropScorer;
  #cam: GradCam | undefined;

  /** A checkpoint folder, or a checkpoint already loaded (this predictor then owns it). */
  constructor(checkpoint: string | { readonly model: Classifier; readonly card: ModelCard }, protected readonly policy: TriagePolicy) {
    const { model, card } = typeof checkpoint === 'string' ? loadCheckpoint(checkpoint) : checkpoint;
    this.model = model;
    this.card = card;
    this.scoreCrops = classifierCropScorer(model, card.inputSize);
  }

  /** LibTorch logits [N, classes] for [N, 1, S, S] grey images in [0, 1]. */
  logits(pixels: Float32Array, count: number): Float32Array {
    const s = this.card.inputSize;
    return tidy(() => noGrad(() => this.model.call(tensor(pixels, [count, 1, s, s])).toFloat32Array()));
  }

  /** LibTorch's pooled features (what the input gate scores) [N, C] for [N, 1, S, S] grey images in [0, 1], row-major. */
  pooledFeatures(pixels: Float32Array, count: number): Float32Array {
    const s = this.card.inputSize;
    const set = tidy(() => gateFeatures(this.model, tensor(pixels, [count, 1, s, s])));
    const c = set.features[0]?.length ?? 0;
    const out = new Float32Array(count * c);
    set.features.forEach((f, i) => out.set(f, i * c));
    return out;
  }

  predictBatch(images: readonly Radiograph[]): Promise<number[][]> {
    if (images.length === 0) return Promise.resolve([]);
    const logits = tidy(() => noGrad(() => this.model.call(modelInput(images, this.card.inputSize)).toFloat32Array()));
    return Promise.resolve(probabilitiesOf(logits, images.length, this.card.classes.length, this.policy));
  }

  predictGated(images: readonly Radiograph[], gate: InputGate): Promise<{ probabilities: number[][]; verdicts: GateVerdict[] }> {
    if (images.length === 0) return Promise.resolve({ probabilities: [], verdicts: [] });
    return Promise.resolve(this.gated(tidy(() => gateFeatures(this.model, modelInput(images, this.card.inputSize))), gate));
  }

  /** Probabilities and verdicts from one pass's gate features. DICOM decodes to grey display values: no colourfulness to pass (predict's is 0 for DICOM too). */
  protected gated(set: GateFeatures, gate: InputGate): { probabilities: number[][]; verdicts: GateVerdict[] } {
    return {
      probabilities: set.logits.map((row) => calibratedProbabilities(Array.from(row), this.policy)),
      verdicts: gate.verdicts(set),
    };
  }

  heatmaps(images: readonly Radiograph[]): Heatmap[] {
    if (images.length === 0) return [];
    this.#cam ??= new GradCam(this.model, this.model.spec.gradCamLayer);
    const cam = this.#cam;
    return tidy(() => {
      const r = cam.computeWithLogits(modelInput(images, this.card.inputSize));
      return heatmapsFromTensor(r.heatmaps);
    });
  }

  get hasBoxHead(): boolean {
    return this.model.boxHead !== null;
  }

  boxes(images: readonly Radiograph[]): PixelFractureBox[][] {
    return boxHeadBoxes(this.model, images, this.card);
  }

  dispose(): Promise<void> {
    this.#cam?.dispose();
    this.model.dispose();
    return Promise.resolve();
  }
}

/** Fixed grey probe images [2, 1, S, S] in [0, 1] (a gradient and a ring pattern): the parity check's inputs. */
function probeImages(size: number): Float32Array {
  const plane = size * size;
  const out = new Float32Array(2 * plane);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      out[y * size + x] = (x + y) / (2 * size - 2);
      out[plane + y * size + x] = 0.5 + 0.5 * Math.sin(Math.hypot(x - size / 2, y - size / 3) / 3);
    }
  }
  return out;
}

/**
 * Prediction on ONNX Runtime with the checkpoint's ONNX graph (MODEL_DIR/model.onnx when newer than the weights,
 * else exported in memory), heatmaps on LibTorch from the same checkpoint. `open` checks parity first.
 */
export class OnnxImagePredictor extends TorchPredictor {
  override readonly engine: string;
  readonly #onnx: OnnxPredictor;

  private constructor(torch: TorchPredictor, policy: TriagePolicy, onnx: OnnxPredictor, source: string) {
    super(torch, policy);
    this.#onnx = onnx;
    this.engine = `onnx (${onnx.precision}, ${source})`;
  }

  /**
   * The predictor for `engine`: 'libtorch' → LibTorch; 'onnx' → ONNX Runtime (any precision); 'auto' → ONNX Runtime
   * when its logits on the probe images equal LibTorch's within ONNX_PARITY, else LibTorch with the reason. `gated`
   * (the checkpoint has an input gate): the graph must also give the pooled features, within the same bound.
   */
  static async open(modelDir: string, policy: TriagePolicy, engine: ServeEngine, threads: number, spinning = true, gated = false): Promise<{ predictor: ImagePredictor; note: string }> {
    const torch = new TorchPredictor(modelDir, policy);
    if (engine === 'libtorch') return { predictor: torch, note: 'engine libtorch (as configured)' };
    let onnx: OnnxPredictor | undefined;
    try {
      const opened = await openCheckpointOnnx(modelDir, torch.model, torch.card, undefined, { threads, spinning }, { features: gated });
      onnx = opened.predictor;
      const size = torch.card.inputSize;
      const probe = probeImages(size);
      const got = await onnx.predictBatch(probe, 2);
      const logitError = relativeError(torch.logits(probe, 2), got.logits);
      const featureError = gated ? relativeError(torch.pooledFeatures(probe, 2), got.features ?? new Float32Array(0)) : 0;
      const error = Math.max(logitError, featureError);
      const what = gated ? 'logits and pooled features' : 'logits';
      if (engine === 'auto' && !(error <= ONNX_PARITY)) {
        await onnx.dispose();
        return { predictor: torch, note: `engine libtorch: the ONNX graph (${opened.source}, ${onnx.precision}) differs from LibTorch by ${error.toExponential(1)} of the largest value in its ${what} (parity needs ≤ ${ONNX_PARITY})` };
      }
      const predictor = new OnnxImagePredictor(torch, policy, onnx, opened.source);
      return { predictor, note: `engine ${predictor.engine}, ${threads} thread(s), ${what} within ${error.toExponential(1)} of LibTorch` };
    } catch (error) {
      await onnx?.dispose();
      if (engine === 'onnx') {
        await torch.dispose();
        throw error;
      }
      return { predictor: torch, note: `engine libtorch: no ONNX graph for this checkpoint (${describeError(error)})` };
    }
  }

  override async predictBatch(images: readonly Radiograph[]): Promise<number[][]> {
    if (images.length === 0) return [];
    const { logits } = await this.#onnx.predictBatch(greyModelInput(images, this.card.inputSize), images.length);
    return probabilitiesOf(logits, images.length, this.card.classes.length, this.policy);
  }

  override async predictGated(images: readonly Radiograph[], gate: InputGate): Promise<{ probabilities: number[][]; verdicts: GateVerdict[] }> {
    if (this.#onnx.featureSize === 0) return super.predictGated(images, gate);
    if (images.length === 0) return { probabilities: [], verdicts: [] };
    const size = this.card.inputSize;
    const grey = greyModelInput(images, size);
    const { logits, features } = await this.#onnx.predictBatch(grey, images.length);
    return this.gated(gateFeaturesOf(features as Float32Array, logits, grey, images.length, 1, size), gate);
  }

  override async dispose(): Promise<void> {
    await this.#onnx.dispose();
    await super.dispose();
  }
}
