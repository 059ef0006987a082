// Bad input to the engine must end in a coded error whose message names the problem, never a crash:
// wrong shapes and dtypes, unknown operators, wrong or missing arguments, disposed tensors, bad data.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Conv2d } from '../../src/nn/index.js';
import {
  callOp,
  conv2d,
  crossEntropy,
  cuda,
  dropout,
  indexSelect,
  mm,
  ones,
  randn,
  relu,
  tensor,
  tidy,
  zeros,
  type Tensor,
} from '../../src/torch/index.js';
import { HipfracError } from '../../src/util/index.js';

/** Asserts fn throws an error with `code` whose message matches every pattern. */
function assertCoded(fn: () => unknown, code: string, ...patterns: RegExp[]): void {
  let caught: unknown;
  try {
    tidy(() => {
      fn();
    });
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof Error, `expected an error with code ${code}, nothing was thrown`);
  assert.equal((caught as Error & { code?: string }).code, code, `code of: ${caught.message}`);
  for (const p of patterns) assert.match(caught.message, p);
}

describe('engine errors', () => {
  it('wrong shapes: conv2d with mismatched channels names both channel counts', () => {
    assertCoded(() => conv2d(randn([1, 4, 8, 8]), randn([2, 3, 3, 3])), 'HF_TORCH_OP_FAILED', /aten::conv2d/, /3 channels/, /4 channels/);
    // The nn layer checks before LibTorch does and names the layer.
    const layer = new Conv2d(3, 2, 3);
    assertCoded(() => layer.call(randn([1, 4, 8, 8])), 'HF_NN_INPUT_SHAPE', /Conv2d\(3→2\)/, /\[1, 4, 8, 8\]/);
    assertCoded(() => mm(randn([2, 3]), randn([4, 5])), 'HF_TORCH_OP_FAILED', /aten::mm/, /2x3.*4x5|cannot be multiplied/);
  });

  it('wrong dtypes: a float index, mixed dtypes in mm, float class targets', () => {
    assertCoded(() => indexSelect(randn([4, 3]), 0, tensor([0, 1])), 'HF_TORCH_OP_FAILED', /aten::index_select/, /index/i, /Long|int64/i);
    assertCoded(() => mm(randn([2, 2]), ones([2, 2], { dtype: 'int64' })), 'HF_TORCH_OP_FAILED', /aten::mm/, /Float|Long|dtype/);
    assertCoded(() => crossEntropy(randn([3, 4]), randn([3, 2])), 'HF_TORCH_OP_FAILED', /cross_entropy/);
  });

  it('unknown operator or overload', () => {
    assertCoded(() => callOp('aten::no_such_op', '', []), 'HF_TORCH_UNKNOWN_OP', /unknown operator 'aten::no_such_op'/);
    assertCoded(() => callOp('aten::add', 'NoSuchOverload', []), 'HF_TORCH_UNKNOWN_OP', /aten::add\.NoSuchOverload/);
  });

  it('wrong argument types name the argument, what it expected and what it got', () => {
    assertCoded(() => callOp('aten::relu', '', [42]), 'HF_TORCH_BAD_ARGUMENT', /argument 'self' expected a Tensor, got number/);
    assertCoded(() => callOp('aten::sum', 'dim_IntList', [zeros([2, 2]), 'x']), 'HF_TORCH_BAD_ARGUMENT', /argument 'dim'/, /got string/);
    assertCoded(() => callOp('aten::sum', 'dim_IntList', [zeros([2, 2]), [1.5]]), 'HF_TORCH_BAD_ARGUMENT', /argument 'dim' expected an integer/);
    assertCoded(() => callOp('aten::dropout', '', [zeros([2]), 0.5, 'yes']), 'HF_TORCH_BAD_ARGUMENT', /argument 'train' expected a boolean, got string/);
    // A typed wrapper reached with a non-tensor (e.g. from untyped JS).
    assertCoded(() => relu({} as unknown as Tensor), 'HF_TORCH_BAD_ARGUMENT', /argument 'self' expected a Tensor, got object/);
  });

  it('missing and surplus arguments quote the schema', () => {
    assertCoded(() => callOp('aten::add', 'Tensor', [zeros([2])]), 'HF_TORCH_BAD_ARGUMENT', /missing required argument 'other'/, /schema: aten::add\.Tensor\(Tensor self, Tensor other/);
    assertCoded(() => callOp('aten::relu', '', [zeros([2]), 1, 2]), 'HF_TORCH_BAD_ARGUMENT', /3 arguments given, the schema takes 1/);
  });

  it('use after dispose is an error everywhere, not a crash', () => {
    const t = randn([2, 3]);
    t.dispose();
    assert.equal(t.isDisposed, true);
    assertCoded(() => relu(t), 'HF_TORCH_DISPOSED', /argument 'self' is a tensor used after dispose\(\)/);
    assertCoded(() => t.shape, 'HF_TORCH_DISPOSED', /shape: tensor used after dispose\(\)/);
    assertCoded(() => t.dataSync(), 'HF_TORCH_DISPOSED', /dispose\(\)/);
    assertCoded(() => t.item(), 'HF_TORCH_DISPOSED', /item: tensor used after dispose\(\)/);
    assertCoded(() => t.backward(), 'HF_TORCH_DISPOSED', /dispose\(\)/);
    assertCoded(() => callOp('aten::cat', '', [[zeros([1]), t]]), 'HF_TORCH_DISPOSED', /dispose\(\)/);
    assert.equal(String(t), 'Tensor(disposed)');
    t.dispose(); // a second dispose is harmless
  });

  it('item() on a multi-element tensor says how many elements it has', () => {
    assertCoded(() => zeros([3]).item(), 'HF_TORCH_NOT_SCALAR', /3 elements/, /exactly one/);
    assert.equal(tensor([[2.5]]).item(), 2.5);
  });

  it('tensor() rejects ragged arrays, wrong shapes and non-numbers', () => {
    assertCoded(() => tensor([[1, 2], [3]]), 'HF_TORCH_RAGGED', /ragged at dimension 1/);
    assertCoded(() => tensor([[1, 2], 3]), 'HF_TORCH_RAGGED', /ragged/);
    assertCoded(() => tensor([1, [2, 3]]), 'HF_TORCH_RAGGED', /ragged/);
    assertCoded(() => tensor(new Float32Array(6), [4, 2]), 'HF_TORCH_SHAPE_MISMATCH', /\[4, 2\] needs 8 elements but the data has 6/);
    assertCoded(() => tensor([1, 2, 3], [2, 2]), 'HF_TORCH_SHAPE_MISMATCH', /needs 4 elements but the data has 3/);
    assertCoded(() => tensor(['a'] as unknown as number[]), 'HF_TORCH_BAD_DATA', /cannot make a tensor from string/);
  });

  it('autograd misuse: backward without grad, non-scalar backward', () => {
    assertCoded(() => zeros([1]).sum().backward(), 'HF_TORCH_AUTOGRAD', /does not require grad/);
    assertCoded(() => randn([3], { requiresGrad: true }).mul(2).backward(), 'HF_TORCH_AUTOGRAD', /scalar outputs/);
  });

  it('bad options to typed wrappers', () => {
    assertCoded(() => dropout(zeros([2]), 1.5), 'HF_TORCH_BAD_OPTION', /\[0, 1\], got 1\.5/);
    assertCoded(() => crossEntropy(randn([2, 3]), tensor([0, 1], { dtype: 'int64' }), { labelSmoothing: -0.1 }), 'HF_TORCH_BAD_OPTION', /label smoothing/);
  });

  it('moving to CUDA without a GPU fails with a clear error', { skip: cuda.isAvailable() ? 'a GPU is present' : false }, () => {
    assertCoded(() => zeros([2]).to('cuda'), 'HF_TORCH_OP_FAILED', /cuda/i);
  });

  it('errors from ops are HipfracErrors carrying the operator name as input', () => {
    try {
      callOp('aten::relu', '', [42]);
      assert.fail('no error');
    } catch (error) {
      assert.ok(error instanceof HipfracError);
      assert.equal(error.input, 'aten::relu');
    }
  });
});
