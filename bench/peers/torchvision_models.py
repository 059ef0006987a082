# The peer for bench/models.ts: torchvision's models in PyTorch eager mode, driven over stdin/stdout
# (one JSON request per line) so hipfrac and PyTorch can be timed interleaved on the same machine.
import json
import struct
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

models = {}


def get(name, mode, device):
    key = (name, mode, device)
    if key not in models:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)().to(device)
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
    device = req.get('device', 'cpu')
    model, optimizer = get(req['model'], req['mode'], device)
    torch.manual_seed(1)
    x = torch.rand(req['batch'], 3, req['size'], req['size'], device=device)
    y = torch.randint(0, 1000, (req['batch'],), device=device)
    # CUDA kernels run asynchronously: wait for them before reading the clock.
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    times = []
    for i in range(req['warmup'] + req['iters']):
        sync()
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
        sync()
        elapsed = time.perf_counter() - start
        if i >= req['warmup']:
            times.append(elapsed)
    return {'times': times}


def read_safetensors(path):
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    types = {'F32': torch.float32, 'I64': torch.int64}
    out = {}
    for key, v in header.items():
        if key == '__metadata__':
            continue
        start, end = v['data_offsets']
        out[key] = torch.frombuffer(bytearray(raw[8 + n + start:8 + n + end]), dtype=types[v['dtype']]).reshape(v['shape']).clone()
    return out


def write_safetensors(path, tensors):
    header, blobs, at = {}, [], 0
    for key, t in tensors.items():
        data = t.detach().float().contiguous().cpu().numpy().tobytes()
        header[key] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    js = json.dumps(header).encode()
    js += b' ' * ((8 - len(js) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(js)) + js + b''.join(blobs))


def agree(req):
    # The same weights and batch as the caller: eval logits, then one train-mode step's loss and gradients.
    device = req.get('device', 'cpu')
    state = read_safetensors(req['weights'])
    batch = read_safetensors(req['batch'])
    model = getattr(torchvision.models, req['model'])()
    model.load_state_dict(state)
    model.to(device)
    x, y = batch['x'].to(device), batch['y'].to(device)
    with torch.no_grad():
        logits = model.eval()(x)
    model.train()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    out = {'logits': logits, 'loss': loss.reshape(1)}
    for name, p in model.named_parameters():
        out['grad.' + name] = p.grad
    write_safetensors(req['out'], out)
    return {'ok': True}


def main():
    for line in sys.stdin:
        req = json.loads(line)
        if req['cmd'] == 'setup':
            torch.set_num_threads(req['threads'])
            reply = {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'threads': torch.get_num_threads(),
                     'cuda': torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
        elif req['cmd'] == 'run':
            reply = run(req)
        elif req['cmd'] == 'agree':
            reply = agree(req)
        else:
            reply = {'error': 'unknown command ' + str(req['cmd'])}
        sys.stdout.write(json.dumps(reply) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
