// Fracture boxes from a box head's heatmap (threshold, 8-connected groups, best score first), mapped to file pixels,
// and box outlines drawn on gallery images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boxToPixels, drawBoxOutlines, fractureBoxes } from '../../src/explain/index.js';

test('cells above the threshold form one box per 8-connected group, scored by their highest probability', () => {
  // 4 × 4 map: a diagonal pair (one group through the corner) and a lone cell; everything else below 0.5.
  const p = [0.9, 0.1, 0.1, 0.1, 0.1, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.6, 0.1, 0.1, 0.1, 0.5];
  const boxes = fractureBoxes(p, 4, 4, 0.5);
  assert.deepEqual(boxes, [
    { box: [0, 0, 0.5, 0.5], score: 0.9 },
    { box: [0.75, 0.5, 1, 0.75], score: 0.6 },
  ]);
  assert.deepEqual(fractureBoxes(p, 4, 4, 0.95), [], 'nothing above a high threshold');
  assert.deepEqual(boxToPixels([0, 0, 0.5, 0.5], { width: 200, height: 100 }, [10, 20]), [10, 20, 110, 70]);
});

test('box outlines are drawn on the edge pixels only', () => {
  const image = { width: 10, height: 10, data: new Uint8Array(300) };
  drawBoxOutlines(image, [[0.2, 0.2, 0.6, 0.6]], [255, 0, 0], 1);
  const red = (x: number, y: number): boolean => image.data[3 * (y * 10 + x)] === 255;
  assert.ok(red(2, 2) && red(5, 2) && red(2, 5) && red(5, 5) && red(3, 2));
  assert.ok(!red(3, 3) && !red(1, 1) && !red(6, 6), 'inside and outside untouched');
});
