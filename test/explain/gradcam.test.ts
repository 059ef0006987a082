// Grad-CAM, Grad-CAM++ and HiResCAM against a straightforward PyTorch implementation (same weights, same
// input), per-sample targets, layer averaging, lifecycle (hooks removed, modes restored) and input errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClassifierOutputTarget, GradCam, GradCamPlusPlus, HiResCam, heatmapsFromTensor } from '../../src/explain/index.js';
import { dispose, manualSeed, rand, setNumThreads, tidy, type Tensor } from '../../src/torch/index.js';
import { HipfracError } from '../../src/util/index.js';
import { runPython } from '../helpers/python.js';
import { needs } from '../helpers/references.js';
import { PY_TINY_CNN, TinyCnn, weightsForPython } from './fixtures.js';

setNumThreads(1);

const PY_CAMS = PY_TINY_CNN + String.raw`
def normalise(cam):
    cam = cam - cam.amin(dim=(1, 2), keepdim=True)
    return cam / (cam.amax(dim=(1, 2), keepdim=True) + 1e-7)

def layer_cam(a, g, method, size):
    if method == 'gradcam':
        w = g.mean(dim=(2, 3), keepdim=True)
    elif method == 'hirescam':
        w = g
    else:  # Grad-CAM++, Chattopadhay et al. eq. 19 (exponential score)
        g2, g3 = g ** 2, g ** 3
        s = a.sum(dim=(2, 3), keepdim=True)
        alpha = g2 / (2 * g2 + s * g3 + 1e-7)
        alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
        w = (alpha * F.relu(g)).sum(dim=(2, 3), keepdim=True)
    cam = normalise(F.relu((w * a).sum(1)))
    return F.interpolate(cam[:, None], size=size, mode='bilinear', align_corners=False)[:, 0]

x = inputs['x']
size = tuple(x.shape[2:])
for tag, targets, method in [(tag, t, m) for tag, t in params['targets'] for m in ['gradcam', 'gradcampp', 'hirescam']]:
    logits, a1, a2 = tiny_cnn(x.clone().requires_grad_(True))
    if targets is None:
        t = logits.argmax(1).tolist()
    else:
        t = targets
    score = sum(logits[i, t[i]] for i in range(x.shape[0]))
    g1, g2 = torch.autograd.grad(score, [a1, a2])
    outputs[tag + method] = normalise(layer_cam(a2.detach(), g2, method, size))
    both = torch.stack([layer_cam(a1.detach(), g1, method, size), layer_cam(a2.detach(), g2, method, size)]).mean(0)
    outputs[tag + method + '_two'] = normalise(both)
`;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

test('Grad-CAM, Grad-CAM++ and HiResCAM equal the PyTorch reference (predicted class, per-sample targets, two layers)', needs('torch'), () => {
  const model = new TinyCnn(3);
  manualSeed(11);
  const images = rand([4, 3, 24, 20]);
  const x = { data: images.toFloat32Array(), shape: images.shape };
  const perSample = [1, 0, 0, 1];
  const ref = runPython(PY_CAMS, { x, ...weightsForPython(model) }, { params: { targets: [['pred:', null], ['given:', perSample]] } });
  for (const targets of [null, perSample]) {
    const tag = targets === null ? 'pred:' : 'given:';
    const camTargets = targets === null ? null : targets.map((k) => new ClassifierOutputTarget(k));
    const cases: [string, new (m: TinyCnn, l: string[] | string) => GradCam | GradCamPlusPlus | HiResCam][] = [
      ['gradcam', GradCam],
      ['gradcampp', GradCamPlusPlus],
      ['hirescam', HiResCam],
    ];
    for (const [key, Cam] of cases) {
      tidy(() => {
        const one = new Cam(model, 'features.relu2').compute(images, camTargets);
        assert.deepEqual(one.shape, [4, 24, 20]);
        const d1 = maxAbsDiff(one.toFloat32Array(), ref.array(tag + key).data as Float32Array);
        assert.ok(d1 < 2e-4, `${key} (targets ${JSON.stringify(targets)}): max |Δ| ${d1}`);
        const two = new Cam(model, ['features.relu1', 'features.relu2']).compute(images, camTargets);
        const d2 = maxAbsDiff(two.toFloat32Array(), ref.array(`${tag}${key}_two`).data as Float32Array);
        assert.ok(d2 < 2e-4, `${key} two layers: max |Δ| ${d2}`);
      });
    }
  }
  images.dispose();
  model.dispose();
});

test('maps are in [0, 1] with a maximum of ~1; HiResCAM equals Grad-CAM under global average pooling, Grad-CAM++ does not', () => {
  const model = new TinyCnn(5);
  tidy(() => {
    manualSeed(2);
    const images = rand([2, 3, 16, 16]);
    const a = new GradCam(model, 'features.relu2').compute(images, new ClassifierOutputTarget(1));
    const b = new HiResCam(model, 'features.relu2').compute(images, new ClassifierOutputTarget(1));
    const c = new GradCamPlusPlus(model, 'features.relu2').compute(images, new ClassifierOutputTarget(1));
    for (const map of heatmapsFromTensor(a)) {
      const max = Math.max(...map.data);
      assert.ok(max > 0.99 && max <= 1 + 1e-6, `max ${max}`);
      assert.ok(Math.min(...map.data) >= 0);
    }
    // With GAP right after the layer, ∂y/∂A is constant over positions, so HiResCAM = Grad-CAM (Draelos & Carin, §3).
    assert.ok(maxAbsDiff(a.toFloat32Array(), b.toFloat32Array()) < 1e-5, 'HiResCAM should equal Grad-CAM under GAP');
    assert.ok(maxAbsDiff(a.toFloat32Array(), c.toFloat32Array()) > 1e-3, 'Grad-CAM++ should differ from Grad-CAM');
  });
  model.dispose();
});

test('hooks are removed and train/eval modes restored, also after an error', () => {
  const model = new TinyCnn(5);
  model.train();
  model.head.eval(); // a mixed state must come back as it was
  const cam = new GradCam(model, 'features.relu2');
  tidy(() => cam.compute(rand([1, 3, 16, 16])));
  const layer = model.getSubmodule('features.relu2');
  assert.equal(layer.hasForwardHooks, false);
  assert.equal(model.training, true);
  assert.equal(model.features.training, true);
  assert.equal(model.head.training, false);
  assert.throws(() => tidy(() => cam.compute(rand([1, 3, 16, 16]), [new ClassifierOutputTarget(0), new ClassifierOutputTarget(1)])), (e: unknown) => e instanceof HipfracError && e.code === 'HF_EXPLAIN_TARGETS');
  assert.equal(layer.hasForwardHooks, false);
  assert.equal(model.head.training, false);
  assert.equal(model.features.training, true);
  cam.dispose();
  assert.throws(() => cam.compute(rand([1, 3, 16, 16])), (e: unknown) => e instanceof HipfracError && e.code === 'HF_EXPLAIN_DISPOSED');
  model.dispose();
});

test('an unknown target layer is a clear error listing valid layers', () => {
  const model = new TinyCnn(5);
  assert.throws(
    () => new GradCam(model, 'features.denseblock4'),
    (e: unknown) => e instanceof HipfracError && e.code === 'HF_MODELS_UNKNOWN_LAYER' && /features\.conv2/.test(e.message) && /denseblock4/.test(e.message),
  );
  assert.throws(() => new GradCam(model, 'head.fc').compute(rand([1, 3, 8, 8])), (e: unknown) => e instanceof HipfracError && e.code === 'HF_EXPLAIN_LAYER_SHAPE');
  model.dispose();
});

test('images of the wrong channels, rank or size are clear errors', () => {
  const model = new TinyCnn(5);
  const sized = new GradCam(model, 'features.relu2', { expectedInput: { height: 32, width: 32 } });
  const bad: [Tensor, RegExp][] = [
    [rand([1, 1, 32, 32]), /1 channel\(s\) but the model expects 3/],
    [rand([3, 32, 32]), /batch \[N, C, H, W\]/],
    [rand([1, 3, 24, 32]), /24×32 but the model expects 32×32/],
  ];
  for (const [images, pattern] of bad) {
    assert.throws(() => sized.compute(images), (e: unknown) => e instanceof HipfracError && e.code === 'HF_EXPLAIN_IMAGE_SHAPE' && pattern.test(e.message));
  }
  dispose(bad.map(([t]) => t));
  model.dispose();
});
