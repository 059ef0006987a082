// The box head study's variants (bench/boxhead.ts) and the pointing game's ceiling on a heatmap grid.
import type { Box } from '../../src/explain/index.js';

export interface Variant {
  readonly name: string;
  readonly change: string;
  readonly args: readonly string[];
  /** Epochs when not the study's (more compute for the same recipe). */
  readonly epochs?: number;
  /** Train with fastai's augmentation (`hipfrac train`'s default); the study's variants train without unless they set this. */
  readonly augment?: boolean;
  /** Seed when not the study's 42 (a repeat of a variant: how far one run's figures move with the seed). */
  readonly seed?: number;
}

export const VARIANTS: readonly Variant[] = [
  { name: 'last', change: 'box head on the last feature map, per-cell binary loss', args: [] },
  { name: 'last-peak', change: 'the same head, plus the box-peak loss (weight 1)', args: ['--box-peak-weight', '1'] },
  { name: 'fine-peak', change: 'fine head (last map upsampled + layer3), plus the box-peak loss (weight 1)', args: ['--box-head', 'fine', '--box-peak-weight', '1'] },
  { name: 'fine', change: 'fine head, per-cell binary loss only', args: ['--box-head', 'fine'] },
  { name: 'fine-peak-6ep', change: 'fine head plus the box-peak loss, 6 epochs (1.5x the compute)', args: ['--box-head', 'fine', '--box-peak-weight', '1'], epochs: 6 },
  { name: 'fine-peak-8ep', change: 'fine head plus the box-peak loss, 8 epochs (2x the compute)', args: ['--box-head', 'fine', '--box-peak-weight', '1'], epochs: 8 },
  { name: 'fine-peak3-6ep', change: 'fine head plus the box-peak loss at weight 3, 6 epochs', args: ['--box-head', 'fine', '--box-peak-weight', '3'], epochs: 6 },
  { name: 'fine-peak-aug-6ep', change: "fine head plus the box-peak loss, 6 epochs, fastai's augmentation (boxes warped with the images)", args: ['--box-head', 'fine', '--box-peak-weight', '1'], epochs: 6, augment: true },
  { name: 'fine-peak-aug-8ep', change: "fine head plus the box-peak loss, 8 epochs, fastai's augmentation", args: ['--box-head', 'fine', '--box-peak-weight', '1'], epochs: 8, augment: true },
  { name: 'fine-peak-aug-8ep-seed1', change: 'fine-peak-aug-8ep repeated with seed 1 (split unchanged)', args: ['--box-head', 'fine', '--box-peak-weight', '1'], epochs: 8, augment: true, seed: 1 },
  { name: 'fine-peak-aug-8ep-seed1-auc', change: 'the seed 1 repeat with the epoch chosen by validation ROC-AUC instead of accuracy (--monitor roc-auc)', args: ['--box-head', 'fine', '--box-peak-weight', '1', '--monitor', 'roc-auc'], epochs: 8, augment: true, seed: 1 },
  { name: 'fine-peak-aug-8ep-seed2-auc', change: 'fine-peak-aug-8ep with seed 2 and the epoch chosen by validation ROC-AUC (--monitor roc-auc), as scripts/fracatlas.sh trained before progressive resizing', args: ['--box-head', 'fine', '--box-peak-weight', '1', '--monitor', 'roc-auc'], epochs: 8, augment: true, seed: 2 },
  // The same compute as 8 epochs at 320 px (pixels per epoch: 4 x 0.25 + 4 x 0.49 + 5 x 1 = 7.96), spread over 13.
  { name: 'fine-peak-aug-prog-13ep', change: 'fine-peak-aug-8ep (ROC-AUC monitor) with progressive resizing: 4 epochs at 160 px, 4 at 224, 5 at 320 (13 epochs, about the pixels of 8 at 320)', args: ['--box-head', 'fine', '--box-peak-weight', '1', '--monitor', 'roc-auc', '--progressive', '160:4,224:4'], epochs: 13, augment: true },
];

/** The `hipfrac train` arguments of a variant: the FracAtlas script's recipe at `size` px, `epochs` epochs (or the variant's), box loss 1, no augmentation unless the variant asks for it. */
export function variantArgs(v: Variant, data: string, out: string, size: number, studyEpochs: number): string[] {
  const epochs = v.epochs ?? studyEpochs;
  return ['train', '--data', data, '--out', out, '--arch', 'resnet18', '--scratch', '--input-size', String(size), '--unfrozen-epochs', String(epochs), '--patience', String(epochs), '--balanced', '--no-lr-find', '--unfrozen-lr', '2e-3', '--seed', String(v.seed ?? 42), '--box-loss-weight', '1', ...v.args, ...(v.augment === true ? [] : ['--no-augment'])];
}

/** Share of the images whose boxes contain a cell centre of a g × g grid over the input: the strict pointing game's ceiling. */
export function gridCeiling(boxes: readonly (readonly Box[])[], size: number, cells: number): number {
  const c = size / cells;
  const hit = boxes.filter((bs) => {
    for (let i = 0; i < cells; i++) for (let j = 0; j < cells; j++) if (bs.some(([x0, y0, x1, y1]) => (i + 0.5) * c >= x0 && (i + 0.5) * c <= x1 && (j + 0.5) * c >= y0 && (j + 0.5) * c <= y1)) return true;
    return false;
  });
  return boxes.length === 0 ? Number.NaN : hit.length / boxes.length;
}
