// The review viewer's heatmap layer: the image's aspect at most 512 px long, alpha = heat (transparent where the
// model did not look), jet colours; its file sits beside the burned-in overlay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heatmapLayerPath } from '../../src/serve/infer/heatmapFiles.js';
import { heatmapLayer } from '../../src/serve/infer/heatmapLayer.js';

test('heatmap layer: aspect kept, long side capped, alpha follows the heat', () => {
  const map = { width: 2, height: 1, data: Float32Array.from([0, 1]) };
  const big = heatmapLayer(map, 2000, 2500);
  assert.deepEqual([big.width, big.height], [410, 512]);
  const small = heatmapLayer(map, 2, 1);
  assert.deepEqual([small.width, small.height], [2, 1]);
  assert.equal(small.data[3], 0, 'no heat: transparent');
  assert.equal(small.data[7], 255, 'full heat: opaque');
  assert.ok((small.data[4] as number) > (small.data[6] as number), 'full heat is red in jet');
  assert.equal(heatmapLayerPath('heatmaps/abc.png'), 'heatmaps/abc.layer.png');
});
