// Mahalanobis out-of-distribution score (Lee et al., NeurIPS 2018, "A simple unified framework for detecting
// out-of-distribution samples and adversarial attacks"): class means and one shared, shrunk covariance of the
// training images' pooled features (or descriptors); an image's score is its smallest squared distance to a class mean.
import { HipfracError } from '../util/index.js';
import { invertSpd, meanOf, quadraticForm, shrunkCovariance, type ShrinkageTarget } from './linalg.js';

export interface MahalanobisModel {
  readonly dim: number;
  /** One mean per class present in the fit (a single mean when fitted without labels). */
  readonly means: readonly Float64Array[];
  /** Inverse of the shrunk within-class covariance, d×d row-major. */
  readonly precision: Float64Array;
  readonly shrinkage: number;
}

/** Fits class means and the shared covariance on training vectors (labels null: one class). */
export function fitMahalanobis(vectors: readonly ArrayLike<number>[], labels: readonly number[] | null, options: { shrinkage?: number; target?: ShrinkageTarget } = {}): MahalanobisModel {
  const first = vectors[0];
  if (first === undefined || vectors.length < 2) throw new HipfracError('HF_GATE_TOO_FEW', `the Mahalanobis score needs at least 2 training images, got ${vectors.length}.`, { fix: 'train on more images.' });
  const dim = first.length;
  const classes = labels === null ? [0] : [...new Set(labels)].sort((a, b) => a - b);
  const classOf = (i: number): number => (labels === null ? 0 : classes.indexOf(labels[i] as number));
  const means = classes.map((_, k) => meanOf(vectors.filter((__, i) => classOf(i) === k), dim));
  const { covariance, shrinkage } = shrunkCovariance(vectors, dim, (i) => means[classOf(i)] as Float64Array, options.shrinkage, options.target);
  return { dim, means, precision: invertSpd(covariance, dim), shrinkage };
}

/** The smallest squared Mahalanobis distance to a class mean (higher: less like the training images). */
export function mahalanobisScore(model: MahalanobisModel, vector: ArrayLike<number>): number {
  let best = Infinity;
  for (const mu of model.means) best = Math.min(best, quadraticForm(vector, mu, model.precision, model.dim));
  return best;
}
