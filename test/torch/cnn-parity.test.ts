// A small CNN built from src/nn (Conv2d, BatchNorm2d, ReLU, MaxPool2d, Linear) against the same network in
// PyTorch: seeded init, loss, logits, every parameter gradient and the BatchNorm running statistics.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '../../src/nn/index.js';
import { crossEntropy, manualSeed, noGrad, tensor, tidy, type Tensor } from '../../src/torch/index.js';
import { runPython, type PyInput, type PythonOutputs } from '../helpers/python.js';
import { needs } from '../helpers/references.js';
import { assertClose, InputMaker } from './compare.js';

const INIT_SEED = 7;

function buildOurs(): Sequential {
  manualSeed(INIT_SEED);
  return new Sequential(
    new Conv2d(3, 8, 3, { padding: 1 }),
    new BatchNorm2d(8),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(8, 16, 3, { stride: 2, padding: 1, bias: false }),
    new BatchNorm2d(16),
    new ReLU(),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(16, 4),
  );
}

// Python gets our weights as inputs ("w.<key>") so forward/backward parity does not depend on init parity,
// which is checked on its own against Python's seeded init ("init.<key>").
const PY_CNN = String.raw`
import torch, torch.nn as nn, torch.nn.functional as F
def build():
    torch.manual_seed(params['seed'])
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))
model = build()
for k, v in model.state_dict().items():
    outputs['init.' + k] = v.clone()
model.load_state_dict({k[2:]: v for k, v in inputs.items() if k.startswith('w.')})
model.train()
logits = model(inputs['x'])
loss = F.cross_entropy(logits, inputs['y'])
loss.backward()
outputs['logits'] = logits
outputs['loss'] = loss
for k, p in model.named_parameters():
    outputs['grad.' + k] = p.grad
for k, b in model.named_buffers():
    outputs['after.' + k] = b
model.eval()
with torch.no_grad():
    outputs['eval_logits'] = model(inputs['x'])
`;

describe('small CNN parity with PyTorch', needs('torch'), () => {
  const model = buildOurs();
  const m = new InputMaker(99);
  const x = m.randn([4, 3, 12, 12]);
  const y = m.ints([4], 0, 4);
  let py: PythonOutputs;

  before(() => {
    const inputs: Record<string, PyInput> = { x, y };
    for (const [key, t] of model.stateDict()) inputs[`w.${key}`] = { data: t.dataSync(), shape: t.shape };
    py = runPython(PY_CNN, inputs, { params: { seed: INIT_SEED } });
  });

  it('seeded initialisation is bit-identical to PyTorch', () => {
    const keys = [...model.stateDict().keys()];
    assert.deepEqual(keys, [...py.arrays.keys()].filter((k) => k.startsWith('init.')).map((k) => k.slice(5)), 'state_dict keys and order');
    for (const [key, t] of model.stateDict()) assertClose(`init ${key}`, { data: t.dataSync(), shape: t.shape }, py.array(`init.${key}`), { atol: 0, rtol: 0 });
  });

  it('training-mode loss, logits, every parameter gradient and the BN running statistics match', () => {
    model.train();
    model.zeroGrad();
    tidy(() => {
      const input = tensor(x.data, x.shape);
      const target = tensor(y.data, y.shape);
      const logits = model.call(input);
      const loss = crossEntropy(logits, target);
      loss.backward();
      assertClose('logits', { data: logits.dataSync(), shape: logits.shape }, py.array('logits'));
      assertClose('loss', { data: loss.dataSync(), shape: loss.shape }, py.array('loss'));
    });
    const params = [...model.namedParameters()];
    const pyGradKeys = [...py.arrays.keys()].filter((k) => k.startsWith('grad.')).map((k) => k.slice(5));
    assert.deepEqual(params.map(([key]) => key), pyGradKeys, 'the same parameters in the same order');
    for (const [key, p] of params) {
      tidy(() => {
        const g = p.grad as Tensor | null;
        assert.ok(g !== null, `${key} has no gradient`);
        assertClose(`d loss / d ${key}`, { data: g.dataSync(), shape: g.shape }, py.array(`grad.${key}`), { atol: 1e-5, rtol: 1e-3 });
      });
    }
    for (const [key, b] of model.namedBuffers()) {
      assertClose(`buffer ${key} after one training forward`, { data: b.dataSync(), shape: b.shape }, py.array(`after.${key}`));
    }
  });

  it('eval-mode logits (running statistics) match', () => {
    model.eval();
    tidy(() =>
      noGrad(() => {
        const logits = model.call(tensor(x.data, x.shape));
        assertClose('eval logits', { data: logits.dataSync(), shape: logits.shape }, py.array('eval_logits'));
      }),
    );
  });
});
