// bfloat16 autocast (torch.autocast): the ops on LibTorch's lower-precision list run in bfloat16, exactly as if
// their inputs had been cast, the others keep float32; the thread's state is restored on exit and on a throw, and
// the weights cast inside a scope are cast again in the next one (the optimiser changed them in between).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { autocast, conv2d, grad, isAutocast, linear, manualSeed, noGrad, randn, relu, tidy, type Tensor } from '../../src/torch/index.js';

describe('autocast to bfloat16', () => {
  it('runs conv2d and linear in bfloat16, bit-equal to casting their inputs, and leaves other ops in float32', () => {
    manualSeed(0);
    tidy(() => {
      const x = randn([2, 3, 9, 9]);
      const w = randn([4, 3, 3, 3]);
      const b = randn([4]);
      const inside = autocast('cpu', 'bf16', () => conv2d(x, w, b, 1, 1));
      assert.equal(inside.dtype, 'bfloat16');
      const cast = conv2d(x.to('bfloat16'), w.to('bfloat16'), b.to('bfloat16'), 1, 1);
      assert.deepEqual(inside.to('float32').toArray(), cast.to('float32').toArray());
      assert.equal(autocast('cpu', 'bf16', () => relu(x)).dtype, 'float32', 'relu is not on the list');
      const fc = autocast('cpu', 'bf16', () => linear(randn([5, 7]), randn([3, 7])));
      assert.equal(fc.dtype, 'bfloat16');
      assert.equal(conv2d(x, w, b, 1, 1).dtype, 'float32', 'outside the scope conv2d is float32 again');
      assert.equal(autocast('cpu', 'fp32', () => conv2d(x, w, b, 1, 1)).dtype, 'float32', "precision 'fp32' changes nothing");
    });
  });

  it('restores the previous state after nested scopes and after a throw', () => {
    assert.equal(isAutocast(), false);
    autocast('cpu', 'bf16', () => {
      autocast('cpu', 'bf16', () => assert.equal(isAutocast(), true));
      assert.equal(isAutocast(), true, 'the outer scope is still on after the inner one closed');
    });
    assert.equal(isAutocast(), false);
    assert.throws(() => autocast('cpu', 'bf16', () => { throw new Error('inside'); }), /inside/);
    assert.equal(isAutocast(), false, 'a throw inside leaves autocast off');
    assert.equal(isAutocast('cuda'), false, "the CPU scope does not touch CUDA's state");
  });

  it('gives float32 weights float32 gradients equal to those through an explicit bfloat16 cast', () => {
    manualSeed(1);
    tidy(() => {
      const x = randn([2, 3, 8, 8]);
      const w = randn([4, 3, 3, 3]).requiresGrad_(true);
      const squares = (y: Tensor): Tensor => y.to('float32').mul(y.to('float32')).sum();
      const [gAuto] = grad(squares(autocast('cpu', 'bf16', () => conv2d(x, w))), [w]);
      const [gCast] = grad(squares(conv2d(x.to('bfloat16'), w.to('bfloat16'))), [w]);
      assert.equal(gAuto?.dtype, 'float32');
      assert.deepEqual(gAuto?.toArray(), gCast?.toArray());
    });
  });

  it('casts a weight again in the next scope after it changed (the cache of cast weights is cleared on exit)', () => {
    manualSeed(2);
    tidy(() => {
      const x = randn([1, 3, 6, 6]);
      const w = randn([2, 3, 3, 3]).requiresGrad_(true); // leaf weights are the ones autocast caches
      const first = noGrad(() => autocast('cpu', 'bf16', () => conv2d(x, w)).to('float32').toArray());
      noGrad(() => w.mul_(2));
      const second = noGrad(() => autocast('cpu', 'bf16', () => conv2d(x, w)).to('float32').toArray());
      const expected = noGrad(() => conv2d(x.to('bfloat16'), w.to('bfloat16')).to('float32').toArray());
      assert.notDeepEqual(second, first);
      assert.deepEqual(second, expected);
    });
  });
});
