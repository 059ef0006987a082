// Grad-CAM on a zoo classifier (ResNet-18 body + fastai head, target layer from the registry) equals the same
// computation on torchvision's resnet18 in PyTorch with the same weights; grey input is accepted as the model does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GradCam, GradCamPlusPlus } from '../../src/explain/index.js';
import { createClassifier } from '../../src/models/index.js';
import { manualSeed, rand, repeat, setNumThreads, tidy } from '../../src/torch/index.js';
import { runPython, type PyInput } from '../helpers/python.js';
import { needs } from '../helpers/references.js';

setNumThreads(1);

const PY_RESNET_CAM = String.raw`
import torch.nn.functional as F
import torchvision
S = {k: v for k, v in inputs.items() if k.startswith('body.') or k.startswith('head.')}
net = torchvision.models.resnet18()
net.load_state_dict({k[5:]: v for k, v in S.items() if k.startswith('body.')}, strict=False)
net.eval()
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
def bn1d(h, p):
    return F.batch_norm(h, S[p + '.running_mean'], S[p + '.running_var'], S[p + '.weight'], S[p + '.bias'], False, 0.0, 1e-5)
def forward(x):
    h = (x - MEAN) / STD
    h = net.maxpool(net.relu(net.bn1(net.conv1(h))))
    a = net.layer4(net.layer3(net.layer2(net.layer1(h))))
    p = torch.cat([F.adaptive_max_pool2d(a, 1), F.adaptive_avg_pool2d(a, 1)], 1).flatten(1)
    h = F.relu(F.linear(bn1d(p, 'head.2'), S['head.4.weight'], S['head.4.bias']))
    return F.linear(bn1d(h, 'head.6'), S['head.8.weight'], S['head.8.bias']), a
def normalise(c):
    c = c - c.amin(dim=(1, 2), keepdim=True)
    return c / (c.amax(dim=(1, 2), keepdim=True) + 1e-7)
x = inputs['x']
with torch.enable_grad():
    logits, a = forward(x.clone().requires_grad_(True))
    target = logits.argmax(1)
    score = logits.gather(1, target[:, None]).sum()
    g, = torch.autograd.grad(score, a)
size = tuple(x.shape[2:])
for name, w in [('gradcam', g.mean(dim=(2, 3), keepdim=True)), ('gradcampp', None)]:
    if w is None:
        g2, g3 = g ** 2, g ** 3
        alpha = g2 / (2 * g2 + a.sum(dim=(2, 3), keepdim=True) * g3 + 1e-7)
        alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
        w = (alpha * F.relu(g)).sum(dim=(2, 3), keepdim=True)
    cam = normalise(F.relu((w * a).sum(1)))
    outputs[name] = normalise(F.interpolate(cam[:, None], size=size, mode='bilinear', align_corners=False)[:, 0])
outputs['logits'] = logits
`;

test('Grad-CAM and Grad-CAM++ on ResNet-18 + fastai head (layer from the registry) equal torchvision in PyTorch', needs('torch', 'torchvision'), () => {
  manualSeed(21);
  const model = createClassifier('resnet18', { weights: null });
  model.eval();
  tidy(() => {
    const grey = rand([2, 1, 96, 112]);
    const images = repeat(grey, [1, 3, 1, 1]);
    const weights: Record<string, PyInput> = {};
    for (const [key, t] of model.stateDict()) {
      if (t.dtype === 'float32') weights[key] = { data: t.toFloat32Array(), shape: t.shape };
    }
    const ref = runPython(PY_RESNET_CAM, { x: { data: images.toFloat32Array(), shape: images.shape }, ...weights });
    const layer = model.spec.gradCamLayer;
    assert.equal(layer, 'body.layer4');
    const cams = { gradcam: new GradCam(model, layer), gradcampp: new GradCamPlusPlus(model, layer) };
    for (const [name, cam] of Object.entries(cams)) {
      const { heatmaps, logits } = cam.computeWithLogits(images);
      const refLogits = ref.array('logits').data as Float32Array;
      logits.toFloat32Array().forEach((v, i) => assert.ok(Math.abs(v - (refLogits[i] as number)) < 1e-3, `logit ${i}: ${v} vs ${refLogits[i]}`));
      const ours = heatmaps.toFloat32Array();
      const theirs = ref.array(name).data as Float32Array;
      let maxDiff = 0;
      ours.forEach((v, i) => { maxDiff = Math.max(maxDiff, Math.abs(v - (theirs[i] as number))); });
      assert.ok(maxDiff < 1e-3, `${name}: max |Δ| ${maxDiff}`);
      // A Classifier replicates grey itself: [N, 1, H, W] gives the same map.
      const fromGrey = cam.compute(grey).toFloat32Array();
      let greyDiff = 0;
      fromGrey.forEach((v, i) => { greyDiff = Math.max(greyDiff, Math.abs(v - (ours[i] as number))); });
      assert.ok(greyDiff < 1e-5, `${name}: grey vs replicated |Δ| ${greyDiff}`);
    }
  });
  model.dispose();
});
