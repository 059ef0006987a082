// SimCLR's contrastive loss (Chen et al., ICML 2020, "A simple framework for contrastive learning of visual
// representations"): NT-Xent, the normalised-temperature cross-entropy over 2N embeddings of N images seen twice,
// where each embedding's positive is the other view of its own image and the other 2N − 2 are negatives.
import { cat, crossEntropy, eye, norm, tensor, type Tensor } from '../../torch/index.js';

/** Rows scaled to unit length. */
export function unitRows(z: Tensor): Tensor {
  return z.div(norm(z, 2, 1, true).add(1e-12));
}

/**
 * NT-Xent of two views' projections a, b [N, D]: cosine similarities over τ, each row's similarity with itself
 * removed, each row's target the other view of the same image. Mean over the 2N rows.
 */
export function ntXent(a: Tensor, b: Tensor, temperature: number): Tensor {
  const n = a.shape[0] as number;
  const all = unitRows(cat([a, b], 0));
  const logits = all.matmul(all.transpose(0, 1)).div(temperature).sub(eye(2 * n).mul(1e9));
  const targets = tensor(BigInt64Array.from({ length: 2 * n }, (_, i) => BigInt(i < n ? i + n : i - n)), [2 * n]);
  return crossEntropy(logits, targets);
}
