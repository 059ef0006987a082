# The peer for bench/infer.ts: hipfrac's fracture classifier rebuilt in PyTorch (torchvision body + fastai head,
# grey -> RGB and ImageNet normalisation first) with the same weights, run as TorchScript frozen +
# optimize_for_inference (PyTorch's best CPU path), and exported with PyTorch's own torch.onnx for ONNX Runtime.
# Driven over stdin/stdout, one JSON request per line, so the sides are timed interleaved.
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from torchvision_models import read_safetensors

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


class ConcatPool(nn.Module):
    def forward(self, x):
        return torch.cat([F.adaptive_max_pool2d(x, 1), F.adaptive_avg_pool2d(x, 1)], 1)


class Body(nn.Module):
    """torchvision's network minus its classifier, with hipfrac's body key names."""

    def __init__(self, name):
        super().__init__()
        net = getattr(torchvision.models, name)()
        self.family = 'resnet' if name.startswith('resnet') else 'densenet' if name.startswith('densenet') else 'features'
        if self.family == 'resnet':
            for key in ['conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4']:
                setattr(self, key, getattr(net, key))
        else:
            self.features = net.features

    def forward(self, x):
        if self.family == 'resnet':
            for key in ['conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4']:
                x = getattr(self, key)(x)
            return x
        x = self.features(x)
        return F.relu(x) if self.family == 'densenet' else x


class Classifier(nn.Module):
    def __init__(self, name, state):
        super().__init__()
        self.body = Body(name)
        nf = state['head.2.weight'].shape[0]
        self.head = nn.Sequential(ConcatPool(), nn.Flatten(), nn.BatchNorm1d(nf), nn.Dropout(0.25), nn.Linear(nf, 512), nn.ReLU(inplace=True),
                                  nn.BatchNorm1d(512), nn.Dropout(0.5), nn.Linear(512, state['head.8.weight'].shape[0]))
        self.register_buffer('mean', torch.tensor(MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(STD).reshape(1, 3, 1, 1), persistent=False)
        self.load_state_dict(state)

    def forward(self, x):
        return self.head(self.body((x - self.mean) / self.std))


state = {'model': None, 'script': None}


def load(req):
    model = Classifier(req['model'], read_safetensors(req['weights'])).eval()
    size = req['size']
    dummy = torch.rand(2, 1, size, size)
    with torch.no_grad():
        torch.onnx.export(model, dummy, req['onnx'], opset_version=17, input_names=['images'], output_names=['logits'],
                          dynamic_axes={'images': {0: 'batch'}, 'logits': {0: 'batch'}}, do_constant_folding=True)
        script = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, dummy)))
        # A fixed grey image, so the caller can check that both sides hold the same network and weights.
        logits = script(torch.full((1, 1, size, size), 0.5))
    state['model'], state['script'] = model, script
    return {'ok': True, 'logits': logits.flatten().tolist()}


def run(req):
    torch.manual_seed(1)
    x = torch.rand(req['batch'], 1, req['size'], req['size'])
    times = []
    with torch.no_grad():
        for i in range(req['warmup'] + req['iters']):
            start = time.perf_counter()
            state['script'](x)
            elapsed = time.perf_counter() - start
            if i >= req['warmup']:
                times.append(elapsed)
    return {'times': times}


def main():
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req['cmd'] == 'setup':
                torch.set_num_threads(req['threads'])
                reply = {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'threads': torch.get_num_threads()}
            elif req['cmd'] == 'load':
                reply = load(req)
            elif req['cmd'] == 'run':
                reply = run(req)
            else:
                reply = {'error': 'unknown command ' + str(req['cmd'])}
        except Exception as error:  # reported to the caller, which names the peer
            reply = {'error': f'{type(error).__name__}: {error}'}
        sys.stdout.write(json.dumps(reply) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
