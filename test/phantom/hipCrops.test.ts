// Twin hip crops: fractured and intact twins differ only inside the fracture box, the box sits inside the crop,
// the same seed gives the same crops, and bad options are refused with the option named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderHipCrops } from '../../src/phantom/index.js';
import { HipfracError } from '../../src/util/index.js';

const crops = renderHipCrops({ patients: 12, seed: 21, outputSize: 64 });

test('crops come in twins: fractured first, then the same crop intact, one patient and one box', () => {
  assert.ok(crops.count >= 12 && crops.count % 2 === 0, `count ${crops.count}`);
  assert.equal(crops.images.length, crops.count * 64 * 64);
  for (let k = 0; k < crops.count; k += 2) {
    assert.equal(crops.labels[k], 1);
    assert.equal(crops.labels[k + 1], 0);
    assert.equal(crops.patients[k], crops.patients[k + 1]);
    assert.deepEqual(crops.boxes[k], crops.boxes[k + 1]);
    assert.ok(['AP_PELVIS', 'AP_HIP'].includes(crops.views[k] as string));
  }
  for (const v of crops.images) assert.ok(v >= 0 && v <= 1);
});

test('twins differ only inside the fracture box (one pixel of resampling margin), and do differ there', () => {
  const s = crops.outputSize;
  for (let k = 0; k < crops.count; k += 2) {
    const [x0, y0, x1, y1] = crops.boxes[k] as readonly number[] as [number, number, number, number];
    assert.ok(x1 - x0 >= 4 && y1 - y0 >= 4, `box ${crops.boxes[k]}`);
    let inside = 0;
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const d = Math.abs((crops.images[k * s * s + y * s + x] as number) - (crops.images[(k + 1) * s * s + y * s + x] as number));
        const near = x >= Math.floor(x0) - 1 && x < Math.ceil(x1) + 1 && y >= Math.floor(y0) - 1 && y < Math.ceil(y1) + 1;
        if (near) inside += d;
        else assert.equal(d, 0, `twin ${k / 2}: pixel (${x}, ${y}) differs outside box ${crops.boxes[k]}`);
      }
    }
    assert.ok(inside > 0, `twin ${k / 2} identical inside its box`);
  }
});

test('the same options give the same crops; another seed gives others', () => {
  const again = renderHipCrops({ patients: 3, seed: 21, outputSize: 64 });
  assert.deepEqual(again.images, crops.images.subarray(0, again.images.length));
  const other = renderHipCrops({ patients: 3, seed: 22, outputSize: 64 });
  assert.notDeepEqual(other.images.subarray(0, 4096), crops.images.subarray(0, 4096));
});

test('bad options are refused with the option named', () => {
  for (const [options, word] of [
    [{ outputSize: 8 }, 'outputSize'],
    [{ cropMm: 0 }, 'cropMm'],
    [{ jitter: 0.6 }, 'jitter'],
    [{ views: [] }, 'views'],
  ] as const) {
    assert.throws(() => renderHipCrops({ patients: 1, seed: 1, ...options }), (e: unknown) => e instanceof HipfracError && e.code === 'HF_PHANTOM_BAD_OPTIONS' && e.message.includes(word));
  }
});
