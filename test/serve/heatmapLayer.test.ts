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

test('heatmap layer of a model that saw a region: the heat lies on that region of the whole radiograph, the rest is transparent', () => {
  // Full heat over a 400 × 300 region starting at (1000, 1200) of a 2000 × 2500 radiograph.
  const map = { width: 1, height: 1, data: Float32Array.from([1]) };
  const layer = heatmapLayer(map, 2000, 2500, { origin: [1000, 1200], width: 400, height: 300 });
  assert.deepEqual([layer.width, layer.height], [410, 512], 'the whole radiograph\'s aspect');
  const alpha = (x: number, y: number): number => layer.data[4 * (y * layer.width + x) + 3] as number;
  const scale = 512 / 2500;
  const inside = [Math.round((1000 + 200) * scale), Math.round((1200 + 150) * scale)] as const;
  assert.equal(alpha(inside[0], inside[1]), 255, 'opaque inside the region');
  for (const [x, y] of [[5, 5], [Math.round(900 * scale), inside[1]], [inside[0], Math.round(1600 * scale)], [layer.width - 1, layer.height - 1]] as const) {
    assert.equal(alpha(x, y), 0, `transparent outside the region at (${x}, ${y})`);
  }
  const covered = Array.from({ length: layer.width * layer.height }, (_, i) => layer.data[4 * i + 3] as number).filter((a) => a > 0).length;
  const expected = Math.round(400 * scale) * Math.round(300 * scale);
  assert.equal(covered, expected, 'exactly the region is covered');
});
