// The inference step behind a small interface, so that the engine can be swapped (ONNX Runtime later):
// `predictBatch(images) → class probabilities` (the policy's temperature applied), and Grad-CAM heatmaps for the
// cases that need one. The LibTorch implementation loads a hipfrac checkpoint with its model card's preprocessing.
import { modelInput, type Radiograph } from '../../data/index.js';
import { GradCam, heatmapsFromTensor, type Heatmap } from '../../explain/index.js';
import { loadCheckpoint, type Classifier, type ModelCard } from '../../models/index.js';
import { noGrad, tidy } from '../../torch/index.js';
import { calibratedProbabilities, type TriagePolicy } from '../../triage/index.js';

export interface ImagePredictor {
  readonly card: ModelCard;
  /** Calibrated class probabilities per image (rows sum to 1), in input order. */
  predictBatch(images: readonly Radiograph[]): number[][];
  /** Grad-CAM heatmaps for `images` (in input order), at the model's resolution. */
  heatmaps(images: readonly Radiograph[]): Heatmap[];
  dispose(): void;
}

/** A hipfrac checkpoint on LibTorch (CPU): squish-resized to the card's input size, ImageNet normalisation inside the model. */
export class TorchPredictor implements ImagePredictor {
  readonly card: ModelCard;
  readonly #model: Classifier;
  #cam: GradCam | undefined;

  constructor(modelDir: string, private readonly policy: TriagePolicy) {
    const { model, card } = loadCheckpoint(modelDir);
    this.#model = model;
    this.card = card;
  }

  predictBatch(images: readonly Radiograph[]): number[][] {
    if (images.length === 0) return [];
    const logits = tidy(() => noGrad(() => this.#model.call(modelInput(images, this.card.inputSize)).toFloat32Array()));
    const k = this.card.classes.length;
    return images.map((_, i) => calibratedProbabilities(Array.from(logits.subarray(i * k, (i + 1) * k)), this.policy));
  }

  heatmaps(images: readonly Radiograph[]): Heatmap[] {
    if (images.length === 0) return [];
    this.#cam ??= new GradCam(this.#model, this.#model.spec.gradCamLayer);
    const cam = this.#cam;
    return tidy(() => {
      const r = cam.computeWithLogits(modelInput(images, this.card.inputSize));
      return heatmapsFromTensor(r.heatmaps);
    });
  }

  dispose(): void {
    this.#cam?.dispose();
    this.#model.dispose();
  }
}
