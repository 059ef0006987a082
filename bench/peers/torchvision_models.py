# The peer for bench/models.ts: torchvision's models in PyTorch eager mode, driven over stdin/stdout
# (one JSON request per line) so hipfrac and PyTorch can be timed interleaved on the same machine.
import json
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

models = {}


def get(name, mode):
    key = (name, mode)
    if key not in models:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)()
        if mode == 'infer':
            model.eval()
            optimizer = None
        else:
            model.train()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        models.clear()  # one model at a time, as the TypeScript side
        models[key] = (model, optimizer)
    return models[key]


def run(req):
    model, optimizer = get(req['model'], req['mode'])
    torch.manual_seed(1)
    x = torch.rand(req['batch'], 3, req['size'], req['size'])
    y = torch.randint(0, 1000, (req['batch'],))
    times = []
    for i in range(req['warmup'] + req['iters']):
        start = time.perf_counter()
        if req['mode'] == 'infer':
            # torchvision's own evaluation idiom (references/classification: inference_mode).
            with torch.inference_mode():
                model(x)
        else:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        elapsed = time.perf_counter() - start
        if i >= req['warmup']:
            times.append(elapsed)
    return {'times': times}


def main():
    for line in sys.stdin:
        req = json.loads(line)
        if req['cmd'] == 'setup':
            torch.set_num_threads(req['threads'])
            reply = {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'threads': torch.get_num_threads()}
        elif req['cmd'] == 'run':
            reply = run(req)
        else:
            reply = {'error': 'unknown command ' + str(req['cmd'])}
        sys.stdout.write(json.dumps(reply) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
