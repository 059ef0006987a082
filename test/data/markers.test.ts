// The burned-in marker detector and masking on planes built here (a lead letter, a calibration ball, a bright bone-like
// ellipse, a smooth gradient), fracture boxes as the manifest keeps them, and box masks that move with augmentation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { squareFilter } from '../../src/data/markers.js';
import { boxesFromPixelText, boxesFromYolo, boxesInRegion, boxesKnown, boxMaskPlane, defaultAugmentConfig, detectMarkers, fillMasked, ImageLoader, maskMarkers, writeGreyPng } from '../../src/data/index.js';

const W = 128;

/** A soft-tissue-like background: a smooth gradient with a broad bright ellipse (bone) in the middle. */
function anatomy(): Float32Array {
  const p = new Float32Array(W * W);
  for (let y = 0; y < W; y++) {
    for (let x = 0; x < W; x++) {
      const bone = ((x - 64) / 40) ** 2 + ((y - 70) / 22) ** 2 < 1 ? 0.25 : 0;
      p[y * W + x] = 0.25 + 0.2 * (x / W) + bone;
    }
  }
  return p;
}

function drawLetter(p: Float32Array, x0: number, y0: number): void {
  // An "L": a 2 px stroke down, then along the bottom; lead is flat and much brighter than what is around it.
  for (let y = y0; y < y0 + 12; y++) for (let x = x0; x < x0 + 2; x++) p[y * W + x] = 0.95;
  for (let y = y0 + 10; y < y0 + 12; y++) for (let x = x0; x < x0 + 8; x++) p[y * W + x] = 0.95;
}

function drawBall(p: Float32Array, cx: number, cy: number, r: number): void {
  for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) if ((x - cx) ** 2 + (y - cy) ** 2 < r * r) p[y * W + x] = 0.9;
}

const inside = (box: readonly number[], x: number, y: number): boolean => x >= (box[0] as number) && x < (box[2] as number) && y >= (box[1] as number) && y < (box[3] as number);

describe('marker detector', () => {
  it('finds a lead letter and a calibration ball and nothing on the anatomy', () => {
    const p = anatomy();
    drawLetter(p, 10, 8);
    drawBall(p, 110, 110, 5);
    const { components, mask } = detectMarkers(p, W, W);
    assert.equal(components.length, 2, JSON.stringify(components));
    assert.ok(components.some((c) => inside(c.box, 10, 8) && inside(c.box, 17, 19)), 'the letter');
    assert.ok(components.some((c) => inside(c.box, 110, 110)), 'the ball');
    for (let y = 40; y < 100; y++) for (let x = 30; x < 100; x++) assert.equal(mask[y * W + x], 0, `no detection on the bone at ${x},${y}`);
    assert.equal(detectMarkers(anatomy(), W, W).components.length, 0, 'a plane without markers has none');
  });

  it('masking changes the input only inside the detected components, and the markers are gone after it', () => {
    const p = anatomy();
    drawLetter(p, 100, 12);
    const { mask } = detectMarkers(p, W, W);
    const filled = fillMasked(p, W, W, mask);
    let changed = 0;
    for (let i = 0; i < p.length; i++) {
      if (mask[i] === 1) {
        if (filled[i] !== p[i]) changed++;
      } else assert.equal(filled[i], p[i], `pixel ${i} outside the mask is unchanged`);
    }
    assert.ok(changed >= 30, `${changed} marker pixels replaced`);
    for (let y = 12; y < 24; y++) for (let x = 100; x < 102; x++) assert.ok(Math.abs((filled[y * W + x] as number) - (anatomy()[y * W + x] as number)) < 0.05, 'filled with the background beside it');
    assert.equal(detectMarkers(maskMarkers(p, W, W), W, W).components.length, 0);
  });
});

/** The square filter by definition: every value of the (2r+1)² window cut at the edges. */
function naiveSquare(src: Float32Array, width: number, height: number, r: number, isMax: boolean): Float32Array {
  const out = new Float32Array(src.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v = isMax ? -Infinity : Infinity;
      for (let yy = Math.max(0, y - r); yy <= Math.min(height - 1, y + r); yy++) {
        for (let xx = Math.max(0, x - r); xx <= Math.min(width - 1, x + r); xx++) v = (isMax ? Math.max : Math.min)(v, src[yy * width + xx] as number);
      }
      out[y * width + x] = v;
    }
  }
  return out;
}

describe('square min / max filter', () => {
  it('equals the definition exactly, for windows smaller and larger than the image', () => {
    let seed = 7;
    const random = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (const [width, height, r] of [[1, 1, 2], [7, 5, 1], [13, 9, 3], [20, 31, 6], [9, 4, 12], [64, 48, 5]] as const) {
      const plane = Float32Array.from({ length: width * height }, random);
      for (const isMax of [false, true]) {
        assert.deepEqual(squareFilter(plane, width, height, r, isMax), naiveSquare(plane, width, height, r, isMax), `${width}x${height} r=${r} ${isMax ? 'max' : 'min'}`);
      }
    }
  });
});

describe('fracture boxes', () => {
  it('reads YOLO lines and pixel boxes as fractions, and cuts them to a region', () => {
    assert.deepEqual(boxesFromYolo('0 0.5 0.5 0.2 0.4;0 0.1 0.1 0 0.1;bad'), [[0.4, 0.3, 0.6, 0.7]]);
    assert.deepEqual(boxesFromPixelText('10 20 30 60; 5 5 5 9', { width: 100, height: 200 }), [[0.1, 0.1, 0.3, 0.3]]);
    assert.deepEqual(boxesFromPixelText('', { width: 100, height: 100 }), []);
    const [cut] = boxesInRegion([[0.4, 0.4, 0.6, 0.6]], [0.2, 0.2, 0.7, 0.7]);
    assert.ok(cut !== undefined && Math.abs((cut[0] as number) - 0.4) < 1e-9 && Math.abs((cut[2] as number) - 0.8) < 1e-9);
    assert.deepEqual(boxesInRegion([[0, 0, 0.1, 0.1]], [0.5, 0.5, 1, 1]), [], 'a box outside the region is left out');
    assert.equal(boxesKnown(0, []), true);
    assert.equal(boxesKnown(1, []), false, 'a fractured image without a box says nothing about where');
    assert.equal(boxesKnown(0, undefined), false);
    const mask = boxMaskPlane([[0.25, 0.5, 0.5, 1]], 8, 8);
    assert.equal(mask.reduce((a, b) => a + b, 0), 2 * 4);
    assert.equal(mask[4 * 8 + 2], 1);
    assert.equal(mask[3 * 8 + 2], 0);
  });

  it('the loader\'s box masks move with the augmentation, and unknown boxes get weight 0', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-boxmask-'));
    try {
      // Each image is bright exactly inside its box: after augmentation the bright pixels and the mask must agree.
      const boxes = [[0.2, 0.3, 0.5, 0.6], [0.55, 0.1, 0.9, 0.4]] as const;
      const files = await Promise.all(
        boxes.map(async (b, i) => {
          const file = path.join(dir, `img${i}.png`);
          await writeGreyPng(file, Float32Array.from(boxMaskPlane([b], 64, 64), (v) => 0.1 + 0.8 * v), 64, 64);
          return file;
        }),
      );
      const samples = [
        { imagePath: files[0] as string, label: 1, boxes: [boxes[0]] },
        { imagePath: files[1] as string, label: 1, boxes: [boxes[1]] },
        { imagePath: files[1] as string, label: 1, boxes: null },
      ];
      const loader = new ImageLoader(samples, { batchSize: 3, imageSize: 64, shuffle: false, workers: 0, boxMasks: true, seed: 3, augment: { ...defaultAugmentConfig, pLighting: 0, pAffine: 1 } });
      try {
        for await (const batch of loader.epoch(0)) {
          const images = batch.images.toFloat32Array();
          const masks = (batch.boxMasks ?? assert.fail('no box masks')).toFloat32Array();
          assert.deepEqual(Array.from((batch.boxWeights ?? assert.fail('no weights')).toFloat32Array()), [1, 1, 0]);
          for (let i = 0; i < 2; i++) {
            let agree = 0;
            let moved = 0;
            for (let k = 0; k < 64 * 64; k++) {
              const bright = (images[i * 4096 + k] as number) > 0.5;
              const inBox = (masks[i * 4096 + k] as number) > 0.5;
              if (bright === inBox) agree++;
              if (inBox !== ((boxMaskPlane([boxes[i] as never], 64, 64)[k] as number) > 0.5)) moved++;
            }
            assert.ok(agree / 4096 > 0.97, `image ${i}: mask and image agree on ${agree} of 4096 pixels`);
            assert.ok(moved > 20, `image ${i}: the augmentation moved the mask (${moved} pixels)`);
          }
          assert.equal(masks.slice(2 * 4096).reduce((a, b) => a + b, 0), 0, 'an unknown mask is empty');
          batch.images.dispose();
          batch.labels.dispose();
          batch.boxMasks?.dispose();
          batch.boxWeights?.dispose();
        }
      } finally {
        await loader.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
