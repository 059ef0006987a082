# Peer for bench/ops.ts, blocks.ts and blas.ts: the same workloads in Python PyTorch, answering one JSON
# request per line on stdin ({"cmd": "run", "bench": name, "iters": n} -> {"seconds", "cpu_seconds"} per iteration,
# CPU time being the process's user + system time over all threads).
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def dense_layer(c_in=256, growth=32, bn_size=4):
    # torchvision's _DenseLayer: BN-ReLU-Conv1x1(-> bn_size*growth)-BN-ReLU-Conv3x3(-> growth).
    return nn.Sequential(
        nn.BatchNorm2d(c_in), nn.ReLU(inplace=False), nn.Conv2d(c_in, bn_size * growth, 1, bias=False),
        nn.BatchNorm2d(bn_size * growth), nn.ReLU(inplace=False), nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False))


class Bottleneck(nn.Module):
    # torchvision's ResNet Bottleneck (expansion 4, identity shortcut).
    def __init__(self, inplanes=256, planes=64):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + x)


STATE = {}


def setup(msg):
    torch.set_num_threads(int(msg['threads']))
    torch.manual_seed(0)
    s = msg.get('shapes', {})
    STATE['one'] = torch.ones(1)
    STATE['v64'] = torch.randn(64)
    STATE['tiny_x'] = torch.randn(1, 3, 8, 8)
    STATE['tiny_w'] = torch.randn(4, 3, 3, 3)
    STATE['dense'] = dense_layer()
    STATE['dense_x'] = torch.randn(*s.get('dense', [16, 256, 28, 28]))
    STATE['bottleneck'] = Bottleneck()
    STATE['bottleneck_x'] = torch.randn(*s.get('bottleneck', [8, 256, 56, 56]))
    n = s.get('mm', 1024)
    STATE['mm_a'] = torch.randn(n, n)
    STATE['mm_b'] = torch.randn(n, n)


def fwd(name):
    m, x = STATE[name], STATE[name + '_x']
    m.eval()
    with torch.no_grad():
        m(x)


def fwd_bwd(name):
    m, x = STATE[name], STATE[name + '_x']
    m.train()
    m.zero_grad(set_to_none=True)
    m(x).sum().backward()


BENCHES = {
    'add_1': lambda: STATE['one'] + STATE['one'],
    'relu_64': lambda: torch.relu(STATE['v64']),
    'mul_scalar_64': lambda: STATE['v64'] * 0.5,
    'conv2d_tiny': lambda: F.conv2d(STATE['tiny_x'], STATE['tiny_w'], None, 1, 1),
    'dense_fwd': lambda: fwd('dense'),
    'dense_fwd_bwd': lambda: fwd_bwd('dense'),
    'bottleneck_fwd': lambda: fwd('bottleneck'),
    'bottleneck_fwd_bwd': lambda: fwd_bwd('bottleneck'),
    'mm': lambda: torch.mm(STATE['mm_a'], STATE['mm_b']),
}


def blas_libraries():
    libs = set()
    with open('/proc/self/maps') as f:
        for line in f:
            path = line.split()[-1]
            if 'blas' in path.lower() and '.so' in path:
                libs.add(path)
    return sorted(libs)


def main():
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            if msg['cmd'] == 'setup':
                setup(msg)
                reply = {'ok': True, 'torch': torch.__version__, 'threads': torch.get_num_threads()}
            elif msg['cmd'] == 'run':
                fn = BENCHES[msg['bench']]
                for _ in range(int(msg.get('warmup', 1))):
                    fn()
                n = int(msg['iters'])
                c0 = time.process_time()
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                wall = (time.perf_counter() - t0) / n
                reply = {'seconds': wall, 'cpu_seconds': (time.process_time() - c0) / n}
            elif msg['cmd'] == 'info':
                reply = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas_libraries()}
            else:
                reply = {'error': 'unknown command %r' % msg['cmd']}
        except Exception as e:  # the driver reports it with the request
            reply = {'error': '%s: %s' % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(reply) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
