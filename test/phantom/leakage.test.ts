// Proof that a fracture is predictable from the fracture and nothing else: a simple classifier (logistic regression
// on pooled gradient magnitude of downsampled pixels) is at chance once the fracture region is masked in BOTH classes, and well
// above chance on the whole images. Held-out images, fixed seed, AUC judged against its standard error.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planCohort, renderImage, toDisplay8, type PlannedImage } from '../../src/phantom/index.js';
import { auc, fitLogistic, predictLogistic } from './classifier.js';

const SIZE = 128;
const POOL = 4;

interface Sample {
  readonly display: Uint8Array;
  readonly region: readonly [number, number, number, number] | null;
  readonly flip: boolean;
  readonly label: number;
}

/** Display values in [0, 1], index hip always on the left (laterality is DICOM metadata), region optionally filled. */
function prepared(sample: Sample, masked: boolean): Float64Array {
  const px = sample.display;
  const m = masked ? sample.region : null;
  let fill = 0;
  if (m !== null) {
    // The neutral fill is the mean outside the region: it carries nothing the region held.
    let n = 0;
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        if (x >= m[0] && x < m[2] && y >= m[1] && y < m[3]) continue;
        fill += px[y * SIZE + x] as number;
        n++;
      }
    }
    fill /= Math.max(1, n);
  }
  const out = new Float64Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const inMask = m !== null && x >= m[0] && x < m[2] && y >= m[1] && y < m[3];
      out[y * SIZE + (sample.flip ? SIZE - 1 - x : x)] = (inMask ? fill : (px[y * SIZE + x] as number)) / 255;
    }
  }
  return out;
}

/** Block mean of a square image. */
function downsample(img: Float64Array, size: number, f: number): Float64Array {
  const n = size / f;
  const out = new Float64Array(n * n);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) out[Math.floor(y / f) * n + Math.floor(x / f)] += (img[y * size + x] as number) / (f * f);
  return out;
}

/** Gradient magnitude of the 64² image, pooled over 4×4 blocks: 256 features, tolerant to small shifts. */
function features(img: Float64Array): number[] {
  const s = SIZE / 2;
  const b = downsample(img, SIZE, 2);
  const g = new Float64Array(s * s);
  for (let y = 1; y < s - 1; y++) {
    for (let x = 1; x < s - 1; x++) {
      const gx = (b[y * s + x + 1] as number) - (b[y * s + x - 1] as number);
      const gy = (b[(y + 1) * s + x] as number) - (b[(y - 1) * s + x] as number);
      g[y * s + x] = Math.hypot(gx, gy);
    }
  }
  return Array.from(downsample(g, s, POOL));
}

describe('phantom: a fracture is visible only where the fracture is', () => {
  // One AP hip image per patient (a label-independent choice), easy difficulty: every confounder is present.
  const images = planCohort({ patients: 1800, seed: 20240607, difficulty: 'easy', size: SIZE })
    .map((p) => p.images.find((i) => i.spec.view.kind === 'AP_HIP'))
    .filter((i): i is PlannedImage => i !== undefined);
  const labels = images.map((i) => (i.spec.fractureApplied ? 1 : 0));
  const nTrain = Math.floor(images.length * 0.6);

  // Rendered once; both arms see the same pixels.
  const samples: Sample[] = images.map((image) => {
    const r = renderImage(image.spec);
    return { display: toDisplay8(r), region: r.candidateRegion?.box ?? null, flip: image.spec.view.side === 'L', label: r.label };
  });

  function evaluate(masked: boolean): ReturnType<typeof auc> {
    const rows = samples.map((sample) => features(prepared(sample, masked)));
    const d = (rows[0] as number[]).length;
    const pack = (from: number, to: number): Float64Array => {
      const x = new Float64Array((to - from) * d);
      for (let i = from; i < to; i++) x.set(rows[i] as number[], (i - from) * d);
      return x;
    };
    const model = fitLogistic(pack(0, nTrain), labels.slice(0, nTrain), d, 0.01, 300, 0.3);
    const scores = predictLogistic(model, pack(nTrain, images.length), images.length - nTrain);
    return auc(scores, labels.slice(nTrain));
  }

  it('has enough held-out images of both classes for the AUC to mean something', () => {
    const test = labels.slice(nTrain);
    assert.ok(test.filter((l) => l === 1).length >= 150, `positives in the test set: ${test.filter((l) => l === 1).length}`);
    assert.ok(test.filter((l) => l === 0).length >= 150, `negatives in the test set: ${test.filter((l) => l === 0).length}`);
  });

  it('whole images: the classifier is clearly above chance (AUC > 0.7)', () => {
    const r = evaluate(false);
    console.log(`whole-image AUC ${r.auc.toFixed(3)} ± ${r.se.toFixed(3)} (${r.positives}+/${r.negatives}-)`);
    assert.ok(r.auc > 0.7, `whole-image AUC ${r.auc.toFixed(3)}`);
  });

  it('fracture region masked in both classes: the classifier is at chance (|AUC − 0.5| < 0.1, > 3 standard errors)', () => {
    const r = evaluate(true);
    console.log(`masked AUC ${r.auc.toFixed(3)} ± ${r.se.toFixed(3)} (${r.positives}+/${r.negatives}-)`);
    assert.ok(Math.abs(r.auc - 0.5) < 0.1, `masked AUC ${r.auc.toFixed(3)} ± ${r.se.toFixed(3)}`);
    assert.ok(0.1 > 3 * r.se, `the test set is too small to tell: SE ${r.se.toFixed(3)}`);
  });
});
