# Peer for bench/allreduce.ts: one rank of a torch.distributed Gloo world (RANK, WORLD_SIZE, MASTER_ADDR,
# MASTER_PORT from the environment) answering one JSON request per line on stdin:
#   {"cmd": "comm", "arch": name, "iters": n} -> {"seconds": [...]}: all-reduce (average) of the model's
#   gradient set in DDP's buckets (reverse parameter order, 25 MiB), flattened, launched together, copied back.
import json
import sys
import time

import torch
import torch.distributed as dist
import torchvision

BUCKET_CAP = 25 * 2 ** 20


def buckets_of(params):
    out, current, size = [], [], 0
    for p in reversed(params):
        n = p.numel() * p.element_size()
        if current and size + n > BUCKET_CAP:
            out.append(current)
            current, size = [], 0
        current.append(p)
        size += n
    if current:
        out.append(current)
    return out


def main():
    torch.set_num_threads(1)
    dist.init_process_group('gloo')
    world = dist.get_world_size()
    grads = {}
    for line in sys.stdin:
        req = json.loads(line)
        if req['cmd'] == 'quit':
            break
        arch = req['arch']
        if arch not in grads:
            model = getattr(torchvision.models, arch)()
            grads[arch] = [torch.randn_like(p) for p in model.parameters()]
        buckets = buckets_of(grads[arch])
        seconds = []
        for i in range(req['iters'] + 1):
            dist.barrier()
            t0 = time.perf_counter()
            flats = [torch.cat([g.reshape(-1) for g in b]) for b in buckets]
            works = [dist.all_reduce(f, async_op=True) for f in flats]
            for b, f, w in zip(buckets, flats, works):
                w.wait()
                f.div_(world)
                offset = 0
                for g in b:
                    g.copy_(f[offset:offset + g.numel()].view_as(g))
                    offset += g.numel()
            if i > 0:  # the first one warms up (buffers, connections)
                seconds.append(time.perf_counter() - t0)
        print(json.dumps({'seconds': seconds}), flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
