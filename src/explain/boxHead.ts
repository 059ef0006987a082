// The box head's fracture boxes for whole radiographs (models trained with --box-loss-weight): one forward pass
// through the head, its heat above the card's threshold grouped into boxes, mapped to each file's pixels.
import { modelInput, type Radiograph } from '../data/index.js';
import { DEFAULT_BOX_THRESHOLD, type Classifier, type ModelCard } from '../models/index.js';
import { noGrad, sigmoid, tidy, type Tensor } from '../torch/index.js';
import { boxToPixels, fractureBoxes, type FractureBox } from './fractureBoxes.js';

/** A fracture box in a file's pixels: [x0, y0, x1, y1] (x1/y1 exclusive) and the highest heatmap probability inside it. */
export interface PixelFractureBox {
  readonly box: readonly [number, number, number, number];
  readonly score: number;
}

/**
 * Per radiograph (input order), the boxes of `model`'s box head, best first, in the file's pixels: a radiograph cut
 * to a region (a localiser's crop) is mapped back through its origin. Scores are rounded to 4 decimals. Returns
 * empty lists for a model without a box head.
 */
export function boxHeadBoxes(model: Classifier, radiographs: readonly Radiograph[], card: Pick<ModelCard, 'inputSize' | 'boxHead'>): PixelFractureBox[][] {
  if (model.boxHead === null || radiographs.length === 0) return radiographs.map(() => []);
  const threshold = card.boxHead?.threshold ?? DEFAULT_BOX_THRESHOLD;
  return tidy(() =>
    boxHeadFractions(model, modelInput(radiographs, card.inputSize), threshold).map((boxes, i) => {
      const r = radiographs[i] as Radiograph;
      return boxes.map((b) => ({ box: boxToPixels(b.box, r.original, r.origin), score: Math.round(b.score * 1e4) / 1e4 }));
    }),
  );
}

/**
 * The box head's boxes for a batch `input` [N, 1, S, S] in [0, 1], per image as fractions of the input: one forward
 * pass through the head, its sigmoid heat above `threshold` grouped into boxes (fractureBoxes).
 */
export function boxHeadFractions(model: Classifier, input: Tensor, threshold: number): FractureBox[][] {
  return tidy(() => {
    const heatmap = noGrad(() => sigmoid(model.forwardWithHeatmap(input).heatmap));
    const [n, , h, w] = heatmap.shape as [number, number, number, number];
    const all = heatmap.toFloat32Array();
    return Array.from({ length: n }, (_, i) => fractureBoxes(all.subarray(i * h * w, (i + 1) * h * w), h, w, threshold));
  });
}
