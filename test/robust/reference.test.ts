// FGSM, PGD (random start from LibTorch's seeded generator) and FGSM with random start against a PyTorch
// reference written in the test (torchattacks' update rules) for the same weights, images and seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fgsm, FgsmRandomStart, Pgd } from '../../src/robust/index.js';
import { manualSeed, rand, randint } from '../../src/torch/index.js';
import { runPython } from '../helpers/python.js';
import { needs } from '../helpers/references.js';
import { PY_TINY_CNN, TinyCnn, weightsForPython } from '../explain/fixtures.js';

const PY_ATTACKS = PY_TINY_CNN + String.raw`
x, y = inputs['x'], inputs['y']
def input_grad(z):
    z = z.clone().detach().requires_grad_(True)
    loss = F.cross_entropy(tiny_cnn(z)[0], y)
    return torch.autograd.grad(loss, z)[0]

eps, alpha, steps, seed = params['eps'], params['alpha'], params['steps'], params['seed']
# FGSM (Goodfellow et al.), as torchattacks.FGSM
outputs['fgsm'] = torch.clamp(x + eps * input_grad(x).sign(), 0, 1)
# PGD (Madry et al.), as torchattacks.PGD with random start
torch.manual_seed(seed)
adv = torch.clamp(x + torch.empty_like(x).uniform_(-eps, eps), 0, 1)
for _ in range(steps):
    adv = adv + alpha * input_grad(adv).sign()
    delta = torch.clamp(adv - x, min=-eps, max=eps)
    adv = torch.clamp(x + delta, 0, 1)
outputs['pgd'] = adv
# FGSM with random start (Wong et al. 2020), alpha = 1.25 eps
torch.manual_seed(seed)
delta = torch.empty_like(x).uniform_(-eps, eps)
g = input_grad(torch.clamp(x + delta, 0, 1))
delta = torch.clamp(delta + 1.25 * eps * g.sign(), -eps, eps)
outputs['fgsm_rs'] = torch.clamp(x + delta, 0, 1)
`;

test('FGSM, PGD and FGSM-RS adversarial images equal the PyTorch reference', needs('torch'), () => {
  const model = new TinyCnn(7);
  manualSeed(3);
  const images = rand([6, 3, 20, 20]);
  const labels = randint(0, 2, [6], { dtype: 'int64' });
  const eps = 8 / 255;
  const alpha = 2 / 255;
  const steps = 5;
  const seed = 1234;
  const ref = runPython(
    PY_ATTACKS,
    { x: { data: images.toFloat32Array(), shape: images.shape }, y: { data: labels.dataSync() as BigInt64Array, shape: [6] }, ...weightsForPython(model) },
    { params: { eps, alpha, steps, seed } },
  );
  const ours = {
    fgsm: new Fgsm(model, { eps }).run(images, labels),
    pgd: new Pgd(model, { eps, alpha, steps, seed }).run(images, labels),
    fgsm_rs: new FgsmRandomStart(model, { eps, seed }).run(images, labels),
  };
  const clean = images.toFloat32Array();
  for (const [name, adversarial] of Object.entries(ours)) {
    const a = adversarial.toFloat32Array();
    const b = ref.array(name).data as Float32Array;
    let maxDiff = 0;
    let maxPerturbation = 0;
    for (let i = 0; i < a.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs((a[i] as number) - (b[i] as number)));
      maxPerturbation = Math.max(maxPerturbation, Math.abs((a[i] as number) - (clean[i] as number)));
    }
    assert.ok(maxDiff < 1e-6, `${name}: max |ours − PyTorch| = ${maxDiff}`);
    assert.ok(maxPerturbation <= eps + 1e-6 && maxPerturbation > eps / 2, `${name}: ‖δ‖∞ = ${maxPerturbation}`);
    adversarial.dispose();
  }
  images.dispose();
  labels.dispose();
  model.dispose();
});
