// Mirror averaging's pieces: a mirror is its own inverse, the mirror's map is turned back before averaging, means.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { meanOf, mirrorAveraged, mirrorColumns } from '../../bench/lib/tta.js';

describe('bench/tta', () => {
  it('reverses the columns of each row, and twice gives the plane back', () => {
    const plane = Float32Array.from([1, 2, 3, 4, 5, 6]); // 3 wide, 2 high
    assert.deepEqual(Array.from(mirrorColumns(plane, 3, 2)), [3, 2, 1, 6, 5, 4]);
    assert.deepEqual(mirrorColumns(mirrorColumns(plane, 3, 2), 3, 2), plane);
    assert.throws(() => mirrorColumns(plane, 4, 2), /4 x 2 plane has 8 values, got 6/);
  });

  it('turns the map of the mirrored image back before averaging it with the plain map', () => {
    // A model that finds the fracture in the left column of the image finds it in the right column of the mirror.
    const plain = [1, 0, 0, 1, 0, 0];
    const ofMirror = [0, 0, 1, 0, 0, 1];
    assert.deepEqual(Array.from(mirrorAveraged(plain, ofMirror, 3, 2)), plain);
    // A mirror map that disagrees halves the peak.
    assert.deepEqual(Array.from(mirrorAveraged(plain, plain, 3, 2)), [0.5, 0, 0.5, 0.5, 0, 0.5]);
  });

  it('averages arrays element-wise and refuses unequal lengths', () => {
    assert.deepEqual(Array.from(meanOf([[1, 2], [3, 6]])), [2, 4]);
    assert.throws(() => meanOf([[1], [1, 2]]), /1 and 2 values/);
    assert.throws(() => meanOf([]), /nothing to average/);
  });
});
