# The peer for bench/precision.ts: one training step (forward, cross-entropy, backward, Adam) of a torchvision model
# in float32 or under torch.autocast to bfloat16, driven over stdin/stdout (one JSON request per line) so hipfrac and
# PyTorch are timed interleaved on the same machine. {"cmd": "setup", "arch", "size", "batch", "threads"}, then
# {"cmd": "run", "bench": "fp32" | "bf16", "iters": n, "warmup": k} -> {"seconds", "cpu_seconds"} per step.
import json
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

state = {}


def setup(msg):
    torch.set_num_threads(int(msg['threads']))
    torch.manual_seed(0)
    model = getattr(torchvision.models, msg["arch"])().train()
    state['model'] = model
    state['optimizer'] = torch.optim.Adam(model.parameters(), lr=1e-4)
    state['x'] = torch.rand(int(msg['batch']), 3, int(msg['size']), int(msg['size']))
    state["y"] = torch.randint(0, 1000, (int(msg["batch"]),))


def step(precision):
    model, optimizer = state['model'], state['optimizer']
    optimizer.zero_grad(set_to_none=True)
    # torch.autocast's documented use: the forward pass inside, the loss on float32 logits, backward outside.
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=precision == 'bf16'):
        logits = model(state['x'])
    F.cross_entropy(logits.float(), state['y']).backward()
    optimizer.step()


def main():
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            if msg['cmd'] == 'setup':
                setup(msg)
                reply = {'ok': True, 'torch': torch.__version__, 'threads': torch.get_num_threads()}
            elif msg['cmd'] == 'run':
                if msg['bench'] not in ('fp32', 'bf16'):
                    raise ValueError('bench must be fp32 or bf16')
                for _ in range(int(msg.get('warmup', 1))):
                    step(msg['bench'])
                n = int(msg['iters'])
                c0 = time.process_time()
                t0 = time.perf_counter()
                for _ in range(n):
                    step(msg['bench'])
                reply = {'seconds': (time.perf_counter() - t0) / n, 'cpu_seconds': (time.process_time() - c0) / n}
            else:
                reply = {'error': 'unknown command %r' % msg['cmd']}
        except Exception as e:  # the driver reports it with the request
            reply = {'error': '%s: %s' % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(reply) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
