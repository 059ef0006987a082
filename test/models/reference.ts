// Reference outputs from torchvision (Debian's /usr/bin/python3) for the model-zoo tests: one Python
// process writes every architecture's random state_dict (torch.save), the input batch and the logits.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getNumThreads, tensor, type Tensor } from '../../src/torch/index.js';
import { runPython } from '../helpers/python.js';


// Random weights, and BatchNorm running statistics / affine parameters made non-trivial so that
// eval-mode BatchNorm actually transforms (fresh modules have mean 0, var 1, γ 1, β 0).
const SCRIPT = String.raw`
import torch, torchvision, os
# Same intra-op thread count as hipfrac: reductions then split alike and results agree bit for bit.
torch.set_num_threads(params['threads'])
out_dir = params['dir']
size = params['size']
torch.manual_seed(0)
x = torch.rand(2, 3, size, size)
x.numpy().astype('<f4').tofile(os.path.join(out_dir, 'input.bin'))

def randomise_bn(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)

for i, name in enumerate(params['eval']):
    torch.manual_seed(100 + i)
    model = getattr(torchvision.models, name)()
    gen = torch.Generator().manual_seed(200 + i)
    with torch.no_grad():
        randomise_bn(model, gen)
    model.eval()
    torch.save(model.state_dict(), os.path.join(out_dir, name + '.pth'))
    with torch.no_grad():
        logits = model(x)
    logits.numpy().astype('<f4').tofile(os.path.join(out_dir, name + '.logits.bin'))
    if name == 'densenet121':
        # As torchvision's downloadable DenseNet files: legacy (pre-1.6) serialisation, old
        # 'norm.1' names, no num_batches_tracked (pre-0.4.1 BatchNorm).
        import re
        legacy = {re.sub(r'(denselayer\d+\.(?:norm|relu|conv))([12])\.', r'\1.\2.', k): v for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}
        torch.save(legacy, os.path.join(out_dir, 'densenet121-legacy.pth'), _use_new_zipfile_serialization=False)
    del model

# One training step: train mode (BatchNorm batch statistics, running-stat update), dropout off.
tsize = params['trainSize']
torch.manual_seed(1)
xt = torch.rand(2, 3, tsize, tsize)
xt.numpy().astype('<f4').tofile(os.path.join(out_dir, 'train_input.bin'))
yt = torch.tensor([3, 7])
for i, name in enumerate(params['train']):
    torch.manual_seed(300 + i)
    model = getattr(torchvision.models, name)()
    gen = torch.Generator().manual_seed(400 + i)
    with torch.no_grad():
        randomise_bn(model, gen)
    torch.save(model.state_dict(), os.path.join(out_dir, name + '.train-before.pth'))
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    loss = torch.nn.functional.cross_entropy(model(xt), yt)
    loss.backward()
    outputs[name + '.loss'] = loss.item()
    torch.save({k: p.grad for k, p in model.named_parameters()}, os.path.join(out_dir, name + '.grads.pth'))
    torch.save(model.state_dict(), os.path.join(out_dir, name + '.train-after.pth'))
    del model
`;

export interface References {
  readonly dir: string;
  readonly input: Tensor;
  readonly trainInput: Tensor;
  readonly trainTarget: number[];
  logits(name: string): Float32Array;
  loss(name: string): number;
  file(name: string): string;
  cleanup(): void;
}

/** Writes the references into a fresh temporary folder (removed by cleanup()). */
export function makeReferences(evalArchs: readonly string[], trainArchs: readonly string[], size = 224, trainSize = 160): References {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-models-'));
  const out = runPython(SCRIPT, {}, { params: { dir, eval: evalArchs, train: trainArchs, size, trainSize, threads: getNumThreads() }, timeoutMs: 900_000 });
  const readF32 = (file: string): Float32Array => {
    const bytes = readFileSync(path.join(dir, file));
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    return new Float32Array(copy.buffer);
  };
  return {
    dir,
    input: tensor(readF32('input.bin'), [2, 3, size, size]),
    trainInput: tensor(readF32('train_input.bin'), [2, 3, trainSize, trainSize]),
    trainTarget: [3, 7],
    logits: (name) => readF32(`${name}.logits.bin`),
    loss: (name) => out.values[`${name}.loss`] as number,
    file: (name) => path.join(dir, name),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Largest |a − b| relative to the largest |b| (at least 1). */
export function maxRelativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return a.length === b.length ? diff / scale : Infinity;
}
